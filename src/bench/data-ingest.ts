/**
 * The data suite's ingest measurements: our ingest (read + type + validate + profile in the engine,
 * then the Parquet snapshot written) against pandas reading the same file and describing it, in the
 * same run. Each of our ingests runs in a child process so its peak RSS is its own.
 */
import { execFile, fork } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildSnapshot } from '../data/snapshot';
import type { DatasetSchema } from '../ml/types';
import { ingestSchema, writeIngestCsv } from './ml-data';

/** The 3M-row flights file of vega-datasets. */
export const FLIGHTS_3M = resolve(__dirname, '../../node_modules/vega-datasets/data/flights-3m.parquet');

/** One of our ingests, as the child reports it. */
export interface OursRun {
  rows: number;
  /** Reading, typing, deriving, validating and profiling (what pandas' read + describe() is compared with). */
  readValidateProfileS: number;
  /** Writing the snapshot: hash-split keys and zstd Parquet. */
  writeS: number;
  totalS: number;
  steps: Record<string, number>;
  peakRssMb: number;
  snapshotBytes: number;
  blocking: number;
}

/** One pandas run. */
export interface PandasRun {
  seconds: number;
  rows: number;
  peakRssMb: number;
}

/** What the child ingests. */
interface ChildJob {
  source: string;
  schema?: DatasetSchema;
  target?: string;
  columns?: Record<string, string>;
  dir: string;
}

const READ_STEPS = new Set(['load', 'infer', 'type', 'check']);

async function ingestOnce(job: ChildJob): Promise<Omit<OursRun, 'peakRssMb'>> {
  const steps: Record<string, number> = {};
  const started = process.hrtime.bigint();
  const outFile = join(job.dir, 'snapshot.parquet');
  const built = await buildSnapshot({
    sources: [job.source],
    schema: job.schema,
    target: job.target,
    columns: job.columns,
    outFile,
    dir: join(job.dir, 'scratch'),
    onStep: (step, ms) => (steps[step] = ms / 1000),
  });
  const totalS = Number(process.hrtime.bigint() - started) / 1e9;
  const readValidateProfileS = Object.entries(steps)
    .filter(([k]) => READ_STEPS.has(k))
    .reduce((a, [, v]) => a + v, 0);
  return {
    rows: built.rowCount,
    readValidateProfileS,
    writeS: steps.write ?? 0,
    totalS,
    steps,
    snapshotBytes: (await stat(outFile)).size,
    blocking: built.validation.issues.filter((i) => i.severity === 'blocking').length,
  };
}

