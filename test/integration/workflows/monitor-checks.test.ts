/**
 * The monitor's real checks, on a real Temporal dev server, a real MinIO and the real registry: ONNX
 * regression models made by the pinned Python (scikit-learn LinearRegression through skl2onnx), labelled
 * batches landing under an s3:// prefix, and the monitor asked to check with checkNow.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { createMonitorActivities } from '../../../src/activities/monitor';
import { monitorView, renderMonitor } from '../../../src/cli/monitor';
import type { MlopsConfig } from '../../../src/config';
import { ensurePython } from '../../../src/dev/python';
import { EXTERNAL_MODEL_FORMAT } from '../../../src/ml/external/model';
import { ONNX_MODEL_FORMAT, type OnnxModel, type OnnxSignature } from '../../../src/ml/onnx';
import { profileRows } from '../../../src/ml/profile';
import type { DatasetSchema } from '../../../src/ml/types';
import { parsePipelineSpec } from '../../../src/spec/pipeline';
import {
  checkNowSignal,
  deployedSignal,
  type MonitorCheck,
  modelMonitorWorkflow,
  monitorStatusQuery,
  monitorWorkflowId,
} from '../../../src/contracts';
import type { ArtifactRef } from '../../../src/storage/refs';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');

/** Runs the built mlops command (dist/, from npx tsc) against the test servers. */
function mlops(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const vars = {
    TEMPORAL_ADDRESS: env.address,
    MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: config.minio.bucket,
    MLOPS_TASK_QUEUE: config.taskQueue,
    MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/mlops.js'), ...args], { env: { ...process.env, ...vars } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const schema: DatasetSchema = {
  columns: [
    { name: 'x1', type: 'numeric' },
    { name: 'x2', type: 'numeric' },
    { name: 'y', type: 'numeric' },
  ],
  target: 'y',
  features: ['x1', 'x2'],
  task: 'regression',
};

/** y = 2·x1 − x2 + 5 + noise, deterministic. */
function rows(n: number, seed: number): Record<string, number>[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => {
    const x1 = rand() * 10;
    const x2 = rand() * 4;
    return { x1, x2, y: 2 * x1 - x2 + 5 + (rand() - 0.5) };
  });
}

const training = rows(300, 1);
const live = rows(60, 2);

/**
 * Fits a LinearRegression behind a per-column imputer (one ONNX input per feature, as the contract asks)
 * on the training rows, with the target negated for the "bad" variant, converts it, and prints the
 * rmse Python's onnxruntime gets on the live rows.
 */
const MAKE_MODEL = `
import json, os, sys
import numpy as np, pandas as pd, onnxruntime as ort
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from skl2onnx import to_onnx

out, variant = sys.argv[1], sys.argv[2]
train = pd.DataFrame(json.load(open(os.path.join(out, 'train.json'))))
live = pd.DataFrame(json.load(open(os.path.join(out, 'live.json'))))
features = ['x1', 'x2']
y = train['y'] if variant == 'good' else -train['y']
pipe = Pipeline([('prep', ColumnTransformer([('num', SimpleImputer(strategy='median'), features)])), ('reg', LinearRegression())])
pipe.fit(train[features], y)
onx = to_onnx(pipe, train[features][:1].astype(np.float32), target_opset={'': 17, 'ai.onnx.ml': 3})
with open(os.path.join(out, 'model.onnx'), 'wb') as f:
    f.write(onx.SerializeToString())
names = [i.name for i in onx.graph.input]
signature = {'inputs': [{'column': c, 'name': n, 'type': 'float'} for c, n in zip(features, names)], 'outputs': {'value': onx.graph.output[0].name}}
json.dump(signature, open(os.path.join(out, 'signature.json'), 'w'))
sess = ort.InferenceSession(os.path.join(out, 'model.onnx'), providers=['CPUExecutionProvider'])
pred = sess.run(None, {n: live[[c]].to_numpy(np.float32) for c, n in zip(features, names)})[0].reshape(-1)
print(json.dumps({'rmse': float(np.sqrt(np.mean((pred.astype(np.float64) - live['y'].to_numpy()) ** 2)))}))
`;

