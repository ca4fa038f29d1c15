/**
 * Data benchmarks of the ML core, called by scripts/bench.mjs:
 * - `benchDrift`: KS + PSI over n rows × k numeric features, timed against scipy's ks_2samp plus a
 *   numpy PSI run in the reference venv (`MLOPS_REFERENCE_PYTHON`, default
 *   ~/.cache/temporal-mlops/refvenv/bin/python) through scripts/reference/bench_drift.py.
 * - `benchIngest`: validate + profile of a generated CSV (~1 GB by default) in one streaming pass,
 *   measured in a child process so its peak RSS is its own.
 */
import { execFile, fork } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { binCounts, finiteSorted, ksTwoSampleSorted, psiFromCounts } from '../ml/drift';
import { ProfileBuilder, quantileHistogram } from '../ml/profile';
import { createRng } from '../ml/random';
import { readBatches } from '../ml/readers';
import { typeBatch } from '../ml/typed-batch';
import type { DatasetSchema } from '../ml/types';
import { Validator } from '../ml/data-validation';

const run = promisify(execFile);

function referencePython(python?: string): string {
  return python ?? process.env.MLOPS_REFERENCE_PYTHON ?? join(homedir(), '.cache/temporal-mlops/refvenv/bin/python');
}

/** Where scripts/reference lives (this file runs from src/bench under jest and from dist/bench otherwise). */
function referenceScript(name: string): string {
  return resolve(__dirname, '../../scripts/reference', name);
}

/** Options of the drift benchmark. */
export interface DriftBenchOptions {
  /** Rows per sample (default 1,000,000). */
  rows?: number;
  /** Numeric features (default 10). */
  features?: number;
  seed?: number;
  python?: string;
}

/** Result of the drift benchmark. */
export interface DriftBenchResult {
  /** Our KS + PSI time divided by scipy + numpy's on the same data (lower is better). */
  driftTimeVsScipy: number;
  seconds: number;
  scipySeconds: number;
  rows: number;
  features: number;
  /** Largest |our KS p-value − scipy's| and |our PSI − numpy's| over the features (a correctness check). */
  maxPValueDiff: number;
  maxPsiDiff: number;
}

function normalSample(rng: ReturnType<typeof createRng>, n: number, mean: number, sd: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rng.next();
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u)) * sd;
    out[i] = mean + r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = mean + r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** KS + PSI over `rows` × `features`, ours against scipy/numpy in the same run. */
