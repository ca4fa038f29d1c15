/**
 * Trainer benchmarks: the built-in trainers against scikit-learn on the same generated table, timed in the
 * same run. scripts/bench.mjs calls these; scikit-learn runs in the reference venv
 * (`MLOPS_REFERENCE_PYTHON`, default ~/.cache/temporal-mlops/refvenv/bin/python) through
 * scripts/reference/bench_trainers.py, reading the table from a temporary directory.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createRng } from '../ml/random';
import { predict, trainModel, type TrainerName } from '../ml/trainers';
import type { DatasetSchema, Frame } from '../ml/types';

/** Options shared by the trainer benchmarks. */
export interface TrainerBenchOptions {
  /** Rows in the generated table, 80% to train and 20% to score (default 1,000,000). */
  rows?: number;
  /** Feature columns (default 20). */
  features?: number;
  seed?: number;
  /** The Python with scikit-learn to compare against. */
  python?: string;
}

/** gbdt against HistGradientBoostingClassifier with the same settings. */
export interface GbdtBenchResult {
  /** Our fit time divided by scikit-learn's (goal ≤ 3). */
  gbdtTimeVsSklearn: number;
  /** Our holdout accuracy minus scikit-learn's, in percentage points (goal ≥ −1). */
  gbdtAccDeltaPp: number;
  gbdtSeconds: number;
  sklearnSeconds: number;
  gbdtAccuracy: number;
  sklearnAccuracy: number;
  rows: number;
}

/** logistic-regression against LogisticRegression with the same settings. */
export interface LogisticBenchResult {
  /**
   * Our fit time divided by scikit-learn's doing the same work: median imputation, standardisation and
   * LogisticRegression, as our trainer does (goal ≤ 2).
   */
  lrTimeVsSklearn: number;
  /** Our fit time divided by scikit-learn's LogisticRegression alone on the raw inputs. */
  lrTimeVsSklearnBare: number;
  lrAccDeltaPp: number;
  lrSeconds: number;
  sklearnSeconds: number;
  rows: number;
}

const GBDT_PARAMS = {
  learningRate: 0.1,
  maxIter: 100,
  maxLeafNodes: 31,
  minSamplesLeaf: 20,
  l2Regularization: 0,
  maxBins: 255,
  earlyStopping: 'auto',
  validationFraction: 0.1,
  nIterNoChange: 10,
  tol: 1e-7,
};

const LR_PARAMS = { C: 1, maxIter: 100, tol: 1e-4 };

/** Fits gbdt and scikit-learn's HistGradientBoostingClassifier on a generated classification table. */
export async function benchGbdt(options: TrainerBenchOptions = {}): Promise<GbdtBenchResult> {
  const r = await compare('gbdt', GBDT_PARAMS, options);
  return {
    gbdtTimeVsSklearn: r.ours.seconds / r.sklearn.fitSeconds,
    gbdtAccDeltaPp: 100 * (r.ours.accuracy - r.sklearn.accuracy),
    gbdtSeconds: r.ours.seconds,
    sklearnSeconds: r.sklearn.fitSeconds,
    gbdtAccuracy: r.ours.accuracy,
    sklearnAccuracy: r.sklearn.accuracy,
    rows: r.rows,
  };
}

/** Fits logistic-regression and scikit-learn's LogisticRegression on a generated classification table. */
export async function benchLogisticRegression(options: TrainerBenchOptions = {}): Promise<LogisticBenchResult> {
  const r = await compare('logistic-regression', LR_PARAMS, options);
  return {
    lrTimeVsSklearn: r.ours.seconds / r.sklearn.fitSeconds,
    lrTimeVsSklearnBare: r.ours.seconds / (r.sklearn.bareFitSeconds ?? r.sklearn.fitSeconds),
    lrAccDeltaPp: 100 * (r.ours.accuracy - r.sklearn.accuracy),
    lrSeconds: r.ours.seconds,
    sklearnSeconds: r.sklearn.fitSeconds,
    rows: r.rows,
  };
}

