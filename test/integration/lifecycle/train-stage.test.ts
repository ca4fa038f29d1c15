/**
 * @jest-environment ./test/helpers/onnx-environment.js
 *
 * The train stage with an external program, on a real Temporal dev server and MinIO: the program's
 * output is stored as an ONNX model manifest, a program that prints nothing for three heartbeat
 * timeouts still finishes (the stage heartbeats on a timer), and PROGRESS lines reach the heartbeat
 * details. The workflow runs only the train stage with a short heartbeat timeout and no retry.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { createDependencies, type MlopsDependencies } from '../../../src/activities/dependencies';
import type { TrainHeartbeat, TrainInput, TrainResult } from '../../../src/contracts';
import { createLogger } from '../../../src/logger';
import { MlopsPlugin } from '../../../src/plugin';
import { prepareSnapshot } from '../../../src/ml/dataset';
import type { OnnxModel } from '../../../src/ml/onnx';
import type { DatasetSchema } from '../../../src/ml/types';
import { loadPredictor, MODEL_FILE_MAX_BYTES, predictRows } from '../../../src/ml/predictor';
import { parsePipelineSpec, type PipelineSpec } from '../../../src/spec/pipeline';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { testConfig } from '../../helpers/worker';

const FIXTURE = path.resolve(__dirname, '../../fixtures/onnx/tiny-classifier.onnx');
const HEARTBEAT_TIMEOUT_MS = 2000;

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let deps: MlopsDependencies;
let worker: Worker;
let running: Promise<void>;
let taskQueue: string;
let dir: string;
let input: Omit<TrainInput, 'trainer'>;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  const config = testConfig(env, minio);
  deps = createDependencies(config, createLogger({ level: 'warn', format: 'json' }));
  taskQueue = config.trainingTaskQueue;
  // The plugin's activities (typed failures and heartbeat throttling as in production), with the test's workflow.
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../fixtures/workflows/train-stage'),
    plugins: [new MlopsPlugin({ dependencies: deps, workflows: false })],
  });
  running = worker.run();

  // A small table: x decides y, and every row is told apart by its id so the split can be checked.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'train-stage-'));
  const csv = ['id,x,y', ...Array.from({ length: 300 }, (_, i) => `${i},${i % 4},${i % 4 < 2 ? 'a' : 'b'}`)].join('\n');
  fs.writeFileSync(path.join(dir, 'data.csv'), csv);
  const schema: DatasetSchema = {
    columns: [
      { name: 'id', type: 'numeric' },
      { name: 'x', type: 'numeric' },
      { name: 'y', type: 'categorical' },
    ],
    target: 'y',
    features: ['x'],
    task: 'classification',
  };
  const snapshotFile = path.join(dir, 'snapshot.jsonl');
  await prepareSnapshot({ sources: [path.join(dir, 'data.csv')], format: 'csv', schema, outFile: snapshotFile });
  input = {
    model: 'toy-external',
    snapshot: await deps.store.putFile(snapshotFile),
    schema,
    split: { method: 'hash', testFraction: 0.25, seed: 3 },
  };
  const signature = {
    inputs: [{ column: 'x', name: 'x', type: 'float' }],
    outputs: { label: 'label', probabilities: 'probabilities' },
    classes: ['a', 'b'],
  };
  fs.writeFileSync(path.join(dir, 'signature.json'), JSON.stringify(signature));
}, 15 * 60_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await minio?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A shell program; it ends by leaving the fixture model and its signature, as a real trainer would. */
function program(name: string, body: string): PipelineSpec['trainer'] {
  const file = path.join(dir, name);
  const leavesModel = `cp "${FIXTURE}" "$MLOPS_OUTPUT_DIR/model.onnx"\ncp "${path.join(dir, 'signature.json')}" "$MLOPS_OUTPUT_DIR/signature.json"`;
  fs.writeFileSync(file, `#!/bin/sh\nset -e\n${body}\n${leavesModel}\n`, { mode: 0o755 });
  return commandTrainer(file, { depth: 2 });
}

/** The `command` trainer of a spec that runs `file`. */
function commandTrainer(file: string, params: Record<string, unknown> = {}): PipelineSpec['trainer'] {
  return parsePipelineSpec({
    model: 'toy-external',
    dataset: { source: 's3://x/y.csv', target: 'y' },
    trainer: { name: 'command', command: [file], params },
  }).trainer;
}