export async function benchDrift(options: DriftBenchOptions = {}): Promise<DriftBenchResult> {
  const rows = options.rows ?? 1_000_000;
  const features = options.features ?? 10;
  const rng = createRng(options.seed ?? 7);
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-drift-'));
  try {
    const data: { ref: Float64Array; cur: Float64Array }[] = [];
    for (let k = 0; k < features; k++) {
      // small shifts, so p-values are not all zero and the comparison means something
      const ref = normalSample(rng, rows, 0, 1);
      const cur = normalSample(rng, rows, 0.002 * k, 1 + 0.001 * k);
      data.push({ ref, cur });
      await writeFile(join(dir, `ref-${k}.f64`), Buffer.from(ref.buffer));
      await writeFile(join(dir, `cur-${k}.f64`), Buffer.from(cur.buffer));
    }
    const started = process.hrtime.bigint();
    const ours = data.map(({ ref, cur }) => {
      const a = finiteSorted(ref);
      const b = finiteSorted(cur);
      const ks = ksTwoSampleSorted(a, b);
      const bins = binCounts(quantileHistogram(a), b);
      return { ks, psi: psiFromCounts(bins.reference, bins.current) };
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const { stdout } = await run(referencePython(options.python), [referenceScript('bench_drift.py'), dir, String(features)], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const scipy = JSON.parse(stdout) as { seconds: number; ks: [number, number][]; psi: number[] };
    return {
      driftTimeVsScipy: seconds / scipy.seconds,
      seconds,
      scipySeconds: scipy.seconds,
      rows,
      features,
      maxPValueDiff: Math.max(...ours.map((o, k) => Math.abs(o.ks.pValue - scipy.ks[k][1]))),
      maxPsiDiff: Math.max(...ours.map((o, k) => Math.abs(o.psi - scipy.psi[k]))),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Options of the ingest benchmark. */
export interface IngestBenchOptions {
  /** Approximate size of the generated CSV in bytes (default 1 GB = 1e9). */
  bytes?: number;
  seed?: number;
  /** Run in this process instead of a child (the peak RSS then includes whatever ran before). */
  inProcess?: boolean;
}

/** Result of the ingest benchmark. */
export interface IngestBenchResult {
  /** Megabytes (1e6 bytes) of CSV validated and profiled per second. */
  ingestMBps: number;
  /** Peak resident set size of the process doing the ingest, in MiB. */
  ingestPeakRssMb: number;
  bytes: number;
  rows: number;
  seconds: number;
  /** Whether validation found no blocking issue (it should: the data is generated to fit the schema). */
  valid: boolean;
}

const INGEST_FEATURES = 10;
const CATEGORIES = ['north', 'south', 'east', 'west', 'center'];

/** The schema of the generated ingest table. */
export function ingestSchema(): DatasetSchema {
  const numeric = Array.from({ length: INGEST_FEATURES }, (_, k) => ({ name: `x${k}`, type: 'numeric' as const, min: -1000, max: 1000 }));
  return {
    columns: [
      { name: 'ts', type: 'datetime' },
      ...numeric,
      { name: 'region', type: 'categorical', allowed: CATEGORIES },
      { name: 'label', type: 'categorical', allowed: ['no', 'yes'] },
    ],
    target: 'label',
    features: [...numeric.map((c) => c.name), 'region'],
    task: 'classification',
  };
}

/** Writes a CSV of about `bytes` bytes fitting `ingestSchema`, streaming (flat memory). */
export async function writeIngestCsv(path: string, bytes: number, seed = 11): Promise<{ rows: number; bytes: number }> {
  const rng = createRng(seed);
  const out = createWriteStream(path, { highWaterMark: 1 << 22 });
  const header = ['ts', ...Array.from({ length: INGEST_FEATURES }, (_, k) => `x${k}`), 'region', 'label'].join(',') + '\n';
  let written = Buffer.byteLength(header);
  out.write(header);
  let rows = 0;
  const start = Date.UTC(2024, 0, 1);
  while (written < bytes) {
    let chunk = '';
    for (let r = 0; r < 2000; r++) {
      let line = new Date(start + rows * 1000).toISOString();
      for (let k = 0; k < INGEST_FEATURES; k++) line += ',' + ((rng.next() - 0.5) * 200 * (k + 1)).toFixed(4);
      line += ',' + CATEGORIES[rng.int(CATEGORIES.length)] + ',' + (rng.next() < 0.3 ? 'yes' : 'no') + '\n';
      chunk += line;
      rows++;
    }
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolveEnd, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolveEnd())));
  return { rows, bytes: written };
}

/** Validates and profiles one CSV in a single streaming pass; returns the timing and row count. */
export async function ingestFile(path: string): Promise<{ rows: number; seconds: number; valid: boolean }> {
  const schema = ingestSchema();
  const started = process.hrtime.bigint();
  const validator = new Validator(schema);
  const profiler = new ProfileBuilder(schema);
  for await (const batch of readBatches(path)) {
    const typed = typeBatch(batch, schema.columns);
    validator.addTyped(typed);
    profiler.addTyped(typed);
  }
  const report = validator.finish();
  const profile = profiler.finish();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { rows: profile.rowCount, seconds, valid: report.ok };
}

/** Generates a CSV, then validates and profiles it in one pass (in a child process when compiled). */
export async function benchIngest(options: IngestBenchOptions = {}): Promise<IngestBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-ingest-'));
  const path = join(dir, 'ingest.csv');
  try {
    await writeIngestCsv(path, options.bytes ?? 1e9, options.seed);
    const { size } = await stat(path);
    const child = !options.inProcess && __filename.endsWith('.js');
    const measured = child ? await ingestInChild(path) : { ...(await ingestFile(path)), peakRssKb: process.resourceUsage().maxRSS };
    return {
      ingestMBps: size / 1e6 / measured.seconds,
      ingestPeakRssMb: measured.peakRssKb / 1024,
      bytes: size,
      rows: measured.rows,
      seconds: measured.seconds,
      valid: measured.valid,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type ChildResult = { rows: number; seconds: number; valid: boolean; peakRssKb: number };

function ingestInChild(path: string): Promise<ChildResult> {
  return new Promise((resolveResult, reject) => {
    const child = fork(__filename, [], { env: { ...process.env, MLOPS_BENCH_INGEST_FILE: path }, stdio: 'inherit' });
    let result: ChildResult | undefined;
    child.on('message', (m) => (result = m as ChildResult));
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolveResult(result) : reject(new Error(`ingest child exited with code ${code}`))));
  });
}

if (require.main === module && process.env.MLOPS_BENCH_INGEST_FILE) {
  ingestFile(process.env.MLOPS_BENCH_INGEST_FILE).then(
    (r) => process.send?.({ ...r, peakRssKb: process.resourceUsage().maxRSS }, undefined, undefined, () => process.exit(0)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
