/**
 * The benchmark runner behind `npm run bench -- [suite...]`. Each suite runs in its own child process
 * (so one suite's memory is not charged to the next), starts the real servers it needs on free
 * loopback ports with state in a temporary directory, calls the suite's functions, writes
 * bench-results/<suite>.json and its section of docs/benchmarks.md, and stops the servers.
 */
import { execFile, fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { defaultCacheDir, loadConfig, type MlopsConfig } from '../config';
import {
  DEV_SERVER_DYNAMIC_CONFIG,
  DEV_SERVER_SQLITE_PRAGMAS,
  freePort,
  spawnServer,
  startMinioServer,
  startTemporalServer,
  stopProcess,
  temporalHealthy,
  waitUntil,
  type ServerProcess,
} from '../dev/servers';
import { ensureMinio, ensureTemporalCli } from '../dev/tools';
import { writeResults, type BenchFigures, type Goal } from './report';

/** The suites, in the order `npm run bench` runs them. */
export const SUITES = ['storage', 'ml', 'data', 'orchestration', 'serving', 'models'] as const;
export type Suite = (typeof SUITES)[number];

/** The reference Python packages the ml suite compares against, pinned. */
export const REFERENCE_PACKAGES = { numpy: '2.4.6', scipy: '1.17.1', 'scikit-learn': '1.9.1' } as const;

const MiB = 1024 * 1024;

/** Sizes of every suite: the issues' sizes, or smaller ones for a quick look. */
export const SIZES = {
  full: {
    storageBytes: 1024 * MiB,
    storageRounds: 2,
    driftRows: 1_000_000,
    driftFeatures: 10,
    ingestBytes: 1e9,
    flightsGbdtRows: 1_000_000,
    trainerRows: 1_000_000,
    trainerFeatures: 20,
    orchestrationRuns: 200,
    concurrentRuns: 1000,
    workerStartRounds: 5,
    servingSeconds: 15,
    modelsScoringRows: 1_000_000,
  },
  quick: {
    storageBytes: 128 * MiB,
    storageRounds: 2,
    driftRows: 200_000,
    driftFeatures: 10,
    ingestBytes: 100e6,
    flightsGbdtRows: 200_000,
    trainerRows: 100_000,
    trainerFeatures: 20,
    orchestrationRuns: 50,
    concurrentRuns: 200,
    workerStartRounds: 2,
    servingSeconds: 6,
    modelsScoringRows: 200_000,
  },
};
type Sizes = typeof SIZES.full;

const HELP = `Usage: npm run bench -- [options] [suite...]

Runs the benchmarks against real servers started on free loopback ports, and writes
bench-results/<suite>.json and the suite's section of docs/benchmarks.md.

Suites (none given: all, in this order):
  storage        ArtifactStore put/get against raw minio-js on one 1 GiB file, peak RSS
  ml             drift (KS + PSI) vs scipy, ingest throughput and RSS, gbdt and
                 logistic regression vs scikit-learn (creates the reference venv if missing)
  data           ingest through the engine (read + validate + profile) vs pandas read + describe():
                 the 3M-row flights Parquet and the ml suite's 1 GB CSV, peak RSS; gbdt vs
                 HistGradientBoostingClassifier on the flights task, airports as native categories
  orchestration  Temporal's overhead per pipeline stage, and 1,000 concurrent pipeline runs
  serving        model server vs a bare Fastify handler: the prediction log off and on, a canary
                 and a shadow, in interleaved rounds (median, min and max per figure)
  models         ONNX and built-in models served vs a bare Fastify handler, and ONNX scoring
                 of a 1M-row holdout vs Python's onnxruntime (creates the model venv if missing)

Options:
  --quick        smaller sizes than the issues' (labelled "quick" in every output)
  --no-write     print the figures only; leave bench-results/ and docs/ alone
  -h, --help     this text

Environment:
  MLOPS_CACHE_DIR          where MinIO, the Temporal CLI and the reference venv are cached
                           (default ~/.cache/temporal-mlops)
  MLOPS_REFERENCE_PYTHON   a Python with numpy, scipy and scikit-learn to use instead of the venv
  MLOPS_BENCH_DATA_PARTS   ingest, gbdt, pipeline or pipeline10m (comma-separated): run only those parts of the data
                           suite, keeping the other parts' figures from bench-results/data.json
  MLOPS_BENCH_ORCHESTRATION_PARTS   overhead, filestore or workerstart (comma-separated): the same for the
                           orchestration suite (overhead: stageOverheadVsBare and its breakdown; filestore: the
                           concurrent runs in memory and on file, fileStoreVsMemory; workerstart: workerStart*)
  MINIO_BINARY, TEMPORAL_CLI_PATH   servers to use instead of the cached ones
`;

interface Args {
  suites: Suite[];
  quick: boolean;
  write: boolean;
  help: boolean;
  child?: Suite;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { suites: [], quick: false, write: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--no-write') args.write = false;
    else if (a === '-h' || a === '--help') args.help = true;
    else if (a === '--child') args.child = asSuite(argv[++i] ?? '');
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else args.suites.push(asSuite(a));
  }
  if (args.suites.length === 0) args.suites = [...SUITES];
  return args;
}

class UsageError extends Error {}

function asSuite(name: string): Suite {
  if ((SUITES as readonly string[]).includes(name)) return name as Suite;
  throw new UsageError(`unknown suite "${name}"; expected one of ${SUITES.join(', ')}`);
}

/** Entry point: runs each suite in a child process and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.child) return runChild(args.child, args);

  const flags = [...(args.quick ? ['--quick'] : []), ...(args.write ? [] : ['--no-write'])];
  say(`suites: ${args.suites.join(', ')}; sizes: ${args.quick ? "QUICK (smaller than the issues' sizes)" : "the issues' sizes"}`);
  const failed: Suite[] = [];
  for (const suite of args.suites) {
    const code = await new Promise<number>((resolve) => {
      const child = fork(__filename, ['--child', suite, ...flags], { execArgv: ['--expose-gc'], stdio: 'inherit' });
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
    if (code !== 0) failed.push(suite);
  }
  if (failed.length) {
    say(`failed to run: ${failed.join(', ')}`);
    return 1;
  }
  say('done');
  return 0;
}

const started = Date.now();

function say(line: string, suite?: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[bench${suite ? ` ${suite}` : ''} ${t}s] ${line}\n`);
}

/** Runs one suite in this process, with servers stopped on the way out (also on Ctrl-C). */
async function runChild(suite: Suite, args: Args): Promise<number> {
  const servers = new Servers((line) => say(line, suite));
  const onSignal = () => {
    say('interrupted: stopping servers', suite);
    void servers.stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const sizes = args.quick ? SIZES.quick : SIZES.full;
  const loadBefore = os.loadavg();
  try {
    const out = await SUITE_RUNNERS[suite]({ servers, sizes, log: (line) => say(line, suite) });
    const loadAfter = os.loadavg();
    const figures: BenchFigures = {
      sizes: args.quick ? "quick (smaller than the issues' sizes)" : "the issues' sizes",
      ...out.figures,
      loadAvg1mStart: round2(loadBefore[0]!),
      loadAvg1mEnd: round2(loadAfter[0]!),
    };
    const notes = [
      ...(args.quick
        ? [
            `**Quick sizes** (\`npm run bench -- --quick ${suite}\`): smaller than the issues' sizes, so not comparable with a full run.`,
            '',
          ]
        : []),
      ...out.notes,
      '',
      `Load average (1, 5, 15 min) at the start: ${fmtLoad(loadBefore)}; at the end: ${fmtLoad(loadAfter)}, on ${os.cpus().length} cores. ` +
        'The machine is shared with other work, so every figure here moves between runs; ' +
        'ratios are measured against a reference in the same run for that reason.',
    ];
    printTable(suite, figures, out.goals);
    if (args.write) {
      writeResults(repoRoot(), suite, figures, out.goals, notes);
      say(`wrote bench-results/${suite}.json and its section of docs/benchmarks.md`, suite);
    }
    return 0;
  } catch (err) {
    say(`failed: ${(err as Error).stack ?? String(err)}`, suite);
    return 1;
  } finally {
    await servers.stopAll();
  }
}

function repoRoot(): string {
  // this file runs from dist/bench
  return path.resolve(__dirname, '..', '..');
}

function fmtLoad(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(', ');
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function printTable(suite: string, figures: BenchFigures, goals: Goal[]): void {
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  for (const [k, v] of Object.entries(figures)) {
    const goal = goals.find((g) => g.key === k);
    const verdict =
      goal && typeof v === 'number'
        ? meets(goal, v)
          ? `  (goal ${goal.op} ${goal.value}: met)`
          : `  (goal ${goal.op} ${goal.value}: NOT MET)`
        : '';
    const shown = typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v);
    process.stdout.write(`  ${suite}  ${k.padEnd(width)}  ${shown}${verdict}\n`);
  }
}

function meets(goal: Goal, v: number): boolean {
  return goal.op === '<=' ? v <= goal.value : goal.op === '>=' ? v >= goal.value : v < goal.value;
}

interface SuiteContext {
  servers: Servers;
  sizes: Sizes;
  log: (line: string) => void;
}

interface SuiteOutput {
  figures: BenchFigures;
  goals: Goal[];
  notes: string[];
}

const SUITE_RUNNERS: Record<Suite, (ctx: SuiteContext) => Promise<SuiteOutput>> = {
  storage: runStorage,
  ml: runMl,
  data: runData,
  orchestration: runOrchestration,
  serving: runServing,
  models: runModels,
};

async function runStorage({ servers, sizes, log }: SuiteContext): Promise<SuiteOutput> {
  const minio = await servers.minio();
  const { runStorageBench } = await import('./storage');
  const r = await runStorageBench({
    minio,
    sizeBytes: sizes.storageBytes,
    rounds: sizes.storageRounds,
    tmpDir: servers.dir('storage-tmp'),
    log,
  });
  return {
    figures: {
      putRatio: r.putRatio,
      getRatio: r.getRatio,
      peakRssMb: r.peakRssMb,
      ...flatten({
        sizeMiB: r.sizeBytes / MiB,
        rounds: r.rounds,
        peakRssPutMb: r.peakRssPutMb,
        peakRssGetMb: r.peakRssGetMb,
        rawPeakRssMb: r.rawPeakRssMb,
        baselineRssMb: r.baselineRssMb,
        ours: r.ours,
        raw: r.raw,
        met: r.met,
      }),
    },
    goals: [
      { key: 'putRatio', op: '>=', value: 0.9 },
      { key: 'getRatio', op: '>=', value: 0.9 },
      { key: 'peakRssMb', op: '<', value: 150 },
    ],
    notes: [
      `One file of ${r.sizeBytes / MiB} MiB of random bytes, put and read back through \`ArtifactStore\` (streaming, sha256, ` +
        `content-addressed) and through plain minio-js \`putObject\` / \`getObject\`, against one MinIO on loopback. ` +
        `Ratio = ArtifactStore MiB/s over minio-js MiB/s, best of ${r.rounds} rounds each, the side going first alternating. ` +
        `\`peakRssMb\` is the whole process's resident memory while ArtifactStore moved the file (sampled every 10 ms, before ` +
        `minio-js ran); \`peakRssPutMb\` and \`peakRssGetMb\` split it by direction.`,
      '',
      'ArtifactStore verifies the sha256 of every byte it reads, which costs about 0.7 CPU-seconds per GiB on this machine, while ' +
        'minio-js hands the bytes over unchecked. ' +
        'Blobs of 8 MiB and more are therefore read with a presigned GET on a socket read into 256 KiB buffers ' +
        "(`src/storage/direct-get.ts`): Node's HTTP client spends about a CPU-second per GiB on 64 KiB chunks, and the lean read " +
        'spends a third of that, which pays for the hashing. ' +
        "Most of the get's peak is read buffers the reader has dropped and V8 has not collected yet.",
    ],
  };
}

/** The parts of the data suite, all run by default. */
const DATA_PARTS = ['ingest', 'gbdt', 'pipeline', 'pipeline10m'] as const;

async function runData(ctx: SuiteContext): Promise<SuiteOutput> {
  const { log } = ctx;
  const { ensurePython } = await import('../dev/python');
  const python = await ensurePython(log);
  const wanted = parts('MLOPS_BENCH_DATA_PARTS', DATA_PARTS, 'data');
  const outputs: SuiteOutput[] = [];
  if (wanted.includes('ingest')) outputs.push(await runDataIngest(ctx, python));
  if (wanted.includes('gbdt')) outputs.push(await runDataGbdt(ctx, python));
  if (wanted.includes('pipeline')) outputs.push(await runDataPipeline(ctx));
  if (wanted.includes('pipeline10m')) outputs.push(await runDataPipeline10m(ctx, python));
  const out: SuiteOutput = {
    figures: Object.assign({}, ...outputs.map((o) => o.figures)),
    goals: [...DATA_INGEST_GOALS, ...DATA_GBDT_GOALS, ...DATA_PIPELINE_GOALS, ...DATA_PIPELINE_10M_GOALS],
    notes: outputs.flatMap((o) => o.notes),
  };
  if (wanted.length < DATA_PARTS.length) carryOver(out, 'data');
  return out;
}

/**
 * For a suite run in part: keeps the figures of the parts not run from the suite's last results, saying
 * so, so one part can be measured again without measuring the others a second time.
 */
function carryOver(out: SuiteOutput, suite: string): void {
  const file = path.join(repoRoot(), 'bench-results', `${suite}.json`);
  if (!fs.existsSync(file)) return;
  const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchFigures;
  const own = new Set(['suite', 'date', 'machine', 'sizes', 'loadAvg1mStart', 'loadAvg1mEnd']);
  const kept = Object.entries(previous).filter(([k]) => !own.has(k) && !(k in out.figures));
  if (kept.length === 0) return;
  out.figures = { ...Object.fromEntries(kept), ...out.figures };
  out.notes.push(
    '',
    `Carried over from bench-results/${suite}.json as last written (${String(previous.date).slice(0, 16)}; a figure may be older than that, ` +
      `as the part's own date says where it has one), not measured again this time: ${kept.map(([k]) => `\`${k}\``).join(', ')}.`,
  );
}

const DATA_INGEST_GOALS: Goal[] = [
  { key: 'ingestVsPandas', op: '<=', value: 1.0 },
  { key: 'ingestPeakRssMb', op: '<', value: 500 },
  { key: 'csvIngestVsPandas', op: '<=', value: 1.0 },
];

const DATA_GBDT_GOALS: Goal[] = [
  { key: 'gbdtFlightsVsSklearn', op: '<=', value: 1.5 },
  { key: 'gbdtFlightsAucDelta', op: '>=', value: -0.5 },
];

const DATA_PIPELINE_GOALS: Goal[] = [{ key: 'pipeline3mPeakRssMb', op: '<', value: 2000 }];
const DATA_PIPELINE_10M_GOALS: Goal[] = [{ key: 'pipeline10mPeakRssMb', op: '<', value: 4000 }];

async function runDataPipeline({ servers, log }: SuiteContext): Promise<SuiteOutput> {
  const { benchFlightsPipeline } = await import('./data-pipeline');
  const [minio, temporal] = await Promise.all([servers.minio(), servers.temporal('file')]);
  const load = loadAverage();
  const r = await benchFlightsPipeline({ minio, temporalAddress: temporal.address, log });
  log(`pipeline: ${r.rows} rows deployed in ${r.wallS.toFixed(1)} s, worker peak RSS ${r.peakRssMb.toFixed(0)} MiB`);
  const stages = stageList(r.stages);
  return {
    figures: {
      pipeline3mRows: r.rows,
      pipeline3mWallS: round2(r.wallS),
      pipeline3mPeakRssMb: Math.round(r.peakRssMb),
      pipeline3mRocAuc: round2(r.rocAuc),
      pipeline3mLoadAvg1mStart: load,
      pipeline3mLoadAvg1mEnd: loadAverage(),
      pipeline3mDate: new Date().toISOString(),
    },
    goals: DATA_PIPELINE_GOALS,
    notes: [
      '',
      `pipeline (\`src/bench/data-pipeline.ts\`): \`examples/flights/pipeline.yaml\` run whole on flights-3m.parquet (label and ` +
        `time features derived in the spec, gbdt with the airports as categories, ` +
        `approval not required), by \`node dist/worker.js\` in its own process against this suite's Temporal dev server and MinIO. ` +
        `Wall time from the start of the run to its result; ` +
        `peak RSS is the worker process's VmHWM. Stages: ${stages}. The 10M-row run is the \`pipeline10m\` part (below); earlier runs are in docs/scaling.md.`,
    ],
  };
}

