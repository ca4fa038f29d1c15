/**
 * The monitor judges by the spec of the version deployed last, not the one of the run that started it: the demo's
 * symptom (every drift check ending `retrain-skipped-cooldown` under an earlier run's 6 h cooldown) on a real Temporal
 * dev server, a real MinIO and real runs of the seattle-weather example.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { monitorView, renderMonitor } from '../../../src/cli/monitor';
import { startRun } from '../../../src/client';
import { stageDataset } from '../../../src/cli/upload';
import type { MlopsConfig } from '../../../src/config';
import {
  checkNowSignal,
  type MonitorCheck,
  monitorStatusQuery,
  monitorWorkflowId,
  type PipelineRunInput,
  retrainWorkflowId,
} from '../../../src/contracts';
import { loadSpecFile } from '../../../src/spec/load';
import type { PipelineSpec } from '../../../src/spec/pipeline';
import { sha256Hex } from '../../../src/storage/digest';
import { approveThrough } from '../../helpers/closed-loop';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'examples/seattle-weather/pipeline.yaml');
const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stopWorkers: (() => Promise<void>) | undefined;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ deps, stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

const MODEL = 'seattle-follows';

/** The example made test-sized, watching batches that land under a prefix, with the given monitor settings. */
async function specWith(monitor: { cooldown: number; psi: number; interval: number }): Promise<PipelineSpec> {
  const spec = loadSpecFile(EXAMPLE);
  spec.model = MODEL;
  spec.dataset = await stageDataset(config, spec.dataset);
  spec.trainer = { ...spec.trainer, params: { maxIter: 20, learningRate: 0.2, maxLeafNodes: 15 } } as PipelineSpec['trainer'];
  spec.approval = { ...spec.approval, required: false };
  // Retraining on shifted data may trail the champion a little; this test is about which spec judges, not accuracy.
  spec.validation.champion = { ...spec.validation.champion!, margin: 0.5 };
  spec.monitor = {
    enabled: true,
    interval: monitor.interval,
    source: `s3://${config.minio.bucket}/batches/${MODEL}/`,
    window: 30 * 24 * HOUR,
    minRows: 20,
    drift: { psi: monitor.psi, features: {}, minFeatures: 1 },
    cooldown: monitor.cooldown,
    retrain: true,
  } as PipelineSpec['monitor'];
  return spec;
}