interface SklearnRun {
  fitSeconds: number;
  bareFitSeconds?: number;
  accuracy: number;
  iterations: number;
}

async function compare(trainer: TrainerName, params: Record<string, unknown>, options: TrainerBenchOptions) {
  const rows = options.rows ?? 1_000_000;
  const features = options.features ?? 20;
  const trainRows = Math.floor(rows * 0.8);
  const table = generateTable(rows, features, options.seed ?? 7);
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-'));
  try {
    await writeTable(dir, table, { rows, features, trainRows, params });
    const sklearn = await runSklearn(dir, trainer, options.python);
    const { train, test, schema } = toFrames(table, trainRows);
    const start = process.hrtime.bigint();
    const model = await trainModel(trainer, { train, schema, params, seed: 0 });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const labels = predict(model, test).labels!;
    const truth = test.columns.y as string[];
    const accuracy = labels.filter((l, i) => l === truth[i]).length / truth.length;
    return { rows, ours: { seconds, accuracy }, sklearn };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Table {
  rows: number;
  features: number;
  /** Row-major values. */
  X: Float64Array;
  y: Uint8Array;
}

/**
 * A binary classification table: Gaussian features, half of them informative through a linear term,
 * an interaction and a threshold, plus label noise; deterministic for a seed.
 */
export function generateTable(rows: number, features: number, seed: number): Table {
  const rng = createRng(seed);
  const gauss = () => {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  const informative = Math.max(2, Math.floor(features / 2));
  const weights = Array.from({ length: informative }, () => gauss());
  const X = new Float64Array(rows * features);
  const y = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const o = i * features;
    for (let j = 0; j < features; j++) X[o + j] = gauss();
    let z = 0;
    for (let j = 0; j < informative && j < features; j++) z += weights[j] * X[o + j];
    if (features > 1) z += 1.5 * X[o] * X[o + 1];
    if (features > 2) z += X[o + 2] > 0.5 ? 1 : -0.5;
    y[i] = z + gauss() > 0 ? 1 : 0;
  }
  return { rows, features, X, y };
}

function toFrames(table: Table, trainRows: number): { train: Frame; test: Frame; schema: DatasetSchema } {
  const names = Array.from({ length: table.features }, (_, j) => `x${j}`);
  const slice = (from: number, to: number): Frame => {
    const columns: Frame['columns'] = {};
    names.forEach((name, j) => {
      const col = new Float64Array(to - from);
      for (let i = from; i < to; i++) col[i - from] = table.X[i * table.features + j];
      columns[name] = col;
    });
    columns.y = Array.from(table.y.subarray(from, to), (v) => String(v));
    return { rowCount: to - from, columns };
  };
  const schema: DatasetSchema = {
    columns: [...names.map((name) => ({ name, type: 'numeric' as const })), { name: 'y', type: 'categorical' }],
    target: 'y',
    features: names,
    task: 'classification',
  };
  return { train: slice(0, trainRows), test: slice(trainRows, table.rows), schema };
}

async function writeTable(dir: string, table: Table, meta: Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
  await writeFile(join(dir, 'X.f64'), Buffer.from(table.X.buffer, table.X.byteOffset, table.X.byteLength));
  await writeFile(join(dir, 'y.u8'), table.y);
}

async function runSklearn(dir: string, estimator: TrainerName, python?: string): Promise<SklearnRun> {
  const exe = python ?? process.env.MLOPS_REFERENCE_PYTHON ?? join(homedir(), '.cache', 'temporal-mlops', 'refvenv', 'bin', 'python');
  const script = resolve(__dirname, '..', '..', 'scripts', 'reference', 'bench_trainers.py');
  const { stdout } = await promisify(execFile)(exe, [script, '--dir', dir, '--estimator', estimator], { maxBuffer: 1 << 20 });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as SklearnRun;
}