/** The stage times of a run, as "ingest 17.5 s, train 59.5 s, ...". */
function stageList(stages: Record<string, number>): string {
  return Object.entries(stages)
    .map(([name, seconds]) => `${name} ${seconds} s`)
    .join(', ');
}

function loadAverage(): number {
  return round2(os.loadavg()[0]!);
}

/** The flights task at 10M rows: flights-3m.parquet sampled with replacement (scripts/flights_sample.py), then run whole. */
async function runDataPipeline10m({ servers, log }: SuiteContext, python: string): Promise<SuiteOutput> {
  const { benchFlightsPipeline } = await import('./data-pipeline');
  const dir = path.join(defaultCacheDir(), 'bench', 'flights-10m');
  const source = path.join(dir, 'train.parquet');
  if (!fs.existsSync(source)) {
    log(`pipeline10m: sampling 10,000,000 rows of flights-3m.parquet with replacement into ${dir}`);
    const script = path.join(repoRoot(), 'scripts', 'flights_sample.py');
    const args = [script, '--rows', '10000000', '--with-replacement', '--seed', '7', '--out-dir', dir];
    const done = spawnSync(python, args, { stdio: 'inherit' });
    if (done.status !== 0) throw new Error(`flights_sample.py failed (exit ${done.status})`);
  }
  const [minio, temporal] = await Promise.all([servers.minio(), servers.temporal('file')]);
  const load = loadAverage();
  const r = await benchFlightsPipeline({ minio, temporalAddress: temporal.address, log, source });
  log(`pipeline10m: ${r.rows} rows deployed in ${r.wallS.toFixed(1)} s, worker peak RSS ${r.peakRssMb.toFixed(0)} MiB`);
  return {
    figures: {
      pipeline10mRows: r.rows,
      pipeline10mWallS: round2(r.wallS),
      pipeline10mPeakRssMb: Math.round(r.peakRssMb),
      pipeline10mRocAuc: round2(r.rocAuc),
      pipeline10mLoadAvg1mStart: load,
      pipeline10mLoadAvg1mEnd: loadAverage(),
      pipeline10mDate: new Date().toISOString(),
    },
    goals: DATA_PIPELINE_10M_GOALS,
    notes: [
      '',
      `pipeline10m: the same run on 10,000,000 rows, flights-3m.parquet sampled with replacement by \`scripts/flights_sample.py ` +
        `--rows 10000000 --with-replacement --seed 7\` (kept in the cache directory, \`bench/flights-10m\`). Stages: ` +
        `${stageList(r.stages)}.`,
    ],
  };
}

