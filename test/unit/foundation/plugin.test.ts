/** What adding MlopsPlugin to a host's worker keeps and adds: the host's workflows, activities and interceptors stay. */
import type { ActivityInterceptorsFactory, WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../../../src/config';
import { MlopsPlugin } from '../../../src/plugin';

const config = loadConfig({
  env: { MINIO_ACCESS_KEY: 'k', MINIO_SECRET_KEY: 'secret-key', HOME: process.env.HOME, MLOPS_LOG_LEVEL: 'error' },
});
const hostInterceptor: ActivityInterceptorsFactory = () => ({});
const hostActivities = {
  async chargeCard() {},
  async trainModel() {
    return 'the host trains its own model';
  },
};
const configure = (options: Partial<WorkerOptions>) =>
  new MlopsPlugin({ config }).configureWorker({ taskQueue: config.taskQueue, ...options } as WorkerOptions);

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
    expect(Object.keys(activities)).toEqual(
      expect.arrayContaining(['mlops.trainModel', 'mlops.ingestDataset', 'mlops.deployCandidate', 'mlops.checkModel']),
    );
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

describe('MlopsPlugin at worker start', () => {
  const start = (plugin: MlopsPlugin, taskQueue: string, until: Promise<void>) =>
    plugin.runWorker({ options: { taskQueue } } as never, () => until);
  const pluginWithLog = () => {
    const lines: string[] = [];
    const logger = { info: (_: unknown, msg: string) => lines.push(msg), warn: (_: unknown, msg: string) => lines.push(`WARN ${msg}`) };
    const base = new MlopsPlugin({ config });
    return { plugin: new MlopsPlugin({ dependencies: { ...base.dependencies, logger: logger as never } }), lines };
  };
  const waitFor = async (check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
  };

  it('warns that runs wait at train when no worker of the plugin serves the training queue', async () => {
    const { plugin, lines } = pluginWithLog();
    let stop!: () => void;
    const running = start(plugin, config.taskQueue, new Promise<void>((r) => (stop = r)));
    await waitFor(() => lines.some((l) => l.startsWith('WARN')));
    stop();
    await running;
    expect(lines[0]).toBe(`temporal-mlops serves task queue ${config.taskQueue}: orchestration (workflows and stages)`);
    expect(lines.filter((l) => l.startsWith('WARN'))).toEqual([
      expect.stringContaining(`training task queue ${config.trainingTaskQueue}: runs wait at train`),
    ]);
  });

  it('says nothing more when one plugin serves both queues', async () => {
    const { plugin, lines } = pluginWithLog();
    let stop!: () => void;
    const until = new Promise<void>((r) => (stop = r));
    const running = Promise.all([start(plugin, config.taskQueue, until), start(plugin, config.trainingTaskQueue, until)]);
    await new Promise((r) => setTimeout(r, 4_000));
    stop();
    await running;
    expect(lines).toEqual([
      `temporal-mlops serves task queue ${config.taskQueue}: orchestration (workflows and stages)`,
      `temporal-mlops serves task queue ${config.trainingTaskQueue}: training`,
    ]);
  });
});
