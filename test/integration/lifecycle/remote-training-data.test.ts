/**
 * Training rows that leave the worker: the train stage, on a real Temporal dev server and MinIO, gives an
 * external program the training side of the split as Parquet parts behind presigned URLs. The program
 * (the pinned Python with pyarrow, as a cluster would read them) sees exactly the training rows and none of
 * the holdout, the URLs stop working when they expire, and `trainer.data` decides what else it gets.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDependencies, type MlopsDependencies } from '../../../src/activities/dependencies';
import type { TrainInput, TrainResult } from '../../../src/contracts';
import { ensurePython } from '../../../src/dev/python';
import { createLogger } from '../../../src/logger';
import { MlopsPlugin } from '../../../src/plugin';
import { loadSplit, prepareSnapshot, writeTrainingRows } from '../../../src/ml/dataset';
import { publishTrainingParts, writeTrainingParts, type TrainParts } from '../../../src/ml/external/remote-data';
import type { OnnxModel } from '../../../src/ml/onnx';
import type { DatasetSchema, Frame } from '../../../src/ml/types';
import { parsePipelineSpec, type PipelineSpec } from '../../../src/spec/pipeline';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { testConfig } from '../../helpers/worker';

const FIXTURE = path.resolve(__dirname, '../../fixtures/onnx/tiny-classifier.onnx');
const ROWS = 1000;

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let deps: MlopsDependencies;
let worker: Worker;
let running: Promise<void>;
let taskQueue: string;
let dir: string;
let python: string;
let snapshotFile: string;
let input: Omit<TrainInput, 'trainer'>;

const schema: DatasetSchema = {
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'day', type: 'datetime' },
    { name: 'y', type: 'categorical' },
  ],
  target: 'y',
  features: ['x'],
  task: 'classification',
};

beforeAll(async () => {
  [env, minio, python] = await Promise.all([startTemporal(), TestMinio.start(), ensurePython()]);
  const config = testConfig(env, minio);
  deps = createDependencies(config, createLogger({ level: 'warn', format: 'json' }));
  taskQueue = config.trainingTaskQueue;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../fixtures/workflows/train-stage'),
    plugins: [new MlopsPlugin({ dependencies: deps, workflows: false })],
  });
  running = worker.run();

  // Every row is told apart by its x, so where each row went can be checked.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remote-data-'));
  const days = (i: number) => `2024-01-${String((i % 28) + 1).padStart(2, '0')}`;
  const csv = ['x,day,y', ...Array.from({ length: ROWS }, (_, i) => `${i},${days(i)},${i % 4 < 2 ? 'a' : 'b'}`)].join('\n');
  fs.writeFileSync(path.join(dir, 'data.csv'), csv);
  snapshotFile = path.join(dir, 'snapshot.jsonl');
  await prepareSnapshot({ sources: [path.join(dir, 'data.csv')], format: 'csv', schema, outFile: snapshotFile });
  input = {
    model: 'remote-data',
    snapshot: await deps.store.putFile(snapshotFile),
    schema,
    split: { method: 'hash', testFraction: 0.25, seed: 5 },
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

/** A `command` trainer running a Python program that reads what it was given, records it, and leaves the fixture model. */
function pythonTrainer(name: string, body: string, data?: 'both' | 'remote' | 'local', timeout?: string): PipelineSpec['trainer'] {
  const file = path.join(dir, name);
  const copy = (from: string, to: string) => `shutil.copy(${JSON.stringify(from)}, out + '/${to}')`;
  const leave = `import shutil\n${copy(FIXTURE, 'model.onnx')}\n${copy(path.join(dir, 'signature.json'), 'signature.json')}`;
  fs.writeFileSync(file, `import hashlib, json, os, urllib.request\nout = os.environ['MLOPS_OUTPUT_DIR']\n${body}\n${leave}\n`);
  const trainer = { name: 'command', command: [python, file], data, timeout };
  return parsePipelineSpec({ model: 'remote-data', dataset: { source: 's3://x/y.csv', target: 'y' }, trainer }).trainer;
}

