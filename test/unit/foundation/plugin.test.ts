/** What adding MlopsPlugin to a host's worker keeps and adds: the host's workflows, activities and interceptors stay. */
import type { ActivityInterceptorsFactory, WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../../../src/config';
import { MlopsPlugin } from '../../../src/plugin';

const config = loadConfig({ env: { MINIO_ACCESS_KEY: 'k', MINIO_SECRET_KEY: 'secret-key', HOME: process.env.HOME, MLOPS_LOG_LEVEL: 'error' } });
const hostInterceptor: ActivityInterceptorsFactory = () => ({});
const hostActivities = { async chargeCard() {}, async trainModel() { return 'the host trains its own model'; } };
const configure = (options: Partial<WorkerOptions>) => new MlopsPlugin({ config }).configureWorker({ taskQueue: config.taskQueue, ...options } as WorkerOptions);

describe('MlopsPlugin in a host worker', () => {
  it('keeps the host workflowsPath, and adds ours only to a worker that has none', () => {
    expect(configure({ workflowsPath: '/host/workflows.js' }).workflowsPath).toBe('/host/workflows.js');
    expect(configure({}).workflowsPath).toBe(MlopsPlugin.workflowsPath);
    const bundled = configure({ workflowBundle: { codePath: '/host/bundle.js' } });
    expect(bundled.workflowsPath).toBeUndefined();
    expect(bundled.workflowBundle).toEqual({ codePath: '/host/bundle.js' });
  });

  it('gives a worker on the training queue no workflows', () => {
    expect(configure({ taskQueue: config.trainingTaskQueue }).workflowsPath).toBeUndefined();
  });

  it('keeps every host activity, even one named like our legacy activity, and adds ours under mlops.', () => {
    const activities = configure({ activities: hostActivities }).activities as Record<string, unknown>;
    expect(activities.chargeCard).toBe(hostActivities.chargeCard);
    expect(activities.trainModel).toBe(hostActivities.trainModel);
    expect(Object.keys(activities)).toEqual(expect.arrayContaining(['mlops.trainModel', 'mlops.ingestDataset', 'mlops.deployCandidate', 'mlops.checkModel']));
  });

  it('still registers the bare names of earlier versions, for activities scheduled before an upgrade, unless told not to', () => {
    expect(Object.keys(configure({}).activities ?? {})).toEqual(expect.arrayContaining(['trainModel', 'ingestDataset']));
    const plain = new MlopsPlugin({ config, legacyActivityNames: false }).configureWorker({ taskQueue: config.taskQueue } as WorkerOptions);
    expect(Object.keys(plain.activities ?? {}).every((name) => name.startsWith('mlops.'))).toBe(true);
  });

  it('appends its interceptors after the host ones, and leaves the host activities unwrapped', () => {
    const configured = configure({ interceptors: { activity: [hostInterceptor] } });
    const factories = configured.interceptors?.activity ?? [];
    expect(factories[0]).toBe(hostInterceptor);
    expect(factories).toHaveLength(3);
    const ctx = (activityType: string) => ({ info: { activityType, isLocal: false } }) as never;
    for (const factory of factories.slice(1)) {
      expect(factory(ctx('chargeCard'))).toEqual({});
      expect(factory(ctx('mlops.trainModel')).inbound?.execute).toBeInstanceOf(Function);
    }
  });
});
