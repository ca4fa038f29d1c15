/**
 * The data suite's gbdt measurement: the flights task (delayed = delay > 15, from hour, day of week, day of
 * year, distance, and origin and destination airports as native categories) fitted by our gbdt and by
 * scikit-learn's HistGradientBoostingClassifier with `categorical_features`, same settings, same rows, same
 * holdout, in the same run.
 *
 * scripts/flights_sample.py draws the sample (1M training rows and a disjoint holdout at full size) from
 * vega-datasets' flights-3m.parquet; scripts/reference/bench_flights_gbdt.py derives the task once and
 * writes it as flat binary columns, then fits scikit-learn. Our fit runs in a child process, so its peak RSS
 * is its own; both sides report their RSS just before the fit too.
 */
import { execFile, fork } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { rocAuc } from '../ml/metrics';
import { predict, trainModel, type GbdtModel } from '../ml/trainers';
import type { DatasetSchema, Frame } from '../ml/types';

/** The settings both sides fit with (our names; the reference script maps them to scikit-learn's). */
export const FLIGHTS_GBDT_PARAMS = {
  learningRate: 0.1,
  maxIter: 100,
  maxLeafNodes: 31,
  minSamplesLeaf: 20,
  l2Regularization: 0,
  maxBins: 255,
  earlyStopping: false,
};

/** Inputs of `benchFlightsGbdt`. */
export interface FlightsGbdtOptions {
  /** The Python with pandas, pyarrow and scikit-learn (ensurePython). */
  python: string;
  /** Training rows sampled from the 3M-row file (default 1,000,000). */
  rows?: number;
  /** Holdout rows, disjoint from the training rows (default 200,000). */
  holdoutRows?: number;
  seed?: number;
  /** Overrides of FLIGHTS_GBDT_PARAMS (tests use fewer iterations). */
  params?: Partial<typeof FLIGHTS_GBDT_PARAMS>;
  log?: (line: string) => void;
}

/** What `benchFlightsGbdt` measured. */
export interface FlightsGbdtResult {
  /** Our fit time over scikit-learn's (goal ≤ 1.5). */
  gbdtFlightsVsSklearn: number;
  /** Our holdout AUC minus scikit-learn's, in points (goal ≥ −0.5). */
  gbdtFlightsAucDelta: number;
  gbdtFlightsSeconds: number;
  sklearnFlightsSeconds: number;
  gbdtFlightsAuc: number;
  sklearnFlightsAuc: number;
  /** Peak RSS of our child process (data, fit and scoring), MiB. */
  gbdtFlightsPeakRssMb: number;
  /** Its RSS just before the fit (the frame in memory), MiB. */
  gbdtFlightsRssBeforeFitMb: number;
  /** Peak RSS of the Python process (pandas frames, fit and scoring), MiB. */
  sklearnFlightsPeakRssMb: number;
  sklearnFlightsRssBeforeFitMb: number;
  gbdtFlightsRows: number;
  gbdtFlightsHoldoutRows: number;
  /** Model inputs of our fit: one per feature, the categorical ones included (no one-hot). */
  gbdtFlightsModelInputs: number;
}

/** One fit of ours, as the child reports it. */
interface OursRun {
  seconds: number;
  auc: number;
  peakRssMb: number;
  rssBeforeFitMb: number;
  inputs: number;
}

interface SklearnRun {
  fitSeconds: number;
  auc: number;
  peakRssMb: number;
  rssBeforeFitMb: number;
}

interface TableMeta {
  trainRows: number;
  holdoutRows: number;
  numeric: string[];
  categorical: { name: string; categories: string[] }[];
}

const SCRIPTS = resolve(__dirname, '..', '..', 'scripts');
const execFileAsync = promisify(execFile);