async function runDataGbdt({ sizes, log }: SuiteContext, python: string): Promise<SuiteOutput> {
  const { benchFlightsGbdt, FLIGHTS_GBDT_PARAMS } = await import('./data-gbdt');
  log(`gbdt: the flights task on ${sizes.flightsGbdtRows} sampled rows, ours and HistGradientBoostingClassifier with native categories`);
  const r = await benchFlightsGbdt({ python, rows: sizes.flightsGbdtRows, log });
  log(
    `gbdt: ${r.gbdtFlightsVsSklearn.toFixed(3)} x scikit-learn, AUC delta ${r.gbdtFlightsAucDelta.toFixed(2)} points, peak RSS ` +
      `${r.gbdtFlightsPeakRssMb.toFixed(0)} MiB`,
  );
  const settings = Object.entries(FLIGHTS_GBDT_PARAMS)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
  return {
    figures: { ...r },
    goals: DATA_GBDT_GOALS,
    notes: [
      `gbdt (\`src/bench/data-gbdt.ts\`): the flights task, delayed = delay > 15 from hour, day of week, day of year, distance, ` +
        `and origin and destination airports as categories, ` +
        `on ${r.gbdtFlightsRows} rows sampled from flights-3m.parquet and scored on ${r.gbdtFlightsHoldoutRows} other rows ` +
        `(\`scripts/flights_sample.py\`, the task derived once by \`scripts/reference/bench_flights_gbdt.py\`). ` +
        `Our gbdt (native categories: ${r.gbdtFlightsModelInputs} model inputs, one byte per row each once binned) against ` +
        `HistGradientBoostingClassifier with the airports as pandas categories ` +
        `(\`categorical_features='from_dtype'\`), both with ${settings}. ` +
        `Times are the fit alone (each side's own encoding of the categories included); AUC on the same holdout; ` +
        "peak RSS is each process's own (ours: a child process holding the frame, the fit and the scoring; scikit-learn: " +
        'the Python process with its pandas frames), with the RSS just before the fit beside it. ' +
        'scikit-learn ran with OMP_WAIT_POLICY=PASSIVE, as in the ml suite.',
    ],
  };
}

async function runDataIngest({ sizes, log }: SuiteContext, python: string): Promise<SuiteOutput> {
  const { benchFlightsIngest, benchCsvIngest } = await import('./data-ingest');
  const load = loadAverage();
  log('ingest: the 3M-row flights Parquet (label delayed = delay > 15 derived in SQL), ours and pandas read_parquet + describe()');
  const flights = await benchFlightsIngest({ python, rounds: 3, log });
  log(`ingest: ${flights.ingestVsPandas.toFixed(3)} x pandas, peak RSS ${flights.ingestPeakRssMb.toFixed(0)} MiB`);
  log(`ingest: a generated ${Math.round(sizes.ingestBytes / 1e6)} MB CSV, ours and pandas read_csv + describe()`);
  const csv = await benchCsvIngest({ python, bytes: sizes.ingestBytes, rounds: 2, log });
  log(`ingest: ${csv.csvIngestVsPandas.toFixed(3)} x pandas, peak RSS ${csv.csvIngestPeakRssMb.toFixed(0)} MiB`);
  return {
    // The part's own date and load, so a later run of another part does not carry stale ones over.
    figures: { ...flights, ...csv, ingestLoadAvg1mStart: load, ingestLoadAvg1mEnd: loadAverage(), ingestDate: new Date().toISOString() },
    goals: DATA_INGEST_GOALS,
    notes: [
      'Ingest (`src/data`): our side is `buildSnapshot` in a child process, whose own peak RSS is reported; ' +
        'its time is reading, typing every value (whole-file inference ' +
        'or the declared schema), the derived label, every validation rule and the full profile (quantiles, exact up to 1,000,000 values ' +
        'per column and from a sample of rows past that for columns with many distinct values, histogram counts estimated from it; ' +
        'frequencies), which is what pandas does in ' +
        '`read_parquet`/`read_csv` + `describe()` (pandas validates nothing and profiles numeric columns only). ' +
        'Writing the snapshot (hash-split keys and zstd Parquet) is ' +
        'reported apart (`*SnapshotWriteS`), with the whole ingest (`ingestTotalS`). Flights: ' +
        'best of 3 runs per side, the side going first alternating; CSV: best of 2 runs per side. ' +
        'Both sides run on the same cores in the same minutes.',
    ],
  };
}