async function train(trainer: PipelineSpec['trainer']): Promise<OnnxModel> {
  const workflowId = `train-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const handle = await env.client.workflow.start('trainStageOnly', { taskQueue, workflowId, args: [{ ...input, trainer }, 30_000] });
  const result = (await handle.result()) as TrainResult;
  return deps.store.getJson<OnnxModel>(result.model);
}

async function stored<T>(manifest: OnnxModel, file: string): Promise<T> {
  return JSON.parse((await deps.store.getBuffer(manifest.files[file]!)).toString()) as T;
}

/** The x of every row of a side of the split: x tells rows apart. */
const ids = (side: Frame): number[] => Array.from(side.columns.x as Float64Array);

it(
  'with data: remote the program reads Parquet parts holding exactly the training rows, none of the holdout, and gets no local copy',
  async () => {
    const trainer = pythonTrainer(
      'remote.py',
      `import io, pyarrow.parquet as pq
given = json.load(open(os.environ['MLOPS_TRAIN_URIS']))
seen, digests_ok = [], True
for part in given['parts']:
    data = urllib.request.urlopen(part['url']).read()
    digests_ok = digests_ok and hashlib.sha256(data).hexdigest() == part['sha256']
    table = pq.read_table(io.BytesIO(data))
    seen.append({'rows': table.num_rows, 'ids': [int(v) for v in table.column('x').to_pylist()], 'schema': [str(t) for t in table.schema.types]})
json.dump({'parts': seen, 'digestsOk': digests_ok, 'rows': given['rows'], 'uris': [p['uri'] for p in given['parts']],
           'trainData': os.environ.get('MLOPS_TRAIN_DATA'), 'expires': given['expires']}, open(out + '/seen.json', 'w'))`,
      'remote',
      '10m',
    );
    const started = Date.now();
    const manifest = await train(trainer);
    type Part = { rows: number; ids: number[]; schema: string[] };
    type Seen = { parts: Part[]; digestsOk: boolean; rows: number; uris: string[]; trainData: string | null; expires: string };
    const seen = await stored<Seen>(manifest, 'seen.json');

    const split = await loadSplit(snapshotFile, schema, input.split);
    const trainIds = ids(split.train).sort((a, b) => a - b);
    const holdoutIds = new Set(ids(split.test));
    const given = seen.parts.flatMap((p) => p.ids);
    // Exactly the training rows, each once, and not one holdout row.
    expect([...given].sort((a, b) => a - b)).toEqual(trainIds);
    expect(given.filter((id) => holdoutIds.has(id))).toEqual([]);
    expect(holdoutIds.size).toBeGreaterThan(150);
    expect(seen.rows).toBe(trainIds.length);
    // A few parts of even size, typed by the schema, each as stored.
    expect(seen.parts.length).toBe(4);
    expect(Math.max(...seen.parts.map((p) => p.rows)) - Math.min(...seen.parts.map((p) => p.rows))).toBeLessThanOrEqual(1);
    expect(seen.parts[0]!.schema).toEqual(['double', 'string', 'string']);
    expect(seen.digestsOk).toBe(true);
    expect(seen.uris.every((u) => u.startsWith('s3://'))).toBe(true);
    // No local copy of the rows, and the URLs live as long as the trainer's timeout.
    expect(seen.trainData).toBeNull();
    const expiresIn = Date.parse(seen.expires) - started;
    expect(expiresIn).toBeGreaterThan(9 * 60_000);
    expect(expiresIn).toBeLessThan(11 * 60_000);
  },
  5 * 60_000,
);

it(
  'by default the program gets both the local rows and the remote parts; with data: local only the rows',
  async () => {
    const record = `json.dump({'trainData': os.environ.get('MLOPS_TRAIN_DATA') is not None and os.path.exists(os.environ['MLOPS_TRAIN_DATA']),
           'trainUris': os.environ.get('MLOPS_TRAIN_URIS') is not None}, open(out + '/seen.json', 'w'))`;
    const both = await stored<{ trainData: boolean; trainUris: boolean }>(await train(pythonTrainer('both.py', record)), 'seen.json');
    expect(both).toEqual({ trainData: true, trainUris: true });
    const local = await stored<{ trainData: boolean; trainUris: boolean }>(
      await train(pythonTrainer('local.py', record, 'local')),
      'seen.json',
    );
    expect(local).toEqual({ trainData: true, trainUris: false });
  },
  5 * 60_000,
);

it(
  'a presigned part URL past its expiry is refused by MinIO',
  async () => {
    const partsDir = path.join(dir, 'expiry');
    const trainFile = path.join(dir, 'expiry-train.jsonl');
    const { trainRows } = await writeTrainingRows(snapshotFile, schema, input.split, trainFile);
    const local = await writeTrainingParts(trainFile, trainRows, schema, partsDir);
    const parts: TrainParts = await publishTrainingParts(deps.store, local, schema, 3);
    const url = parts.parts[0]!.url;

    const before = await fetch(url);
    expect(before.status).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await before.arrayBuffer()))
        .digest('hex'),
    ).toBe(parts.parts[0]!.sha256);
    // Past the expiry (with a second for clocks), the same URL no longer reads the part.
    while (Date.now() < Date.parse(parts.expires) + 1500) await new Promise((r) => setTimeout(r, 250));
    const after = await fetch(url);
    expect(after.status).toBe(403);
    expect(await after.text()).toMatch(/expired/i);
  },
  2 * 60_000,
);