/** Samples the flights file, fits both sides on the same rows and compares fit time and holdout AUC. */
export async function benchFlightsGbdt(options: FlightsGbdtOptions): Promise<FlightsGbdtResult> {
  const rows = options.rows ?? 1_000_000;
  const holdoutRows = options.holdoutRows ?? 200_000;
  const params = { ...FLIGHTS_GBDT_PARAMS, ...options.params };
  const log = options.log ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-flights-'));
  // scikit-learn's OpenMP threads wait passively, as our worker threads do (see the ml suite).
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE', PYTHONWARNINGS: 'ignore' };
  const py = (args: string[]) => execFileAsync(options.python, args, { env, maxBuffer: 16 << 20 });
  try {
    log(`sampling ${rows} training and ${holdoutRows} holdout rows of flights-3m.parquet`);
    await py([
      join(SCRIPTS, 'flights_sample.py'),
      '--rows',
      String(rows),
      '--holdout-rows',
      String(holdoutRows),
      '--seed',
      String(options.seed ?? 7),
      '--out-dir',
      dir,
    ]);
    await py([join(SCRIPTS, 'reference', 'bench_flights_gbdt.py'), 'prepare', '--dir', dir]);
    log('fitting ours (child process)');
    const ours = await fitInChild(join(dir, 'table'), params);
    log(`ours: ${ours.seconds.toFixed(1)} s, AUC ${ours.auc.toFixed(4)}, peak RSS ${ours.peakRssMb.toFixed(0)} MiB`);
    log('fitting HistGradientBoostingClassifier');
    const { stdout } = await py([
      join(SCRIPTS, 'reference', 'bench_flights_gbdt.py'),
      'fit',
      '--dir',
      dir,
      '--params',
      JSON.stringify(params),
    ]);
    const lines = stdout.trim().split('\n');
    const sk = JSON.parse(lines[lines.length - 1]!) as SklearnRun;
    log(`scikit-learn: ${sk.fitSeconds.toFixed(1)} s, AUC ${sk.auc.toFixed(4)}, peak RSS ${sk.peakRssMb.toFixed(0)} MiB`);
    return {
      gbdtFlightsVsSklearn: ours.seconds / sk.fitSeconds,
      gbdtFlightsAucDelta: 100 * (ours.auc - sk.auc),
      gbdtFlightsSeconds: ours.seconds,
      sklearnFlightsSeconds: sk.fitSeconds,
      gbdtFlightsAuc: ours.auc,
      sklearnFlightsAuc: sk.auc,
      gbdtFlightsPeakRssMb: ours.peakRssMb,
      gbdtFlightsRssBeforeFitMb: ours.rssBeforeFitMb,
      sklearnFlightsPeakRssMb: sk.peakRssMb,
      sklearnFlightsRssBeforeFitMb: sk.rssBeforeFitMb,
      gbdtFlightsRows: rows,
      gbdtFlightsHoldoutRows: holdoutRows,
      gbdtFlightsModelInputs: ours.inputs,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads one split of the prepared table as a Frame: numbers as they are, category codes back to their names. */
export function readFlightsSplit(tableDir: string, split: 'train' | 'holdout'): { frame: Frame; schema: DatasetSchema } {
  const meta = JSON.parse(fs.readFileSync(join(tableDir, 'meta.json'), 'utf8')) as TableMeta;
  const n = split === 'train' ? meta.trainRows : meta.holdoutRows;
  const file = (name: string) => fs.readFileSync(join(tableDir, `${split}.${name}`));
  const columns: Frame['columns'] = {};
  for (const name of meta.numeric) {
    const bytes = file(`${name}.f64`);
    columns[name] = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8 * n));
  }
  for (const { name, categories } of meta.categorical) {
    const bytes = file(`${name}.u16`);
    const codes = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 2 * n));
    columns[name] = Array.from(codes, (c) => categories[c] ?? null);
  }
  columns.delayed = Array.from(file('y.u8').subarray(0, n), (v) => (v === 1 ? 'true' : 'false'));
  const features = [...meta.numeric, ...meta.categorical.map((c) => c.name)];
  const schema: DatasetSchema = {
    columns: [
      ...meta.numeric.map((name) => ({ name, type: 'numeric' as const })),
      ...meta.categorical.map(({ name }) => ({ name, type: 'categorical' as const })),
      { name: 'delayed', type: 'categorical' },
    ],
    target: 'delayed',
    features,
    task: 'classification',
  };
  return { frame: { rowCount: n, columns }, schema };
}

/** Fits our gbdt on the prepared table and scores the holdout (in this process). */
export async function fitFlights(tableDir: string, params: Record<string, unknown>): Promise<OursRun> {
  const { frame: train, schema } = readFlightsSplit(tableDir, 'train');
  const rssBeforeFitMb = process.memoryUsage().rss / 2 ** 20;
  const start = process.hrtime.bigint();
  const model = (await trainModel('gbdt', { train, schema, params, seed: 0 })) as GbdtModel;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const { frame: holdout } = readFlightsSplit(tableDir, 'holdout');
  const scores = predict(model, holdout).probabilities!.map((p) => p[model.classes.indexOf('true')]!);
  const auc = rocAuc(holdout.columns.delayed as string[], scores, 'true');
  return { seconds, auc, peakRssMb: process.resourceUsage().maxRSS / 1024, rssBeforeFitMb, inputs: model.preprocessing.outputs.length };
}

function fitInChild(tableDir: string, params: Record<string, unknown>): Promise<OursRun> {
  // Under a TypeScript test runner this file cannot be forked: fit in process.
  if (!__filename.endsWith('.js')) return fitFlights(tableDir, params);
  return new Promise((done, reject) => {
    const child = fork(__filename, [], {
      env: { ...process.env, MLOPS_BENCH_FLIGHTS_JOB: JSON.stringify({ tableDir, params }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: OursRun | undefined;
    child.on('message', (m) => (result = m as OursRun));
    child.on('error', reject);
    child.on('exit', (code) => (result && code === 0 ? done(result) : reject(new Error(`the gbdt flights fit exited with code ${code}`))));
  });
}

if (require.main === module && process.env.MLOPS_BENCH_FLIGHTS_JOB) {
  const job = JSON.parse(process.env.MLOPS_BENCH_FLIGHTS_JOB) as { tableDir: string; params: Record<string, unknown> };
  fitFlights(job.tableDir, job.params).then(
    (r) => process.send!(r, undefined, {}, () => process.exit(0)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