async function runMl({ sizes, log }: SuiteContext): Promise<SuiteOutput> {
  const reference = await ensureReferencePython(log);
  // scikit-learn's OpenMP threads spin while they wait; on a machine whose cores are also busy with
  // other work, a spinning thread holds the core its partner needs, and one fit took 3 s or 110 s from
  // run to run. Waiting passively, as our worker threads do, makes the comparison thread for thread.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const { benchDrift, benchIngest } = await import('./ml-data');
  const train = await import('./ml-train');

  log(`drift: KS + PSI over ${sizes.driftRows} rows x ${sizes.driftFeatures} features, ours and scipy`);
  const drift = await benchDrift({ rows: sizes.driftRows, features: sizes.driftFeatures, python: reference.python });
  log(`drift: ${drift.driftTimeVsScipy.toFixed(3)} x scipy`);

  log(`ingest: validate + profile of a generated ${Math.round(sizes.ingestBytes / 1e6)} MB CSV`);
  const ingest = await benchIngest({ bytes: sizes.ingestBytes });
  log(`ingest: ${ingest.ingestMBps.toFixed(1)} MB/s, peak RSS ${ingest.ingestPeakRssMb.toFixed(0)} MiB`);

  log(`gbdt: ${sizes.trainerRows} rows x ${sizes.trainerFeatures} features, ours and HistGradientBoostingClassifier`);
  const gbdt = await train.benchGbdt({ rows: sizes.trainerRows, features: sizes.trainerFeatures, python: reference.python });
  log(`gbdt: ${gbdt.gbdtTimeVsSklearn.toFixed(3)} x scikit-learn, accuracy delta ${gbdt.gbdtAccDeltaPp.toFixed(2)} pp`);

  log(`logistic regression: ${sizes.trainerRows} rows x ${sizes.trainerFeatures} features, ours and LogisticRegression`);
  const lr = await train.benchLogisticRegression({ rows: sizes.trainerRows, features: sizes.trainerFeatures, python: reference.python });
  log(`logistic regression: ${lr.lrTimeVsSklearn.toFixed(3)} x scikit-learn`);

  return {
    figures: {
      ...flatten(drift, 'drift'),
      ...flatten(ingest, 'ingest'),
      ...flatten(gbdt, 'gbdt'),
      ...flatten(lr, 'lr'),
      ...reference.versions,
    },
    goals: [
      { key: 'driftTimeVsScipy', op: '<=', value: 1.0 },
      { key: 'gbdtTimeVsSklearn', op: '<=', value: 3 },
      { key: 'gbdtAccDeltaPp', op: '>=', value: -1 },
      { key: 'lrTimeVsSklearn', op: '<=', value: 2 },
      { key: 'ingestPeakRssMb', op: '<', value: 300 },
    ],
    notes: [
      `Drift: two-sample KS and PSI (10 quantile bins of the reference) on ${drift.rows} rows x ${drift.features} normal features, ` +
        `against \`scipy.stats.ks_2samp\` plus a numpy PSI on the same data (docs/drift.md). ` +
        `Ingest: one streaming validate + profile pass over a generated CSV of ${(ingest.bytes / 1e6).toFixed(0)} MB in a child ` +
        `process, whose own peak RSS is reported. ` +
        `Trainers: fit time on a generated ${gbdt.rows}-row table (80 % train, 20 % holdout accuracy), against scikit-learn ` +
        `${reference.versions.sklearnVersion} with the same settings; ` +
        '`lrTimeVsSklearn` compares with scikit-learn doing the same median imputation and scaling, `lrTimeVsSklearnBare` with the ' +
        'bare classifier (docs/trainers.md). ' +
        `scikit-learn and our trainers both use the machine's ${os.cpus().length} cores; ` +
        `scikit-learn ran with OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY} (its OpenMP threads wait without spinning, as ours ` +
        `do; spinning on this shared machine made one fit take anywhere from 3 s to 110 s).`,
      `Reference: Python venv at \`${reference.python}\` with ${Object.entries(REFERENCE_PACKAGES)
        .map(([n, v]) => `${n}==${v}`)
        .join(', ')}.`,
    ],
  };
}

/** The parts of the orchestration suite, all run by default. */
const ORCHESTRATION_PARTS = ['overhead', 'filestore', 'workerstart'] as const;

const ORCHESTRATION_GOALS: Goal[] = [
  { key: 'stageOverheadVsBare', op: '<=', value: 1.25 },
  { key: 'fileStoreVsMemory', op: '<=', value: 1.2 },
  { key: 'workerStartVsUnbundled', op: '<=', value: 0.5 },
  { key: 'stageOverheadP50Ms', op: '<=', value: 20 },
  { key: 'concurrentWallS', op: '<', value: 120 },
];

async function runOrchestration(ctx: SuiteContext): Promise<SuiteOutput> {
  const { servers, log } = ctx;
  const wanted = parts('MLOPS_BENCH_ORCHESTRATION_PARTS', ORCHESTRATION_PARTS, 'orchestration');
  const minio = await servers.minio();
  // Only for parts that run workers here: a Temporal runtime that never ran one keeps the process from exiting.
  if (wanted.includes('overhead') || wanted.includes('filestore')) {
    const { installRuntimeLogger, createLogger } = await import('../logger');
    installRuntimeLogger(createLogger({ level: 'warn', format: 'json' }));
  }
  const configFor = (address: string): MlopsConfig => {
    const suffix = randomBytes(3).toString('hex');
    const base = loadConfig({
      env: {
        MINIO_ACCESS_KEY: minio.accessKey,
        MINIO_SECRET_KEY: minio.secretKey,
        HOME: process.env.HOME,
        MLOPS_LOG_LEVEL: 'warn',
        MLOPS_LOG_FORMAT: 'json',
      },
    });
    return {
      ...base,
      temporal: { ...base.temporal, connection: { address }, external: true },
      minio,
      taskQueue: `bench-${suffix}`,
      trainingTaskQueue: `bench-training-${suffix}`,
    };
  };
  const figures: BenchFigures[] = [];
  // Each part says when it was measured and under what load, so figures carried over keep their own.
  const stamp = (part: (typeof ORCHESTRATION_PARTS)[number], load: number) => ({
    [`${part}Measured`]: `${new Date().toISOString().slice(0, 16)}Z, load ${load} to ${loadAverage()}`,
  });
  const memory = await servers.temporal('memory');
  let load = loadAverage();
  if (wanted.includes('overhead'))
    figures.push({ ...(await runOrchestrationOverhead(ctx, configFor(memory.address))), ...stamp('overhead', load) });
  load = loadAverage();
  if (wanted.includes('workerstart'))
    figures.push({ ...(await runOrchestrationWorkerStart(ctx, configFor(memory.address))), ...stamp('workerstart', load) });
  await memory.stop();
  load = loadAverage();
  if (wanted.includes('filestore')) figures.push({ ...(await runOrchestrationFileStore(ctx, configFor)), ...stamp('filestore', load) });
  const out: SuiteOutput = { figures: Object.assign({}, ...figures), goals: ORCHESTRATION_GOALS, notes: [] };
  if (wanted.length < ORCHESTRATION_PARTS.length) carryOver(out, 'orchestration');
  // The goals first, as a full run lists them; every part's notes, also of the parts carried over, from the figures.
  const goalKeys = ORCHESTRATION_GOALS.map((g) => g.key).filter((k) => k in out.figures);
  out.figures = { ...Object.fromEntries(goalKeys.map((k) => [k, out.figures[k]!])), ...out.figures };
  if (typeof out.figures.concurrentStarted === 'number')
    out.goals = [
      ...out.goals,
      { key: 'concurrentRuns', op: '>=', value: out.figures.concurrentStarted },
      ...('fileDbConcurrentRuns' in out.figures
        ? [{ key: 'fileDbConcurrentRuns', op: '>=' as const, value: out.figures.concurrentStarted }]
        : []),
    ];
  const { MEASURED_STAGES, WORKER_TUNING } = await import('./orchestration');
  out.notes = [
    ...[
      overheadNotes(out.figures, MEASURED_STAGES.length, JSON.stringify(WORKER_TUNING)),
      workerStartNotes(out.figures),
      fileStoreNotes(out.figures),
    ].flatMap((n, i) => (n.length && i ? ['', ...n] : n)),
    ...out.notes,
  ];
  return out;
}

/** The parts of a suite named in `variable` (comma-separated), or all of them. */
function parts<P extends string>(variable: string, all: readonly P[], suite: string): P[] {
  const wanted = (process.env[variable] ?? all.join(',')).split(',').map((p) => p.trim());
  const unknown = wanted.filter((p) => !(all as readonly string[]).includes(p));
  if (unknown.length)
    throw new UsageError(`${variable}: unknown part ${unknown.join(', ')}; the ${suite} suite's parts are ${all.join(', ')}`);
  return wanted as P[];
}

type ThroughputFigures = Awaited<ReturnType<(typeof import('./orchestration'))['runThroughputBench']>>;

/** The order of the file-store comparison's rounds: A B B A, so that a load rising or falling steadily weighs on both alike. */
const FILE_STORE_ROUNDS = ['memory', 'file', 'file', 'memory'] as const;

/** One round of the file-store comparison: the concurrent runs, and the server's own CPU time during them. */
interface StoreRound extends ThroughputFigures {
  serverCpuS: number | undefined;
}

/**
 * The concurrent runs on the dev server's file store as the local stack starts it, against the same runs on its
 * in-memory store, each round on a fresh server started the same way (only `--db-filename` differs) with fresh workers.
 */
async function runOrchestrationFileStore(ctx: SuiteContext, configFor: (address: string) => MlopsConfig): Promise<BenchFigures> {
  const { servers, sizes, log } = ctx;
  const { runThroughputBench } = await import('./orchestration');
  const rounds: Record<'memory' | 'file', StoreRound[]> = { memory: [], file: [] };
  for (const [i, store] of FILE_STORE_ROUNDS.entries()) {
    log(`file store against memory, round ${i + 1}/${FILE_STORE_ROUNDS.length}: SQLite ${store === 'file' ? 'in a file' : 'in memory'}`);
    const server = await servers.temporalAsStack(store);
    try {
      // A few runs first, left out: the server's first workflows and the benchmark process's first rounds are slower.
      const config = configFor(server.address);
      await runThroughputBench({ config, concurrent: Math.ceil(sizes.concurrentRuns / 20) });
      const cpuBefore = server.cpuS();
      const r = await runThroughputBench({ config, concurrent: sizes.concurrentRuns, log });
      const cpuAfter = server.cpuS();
      rounds[store].push({ ...r, serverCpuS: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore });
    } finally {
      await server.stop();
    }
  }
  return orchestrationFileStore(sizes.concurrentRuns, rounds.memory, rounds.file);
}