interface MadeModel {
  dir: string;
  signature: OnnxSignature;
  /** The rmse Python's onnxruntime gets on the live rows. */
  liveRmse: number;
}

async function makeModel(python: string, variant: 'good' | 'bad'): Promise<MadeModel> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mlops-monitor-${variant}-`));
  fs.writeFileSync(path.join(dir, 'train.json'), JSON.stringify(training));
  fs.writeFileSync(path.join(dir, 'live.json'), JSON.stringify(live));
  fs.writeFileSync(path.join(dir, 'make.py'), MAKE_MODEL);
  const { stdout } = await run(python, [path.join(dir, 'make.py'), dir, variant], { maxBuffer: 16 * 1024 * 1024 });
  const signature = JSON.parse(fs.readFileSync(path.join(dir, 'signature.json'), 'utf8')) as OnnxSignature;
  return { dir, signature, liveRmse: (JSON.parse(stdout) as { rmse: number }).rmse };
}

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stopWorkers: (() => Promise<void>) | undefined;
let good: MadeModel;
let bad: MadeModel;

beforeAll(async () => {
  const python = await ensurePython();
  [env, minio, good, bad] = await Promise.all([startTemporal(), TestMinio.start(), makeModel(python, 'good'), makeModel(python, 'bad')]);
  config = testConfig(env, minio);
  ({ deps, stop: stopWorkers } = await startWorkers(env, config));
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.store.ensureBucket();
      break;
    } catch (err) {
      if (attempt >= 50) throw err;
      await sleep(200);
    }
  }
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
  for (const m of [good, bad]) if (m) fs.rmSync(m.dir, { recursive: true, force: true });
});

/** Registers a model document as the next version of `model`, with the training rows' profile. */
async function register(model: string, document: unknown, snapshot?: ArtifactRef): Promise<number> {
  const artifact = await deps.store.putJson(document);
  const profile = await deps.store.putJson(await profileRows(training, schema));
  const runId = `run-${model}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const { version } = await deps.registry.registerVersion({
    model,
    artifact,
    dataset: { sha256: 'c'.repeat(64), name: 'linear', profile, ...(snapshot ? { snapshot } : {}) },
    trainer: { name: 'command', params: {} },
    metrics: {},
    workflowId: runId,
    runId: `${runId}-1`,
  });
  return version.version;
}

/** Stores a made model's model.onnx and its manifest, as the train stage does, and registers it. */
async function registerOnnx(model: string, made: MadeModel, snapshot?: ArtifactRef): Promise<number> {
  const onnx = await deps.store.putFile(path.join(made.dir, 'model.onnx'));
  const manifest: OnnxModel = {
    format: ONNX_MODEL_FORMAT,
    task: 'regression',
    schema,
    classes: [],
    onnx,
    signature: made.signature,
    trainer: { command: ['python', 'make.py'], params: { variant: path.basename(made.dir) } },
    files: { 'model.onnx': onnx },
    claimedMetrics: {},
  };
  return register(model, manifest, snapshot);
}

async function promote(model: string, version: number): Promise<void> {
  await deps.registry.moveAlias({ model, alias: 'production', version, by: 'test', reason: 'monitor test' });
}

/** Lands a labelled batch under the monitor's prefix, as a team's job would. */
async function land(model: string, batch: Record<string, unknown>[]): Promise<void> {
  // Objects are picked by their time: keep this batch clear of the window's edges.
  await sleep(1100);
  const key = `batches/${model}/${Date.now()}.jsonl`;
  await deps.store.client.putObject(deps.store.bucket, key, Buffer.from(batch.map((r) => JSON.stringify(r)).join('\n') + '\n'));
  await sleep(1100);
}

