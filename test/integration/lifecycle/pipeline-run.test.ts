/** @jest-environment ./test/helpers/onnx-environment.js */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { MlopsConfig } from '../../../src/config';
import { defaultCacheDir } from '../../../src/config';
import { ensureTemporalCli } from '../../../src/dev/tools';
import { startRun } from '../../../src/client';
import { stageDataset } from '../../../src/cli/upload';
import { ensurePython } from '../../../src/dev/python';
import type { OnnxModel } from '../../../src/ml/onnx';
import { loadSpecFile } from '../../../src/spec/load';
import { parsePipelineSpec, type PipelineSpec } from '../../../src/spec/pipeline';
import { type PipelineRunResult, pipelineStatusQuery } from '../../../src/contracts';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'examples/seattle-weather/pipeline.yaml');

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

/** The example spec, staged into this test's MinIO, with the monitor left out unless asked for. */
async function exampleSpec(change: (doc: PipelineSpec) => PipelineSpec = (s) => s): Promise<PipelineSpec> {
  const spec = loadSpecFile(EXAMPLE);
  spec.dataset = await stageDataset(config, spec.dataset);
  delete spec.monitor;
  return change(spec);
}

async function waitForApprovalGate(workflowId: string): Promise<void> {
  const handle = env.client.workflow.getHandle(workflowId);
  for (let i = 0; i < 300; i++) {
    const status = await handle.query(pipelineStatusQuery).catch(() => undefined);
    if (status?.approval?.state === 'waiting') return;
    if (status?.result) throw new Error(`run ended before the gate: ${JSON.stringify(status.result)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the run never reached its approval gate');
}

/** Runs the official Temporal CLI, as an approver at a terminal would. */
async function temporalCli(...args: string[]): Promise<string> {
  const cli = await ensureTemporalCli(defaultCacheDir());
  const { stdout } = await run(cli, [...args, '--address', env.address, '--namespace', 'default']);
  return stdout;
}

/** Saves a finished run's history as a replay fixture when MLOPS_RECORD_HISTORIES=1. */
async function maybeRecord(workflowId: string, name: string): Promise<void> {
  if (process.env.MLOPS_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  fs.writeFileSync(path.join(ROOT, 'test/fixtures/histories', `${name}.json`), historyToJSON(history));
}

describe('a whole seattle-weather run on the dev server', () => {
  it('goes from ingest to deployed with its approval sent by "temporal workflow signal", and the registry shows alice', async () => {
    const spec = await exampleSpec();
    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
    await waitForApprovalGate(workflowId);

    // The requester cannot approve their own run; the refusal is recorded, not fatal.
    await temporalCli('workflow', 'signal', '--workflow-id', workflowId, '--name', 'approve', '--input', '{"approver":"dave"}');
    await temporalCli(
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'approve',
      '--input',
      '{"approver":"alice","comment":"macro-F1 is fine"}',
    );
    const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;

    expect(result).toMatchObject({ status: 'deployed', model: 'seattle-weather', version: 1 });
    expect(result.metrics!.accuracy).toBeGreaterThan(0.7);
    const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
    expect(status.stages.map((s) => [s.name, s.state])).toEqual([
      ['ingest', 'done'],
      ['train', 'done'],
      ['validate', 'done'],
      ['servability', 'done'],
      ['approve', 'done'],
      ['deploy', 'done'],
      ['monitor', 'skipped'],
    ]);
    // dave is also not on the list: the self-approval rule is the reason given first.
    expect(status.approval!.refused[0]!.reason).toBe('dave requested this run and cannot approve it (no self-approval)');

    // `mlops models show seattle-weather --json`, against this test's servers.
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'models', 'show', 'seattle-weather', '--json'], {
      env: {
        ...process.env,
        MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
        MINIO_ACCESS_KEY: minio.accessKey,
        MINIO_SECRET_KEY: minio.secretKey,
        MINIO_BUCKET: config.minio.bucket,
        TEMPORAL_ADDRESS: env.address,
      },
    });
    const view = JSON.parse(stdout);
    expect(view.aliases.production.version).toBe(1);
    expect(view.versions[0].approvals.map((a: { approver: string }) => a.approver)).toContain('alice');
    expect(view.versions[0].workflowId).toBe(workflowId);
    await maybeRecord(workflowId, 'deployed-after-approval');
  });

  it('a rejection ends the run as rejected, with the reason, and deploys nothing', async () => {
    const spec = await exampleSpec((s) => ({ ...s, model: 'seattle-weather-rejected' }));
    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
    await waitForApprovalGate(workflowId);
    await temporalCli(
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      'reject',
      '--input',
      '{"approver":"bob","reason":"fog recall too low"}',
    );
    const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
    expect(result.status).toBe('rejected');
    expect(result.reason).toBe('rejected by bob: fog recall too low');
    expect(await deps.registry.listModels()).not.toContain('seattle-weather-rejected');
    await maybeRecord(workflowId, 'rejected');
  });

  it('a candidate below the accuracy threshold ends validation-failed with its report, and no approval is asked', async () => {
    const spec = await exampleSpec((s) => ({
      ...s,
      model: 'seattle-weather-strict',
      validation: { thresholds: { accuracy: { min: 0.99 } } },
    }));
    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
    const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
    expect(result.status).toBe('validation-failed');
    expect(result.reason).toMatch(/accuracy 0\.\d{4} is below the minimum 0\.99/);
    const report = await deps.store.getJson<{ passed: boolean; failures: string[] }>(result.report!);
    expect(report.passed).toBe(false);
    const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
    expect(status.stages.find((s) => s.name === 'approve')!.state).toBe('skipped');
    await maybeRecord(workflowId, 'validation-failed');
  });

  it('a bad dataset ends the run as failed with the validation problem named', async () => {
    const spec = await exampleSpec((s) => ({
      ...s,
      model: 'seattle-weather-bad-data',
      dataset: {
        ...s.dataset,
        schema: { ...s.dataset.schema!, columns: s.dataset.schema!.columns.map((c) => (c.name === 'wind' ? { ...c, max: 3 } : c)) },
      },
    }));
    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
    const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/data validation failed: .*wind/);
  });
});

describe('an external trainer', () => {
  /** An example's spec, staged into this test's MinIO, with no approval or monitor and small models. */
  async function pythonExample(name: string, params: Record<string, unknown>): Promise<PipelineSpec> {
    await ensurePython();
    const spec = loadSpecFile(path.join(ROOT, 'examples', name, 'pipeline.yaml'));
    spec.dataset = await stageDataset(config, spec.dataset);
    delete spec.monitor;
    spec.approval = { ...spec.approval, required: false };
    spec.trainer.params = params;
    return spec;
  }

  it(
    'a scikit-learn program trains under contract v2; its ONNX model is measured by us on the holdout and deployed',
    async () => {
      const spec = await pythonExample('python-sklearn', { n_estimators: 20, max_depth: 2 });
      const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
      const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
      expect(result.status).toBe('deployed');
      // Measured on the holdout by the validate stage, through ONNX Runtime.
      expect(result.metrics!.accuracy).toBeGreaterThan(0.9);
      const version = await deps.registry.getVersion(spec.model, result.version!);
      const manifest = await deps.store.getJson<OnnxModel>(version.artifact);
      expect(manifest.format).toBe('temporal-mlops/onnx-model@1');
      expect(Object.keys(manifest.files).sort()).toEqual(['check_predictions.jsonl', 'metrics.json', 'model.onnx', 'signature.json']);
      expect(manifest.signature.classes).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
      expect(manifest.claimedMetrics.accuracy).toBeGreaterThan(0.8);
      expect(manifest.check).toBeDefined();
    },
    10 * 60_000,
  );

  it.each([
    ['python-xgboost', { n_estimators: 40, max_depth: 3 }, 'accuracy', 0.7],
    ['python-lightgbm', { n_estimators: 40 }, 'accuracy', 0.7],
    ['python-regression', { n_estimators: 60, max_depth: 3 }, 'r2', 0.85],
  ] as const)(
    'the %s example reaches production with its own spec, judged on the holdout by us',
    async (name, params, metric, least) => {
      const spec = await pythonExample(name, { ...params });
      const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
      const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
      expect(result.status).toBe('deployed');
      expect(result.metrics![metric]).toBeGreaterThan(least);
      const manifest = await deps.store.getJson<OnnxModel>((await deps.registry.getVersion(spec.model, result.version!)).artifact);
      expect(manifest.format).toBe('temporal-mlops/onnx-model@1');
      expect(manifest.task).toBe(spec.dataset.schema!.task);
    },
    10 * 60_000,
  );
});

describe('a worker killed during training', () => {
  it(
    'a new worker finishes the run from the checkpoint, with exactly one new version',
    async () => {
      // A table big enough for training to take a while, generated in code.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-kill-'));
      const file = path.join(dir, 'big.csv');
      const lines = ['a,b,c,d,label'];
      let s = 42;
      const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      // Big enough that training lasts well beyond its first checkpoint (about 12 s on a quiet 2-core machine).
      for (let i = 0; i < 200_000; i++) {
        const [a, b, c, d] = [rnd(), rnd(), rnd(), rnd()];
        lines.push(`${a},${b},${c},${d},${a + b * b - c + 0.3 * rnd() > 0.8 ? 'yes' : 'no'}`);
      }
      fs.writeFileSync(file, lines.join('\n'));
      const spec = parsePipelineSpec({
        model: 'killed-during-training',
        dataset: { source: file, target: 'label' },
        trainer: { name: 'gbdt', params: { maxIter: 1000, earlyStopping: false, maxLeafNodes: 31, learningRate: 0.05 } },
        approval: { required: false },
      });
      spec.dataset = await stageDataset(config, spec.dataset);

      // Worker A is a separate process so it can be SIGKILLed; only it serves the training queue.
      await stopWorkers!();
      stopWorkers = undefined;
      const childEnv = {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
        MINIO_ACCESS_KEY: minio.accessKey,
        MINIO_SECRET_KEY: minio.secretKey,
        MINIO_BUCKET: config.minio.bucket,
        MLOPS_TASK_QUEUE: config.taskQueue,
        MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
        MLOPS_LOG_LEVEL: 'warn',
        MLOPS_LOG_FORMAT: 'json',
      };
      const workerA: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'worker'], {
        env: childEnv,
        stdio: 'ignore',
      });
      try {
        const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
        const handle = env.client.workflow.getHandle(workflowId);
        // Wait for a checkpoint to be reported in the training heartbeat.
        let checkpointed = false;
        for (let i = 0; i < 600 && !checkpointed; i++) {
          const pending = (await handle.describe()).raw.pendingActivities ?? [];
          const training = pending.find((a) => a.activityType?.name === 'mlops.trainModel');
          const payload = training?.heartbeatDetails?.payloads?.[0];
          if (payload) {
            const details = env.client.options.loadedDataConverter.payloadConverter.fromPayload<{ checkpoint?: unknown; progress: number }>(
              payload,
            );
            checkpointed = Boolean(details.checkpoint) && details.progress < 0.5;
          }
          if (!checkpointed) await new Promise((r) => setTimeout(r, 200));
        }
        expect(checkpointed).toBe(true);
        workerA.kill('SIGKILL');

        // Worker B takes over once the heartbeat times out.
        ({ stop: stopWorkers } = await startWorkers(env, config));
        const result = (await handle.result()) as PipelineRunResult;
        expect(result.status).toBe('deployed');
        expect((await deps.registry.listVersions('killed-during-training')).map((v) => v.version)).toEqual([1]);
        const status = await handle.query(pipelineStatusQuery);
        expect(status.stages.find((s) => s.name === 'train')!.note).toMatch(/resumed from a checkpoint at \d+%/);
      } finally {
        workerA.kill('SIGKILL');
      }
    },
    10 * 60_000,
  );
});
