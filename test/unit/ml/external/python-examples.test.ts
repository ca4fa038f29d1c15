/**
 * @jest-environment ./test/helpers/onnx-environment.js
 *
 * The Python examples under examples/python-*, run as the train stage runs them (real Python from the
 * pinned environment, real ONNX Runtime): each gives a model that loads through the Predictor seam,
 * answers its own check rows as the program did, and scores sanely on a holdout it never saw.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeParquetSide } from '../../../../src/data/frame';
import { ensurePython } from '../../../../src/dev/python';
import { hashedTestRows, loadSplit, prepareSnapshot, writeTrainingRows } from '../../../../src/ml/dataset';
import { evaluateModel } from '../../../../src/ml/evaluate';
import { runExternalTrainer, type ExternalTrainResult } from '../../../../src/ml/external/command';
import { onnxManifest } from '../../../../src/ml/external/model';
import { loadPredictor, predictRows } from '../../../../src/ml/predictor';
import { loadSpecFile } from '../../../../src/spec/load';
import type { PipelineSpec } from '../../../../src/spec/pipeline';
import type { ArtifactRef } from '../../../../src/storage/refs';

const ROOT = resolve(__dirname, '../../../..');

let python: string;
let dir: string;
beforeAll(async () => {
  python = await ensurePython();
}, 15 * 60_000);
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'python-example-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readLines = async (file: string) =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Runs an example's train.py as the train stage does, with the example's own spec, and loads the result. */
async function trainExample(name: string, params?: Record<string, unknown>) {
  const spec = loadSpecFile(join(ROOT, 'examples', name, 'pipeline.yaml'));
  const trainer = spec.trainer as Extract<PipelineSpec['trainer'], { name: 'command' }>;
  const snapshot = join(dir, 'snapshot.parquet');
  const { schema, validation } = await prepareSnapshot({
    sources: [spec.dataset.source],
    format: spec.dataset.format,
    schema: spec.dataset.schema,
    target: spec.dataset.target,
    filter: spec.dataset.filter,
    hashSeed: spec.dataset.split.seed,
    outFile: snapshot,
  });
  // The example's data passes ingest's validation, or a run would stop before training.
  expect(validation.issues.filter((i) => i.severity === 'blocking')).toEqual([]);
  const trainFile = join(dir, 'train.jsonl');
  await writeTrainingRows(snapshot, schema, spec.dataset.split, trainFile);
  const result = await runExternalTrainer(
    { command: trainer.command, cwd: trainer.workingDirectory, env: trainer.env },
    {
      trainData: trainFile,
      schema,
      params: params ?? trainer.params,
      seed: spec.dataset.split.seed,
      workDir: join(dir, 'work'),
      python: async () => python,
    },
  );
  // Stored as the train stage stores it: every file by its path, read back by reference.
  const fileRef = (path: string): ArtifactRef => ({ uri: `file://${path}`, sha256: '0'.repeat(64), size: 0 });
  const files = Object.fromEntries(result.files.map((f) => [f, fileRef(join(result.outputDir, f))]));
  const { signature, claimedMetrics } = result;
  const manifest = onnxManifest({
    schema,
    signature,
    command: trainer.command,
    params: trainer.params,
    files,
    claimedMetrics,
    checkRows: fileRef(result.checkData),
  });
  const predictor = await loadPredictor(JSON.parse(JSON.stringify(manifest)), (ref) => readFile(ref.uri.slice('file://'.length)));
  const { test } = await loadSplit(snapshot, schema, spec.dataset.split);
  return { spec, schema, snapshot, trainFile, result, predictor, test };
}

/** The program's own answers for the check rows must be what ONNX Runtime answers through the seam. */
async function expectCheckPredictionsAgree(result: ExternalTrainResult, predictor: Awaited<ReturnType<typeof loadPredictor>>) {
  expect(result.checkPredictions).toBe(true);
  const rows = await readLines(result.checkData);
  const claimed = await readLines(join(result.outputDir, 'check_predictions.jsonl'));
  expect(rows.length).toBe(result.checkRows);
  expect(claimed.length).toBe(rows.length);
  const ours = await predictRows(predictor, rows);
  if (predictor.task === 'classification') {
    expect(ours.labels).toEqual(claimed.map((c) => c.label));
    ours.probabilities!.forEach((row, i) =>
      row.forEach((p, k) => expect(Math.abs(p - (claimed[i]!.probabilities as number[])[k]!)).toBeLessThan(1e-4)),
    );
  } else {
    Array.from(ours.values!).forEach((v, i) =>
      expect(Math.abs(v - (claimed[i]!.value as number))).toBeLessThan(1e-3 * Math.max(1, Math.abs(v))),
    );
  }
}