async function runOrchestrationOverhead({ sizes, log }: SuiteContext, config: MlopsConfig): Promise<BenchFigures> {
  const { runOverheadBench } = await import('./orchestration');
  const r = await runOverheadBench({ config, runs: sizes.orchestrationRuns, log });
  const { perStageP50Ms, workerOptions: _, stageOverheadVsBare, ...rest } = r;
  return {
    stageOverheadVsBare,
    ...rest,
    ...Object.fromEntries(Object.entries(perStageP50Ms).map(([stage, v]) => [`${stage}OverheadP50Ms`, v])),
  };
}

async function runOrchestrationWorkerStart({ servers, sizes, log }: SuiteContext, config: MlopsConfig): Promise<BenchFigures> {
  const { measureWorkerStart } = await import('./orchestration');
  const { writeWorkflowBundle } = await import('../prebundle');
  // The bundle `npm run build` writes, made here so that it matches the code this run measures.
  const bundlePath = path.join(servers.dir('prebundle'), 'workflow-bundle.js');
  await writeWorkflowBundle({ bundlePath });
  return { ...(await measureWorkerStart({ config, bundlePath, rounds: sizes.workerStartRounds, log })) };
}

/** The figures `keys` name as numbers, or undefined when one is missing (a part never measured). */
function numbers<K extends string>(f: BenchFigures, keys: readonly K[]): Record<K, number> | undefined {
  return keys.every((k) => typeof f[k] === 'number') ? (f as Record<K, number>) : undefined;
}

function workerStartNotes(f: BenchFigures): string[] {
  const start = numbers(f, ['workerStartS', 'workerStartUnbundledS', 'workerStartRounds']);
  if (!start) return [];
  return [
    `**Worker start** (\`workerStart*\`): the ready-made worker (\`runWorker\`: ` +
      `both task queues, storage and namespace checks) in a fresh process, fork to both workers running, median of ` +
      `${start.workerStartRounds} starts each way, alternating: with the workflow code prebundled as \`npm run build\` writes it ` +
      `(\`workerStartS\`, ${start.workerStartS.toFixed(1)} s) and bundling it with webpack at start (\`workerStartUnbundledS\`, ` +
      `${start.workerStartUnbundledS.toFixed(1)} s). ` +
      '`workerStartVsUnbundled` = the first over the second.',
  ];
}

function orchestrationFileStore(count: number, memory: StoreRound[], file: StoreRound[]): BenchFigures {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const mean = (xs: number[]) => round2(sum(xs) / xs.length);
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  const cpu = (rs: StoreRound[]) => (rs.every((r) => r.serverCpuS !== undefined) ? rs.map((r) => r.serverCpuS!) : undefined);
  const [memoryCpu, fileCpu] = [cpu(memory), cpu(file)];
  const figures: BenchFigures = {
    fileStoreVsMemory: Math.round((sum(file.map((r) => r.concurrentWallS)) / sum(memory.map((r) => r.concurrentWallS))) * 1000) / 1000,
    concurrentStarted: count,
    concurrentRuns: Math.min(...memory.map((r) => r.concurrentRuns)),
    concurrentFailed: Math.max(...memory.map((r) => r.concurrentFailed)),
    concurrentWallS: mean(memory.map((r) => r.concurrentWallS)),
    concurrentStartS: mean(memory.map((r) => r.concurrentStartS)),
    concurrentRunsPerS: mean(memory.map((r) => r.concurrentRunsPerS)),
    concurrentWallSRounds: list(memory.map((r) => r.concurrentWallS)),
    fileDbConcurrentRuns: Math.min(...file.map((r) => r.concurrentRuns)),
    fileDbConcurrentFailed: Math.max(...file.map((r) => r.concurrentFailed)),
    fileDbConcurrentWallS: mean(file.map((r) => r.concurrentWallS)),
    fileDbConcurrentStartS: mean(file.map((r) => r.concurrentStartS)),
    fileDbConcurrentRunsPerS: mean(file.map((r) => r.concurrentRunsPerS)),
    fileDbConcurrentWallSRounds: list(file.map((r) => r.concurrentWallS)),
  };
  if (memoryCpu && fileCpu) {
    figures.concurrentServerCpuS = mean(memoryCpu);
    figures.fileDbConcurrentServerCpuS = mean(fileCpu);
    figures.fileStoreCpuVsMemory = Math.round((sum(fileCpu) / sum(memoryCpu)) * 1000) / 1000;
  }
  return figures;
}

function fileStoreNotes(f: BenchFigures): string[] {
  const r = numbers(f, ['concurrentStarted', 'fileDbConcurrentWallS', 'concurrentWallS']);
  if (!r) return [];
  const cpu = numbers(f, ['concurrentServerCpuS', 'fileDbConcurrentServerCpuS']);
  const rounds = typeof f.fileDbConcurrentWallSRounds === 'string';
  return [
    `**Throughput and the file store**: ${r.concurrentStarted} runs started at once (at most 100 start calls in flight), wall time ` +
      'from the first start call to the last result held by the client; `concurrentRuns` counts runs that returned `deployed`. ' +
      (rounds
        ? 'Measured in four rounds, each on a fresh dev server with fresh workers after a few unmeasured runs: in memory, in a ' +
          'file, in a file, in memory (the order cancels a load that rises or falls steadily: the other work on this shared ' +
          'machine changes the pace from one minute to the next). Both sides are started by `startTemporalServer`, as the local ' +
          'stack starts it, with the same Web UI, dynamic configuration and SQLite pragmas ' +
          `(\`${DEV_SERVER_SQLITE_PRAGMAS.filter((a) => !a.startsWith('--')).join('`, `')}\`); ` +
          "the memory side leaves out `--db-filename`, so the server keeps its state in the dev server's own in-memory store. " +
          `\`concurrent*\` are the memory rounds (mean, ${r.concurrentWallS.toFixed(1)} s; \`concurrentWallSRounds\` each), ` +
          `\`fileDb*\` the file rounds (${r.fileDbConcurrentWallS.toFixed(1)} s); ` +
          "`fileStoreVsMemory` = the file rounds' wall time over the memory rounds'. "
        : `The same runs on a dev server keeping its state in a file took ${r.fileDbConcurrentWallS.toFixed(1)} s; ` +
          '`fileStoreVsMemory` = `fileDbConcurrentWallS` / `concurrentWallS`. ') +
      (cpu
        ? `\`*ServerCpuS\` is the server process's own CPU time (user and system) during the measured runs ` +
          `(${cpu.concurrentServerCpuS.toFixed(1)} s in memory, ${cpu.fileDbConcurrentServerCpuS.toFixed(1)} s on file), and ` +
          '`fileStoreCpuVsMemory` their ratio: the work the file store adds, which the load of the machine moves less than the wall time. '
        : '') +
      "With SQLite's defaults (a rollback journal, a disk sync at every commit) the same 1,000 runs took 96 s against 33 s in " +
      'memory (bench-results of 2026-11-22). What each pragma does and why it is safe: `DEV_SERVER_SQLITE_PRAGMAS` in ' +
      "src/dev/servers.ts and docs/operations.md (the local stack's Temporal store).",
  ];
}

/** The figures the overhead part's notes quote. */
const OVERHEAD_NOTE_KEYS = [
  'runs',
  'warmupRuns',
  'extraMs',
  'pipelineStageMs',
  'bareStageMs',
  'extraInterceptorsMs',
  'extraActivityOptionsMs',
  'extraPatchMarkersMs',
  'patchMarkers',
  'extraPayloadsMs',
  'extraWorkflowCodeMs',
  'extraNoiseMs',
  'runInputBytes',
  'activityInputBytes',
  'activityResultBytes',
  'runResultBytes',
  'historyEvents',
  'historyBytes',
  'bareHistoryEvents',
  'bareHistoryBytes',
  'workflowTaskProcessingP50Ms',
  'bareWorkflowTaskProcessingP50Ms',
  'activityOverheadP50Ms',
  'bareActivityOverheadP50Ms',
  'workflowTaskDispatchP50Ms',
  'bareWorkflowTaskDispatchP50Ms',
] as const;