/** Days from 2014 with their wind shifted far out of the training range, labelled: a drifted batch landing under the prefix. */
async function landDriftedBatch(): Promise<void> {
  const lines = fs.readFileSync(path.join(ROOT, 'examples/data/seattle-weather.csv'), 'utf8').trim().split('\n').slice(1);
  const rows = lines
    .filter((l) => l.startsWith('2014-0'))
    .slice(0, 60)
    .map((l) => {
      const [date, precipitation, temp_max, temp_min, wind, weather] = l.split(',');
      return {
        date,
        precipitation: Number(precipitation),
        temp_max: Number(temp_max),
        temp_min: Number(temp_min),
        wind: Number(wind) + 15,
        weather,
      };
    });
  // Objects are picked by their time: keep the batch clear of the window's edges.
  await sleep(1100);
  const key = `batches/${MODEL}/${Date.now()}.jsonl`;
  await deps.store.client.putObject(deps.store.bucket, key, Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'));
  await sleep(1100);
}

/** Asks the monitor for a check now and waits until it is recorded. */
async function checkNow(): Promise<MonitorCheck> {
  const handle = env.client.workflow.getHandle(monitorWorkflowId(MODEL));
  const before = (await handle.query(monitorStatusQuery)).checks.length;
  await handle.signal(checkNowSignal);
  for (let i = 0; i < 1200; i++) {
    const s = await handle.query(monitorStatusQuery);
    if (s.checks.length > before) return s.checks[s.checks.length - 1]!;
    await sleep(250);
  }
  throw new Error('the monitor did not record a check within 5 minutes');
}

/** Waits until the monitor's status query satisfies `ok`. */
async function monitorUntil(ok: (s: Awaited<ReturnType<typeof monitorView>>) => boolean): Promise<Awaited<ReturnType<typeof monitorView>>> {
  for (let i = 0; i < 600; i++) {
    const view = await monitorView(env.client, MODEL).catch(() => undefined);
    if (view && ok(view)) return view;
    await sleep(250);
  }
  return monitorView(env.client, MODEL);
}

/** Saves the monitor's history as a replay fixture when MLOPS_RECORD_HISTORIES=1. */
async function maybeRecord(name: string): Promise<void> {
  if (process.env.MLOPS_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(monitorWorkflowId(MODEL)).fetchHistory();
  fs.writeFileSync(path.join(ROOT, 'test/fixtures/histories', `${name}.json`), historyToJSON(history));
}

describe('the monitor follows what was deployed (dev server, MinIO)', () => {
  it(
    "after run B deploys with another cooldown and thresholds, a monitor started by run A judges and retrains by B's spec",
    async () => {
      // Run A: a 6 h cooldown, as the example's; it starts the monitor.
      const specA = await specWith({ cooldown: 6 * HOUR, psi: 0.25, interval: 24 * HOUR });
      const a = await startRun(env.client, config, specA, { requestedBy: 'dave' });
      expect(await approveThrough(env.client, a.workflowId)).toMatchObject({ status: 'deployed', version: 1 });
      const startedByA = await monitorUntil((v) => v.status?.spec?.version === 1);
      expect(startedByA.status!.spec).toMatchObject({ workflowId: a.workflowId, version: 1 });

      // Drift under A's spec: one retraining run, which deploys version 2 with A's spec again.
      await landDriftedBatch();
      expect((await checkNow()).action).toBe('retrain-started');
      const retrainA = await approveThrough(env.client, retrainWorkflowId(MODEL));
      expect(retrainA).toMatchObject({ status: 'deployed', version: 2 });

      // Run B: no cooldown to speak of, another PSI threshold and interval.
      const specB = await specWith({ cooldown: 1000, psi: 0.3, interval: 12 * HOUR });
      const b = await startRun(env.client, config, specB, { requestedBy: 'dave' });
      expect(await approveThrough(env.client, b.workflowId)).toMatchObject({ status: 'deployed', version: 3 });
      const afterB = await monitorUntil((v) => v.status?.spec?.version === 3);

      // Status, --json and the UI details say which spec the monitor judges by: B's run, version and digest.
      const version3 = await deps.registry.getVersion(MODEL, 3);
      expect(version3.spec).toBeDefined();
      const storedSpec = await deps.store.getBuffer(version3.spec!);
      expect(sha256Hex(storedSpec)).toBe(version3.spec!.sha256);
      expect(JSON.parse(storedSpec.toString('utf8')).monitor.cooldown).toBe(1000);
      expect(afterB.status!.spec).toMatchObject({ workflowId: b.workflowId, version: 3, sha256: version3.spec!.sha256 });
      expect(afterB.status!.intervalMs).toBe(12 * HOUR);
      expect(renderMonitor(afterB)).toContain(
        `judged by the spec of v3 (run ${b.workflowId}, sha256 ${version3.spec!.sha256.slice(0, 12)})`,
      );
      const details = (
        await env.client.workflow.getHandle(monitorWorkflowId(MODEL)).query<{ currentDetails?: string }>('__temporal_workflow_metadata')
      ).currentDetails;
      expect(details).toContain(b.workflowId);

      // Drift again, within A's 6 h cooldown: B's spec has none, so the monitor retrains (A's would skip it),
      // and the retraining run carries B's spec.
      await landDriftedBatch();
      const check = await checkNow();
      await maybeRecord('monitor-follows-deploy');
      expect(check.action).toBe('retrain-started');
      expect(check.drift.wind!.breached).toBe(true);
      const started = (await env.client.workflow.getHandle(retrainWorkflowId(MODEL)).fetchHistory()).events![0]!
        .workflowExecutionStartedEventAttributes!;
      const retrainInput = defaultPayloadConverter.fromPayload<PipelineRunInput>(started.input!.payloads![0]! as Payload);
      expect(retrainInput.spec.monitor!.cooldown).toBe(1000);
      expect(retrainInput.spec.monitor!.drift.psi).toBe(0.3);
      await approveThrough(env.client, retrainWorkflowId(MODEL));
    },
    20 * 60_000,
  );
});