it('the scikit-learn example: its ONNX answers the check rows as scikit-learn did, and classifies the unseen holdout', async () => {
  const { result, predictor, test, snapshot, trainFile, spec } = await trainExample('python-sklearn', { n_estimators: 30, max_depth: 3 });
  try {
    expect(result.checkRows).toBe(200);
    await expectCheckPredictionsAgree(result, predictor);
    // skl2onnx renamed the inputs; the signature maps every column explicitly.
    expect(result.signature.inputs.find((i) => i.column === 'Beak Length (mm)')!.name).toBe('Beak_Length__mm_');
    const { metrics, rows } = await evaluateModel(predictor, test);
    expect(rows).toBeGreaterThan(40);
    expect(metrics.accuracy).toBeGreaterThan(0.9);
    expect(result.claimedMetrics.accuracy).toBeGreaterThan(0.8);

    // The program never saw a holdout row: what it was given and the holdout are disjoint.
    const holdout = await hashedTestRows(snapshot, spec.dataset.split.testFraction, spec.dataset.split.seed);
    // Every row of the (Parquet) snapshot as the program gets rows: JSON lines.
    const all = join(dir, 'all.jsonl');
    await writeParquetSide(snapshot, new Uint8Array(holdout.length), 0, all);
    const lines = (await readFile(all, 'utf8')).split('\n').filter((l) => l.length > 0);
    const holdoutLines = new Set(lines.filter((_, i) => holdout[i]));
    const given = (await readFile(trainFile, 'utf8')).split('\n').filter((l) => l.length > 0);
    expect(holdoutLines.size).toBe(rows);
    expect(given.length + holdoutLines.size).toBe(lines.length);
    expect(given.filter((l) => holdoutLines.has(l))).toEqual([]);
  } finally {
    await predictor.release();
  }
});

it('the XGBoost example: its ONNX answers the check rows as XGBoost did, and classifies the unseen holdout', async () => {
  const { result, predictor, test } = await trainExample('python-xgboost', { n_estimators: 60, max_depth: 3 });
  try {
    await expectCheckPredictionsAgree(result, predictor);
    const { metrics } = await evaluateModel(predictor, test);
    // About 45% of these days are sun and 45% rain; drizzle and fog are hard to tell from sun.
    expect(metrics.accuracy).toBeGreaterThan(0.7);
    expect(result.claimedMetrics.trees).toBeGreaterThan(0);
  } finally {
    await predictor.release();
  }
});

it('the LightGBM example: its ONNX answers the check rows as LightGBM did, missing values included, and classifies the holdout', async () => {
  const { result, predictor, test } = await trainExample('python-lightgbm', { n_estimators: 60 });
  try {
    const checkRows = await readLines(result.checkData);
    expect(checkRows.some((r) => r.Miles_per_Gallon === null || r.Horsepower === null)).toBe(true);
    await expectCheckPredictionsAgree(result, predictor);
    const { metrics } = await evaluateModel(predictor, test);
    // Two cars in three are American; mileage, engine and weight tell most of the others apart.
    expect(metrics.accuracy).toBeGreaterThan(0.7);
  } finally {
    await predictor.release();
  }
});

it('the regression example: its ONNX answers the check rows as scikit-learn did, and predicts the holdout weights closely', async () => {
  const { result, predictor, test } = await trainExample('python-regression', { n_estimators: 60, max_depth: 3 });
  try {
    expect(result.signature.outputs.value).toBeDefined();
    await expectCheckPredictionsAgree(result, predictor);
    const { metrics } = await evaluateModel(predictor, test);
    // Weights run from about 1600 to 5100 lbs with a standard deviation near 850; the engine tells most of it.
    expect(metrics.rmse).toBeLessThan(400);
    expect(metrics.r2).toBeGreaterThan(0.85);
  } finally {
    await predictor.release();
  }
});