function overheadNotes(f: BenchFigures, stageCount: number, workerOptions: string): string[] {
  const r = numbers(f, OVERHEAD_NOTE_KEYS);
  if (!r) return [];
  const perStage = (pipeline: number, bare: number) => `${pipeline.toFixed(1)} ms against ${bare.toFixed(1)} ms`;
  return [
    '`pipelineRun` (the real workflow bundle) with approval not required and no monitor, against the Temporal dev server ' +
      '(`temporal server start-dev`, its default SQLite store in memory, with the dynamic configuration the local stack uses: `' +
      DEV_SERVER_DYNAMIC_CONFIG.filter((a) => !a.startsWith('--')).join('`, `') +
      '`) and MinIO on loopback. ' +
      "Every stage activity (ingest; train, on the training task queue; validate; servability; deploy's " +
      'register and promote) is replaced by one that returns references to small artifacts stored in MinIO beforehand, and times its own body; ' +
      "the stages run inside the plugin's activity interceptors (liveness heartbeats, failure conversion) and heartbeat settings, " +
      'as in production.',
    '',
    '**Reference** (`bare*`): `bareRun` (src/bench/bare-workflow.ts), a plain workflow calling as many no-op activities (six) ' +
      "one after another, the second on the training task queue as the pipeline's train stage is, with no status, details, timeline, patches, " +
      'interceptors or payloads of its own, on the same worker, server and settings. ' +
      `Pipeline and bare runs alternate one at a time (${r.runs} of each after ${r.warmupRuns} warm-up runs of each), so both see the same load. ` +
      '`stageOverheadVsBare` = `stageOverheadP50Ms` / `bareStageOverheadP50Ms`.',
    '',
    `**Overhead per stage** (\`stageOverhead*\`): for each stage, the time from the previous stage's ActivityTaskCompleted event ` +
      `(WorkflowExecutionStarted, for ingest) to this stage's ActivityTaskCompleted event, minus the activity function's own ` +
      `measured time. ` +
      'It holds everything Temporal adds to a stage: the workflow task that schedules the activity (dispatch to the worker, ' +
      'running the workflow code, recording its commands), the activity dispatch, and recording its result. ' +
      `p50 and p95 are nearest-rank over ${r.runs} runs x ${stageCount} activities ` +
      '(deploy is two: registering the version, then moving the alias by compare-and-swap). ' +
      '`activityOverhead*` is the narrower ActivityTaskScheduled to ActivityTaskCompleted span minus the own time; ' +
      '`runOverhead*` is WorkflowExecutionStarted to WorkflowExecutionCompleted minus the own time of all stages; ' +
      '`<activity>OverheadP50Ms` is the stage overhead of one stage; ' +
      '`workflowTaskDispatchP50Ms` is WorkflowTaskScheduled to WorkflowTaskStarted (the server handing the task to a worker) and ' +
      '`workflowTaskProcessingP50Ms` WorkflowTaskStarted to WorkflowTaskCompleted (the worker); ' +
      "`clientRoundTripP50Ms` is the client's start call to holding the result; `historyEvents` and `historyBytes` are a run's history, encoded (p50).",
    '',
    `**What our extra cost per stage is made of** (\`extra*\`, measured): beside the pipeline and the bare reference, ` +
      "four more kinds of run alternate with them, each adding one cost alone: the pipeline without the plugin's activity " +
      "interceptors, and the bare reference with the stages' activity options (heartbeat timeout, retry policy with its " +
      'non-retryable types), with the patch markers a pipeline run records (asked before the same activities), and with ' +
      "activity inputs and results padded to the sizes a pipeline run's carry (both taken from a warm-up run's history). " +
      "Each kind's per-stage figure (`*StageMs`) is the mean over the six stages of each stage's median, so a cost that " +
      'falls on one stage counts as its share; each `extra*` is a difference of two of them, and `extraWorkflowCodeMs` is what ' +
      'is left of `extraMs`: our workflow code (stage outcomes, the status and its timeline, the Temporal UI details, the ' +
      'lifecycle sink, the activity proxies). ' +
      `This run: ${r.extraMs.toFixed(2)} ms per stage in all (${r.pipelineStageMs.toFixed(2)} ms against ` +
      `${r.bareStageMs.toFixed(2)} ms), of which interceptors ${r.extraInterceptorsMs.toFixed(2)} ms, activity options ` +
      `${r.extraActivityOptionsMs.toFixed(2)} ms, patch markers ${r.extraPatchMarkersMs.toFixed(2)} ms (${r.patchMarkers} per run), ` +
      `payload sizes ${r.extraPayloadsMs.toFixed(2)} ms, workflow code ${r.extraWorkflowCodeMs.toFixed(2)} ms. ` +
      `The bare reference's even and odd runs differed by ${r.extraNoiseMs.toFixed(2)} ms (\`extraNoiseMs\`): a part smaller than that is noise. ` +
      `Payloads of a pipeline run (p50, encoded): its input ${r.runInputBytes} bytes (the spec), its activities\' inputs ` +
      `${r.activityInputBytes} bytes and results ${r.activityResultBytes} bytes in all, its result ${r.runResultBytes} bytes; ` +
      `its history is ${r.historyEvents} events and ${(r.historyBytes / 1024).toFixed(1)} KiB against ${r.bareHistoryEvents} ` +
      `events and ${(r.bareHistoryBytes / 1024).toFixed(1)} KiB. ` +
      `Where the time goes (p50, pipeline against bare): running a workflow task ${perStage(r.workflowTaskProcessingP50Ms, r.bareWorkflowTaskProcessingP50Ms)}, ` +
      `an activity's span ${perStage(r.activityOverheadP50Ms, r.bareActivityOverheadP50Ms)}, ` +
      `dispatching a workflow task ${perStage(r.workflowTaskDispatchP50Ms, r.bareWorkflowTaskDispatchP50Ms)}. ` +
      "The train stage runs on its own task queue, so it goes through the server's dispatch like a workflow task " +
      '(`trainModelOverheadP50Ms`); the reference does the same, so the ratio compares like with like.',
    '',
    '**Patch markers**: every `patched()` a run takes records a marker and, through the SDK, an update of the ' +
      '`TemporalChangeVersion` search attribute, which the dev server writes to its SQLite visibility store. A run without ' +
      'approval used to record three (`mlops-activity-names`, `servability-check`, `deploy-cas`; five with an approval ' +
      'and a rollout); a new run records one baseline patch that stands for all of them (`src/workflows/patches.ts`, ' +
      'docs/operations.md). ' +
      (Math.abs(r.extraPayloadsMs) <= r.extraNoiseMs
        ? "Payload sizes: padding the bare reference's inputs and results to the pipeline's sizes changed the per-stage " +
          `figure by ${r.extraPayloadsMs.toFixed(2)} ms in this run, within its noise, so the spec travels by value in the run's input and ` +
          "the deploy's (kilobytes, not megabytes) at no cost that shows."
        : `Payload sizes: padding the bare reference's inputs and results to the pipeline's sizes cost ` +
          `${r.extraPayloadsMs.toFixed(2)} ms per stage in this run.`),
    '',
    '**Costs with nothing to measure here**: a run updates no search attribute or memo of its own (the one update is the ' +
      "SDK's, for the patch marker); its Temporal UI details (`setCurrentDetails`) are kept in the workflow and read " +
      "through Temporal's metadata query, so writing them per stage sends nothing; tracing is off unless `MLOPS_TRACING` " +
      "turns it on, and then its plugin is added, not present; the workflow logs only a stage that failed. The benchmark's " +
      "workers run without the plugin's payload codec (the identity stamps' verifier): it encodes nothing, and decoding " +
      "reads each payload's encoding and scans JSON ones for `$identity`; the SDK walks every activation and completion " +
      'for payloads whether or not a codec is set.',
    '',
    "**Dispatch**: activities on the workflow's own task queue are handed over eagerly in the reply to the workflow task; " +
      "the train stage, on its own task queue, goes through the server's dispatch like a workflow task. " +
      "The dispatch is short because the dev server is started with its transfer queue's read rate lifted " +
      '(`history.transferProcessorMaxPollRPS`, 20 reads a second by default): ' +
      "on the dev server's single history shard that default alone held every task about 40 ms.",
    '',
    '**Absolute figures and load**: the goals are the ratios, each against a reference measured in the same run. ' +
      'The absolute goals (`stageOverheadP50Ms` <= 20 ms, `concurrentWallS` < 120 s) were set on a quiet machine (load about 2 on ' +
      "the 2 cores: 9 ms and 33 s); they move with the load average below, and so does the bare reference, which is Temporal's own " +
      'floor at that load.',
    '',
    `Worker options (orchestration worker; the training worker takes the activity settings): \`${workerOptions}\`. ` +
      'The cache holds every concurrent run, so none is evicted and replayed; ' +
      "workflows run in one reused V8 context (the SDK default), in the benchmark's own process, next to the servers on the same " +
      'cores.',
  ];
}