/** Starts the monitor of `model` watching `version`, with the given monitor section. */
async function startMonitor(model: string, version: number, monitor: Record<string, unknown>) {
  const spec = parsePipelineSpec({
    model,
    dataset: { source: `s3://${config.minio.bucket}/data/${model}.csv`, target: 'y', schema },
    trainer: { name: 'gbdt' },
    monitor: {
      interval: '1d',
      source: `s3://${config.minio.bucket}/batches/${model}/`,
      minRows: 10,
      retrain: false,
      drift: { psi: 5 },
      ...monitor,
    },
  });
  const args = [{ spec, alias: 'production', version }];
  return env.client.workflow.start(modelMonitorWorkflow, { taskQueue: config.taskQueue, workflowId: monitorWorkflowId(model), args });
}

/** Asks for a check now and waits until it is recorded. */
async function checkNow(handle: WorkflowHandle): Promise<MonitorCheck> {
  const before = (await handle.query(monitorStatusQuery)).checks.length;
  await handle.signal(checkNowSignal);
  for (let i = 0; i < 1200; i++) {
    const s = await handle.query(monitorStatusQuery);
    if (s.checks.length > before) return s.checks[s.checks.length - 1]!;
    await sleep(250);
  }
  throw new Error('the monitor did not record a check within 5 minutes');
}

/** Deploys `version` over `previous` as the deploy stage does: alias moved, then the monitor told. */
async function deploy(handle: WorkflowHandle, model: string, version: number, previous?: number) {
  await promote(model, version);
  await handle.signal(deployedSignal, {
    version,
    previousVersion: previous,
    at: new Date().toISOString(),
    workflowId: `deploy-${model}-${version}`,
  });
}

const guardrail = { metric: 'rmse', margin: 0.05, watch: '7d', minLabelled: 20 };