function start(trainer: PipelineSpec['trainer']) {
  const workflowId = `train-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return env.client.workflow.start('trainStageOnly', { taskQueue, workflowId, args: [{ ...input, trainer }, HEARTBEAT_TIMEOUT_MS] });
}

it(
  'a program silent for three heartbeat timeouts finishes, and its PROGRESS reaches the heartbeat details',
  async () => {
    const silentMs = 3 * HEARTBEAT_TIMEOUT_MS;
    const trainer = program(
      'silent.sh',
      `echo "PROGRESS 0.4"\nsleep ${silentMs / 1000}\ncp "$MLOPS_TRAIN_DATA" "$MLOPS_OUTPUT_DIR/seen.jsonl"\n` +
        `echo '{"accuracy": 0.97}' > "$MLOPS_OUTPUT_DIR/metrics.json"`,
    );
    const handle = await start(trainer);
    const started = Date.now();
    let seen: TrainHeartbeat | undefined;
    while (!seen && Date.now() - started < silentMs) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const payload = pending.find((a) => a.activityType?.name === 'mlops.trainModel')?.heartbeatDetails?.payloads?.[0];
      const details = payload ? env.client.options.loadedDataConverter.payloadConverter.fromPayload<TrainHeartbeat>(payload) : undefined;
      if (details?.progress === 0.4) seen = details;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen?.message).toMatch(/^running .*silent\.sh on \d+ rows$/);
    const result = (await handle.result()) as TrainResult;
    expect(Date.now() - started).toBeGreaterThanOrEqual(silentMs);
    expect(result.trainer).toBe('command');
    expect(result.claimedMetrics).toEqual({ accuracy: 0.97 });

    // The model reference is an ONNX manifest that loads through the seam and answers.
    const manifest = await deps.store.getJson<OnnxModel>(result.model);
    expect(manifest.format).toBe('temporal-mlops/onnx-model@1');
    expect(Object.keys(manifest.files).sort()).toEqual(['metrics.json', 'model.onnx', 'seen.jsonl', 'signature.json']);
    expect(manifest.onnx).toEqual(manifest.files['model.onnx']);
    expect(manifest.trainer).toEqual({ command: trainer.name === 'command' ? trainer.command : [], params: { depth: 2 } });
    expect(manifest.claimedMetrics).toEqual({ accuracy: 0.97 });
    expect(manifest.check).toBeUndefined();
    const predictor = await loadPredictor(manifest, (ref) => deps.store.getBuffer(ref, MODEL_FILE_MAX_BYTES));
    try {
      expect((await predictRows(predictor, [{ x: 0 }, { x: 3 }])).labels).toEqual(['a', 'b']);
    } finally {
      await predictor.release();
    }

    // The program was given the training side only: 300 rows less the holdout, each at most once.
    const given = (await deps.store.getBuffer(manifest.files['seen.jsonl']!)).toString().split('\n').filter(Boolean);
    expect(given.length).toBe(result.trainRows);
    expect(result.trainRows).toBeGreaterThan(180);
    expect(result.trainRows).toBeLessThan(270);
  },
  5 * 60_000,
);

it(
  'the check rows and the program’s own predictions for them are stored and referenced by the manifest',
  async () => {
    // The program answers its check rows as the fixture model does: class a below x = 2, b from there.
    const answers = path.join(dir, 'answers.js');
    fs.writeFileSync(
      answers,
      `const fs = require('fs');
const rows = fs.readFileSync(process.env.MLOPS_CHECK_DATA, 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l));
const lines = rows.map((r) => JSON.stringify(r.x < 2 ? { label: 'a', probabilities: [0.9, 0.1] } : { label: 'b', probabilities: [0.1, 0.9] }));
fs.writeFileSync(process.env.MLOPS_OUTPUT_DIR + '/check_predictions.jsonl', lines.join('\\n') + '\\n');`,
    );
    const trainer = program('check.sh', `"${process.execPath}" "${answers}"`);
    const result = (await (await start(trainer)).result()) as TrainResult;
    const manifest = await deps.store.getJson<OnnxModel>(result.model);
    const rows = (await deps.store.getBuffer(manifest.check!.rows)).toString().split('\n').filter(Boolean);
    const predictions = (await deps.store.getBuffer(manifest.check!.predictions)).toString().split('\n').filter(Boolean);
    expect(rows.length).toBe(Math.min(200, result.trainRows));
    expect(predictions.length).toBe(rows.length);
    expect(Object.keys(JSON.parse(rows[0]!) as object)).toEqual(['x']);
    expect(manifest.check!.predictions).toEqual(manifest.files['check_predictions.jsonl']);
  },
  5 * 60_000,
);

it(
  'a program that writes no model.onnx fails the stage with MlopsTrainerFailed saying what is missing',
  async () => {
    const file = path.join(dir, 'nomodel.sh');
    fs.writeFileSync(file, `#!/bin/sh\necho '{"accuracy": 0.99}' > "$MLOPS_OUTPUT_DIR/metrics.json"\n`, { mode: 0o755 });
    const trainer = commandTrainer(file);
    const err = await (await start(trainer)).result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause as { type?: string; message?: string } | undefined;
    expect(cause?.type).toBe('MlopsTrainerFailed');
    expect(cause?.message).toMatch(/wrote no model\.onnx/);
  },
  5 * 60_000,
);