async function runServing({ servers, sizes, log }: SuiteContext): Promise<SuiteOutput> {
  const minio = await servers.minio();
  const { runServingBench, SERVING_GOALS, TARGETS } = await import('./serving');
  const r = await runServingBench({ minio, durationS: sizes.servingSeconds, log });
  const judged = Object.keys(SERVING_GOALS) as (keyof typeof SERVING_GOALS)[];
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const figures: BenchFigures = {};
  for (const k of judged) figures[k] = r[k].median;
  Object.assign(figures, { secondPredictionUs: r.secondPredictionUs, secondPredictionFloorPct: r.secondPredictionFloorPct });
  for (const k of judged) Object.assign(figures, { [`${k}Min`]: r[k].min, [`${k}Max`]: r[k].max });
  for (const k of ['canaryCpuOverheadPct', 'shadowCpuOverheadPct'] as const)
    Object.assign(figures, { [k]: r[k].median, [`${k}Min`]: r[k].min, [`${k}Max`]: r[k].max });
  Object.assign(figures, { canaryCandidateShare: r.canaryCandidateShare, noisy: r.noisy.join(', ') || 'none' });
  for (const t of TARGETS) Object.assign(figures, flatten(r[t], t));
  Object.assign(figures, {
    servedRows: r.servedRows,
    loggedRows: r.loggedRows,
    droppedRows: r.droppedRows,
    connections: r.connections,
    durationS: r.durationS,
    rounds: r.rounds,
    loadAverage: r.loadAverage,
    met: r.met,
  });
  const noisy = r.noisy.map((k) => {
    const f = r[k as keyof typeof SERVING_GOALS];
    return `\`${k}\` (median ${fmt(f.median)}, ${fmt(f.min)} to ${fmt(f.max)}, goal ${f.goal!.op} ${f.goal!.value})`;
  });
  return {
    figures,
    goals: judged.map((key) => ({ key, ...SERVING_GOALS[key] })),
    notes: [
      `Single-row predictions of a small logistic-regression model over HTTP, load from autocannon (${r.connections} connections) ` +
        `in a second process on the same machine. ` +
        `Five targets: a bare Fastify handler answering a fixed body of the same shape; ` +
        `the model server with the prediction log off; with it on (each answered prediction written to the local spool before it ` +
        `is answered, shipped to MinIO by a thread); ` +
        "a canary (two versions, each request routed by the hash of its id, the candidate's share 0.5); " +
        'and a shadow (the champion answers, the candidate predicts the same row after the answer, both logged). ' +
        `After a warm-up each, ${r.durationS} s per target are split into ${r.rounds} rounds that visit every target in turn, each round in a rotated order. ` +
        'Every figure is computed per round from targets measured seconds apart, and given as its median over the rounds (judged ' +
        'against the goal) with min and max (`...Min`, `...Max`). ' +
        'Load generator, servers and MinIO share the 2 cores, so absolute figures are low and noisy.',
      '',
      "`throughputVsBare` = log-on requests/s over bare requests/s; `p99Ms` = the log-on server's p99; " +
        '`loggingOverheadPct` = throughput lost by turning the log on; ' +
        '`canaryOverheadPct` = throughput lost by the canary against the log-on server (one version); ' +
        '`shadowOverheadPct` = throughput lost by the shadow against it. ' +
        `\`secondPredictionUs\` is what a second prediction alone costs (one row read strictly and predicted, in-process): ${fmt(r.secondPredictionUs)} µs, ` +
        `which would cost a server saturated at the log-on throughput ${fmt(r.secondPredictionFloorPct)} % ` +
        `(\`secondPredictionFloorPct\`), the floor under \`shadowOverheadPct\`; ` +
        `the rest of a shadow's cost is its second log record and scheduling the mirrored prediction. ` +
        `The canary's candidate answered ${(r.canaryCandidateShare * 100).toFixed(1)} % of its requests.`,
      '',
      "Throughput depends on how much CPU the servers got while the machine's other work came and went; " +
        'CPU time per answered request (`<target>CpuUsPerRequest`: the benchmark process, which holds every server and its threads ' +
        'while only the loaded one is busy) depends much less on it. ' +
        `By that measure the canary cost ${fmt(r.canaryCpuOverheadPct.median)} % more CPU per request than one version ` +
        `(${fmt(r.canaryCpuOverheadPct.min)} to ${fmt(r.canaryCpuOverheadPct.max)} over the rounds) and the shadow ` +
        `${fmt(r.shadowCpuOverheadPct.median)} % more (${fmt(r.shadowCpuOverheadPct.min)} to ${fmt(r.shadowCpuOverheadPct.max)}).`,
      '',
      noisy.length
        ? `**Spread wider than the margin to the goal** in this run, so it cannot tell whether these goals hold: ${noisy.join('; ')}.`
        : "Every judged figure's spread over the rounds (max - min) is narrower than its median's distance to the goal.",
    ],
  };
}

async function runModels({ servers, sizes, log }: SuiteContext): Promise<SuiteOutput> {
  const minio = await servers.minio();
  const { runModelsBench, MODELS_GOALS } = await import('./models');
  const r = await runModelsBench({ minio, scoringRows: sizes.modelsScoringRows, durationS: sizes.servingSeconds, log });
  return {
    figures: {
      onnxServingVsBare: r.onnxServingVsBare,
      onnxP99Ms: r.onnxP99Ms,
      onnxScoringVsPython: r.onnxScoringVsPython,
      builtinServingVsBare: r.builtinServingVsBare,
      ...flatten(r),
    },
    goals: [
      { key: 'onnxServingVsBare', op: '>=', value: MODELS_GOALS.minOnnxServingVsBare },
      { key: 'onnxP99Ms', op: '<', value: MODELS_GOALS.maxOnnxP99Ms },
      { key: 'onnxScoringVsPython', op: '<=', value: MODELS_GOALS.maxOnnxScoringVsPython },
      { key: 'builtinServingVsBare', op: '>=', value: MODELS_GOALS.minBuiltinServingVsBare },
    ],
    notes: [
      `**Serving**: single-row v1 predictions over HTTP, load from autocannon (${r.connections} connections) in a second process ` +
        `on the same machine, ${r.durationS} s per target split into ${r.rounds} interleaved rounds after a warm-up. ` +
        `Targets: a bare Fastify handler answering a fixed body of the same shape; ` +
        `the model server serving a scikit-learn pipeline (median imputation, one-hot categoricals, ${r.trees}-stage ` +
        `GradientBoostingClassifier on six penguin features) converted with skl2onnx and run by onnxruntime-node ` +
        `${r.nodeOnnxruntime}; ` +
        'and the model server serving a built-in logistic regression on the same schema. Both servers log every prediction to MinIO. ' +
        "`onnxServingVsBare` and `builtinServingVsBare` are requests/s over the bare handler's; " +
        "`onnxP99Ms` is the ONNX server's p99 (median over rounds). The serving suite measures its own built-in model " +
        '(`throughputVsBare`, 0.64 on its last full run) the same way.',
      '',
      'Small ONNX requests that arrive together share one ONNX Runtime run (`src/serving/batcher.ts`): ' +
        'a run of this pipeline costs about 18 µs however few its rows, and about 2.5 µs more per row. ' +
        'Without batching the ONNX server reached 0.39 of bare in a quick run (15,000 requests/s against 38,000); ' +
        'with it, 0.57 in the next quick run. One batch runs at a time and the requests that arrive during it make the next one, ' +
        'so batches grow with the load.',
      '',
      `**Scoring**: a generated holdout of ${r.scoringRows} rows (1 % missing beak lengths and sexes) scored with the same ` +
        `model.onnx through \`loadPredictor\` (columns converted to tensors in batches of 65,536 rows) and by Python's onnxruntime ` +
        `${r.pythonOnnxruntime} in one \`run\` over numpy arrays already in memory, ` +
        "both with one intra-op thread and all graph optimisations, best of 3 each. `onnxScoringVsPython` = our time over Python's. " +
        `The two answers agree on every row's label (\`scoringLabelMismatches\`) and their probabilities differ by at most \`scoringMaxProbabilityDiff\`. ` +
        "Most of the gap is inside ONNX Runtime's run itself: on this model onnxruntime-node's run took about 670 ns a row against " +
        "Python's 470 ns (65,536-row runs, same inputs), " +
        'likely the string tensors (two categorical inputs and the label output), which onnxruntime-node converts element by ' +
        'element between JavaScript and C++; ' +
        'the rest is garbage collection of the one probability array per row that the Predictor interface returns.',
    ],
  };
}