function ingestInChild(job: ChildJob): Promise<OursRun> {
  // Under ts-jest-like runners this file is TypeScript and cannot be forked: measure in process.
  if (!__filename.endsWith('.js')) return ingestOnce(job).then((r) => ({ ...r, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
  return new Promise((done, reject) => {
    const child = fork(__filename, [], { env: { ...process.env, MLOPS_BENCH_DATA_JOB: JSON.stringify(job) }, stdio: 'inherit' });
    let result: OursRun | undefined;
    child.on('message', (m) => (result = m as OursRun));
    child.on('error', reject);
    child.on('exit', (code) => (result ? done(result) : reject(new Error(`ingest child exited with code ${code}`))));
  });
}

const PANDAS = `
import json, resource, sys, time
import pandas as pd
path, kind = sys.argv[1], sys.argv[2]
t = time.perf_counter()
df = pd.read_parquet(path) if kind == 'parquet' else pd.read_csv(path)
d = df.describe()
s = time.perf_counter() - t
print(json.dumps({'seconds': s, 'rows': len(df), 'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

async function pandasOnce(python: string, path: string, kind: 'parquet' | 'csv'): Promise<PandasRun> {
  const { stdout } = await promisify(execFile)(python, ['-c', PANDAS, path, kind], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as PandasRun;
}

/** Both sides, alternating who goes first, `rounds` times each; the best time of each side is compared. */
async function compare(job: ChildJob, python: string, kind: 'parquet' | 'csv', rounds: number, log: (line: string) => void) {
  const ours: OursRun[] = [];
  const pandas: PandasRun[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['ours', 'pandas'] : ['pandas', 'ours'];
    for (const side of order) {
      if (side === 'ours') {
        await rm(join(job.dir, 'scratch'), { recursive: true, force: true });
        const run = await ingestInChild(job);
        ours.push(run);
        log(
          `  ours: read+validate+profile ${run.readValidateProfileS.toFixed(2)} s, snapshot ${run.writeS.toFixed(2)} s, peak RSS ` +
            `${run.peakRssMb.toFixed(0)} MiB`,
        );
      } else {
        const run = await pandasOnce(python, job.source, kind);
        pandas.push(run);
        log(`  pandas: ${run.seconds.toFixed(2)} s, peak RSS ${run.peakRssMb.toFixed(0)} MiB`);
      }
    }
  }
  const best = ours.reduce((a, b) => (b.readValidateProfileS < a.readValidateProfileS ? b : a));
  const bestPandas = pandas.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { ours: best, pandas: bestPandas, peakRssMb: Math.max(...ours.map((o) => o.peakRssMb)) };
}

/** ingestVsPandas and ingestPeakRssMb: the flights task (label derived in SQL) on the 3M-row Parquet file. */
export async function benchFlightsIngest(o: { python: string; rounds?: number; file?: string; log?: (line: string) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-data-'));
  try {
    const job: ChildJob = { source: o.file ?? FLIGHTS_3M, target: 'delayed', columns: { delayed: 'delay > 15' }, dir };
    const r = await compare(job, o.python, 'parquet', o.rounds ?? 3, o.log ?? (() => {}));
    return {
      ingestVsPandas: r.ours.readValidateProfileS / r.pandas.seconds,
      ingestPeakRssMb: r.peakRssMb,
      ingestRows: r.ours.rows,
      ingestOursS: r.ours.readValidateProfileS,
      ingestPandasS: r.pandas.seconds,
      ingestPandasPeakRssMb: r.pandas.peakRssMb,
      ingestSnapshotWriteS: r.ours.writeS,
      ingestTotalS: r.ours.totalS,
      ingestSnapshotMb: r.ours.snapshotBytes / 2 ** 20,
      ingestSourceMb: (await stat(job.source)).size / 2 ** 20,
      ingestSteps: Object.entries(r.ours.steps)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', '),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** csvIngestVsPandas: the ml suite's generated CSV (declared schema) against pandas read_csv + describe(). */
export async function benchCsvIngest(o: { python: string; bytes: number; rounds?: number; log?: (line: string) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-data-csv-'));
  try {
    const source = join(dir, 'ingest.csv');
    await writeIngestCsv(source, o.bytes);
    const job: ChildJob = { source, schema: ingestSchema(), dir };
    const r = await compare(job, o.python, 'csv', o.rounds ?? 1, o.log ?? (() => {}));
    return {
      csvIngestVsPandas: r.ours.readValidateProfileS / r.pandas.seconds,
      csvIngestPeakRssMb: r.peakRssMb,
      csvIngestMb: (await stat(source)).size / 1e6,
      csvIngestRows: r.ours.rows,
      csvIngestOursS: r.ours.readValidateProfileS,
      csvIngestPandasS: r.pandas.seconds,
      csvIngestPandasPeakRssMb: r.pandas.peakRssMb,
      csvIngestSnapshotWriteS: r.ours.writeS,
      csvIngestSnapshotMb: r.ours.snapshotBytes / 2 ** 20,
      csvIngestBlocking: r.ours.blocking,
      csvIngestSteps: Object.entries(r.ours.steps)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', '),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module && process.env.MLOPS_BENCH_DATA_JOB) {
  ingestOnce(JSON.parse(process.env.MLOPS_BENCH_DATA_JOB) as ChildJob).then(
    (r) => process.send?.({ ...r, peakRssMb: process.resourceUsage().maxRSS / 1024 }, undefined, undefined, () => process.exit(0)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