describe('the monitor on real servers', () => {
  it('an rmse guardrail rolls back a new version whose live rmse is higher than the previous one', async () => {
    const model = 'rmse-worse';
    const v1 = await registerOnnx(model, good);
    const v2 = await registerOnnx(model, bad);
    await promote(model, v1);
    const handle = await startMonitor(model, v1, { guardrail });
    try {
      await land(model, live);
      const first = await checkNow(handle);
      expect(first).toMatchObject({
        version: v1,
        action: 'none',
        performance: { metric: 'rmse', labelled: live.length, higherIsBetter: false },
      });

      await deploy(handle, model, v2, v1);
      await land(model, live);
      const second = await checkNow(handle);
      expect(second.performance!.value).toBeGreaterThan(first.performance!.value + 1);
      expect(second).toMatchObject({ version: v2, action: 'rolled-back', rollback: { from: v2, to: v1 } });
      expect(second.rollback!.reason).toMatch(/live rmse of v\d+ is [\d.]+, above v\d+'s [\d.]+ by more than 0\.05 \(lower is better\)/);
      expect((await deps.registry.findAlias(model, 'production'))?.to).toBe(v1);
      expect((await handle.query(monitorStatusQuery)).version).toBe(v1);
    } finally {
      await handle.terminate('test done');
    }
  });

  it('an rmse guardrail keeps a new version whose live rmse is lower', async () => {
    const model = 'rmse-better';
    const v1 = await registerOnnx(model, bad);
    const v2 = await registerOnnx(model, good);
    await promote(model, v1);
    const handle = await startMonitor(model, v1, { guardrail });
    try {
      await land(model, live);
      const first = await checkNow(handle);
      await deploy(handle, model, v2, v1);
      await land(model, live);
      const second = await checkNow(handle);
      expect(second.performance!.value).toBeLessThan(first.performance!.value - 1);
      expect(second).toMatchObject({ version: v2, action: 'none' });
      expect((await deps.registry.findAlias(model, 'production'))?.to).toBe(v2);
    } finally {
      await handle.terminate('test done');
    }
  });

  it('a monitor over an ONNX production model computes live performance through the seam, as Python onnxruntime does', async () => {
    const model = 'onnx-live';
    const v1 = await registerOnnx(model, good);
    await promote(model, v1);
    // A maximum the live rmse of the good model stays under, and one the bad model's exceeds.
    const max = (good.liveRmse + bad.liveRmse) / 2;
    const handle = await startMonitor(model, v1, { performance: { metric: 'rmse', max } });
    try {
      await land(model, live);
      const check = await checkNow(handle);
      expect(check.performance).toMatchObject({ metric: 'rmse', labelled: live.length, breached: false, higherIsBetter: false, max });
      expect(check.performance!.value).toBeCloseTo(good.liveRmse, 4);

      const v2 = await registerOnnx(model, bad);
      await deploy(handle, model, v2);
      await land(model, live);
      const worse = await checkNow(handle);
      expect(worse.performance!.value).toBeCloseTo(bad.liveRmse, 4);
      // Above the maximum is the breach for a lower-is-better metric (retraining is off in this spec).
      expect(worse).toMatchObject({ version: v2, action: 'retrain-disabled', performance: { breached: true } });
    } finally {
      await handle.terminate('test done');
    }
  });

  it('a check that fails is recorded with its reason, the monitor keeps checking, and status never calls a closed monitor active', async () => {
    const model = 'legacy-then-onnx';
    const legacy = await register(model, {
      format: EXTERNAL_MODEL_FORMAT,
      command: ['python', 'train.py'],
      files: {},
      metrics: { rmse: 0.1 },
    });
    await promote(model, legacy);
    const handle = await startMonitor(model, legacy, { performance: { metric: 'rmse', max: 10 } });
    try {
      await land(model, live);
      const failed = await checkNow(handle);
      expect(failed).toMatchObject({ version: legacy, action: 'check-failed', failure: { type: 'MlopsInvalidInput' } });
      expect(failed.failure!.message).toMatch(
        new RegExp(`${model} v${legacy} \\(production\\) cannot be loaded for the check: Not servable: .*model\\.onnx`),
      );

      const view = await monitorView(env.client, model);
      expect(view).toMatchObject({ execution: 'RUNNING', lastCheckFailure: { version: legacy, type: 'MlopsInvalidInput' } });
      expect(view.status!.failingChecks).toBe(1);
      expect(renderMonitor(view)).toMatch(/active, last check FAILED \(1 in a row\)/);
      expect(renderMonitor(view)).toMatch(/check FAILED: .*Not servable/);

      // The team retrains with a trainer that writes ONNX and deploys it: the next check works.
      const onnx = await registerOnnx(model, good);
      await deploy(handle, model, onnx);
      await land(model, live);
      const next = await checkNow(handle);
      expect(next).toMatchObject({ version: onnx, action: 'none', rows: live.length, performance: { metric: 'rmse', breached: false } });
      const recovered = await monitorView(env.client, model);
      expect(recovered.execution).toBe('RUNNING');
      expect(recovered.lastCheckFailure).toBeUndefined();
      expect(renderMonitor(recovered)).toMatch(/^monitor-legacy-then-onnx: active, watching production/);
    } finally {
      await handle.terminate('an operator stopped it');
    }
    const closed = await monitorView(env.client, model);
    expect(closed.execution).toBe('TERMINATED');
    expect(renderMonitor(closed)).toMatch(/^monitor-legacy-then-onnx: TERMINATED \(not checking\)/);
    expect(renderMonitor(closed)).not.toMatch(/active/);

    // The same through the mlops command, as an operator runs it.
    const status = await mlops('monitor', 'status', model, '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ execution: 'TERMINATED', failure: expect.stringMatching(/an operator stopped it/) });
    const text = await mlops('monitor', 'status', model);
    expect(text.stdout).toMatch(/^monitor-legacy-then-onnx: TERMINATED \(not checking\)/);
    const check = await mlops('monitor', 'check', model);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/The monitor of "legacy-then-onnx" has ended \(TERMINATED\)/);
  });

  it('a window that cannot be read fails the check naming the object; once it is removed, the next check reads the window', async () => {
    const model = 'bad-batch';
    const v1 = await registerOnnx(model, good);
    await promote(model, v1);
    const handle = await startMonitor(model, v1, { performance: { metric: 'rmse', max: 10 } });
    try {
      await land(model, live);
      const key = `batches/${model}/broken.jsonl`;
      await deps.store.client.putObject(deps.store.bucket, key, Buffer.from('{"x1": 1, "x2": 2, "y": 3}\n{not json\n'));
      const failed = await checkNow(handle);
      expect(failed).toMatchObject({ action: 'check-failed', failure: { type: 'MlopsInvalidInput' } });
      expect(failed.failure!.message).toMatch(new RegExp(`${key} line 2: invalid JSON`));

      await deps.store.delete(deps.store.uri(key));
      const next = await checkNow(handle);
      // The failed check consumed nothing: with no check done before, this one reads the whole window (monitor.window,
      // 7 days by default) back from its own time, so the batch landed before the failed check is read.
      expect(next).toMatchObject({ action: 'none', rows: live.length });
      expect(Date.parse(next.window.to) - Date.parse(next.window.from!)).toBe(7 * 24 * 3600_000);
      expect(Date.parse(next.window.from!)).toBeLessThan(Date.parse(failed.window.to));
      expect((await handle.describe()).status.name).toBe('RUNNING');
    } finally {
      await handle.terminate('test done');
    }
  });

  it('a first check reads no further back than monitor.window: a batch landed before it is left out', async () => {
    const model = 'short-window';
    const v1 = await registerOnnx(model, good);
    await promote(model, v1);
    const handle = await startMonitor(model, v1, { window: '20s', performance: { metric: 'rmse', max: 10 } });
    try {
      await land(model, live.slice(0, 10)); // old: outside the window by the time of the check
      await sleep(20_000);
      await land(model, live);
      const check = await checkNow(handle);
      expect(check).toMatchObject({ action: 'none', rows: live.length });
      expect(Date.parse(check.window.to) - Date.parse(check.window.from!)).toBe(20_000);
    } finally {
      await handle.terminate('test done');
    }
  });

  it('a check heartbeats on a timer while it reads a large window, with the rows read so far', async () => {
    const model = 'big-window';
    const snapshot = await deps.store.putBuffer(Buffer.from(training.map((r) => JSON.stringify(r)).join('\n') + '\n'));
    const v1 = await registerOnnx(model, good, snapshot);
    await promote(model, v1);
    const big = rows(300_000, 3);
    await land(model, big);
    const monitor = parsePipelineSpec({
      model,
      dataset: { source: `s3://${config.minio.bucket}/data/${model}.csv`, target: 'y', schema },
      trainer: { name: 'gbdt' },
      monitor: {
        source: `s3://${config.minio.bucket}/batches/${model}/`,
        drift: { psi: 5, ksPValue: 0.001 },
        performance: { metric: 'rmse', max: 10 },
      },
    }).monitor!;

    // A heartbeat timeout of 300 ms makes the timer beat every 100 ms.
    const activity = new MockActivityEnvironment({ heartbeatTimeoutMs: 300 });
    const beats: { step: string; rows: number }[] = [];
    activity.on('heartbeat', (d: { step: string; rows: number }) => beats.push(d));
    const until = new Date().toISOString();
    const result = await activity.run(createMonitorActivities(deps).checkModel, {
      model,
      alias: 'production',
      version: v1,
      monitor,
      until,
    });

    expect(result.rows).toBe(big.length);
    expect(result.performance).toMatchObject({ metric: 'rmse', labelled: big.length, breached: false });
    expect(beats.map((b) => b.step).filter((step, i, all) => all[i - 1] !== step)).toEqual(['model', 'window', 'reference', 'assess']);
    // Beats while the window was being read, between the 10,000-row marks: the timer, not the code's own updates.
    const midRead = beats.filter((b) => b.step === 'window' && b.rows > 0 && b.rows < big.length);
    expect(midRead.length).toBeGreaterThanOrEqual(2);
  });
});