/**
 * Flattens nested figures into camelCase keys under a prefix; a key that already starts with the
 * prefix keeps its name. Arrays are left out.
 */
export function flatten(value: object, prefix = ''): BenchFigures {
  const out: BenchFigures = {};
  for (const [k, v] of Object.entries(value)) {
    const key = !prefix ? k : k.startsWith(prefix) ? k : `${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`;
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[key] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as object, key));
  }
  return out;
}

/** A Temporal server one suite started. */
interface TemporalHandle {
  address: string;
  /** The CPU time the server process has used so far (user and system), seconds; undefined where /proc is missing. */
  cpuS: () => number | undefined;
  stop: () => Promise<void>;
}

/** A process's CPU time (user and system) from /proc/<pid>/stat, seconds, or undefined off Linux. */
function processCpuS(pid: number): number | undefined {
  try {
    // Fields 14 and 15 (utime, stime), counted after the parenthesised command name, in clock ticks (100 a second on Linux).
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The servers one suite started, stopped together at the end (or one by one). */
class Servers {
  private readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bench-'));
  private readonly procs = new Set<ServerProcess>();
  private minioConfig?: MlopsConfig['minio'];

  constructor(private readonly log: (line: string) => void) {}

  dir(name: string): string {
    const d = path.join(this.root, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  }

  /** A MinIO on a free loopback port with its data in the temporary directory. */
  async minio(): Promise<MlopsConfig['minio']> {
    if (this.minioConfig) return this.minioConfig;
    const bin = await ensureMinio(defaultCacheDir(), this.log);
    const keys = { accessKey: 'bench-access-key', secretKey: randomBytes(18).toString('hex') };
    const { port } = await this.start('MinIO', async () => {
      const o = {
        bin,
        port: await freePort(),
        consolePort: await freePort(),
        dataDir: this.dir('minio-data'),
        logFile: path.join(this.root, 'minio.log'),
        ...keys,
      };
      return { port: o.port, proc: await startMinioServer(o) };
    });
    this.minioConfig = { endPoint: '127.0.0.1', port, useSSL: false, ...keys, bucket: 'mlops-bench', region: 'us-east-1', external: true };
    return this.minioConfig;
  }

  /**
   * A Temporal dev server on a free loopback port: headless with its SQLite state in memory (the dev server's
   * default), or as the local stack starts it, with its state in a file (`temporalAsStack`).
   */
  async temporal(store: 'memory' | 'file'): Promise<TemporalHandle> {
    if (store === 'file') return this.temporalAsStack('file');
    const cli = await ensureTemporalCli(defaultCacheDir(), this.log);
    return this.temporalHandle(
      await this.start(`the Temporal dev server (SQLite in ${store})`, async () => {
        const port = await freePort();
        const logFile = path.join(this.root, `temporal-${store}-${port}.log`);
        const args = [
          'server',
          'start-dev',
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--headless',
          '--log-format',
          'json',
          '--log-level',
          'warn',
          ...DEV_SERVER_DYNAMIC_CONFIG,
        ];
        const proc = spawnServer(cli, args, logFile);
        await waitUntil('Temporal dev server', () => temporalHealthy(port), { timeoutMs: 60_000, pid: proc.pid, logFile });
        return { port, proc };
      }),
    );
  }

  /**
   * A Temporal dev server started exactly as the local stack starts it (`startTemporalServer`: the Web UI, the SQLite
   * pragmas, the dynamic configuration), with its state in a fresh file in the temporary directory, as the stack keeps
   * it, or in the dev server's own in-memory store: the two differ in the store alone.
   */
  async temporalAsStack(store: 'memory' | 'file'): Promise<TemporalHandle> {
    const cli = await ensureTemporalCli(defaultCacheDir(), this.log);
    return this.temporalHandle(
      await this.start(
        `the Temporal dev server as the stack starts it (SQLite ${store === 'memory' ? 'in memory' : 'in a file'})`,
        async () => {
          const port = await freePort();
          const o = {
            cli,
            port,
            uiPort: await freePort(),
            dbFile: store === 'file' ? path.join(this.dir(`temporal-${port}`), 'temporal.db') : null,
            logFile: path.join(this.root, `temporal-${store}-${port}.log`),
          };
          return { port, proc: await startTemporalServer(o) };
        },
      ),
    );
  }

  private temporalHandle({ port, proc }: { port: number; proc: ServerProcess }): TemporalHandle {
    return {
      address: `127.0.0.1:${port}`,
      cpuS: () => processCpuS(proc.pid),
      stop: async () => {
        this.procs.delete(proc);
        await stopProcess(proc.pid, 10_000);
      },
    };
  }

  /** Starts a server, trying again on other ports if it dies at startup (another process took a port). */
  private async start(
    what: string,
    attempt: () => Promise<{ port: number; proc: ServerProcess }>,
  ): Promise<{ port: number; proc: ServerProcess }> {
    for (let i = 1; ; i++) {
      try {
        const started = await attempt();
        this.procs.add(started.proc);
        this.log(`started ${what} on 127.0.0.1:${started.port}`);
        return started;
      } catch (err) {
        if (i === 3) throw err;
        this.log(`${what} did not start (${(err as Error).message}); trying other ports`);
      }
    }
  }

  async stopAll(): Promise<void> {
    const procs = [...this.procs];
    this.procs.clear();
    await Promise.all(procs.map((p) => stopProcess(p.pid, 10_000)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * A Python with the pinned reference packages: $MLOPS_REFERENCE_PYTHON as it is, or a venv in the
 * tool cache, created and filled from PyPI when missing or on other versions.
 */
async function ensureReferencePython(log: (line: string) => void): Promise<{ python: string; versions: Record<string, string> }> {
  const given = process.env.MLOPS_REFERENCE_PYTHON;
  if (given) {
    const versions = await referenceVersions(given);
    if (!versions)
      throw new Error(`MLOPS_REFERENCE_PYTHON=${given} cannot import numpy, scipy and scikit-learn; install them there or unset it`);
    return { python: given, versions };
  }
  const venv = path.join(defaultCacheDir(), 'refvenv');
  const python = path.join(venv, 'bin', 'python');
  const pinned = {
    numpyVersion: REFERENCE_PACKAGES.numpy,
    scipyVersion: REFERENCE_PACKAGES.scipy,
    sklearnVersion: REFERENCE_PACKAGES['scikit-learn'],
  };
  const current = fs.existsSync(python) ? await referenceVersions(python) : undefined;
  if (current && Object.entries(pinned).every(([k, v]) => current[k] === v)) return { python, versions: current };

  const run = promisify(execFile);
  if (!fs.existsSync(python)) {
    log(`creating the reference Python venv in ${venv}`);
    try {
      await run('python3', ['-m', 'venv', venv]);
    } catch (err) {
      throw new Error(
        `could not create a venv with python3 (${(err as Error).message.split('\n')[0]}); install python3 with venv (Debian: ` +
          `apt-get install python3-venv), or set MLOPS_REFERENCE_PYTHON`,
      );
    }
  }
  const specs = Object.entries(REFERENCE_PACKAGES).map(([n, v]) => `${n}==${v}`);
  log(`installing ${specs.join(' ')} from PyPI into ${venv} (once)`);
  await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '--quiet', ...specs], {
    maxBuffer: 16 * MiB,
  });
  const versions = await referenceVersions(python);
  if (!versions) throw new Error(`${python} still cannot import numpy, scipy and scikit-learn after pip install`);
  return { python, versions };
}

async function referenceVersions(python: string): Promise<Record<string, string> | undefined> {
  const code =
    'import json, numpy, scipy, sklearn; print(json.dumps({"numpyVersion": numpy.__version__, "scipyVersion": ' +
    'scipy.__version__, "sklearnVersion": sklearn.__version__}))';
  try {
    const { stdout } = await promisify(execFile)(python, ['-c', code]);
    return JSON.parse(stdout) as Record<string, string>;
  } catch {
    return undefined;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
