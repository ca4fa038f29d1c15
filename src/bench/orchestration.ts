/**
 * Orchestration benchmark: what Temporal adds to a pipeline run when the stages themselves cost nothing.
 * The real `pipelineRun` workflow bundle runs against a real Temporal and MinIO, with every stage
 * activity replaced by one that hands back prepared references (real artifacts, stored once) at once,
 * wrapped in the plugin's activity interceptors as in production.
 *
 * - Overhead per stage: runs one at a time; for each stage, the time from the previous stage's
 *   result being recorded in the history (the run's start, for the first stage) to this stage's result
 *   being recorded, minus the activity function's own time as measured inside it. The same is measured,
 *   interleaved, on `bareRun` (src/bench/bare-workflow.ts): as many no-op activities on the same worker.
 * - Throughput: many runs started together, counted until every one has returned its result.
 * - Worker start: the ready-made worker started in a fresh process, with the prebundled workflow code and
 *   bundling at start.
 *
 * scripts/bench.mjs runs it through src/bench/run.ts, which starts the servers.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker, type ActivityInterceptorsFactory, type WorkerOptions } from '@temporalio/worker';
import type {
  DeployResult,
  EvaluateResult,
  IngestResult,
  pipelineRunWorkflow,
  PromoteResult,
  RegisterCandidateResult,
  ServabilityResult,
  SpecRef,
  TrainResult,
} from '../contracts';
import { connectClient, startRun } from '../client';
import type { MlopsConfig } from '../config';
import { parsePipelineSpec, type PipelineSpec } from '../spec/pipeline';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { activityName, namespacedActivities } from '../contracts/activity-names';
import { failureInterceptor } from '../activities/failures';
import { livenessInterceptor } from '../activities/liveness';
import { lifecycleSinks } from '../activities/lifecycle-metrics';
import type { BareExtras, BareStepInput, bareRun } from './bare-workflow';

/** Inputs of `runOrchestrationBench`. */
export interface OrchestrationBenchOptions {
  /** The servers to run against; the task queues are used as they are. */
  config: MlopsConfig;
  /** Runs measured one at a time for the per-stage overhead (default 200). */
  runs?: number;
  /** Runs done first and left out of the figures: bundle loading, first connections (default 10). */
  warmupRuns?: number;
  /** Runs started together for the throughput figure (default 1000). */
  concurrent?: number;
  /** Worker options on top of `WORKER_TUNING`. */
  worker?: Partial<WorkerOptions>;
  /** Progress lines, if wanted. */
  log?: (line: string) => void;
}

/** Worker options used by the benchmark (both workers; the training worker has no workflows). */
export const WORKER_TUNING = {
  // Enough cache for every concurrent run, so no run is evicted and replayed from its history.
  maxCachedWorkflows: 1500,
  maxConcurrentWorkflowTaskExecutions: 100,
  maxConcurrentWorkflowTaskPolls: 20,
  maxConcurrentActivityTaskExecutions: 200,
  maxConcurrentActivityTaskPolls: 20,
} satisfies Partial<WorkerOptions>;

/**
 * The activities a run calls when approval is not required and no monitor is enabled, one per stage except deploy,
 * which registers the version and then moves the alias by compare-and-swap.
 */
export const MEASURED_STAGES = [
  'ingestDataset',
  'trainModel',
  'evaluateCandidate',
  'checkServability',
  'registerCandidate',
  'promoteVersion',
] as const;

/** What `runOrchestrationBench` measured. Percentiles are nearest-rank over the measured runs. */
export interface OrchestrationBenchResult extends ThroughputFigures {
  /** Overhead per stage (see the module comment), p50 and p95 over every stage of every measured run, ms. */
  stageOverheadP50Ms: number;
  stageOverheadP95Ms: number;
  /** The same for the bare reference's activities, ms. */
  bareStageOverheadP50Ms: number;
  bareStageOverheadP95Ms: number;
  /** stageOverheadP50Ms over bareStageOverheadP50Ms. */
  stageOverheadVsBare: number;
  /**
   * What the pipeline adds per stage and what it is made of, each measured in the same run as the difference one cost
   * makes alone: the plugin's activity interceptors (the pipeline with and without them), the stages' activity options
   * (heartbeat timeout, retry policy), the patch markers and the payload sizes (the bare reference with and without
   * each, taken from a pipeline run's history); the rest is our workflow code (stage outcomes, status, timeline,
   * details, the lifecycle sink). A kind's per-stage figure (`*StageMs`) is the mean over the six stages of each
   * stage's median overhead; differences of medians add up only roughly. ms.
   */
  extraMs: number;
  extraInterceptorsMs: number;
  extraActivityOptionsMs: number;
  extraPatchMarkersMs: number;
  extraPayloadsMs: number;
  extraWorkflowCodeMs: number;
  /** The difference between the bare reference's even and odd runs (the same kind against itself): below it is noise. */
  extraNoiseMs: number;
  /** The per-stage figures those differences come from, ms. */
  pipelineStageMs: number;
  bareStageMs: number;
  pipelineNoInterceptorsStageMs: number;
  bareWithOptionsStageMs: number;
  bareWithPatchesStageMs: number;
  bareWithPayloadsStageMs: number;
  /** A pipeline run's payloads, encoded, p50 in bytes: its input, its activities' inputs and results (summed), its result. */
  runInputBytes: number;
  activityInputBytes: number;
  activityResultBytes: number;
  runResultBytes: number;
  /** Patch markers a run records (each with its search attribute update). */
  patchMarkers: number;
  /** The bare reference's workflow task dispatch and processing, and activity overhead, p50 in ms. */
  bareWorkflowTaskDispatchP50Ms: number;
  bareWorkflowTaskProcessingP50Ms: number;
  bareActivityOverheadP50Ms: number;
  /** A run's history: events and encoded bytes (inputs, results, markers), pipeline and bare reference, p50. */
  historyEvents: number;
  historyBytes: number;
  bareHistoryEvents: number;
  bareHistoryBytes: number;
  /** The same, per stage, p50 in ms. */
  perStageP50Ms: Record<(typeof MEASURED_STAGES)[number], number>;
  /** Activity scheduled to activity completed, minus the activity's own time (the dispatch part alone), ms. */
  activityOverheadP50Ms: number;
  activityOverheadP95Ms: number;
  /** Workflow started to workflow completed in the history, minus the activities' own time, ms. */
  runOverheadP50Ms: number;
  runOverheadP95Ms: number;
  /**
   * Where the stage overhead goes: workflow task scheduled to started (waiting for dispatch to a
   * worker) and started to completed (the worker running the workflow code), p50 in ms.
   */
  workflowTaskDispatchP50Ms: number;
  workflowTaskProcessingP50Ms: number;
  /** Client's start call to the client holding the result, ms. */
  clientRoundTripP50Ms: number;
  /** The activities' own time, summed over a run, p50 in ms (what was subtracted). */
  activityOwnP50Ms: number;
  runs: number;
  warmupRuns: number;
  /** The worker options used, as JSON. */
  workerOptions: string;
}

/** The throughput part of the result. */
export interface ThroughputFigures {
  /** Runs started together, and how many returned `deployed`. */
  concurrentStarted: number;
  concurrentRuns: number;
  concurrentFailed: number;
  /** First start call to the last result held by the client, seconds. */
  concurrentWallS: number;
  /** Time to make every start call, seconds. */
  concurrentStartS: number;
  concurrentRunsPerS: number;
}

/** The bare reference's activity: does nothing, timed like the stages. */
const BARE_ACTIVITY = 'bareStep';

/** The workflow id prefix of pipeline runs whose stages run without the plugin's activity interceptors. */
const NO_INTERCEPTORS = 'bench-nointerceptors-';

/** Runs the overhead and throughput measurements on one pair of workers. */
export async function runOrchestrationBench(options: OrchestrationBenchOptions): Promise<OrchestrationBenchResult> {
  const o = { runs: options.runs ?? 200, warmupRuns: options.warmupRuns ?? 10, concurrent: options.concurrent ?? 1000 };
  return withBenchWorkers(options, async (bench) => {
    const overhead = await measureOverhead(bench, o.runs, o.warmupRuns);
    const together = await measureThroughput(bench, o.concurrent);
    return { ...overhead, ...together, workerOptions: JSON.stringify(bench.tuning) };
  });
}

/** Runs only the per-stage overhead measurement, against the bare reference. */
export async function runOverheadBench(options: OrchestrationBenchOptions): Promise<OverheadFigures & { workerOptions: string }> {
  return withBenchWorkers(options, async (bench) => {
    const overhead = await measureOverhead(bench, options.runs ?? 200, options.warmupRuns ?? 10);
    return { ...overhead, workerOptions: JSON.stringify(bench.tuning) };
  });
}

/** Runs only the throughput measurement (for a second server configuration). */
export async function runThroughputBench(options: OrchestrationBenchOptions): Promise<ThroughputFigures> {
  return withBenchWorkers(options, (bench) => measureThroughput(bench, options.concurrent ?? 1000));
}

/** What one benchmark needs while its workers run. */
interface BenchContext {
  client: Client;
  config: MlopsConfig;
  spec: PipelineSpec;
  tag: string;
  ownMs: Map<string, number>;
  tuning: Partial<WorkerOptions>;
  log: (line: string) => void;
}

/** Starts the orchestration and training workers with the no-op stages, runs `fn`, and stops them. */
async function withBenchWorkers<T>(options: OrchestrationBenchOptions, fn: (bench: BenchContext) => Promise<T>): Promise<T> {
  const { config } = options;
  const activities = await noopActivities(config);
  const tuning = { ...WORKER_TUNING, ...options.worker };
  const connection = await NativeConnection.connect(config.temporal.connection);
  const client = await connectClient(config);
  const common = { connection, namespace: config.temporal.namespace };
  // The stages run inside the plugin's interceptors and heartbeat settings, as in production; the bare reference without.
  const stages = new Set(Object.keys(namespacedActivities({ ...activities.stages, trainModel: activities.trainModel })));
  // Runs whose workflow id says so go without them, to measure what they cost.
  const ours =
    (factory: ActivityInterceptorsFactory): ActivityInterceptorsFactory =>
    (ctx) =>
      stages.has(ctx.info.activityType) && !ctx.info.workflowExecution?.workflowId.startsWith(NO_INTERCEPTORS) ? factory(ctx) : {};
  const perWorker = {
    interceptors: { activity: [ours(livenessInterceptor()), ours(failureInterceptor)] },
    defaultHeartbeatThrottleInterval: '1s',
    maxHeartbeatThrottleInterval: '2s',
  } satisfies Partial<WorkerOptions>;
  const orchestration = await Worker.create({
    ...common,
    ...perWorker,
    taskQueue: config.taskQueue,
    workflowsPath: require.resolve('./bench-workflows'),
    // The lifecycle sink, as the plugin registers it: without it every run's first call is logged as an error.
    sinks: lifecycleSinks(),
    activities: { ...namespacedActivities(activities.stages), [BARE_ACTIVITY]: activities.bare },
    ...tuning,
  });
  const training = await Worker.create({
    ...common,
    ...perWorker,
    taskQueue: config.trainingTaskQueue,
    activities: { ...namespacedActivities({ trainModel: activities.trainModel }), [BARE_ACTIVITY]: activities.bare },
    maxConcurrentActivityTaskExecutions: tuning.maxConcurrentActivityTaskExecutions,
    maxConcurrentActivityTaskPolls: tuning.maxConcurrentActivityTaskPolls,
  });
  const running = Promise.all([orchestration.run(), training.run()]);
  try {
    const tag = Math.random().toString(36).slice(2, 8);
    return await fn({ client, config, spec: benchSpec(), tag, ownMs: activities.ownMs, tuning, log: options.log ?? (() => undefined) });
  } finally {
    orchestration.shutdown();
    training.shutdown();
    await running;
    await client.connection.close();
    await connection.close();
  }
}

/** The per-stage overhead part of the result. */
export type OverheadFigures = Omit<OrchestrationBenchResult, keyof ThroughputFigures | 'workerOptions'>;

/** The kinds of run the overhead part alternates: the pipeline, the bare reference, and one cost at a time between them. */
const KINDS = ['pipeline', 'bare', 'pipelineNoInterceptors', 'bareOptions', 'barePatches', 'barePayloads'] as const;
type Kind = (typeof KINDS)[number];

/** Runs one at a time and reads each history for the per-stage overhead. */
async function measureOverhead(bench: BenchContext, runs: number, warmupRuns: number): Promise<OverheadFigures> {
  const { client, config, spec, tag, log } = bench;
  log(`warm-up: ${warmupRuns} pipeline runs and as many bare ones`);
  let sample: RunTiming | undefined;
  for (let i = 0; i < warmupRuns; i++) {
    const workflowId = `bench-warmup-${tag}-${i}`;
    const roundTripMs = await oneRun(client, config, spec, workflowId);
    if (i === warmupRuns - 1) sample = await timingFromHistory(client, workflowId, roundTripMs, bench.ownMs, MEASURED_STAGES.length);
    await oneBareRun(client, config, `bench-warmup-bare-${tag}-${i}`);
  }
  sample ??= await timingFromHistory(client, `bench-warmup-${tag}-0`, 0, bench.ownMs, MEASURED_STAGES.length);
  // The bare runs that add one of the pipeline's costs take it from a pipeline run: its patches and payload sizes.
  const pad = (bytes: number) => Math.max(0, bytes - PADDING_ENVELOPE_BYTES);
  const extras: Record<Kind, BareExtras> = {
    pipeline: {},
    pipelineNoInterceptors: {},
    bare: {},
    bareOptions: { stageOptions: true },
    barePatches: { patches: sample.patches },
    barePayloads: { inputBytes: sample.payloads.activityInputs.map(pad), resultBytes: sample.payloads.activityResults.map(pad) },
  };

  log(`overhead: ${runs} runs of each of ${KINDS.join(', ')}, one at a time, interleaved`);
  const timings = Object.fromEntries(KINDS.map((k) => [k, [] as RunTiming[]])) as Record<Kind, RunTiming[]>;
  for (let i = 0; i < runs; i++) {
    // Rotating which goes first, so no kind always follows the same other's history read.
    for (const kind of [...KINDS.slice(i % KINDS.length), ...KINDS.slice(0, i % KINDS.length)]) {
      const workflowId = kind === 'pipelineNoInterceptors' ? `${NO_INTERCEPTORS}${tag}-${i}` : `bench-${kind}-${tag}-${i}`;
      const roundTripMs = kind.startsWith('pipeline')
        ? await oneRun(client, config, spec, workflowId)
        : await oneBareRun(client, config, workflowId, extras[kind]);
      timings[kind].push(await timingFromHistory(client, workflowId, roundTripMs, bench.ownMs, MEASURED_STAGES.length));
    }
    if ((i + 1) % 50 === 0) log(`  ${i + 1}/${runs} runs of each`);
  }
  return overheadFigures(timings, runs, warmupRuns);
}

/** What `{"pad":""}` and its JSON payload's metadata take, so a padded payload is as large as the pipeline's. */
const PADDING_ENVELOPE_BYTES = 40;

/** The figures of the overhead part from the runs' timings. */
function overheadFigures(timings: Record<Kind, RunTiming[]>, runs: number, warmupRuns: number): OverheadFigures {
  const p = (values: number[], q: number) => round(percentile(values, q));
  const stagesOf = (kind: Kind) => timings[kind].flatMap((m) => m.stages);
  const stageP50 = (kind: Kind) =>
    p(
      stagesOf(kind).map((s) => s.overheadMs),
      50,
    );
  const measured = timings.pipeline;
  const bare = timings.bare;
  const stages = stagesOf('pipeline');
  const bareStages = stagesOf('bare');
  const stageOverheadP50Ms = stageP50('pipeline');
  const bareStageOverheadP50Ms = stageP50('bare');
  // The breakdown compares kinds stage by stage: the mean over the six stages of each stage's median, so a cost that
  // falls on one stage (a patch marker in the first workflow task) counts as its share, whatever the other stages do.
  const meanOfMedians = (of: RunTiming[]) =>
    round(
      MEASURED_STAGES.map((_, i) =>
        percentile(
          of.map((m) => m.stages[i]!.overheadMs),
          50,
        ),
      ).reduce((a, b) => a + b, 0) / MEASURED_STAGES.length,
    );
  const stageMs = (kind: Kind) => meanOfMedians(timings[kind]);
  // How far the same kind moves against itself in this run: the bare runs' even and odd halves.
  const noiseMs = round(Math.abs(meanOfMedians(bare.filter((_, i) => i % 2 === 0)) - meanOfMedians(bare.filter((_, i) => i % 2 === 1))));
  const variants = {
    pipelineStageMs: stageMs('pipeline'),
    bareStageMs: stageMs('bare'),
    pipelineNoInterceptorsStageMs: stageMs('pipelineNoInterceptors'),
    bareWithOptionsStageMs: stageMs('bareOptions'),
    bareWithPatchesStageMs: stageMs('barePatches'),
    bareWithPayloadsStageMs: stageMs('barePayloads'),
  };
  const parts = {
    extraInterceptorsMs: round(variants.pipelineStageMs - variants.pipelineNoInterceptorsStageMs),
    extraActivityOptionsMs: round(variants.bareWithOptionsStageMs - variants.bareStageMs),
    extraPatchMarkersMs: round(variants.bareWithPatchesStageMs - variants.bareStageMs),
    extraPayloadsMs: round(variants.bareWithPayloadsStageMs - variants.bareStageMs),
  };
  const extraMs = round(variants.pipelineStageMs - variants.bareStageMs);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const median = (f: (m: RunTiming) => number) => percentile(measured.map(f), 50);
  return {
    stageOverheadP50Ms,
    stageOverheadP95Ms: p(
      stages.map((s) => s.overheadMs),
      95,
    ),
    bareStageOverheadP50Ms,
    bareStageOverheadP95Ms: p(
      bareStages.map((s) => s.overheadMs),
      95,
    ),
    stageOverheadVsBare: Math.round((stageOverheadP50Ms / bareStageOverheadP50Ms) * 1000) / 1000,
    extraMs,
    ...parts,
    extraWorkflowCodeMs: round(extraMs - sum(Object.values(parts))),
    extraNoiseMs: noiseMs,
    ...variants,
    bareWorkflowTaskDispatchP50Ms: p(
      bare.flatMap((m) => m.workflowTasks.map((w) => w.dispatchMs)),
      50,
    ),
    bareWorkflowTaskProcessingP50Ms: p(
      bare.flatMap((m) => m.workflowTasks.map((w) => w.processingMs)),
      50,
    ),
    bareActivityOverheadP50Ms: p(
      bareStages.map((s) => s.activityOverheadMs),
      50,
    ),
    historyEvents: median((m) => m.events),
    historyBytes: median((m) => m.bytes),
    bareHistoryEvents: percentile(
      bare.map((m) => m.events),
      50,
    ),
    bareHistoryBytes: percentile(
      bare.map((m) => m.bytes),
      50,
    ),
    runInputBytes: median((m) => m.payloads.runInput),
    activityInputBytes: median((m) => sum(m.payloads.activityInputs)),
    activityResultBytes: median((m) => sum(m.payloads.activityResults)),
    runResultBytes: median((m) => m.payloads.runResult),
    patchMarkers: median((m) => m.patches.filter(Boolean).length),
    perStageP50Ms: Object.fromEntries(
      MEASURED_STAGES.map((name) => [
        name,
        p(
          stages.filter((s) => s.name === name).map((s) => s.overheadMs),
          50,
        ),
      ]),
    ) as OrchestrationBenchResult['perStageP50Ms'],
    activityOverheadP50Ms: p(
      stages.map((s) => s.activityOverheadMs),
      50,
    ),
    activityOverheadP95Ms: p(
      stages.map((s) => s.activityOverheadMs),
      95,
    ),
    runOverheadP50Ms: p(
      measured.map((m) => m.runOverheadMs),
      50,
    ),
    runOverheadP95Ms: p(
      measured.map((m) => m.runOverheadMs),
      95,
    ),
    workflowTaskDispatchP50Ms: p(
      measured.flatMap((m) => m.workflowTasks.map((w) => w.dispatchMs)),
      50,
    ),
    workflowTaskProcessingP50Ms: p(
      measured.flatMap((m) => m.workflowTasks.map((w) => w.processingMs)),
      50,
    ),
    clientRoundTripP50Ms: p(
      measured.map((m) => m.roundTripMs),
      50,
    ),
    activityOwnP50Ms: Math.round(median((m) => m.activityOwnMs) * 1000) / 1000,
    runs,
    warmupRuns,
  };
}

/** A spec that goes straight from validate to deploy: no approval, no monitor. The data is never read. */
function benchSpec(): PipelineSpec {
  return parsePipelineSpec({
    model: 'bench-orchestration',
    dataset: { source: 's3://mlops-bench/orchestration/data.csv', target: 'label' },
    trainer: { name: 'gbdt' },
    approval: { required: false },
  });
}

/**
 * Stage activities that return references to artifacts stored once up front, recording how long each
 * call's own body took, by workflow id and activity id.
 */
async function noopActivities(config: MlopsConfig) {
  const store = new ArtifactStore(createMinioClient(config.minio), config.minio.bucket);
  await store.ensureBucket();
  const [snapshot, profile, report, model, spec] = await Promise.all(
    ['snapshot', 'profile', 'report', 'model', 'spec'].map((kind) => store.putJson({ bench: 'orchestration', kind })),
  );
  const schema: IngestResult['schema'] = {
    columns: [
      { name: 'x', type: 'numeric' },
      { name: 'label', type: 'categorical' },
    ],
    target: 'label',
    features: ['x'],
    task: 'classification',
  };
  const ingest: IngestResult = {
    snapshot: snapshot!,
    schema,
    rowCount: 100,
    profile: profile!,
    validation: { ok: true, report: report!, blocking: [], warnings: 0 },
    summary: { rows: 100, columns: 2 },
  };
  const train: TrainResult = { model: model!, trainer: 'gbdt', params: {}, trainRows: 80, durationMs: 0 };
  const evaluate: EvaluateResult = { passed: true, metrics: { accuracy: 0.9 }, failures: [], report: report! };
  let version = 0;

  const ownMs = new Map<string, number>();
  const timed =
    <A extends unknown[], T>(body: (...args: A) => T) =>
    async (...args: A): Promise<T> => {
      const started = performance.now();
      const out = body(...args);
      const { workflowExecution, activityId } = Context.current().info;
      ownMs.set(`${workflowExecution?.workflowId}/${activityId}`, performance.now() - started);
      return out;
    };
  return {
    ownMs,
    bare: timed((input?: BareStepInput) => (input ? { pad: 'x'.repeat(input.resultBytes) } : undefined)),
    stages: {
      ingestDataset: timed(() => ingest),
      evaluateCandidate: timed(() => evaluate),
      checkServability: timed((): ServabilityResult => ({
        passed: true,
        problems: [],
        notes: [],
        flavor: 'builtin',
        sampleRows: 2,
        report: report!,
      })),
      deployCandidate: timed((): DeployResult => ({ version: ++version })),
      registerCandidate: timed((): RegisterCandidateResult => ({ version: ++version, spec: spec! as SpecRef })),
      promoteVersion: timed((): PromoteResult => ({ moved: true, version, changed: true })),
      ensureMonitor: timed(() => undefined),
    },
    trainModel: timed(() => train),
  };
}

/** Starts one run through the client, waits for its result, and returns the round trip in ms. */
async function oneRun(client: Client, config: MlopsConfig, spec: PipelineSpec, workflowId: string): Promise<number> {
  const started = performance.now();
  await startRun(client, config, spec, { requestedBy: 'bench', workflowId });
  const result = await client.workflow.getHandle<typeof pipelineRunWorkflow>(workflowId).result();
  if (result.status !== 'deployed') throw new Error(`run ${workflowId} ended ${result.status}: ${result.reason ?? ''}`);
  return performance.now() - started;
}

/** Starts one bare reference run, waits for it, and returns the round trip in ms. */
async function oneBareRun(client: Client, config: MlopsConfig, workflowId: string, extras: BareExtras = {}): Promise<number> {
  const started = performance.now();
  await client.workflow.execute<typeof bareRun>('bareRun', {
    taskQueue: config.taskQueue,
    workflowId,
    args: [config.trainingTaskQueue, extras],
  });
  return performance.now() - started;
}

interface RunTiming {
  roundTripMs: number;
  /** The history's events and encoded size. */
  events: number;
  bytes: number;
  /** Encoded payload bytes: the run's input, each activity's input and result (in order), and the run's result. */
  payloads: { runInput: number; activityInputs: number[]; activityResults: number[]; runResult: number };
  /** The patch id recorded before each activity (by position), null where none was. */
  patches: (string | null)[];
  runOverheadMs: number;
  activityOwnMs: number;
  stages: { name: string; overheadMs: number; activityOverheadMs: number }[];
  workflowTasks: { dispatchMs: number; processingMs: number }[];
}

type Timestamp = { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null | undefined;

/** A history timestamp in ms, keeping the sub-millisecond part. */
function ms(ts: Timestamp): number {
  if (!ts) throw new Error('history event without a time');
  const s = ts.seconds;
  return (typeof s === 'object' && s ? s.toNumber() : Number(s ?? 0)) * 1000 + (ts.nanos ?? 0) / 1e6;
}

/** Reads one run's history and works out its overheads. */
async function timingFromHistory(
  client: Client,
  workflowId: string,
  roundTripMs: number,
  ownMs: Map<string, number>,
  expectedActivities: number,
): Promise<RunTiming> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  const payloads: RunTiming['payloads'] = { runInput: 0, activityInputs: [], activityResults: [], runResult: 0 };
  const patches: RunTiming['patches'] = [];
  let patch: string | null = null;
  let startedAt: number | undefined;
  let closedAt: number | undefined;
  const scheduled = new Map<string, { name: string; activityId: string; at: number }>();
  const stages: RunTiming['stages'] = [];
  let previous: number | undefined;
  let activityOwnMs = 0;
  const workflowTasks: RunTiming['workflowTasks'] = [];
  let taskScheduledAt = 0;
  let taskStartedAt = 0;
  for (const event of history.events ?? []) {
    const at = ms(event.eventTime);
    if (event.workflowExecutionStartedEventAttributes) {
      startedAt = previous = at;
      payloads.runInput = payloadBytes(event.workflowExecutionStartedEventAttributes.input);
    } else if (event.markerRecordedEventAttributes?.markerName === 'core_patch') {
      patch = patchId(event.markerRecordedEventAttributes.details?.['patch-data']);
    } else if (event.workflowTaskScheduledEventAttributes) taskScheduledAt = at;
    else if (event.workflowTaskStartedEventAttributes) taskStartedAt = at;
    else if (event.workflowTaskCompletedEventAttributes)
      workflowTasks.push({ dispatchMs: taskStartedAt - taskScheduledAt, processingMs: at - taskStartedAt });
    else if (event.workflowExecutionCompletedEventAttributes) {
      closedAt = at;
      payloads.runResult = payloadBytes(event.workflowExecutionCompletedEventAttributes.result);
    } else if (event.activityTaskScheduledEventAttributes) {
      const a = event.activityTaskScheduledEventAttributes;
      payloads.activityInputs.push(payloadBytes(a.input));
      patches.push(patch);
      patch = null;
      scheduled.set(String(event.eventId), { name: activityName(a.activityType?.name ?? '?'), activityId: a.activityId ?? '', at });
    } else if (event.activityTaskCompletedEventAttributes) {
      const s = scheduled.get(String(event.activityTaskCompletedEventAttributes.scheduledEventId));
      if (!s || previous === undefined) throw new Error(`${workflowId}: activity completion without its scheduling`);
      const own = ownMs.get(`${workflowId}/${s.activityId}`);
      if (own === undefined) throw new Error(`${workflowId}: no own time recorded for ${s.name}`);
      activityOwnMs += own;
      payloads.activityResults.push(payloadBytes(event.activityTaskCompletedEventAttributes.result));
      stages.push({ name: s.name, overheadMs: at - previous - own, activityOverheadMs: at - s.at - own });
      previous = at;
    }
  }
  if (startedAt === undefined || closedAt === undefined) throw new Error(`${workflowId}: history has no start or completion`);
  if (stages.length !== expectedActivities)
    throw new Error(`${workflowId}: expected ${expectedActivities} activities, found ${stages.length}`);
  const events = history.events?.length ?? 0;
  const runOverheadMs = closedAt - startedAt - activityOwnMs;
  return { roundTripMs, events, bytes, payloads, patches, runOverheadMs, activityOwnMs, stages, workflowTasks };
}

/** The encoded size of a list of payloads (data and metadata), 0 for none. */
function payloadBytes(payloads: temporal.api.common.v1.IPayloads | null | undefined): number {
  return payloads ? temporal.api.common.v1.Payloads.encode(payloads).finish().length : 0;
}

/** The patch id in a patch marker's details. */
function patchId(details: temporal.api.common.v1.IPayloads | null | undefined): string | null {
  const data = details?.payloads?.[0]?.data;
  if (!data) return null;
  return (JSON.parse(Buffer.from(data).toString('utf8')) as { id?: string }).id ?? null;
}

/** Starts `count` runs together (at most 100 start calls in flight) and waits for every result. */
async function measureThroughput(bench: BenchContext, count: number): Promise<ThroughputFigures> {
  const { client, config, spec, tag, log } = bench;
  log(`throughput: ${count} runs started together`);
  const ids = Array.from({ length: count }, (_, i) => `bench-concurrent-${tag}-${i}`);
  const started = performance.now();
  await pool(ids, 100, (workflowId) => startRun(client, config, spec, { requestedBy: 'bench', workflowId }));
  const concurrentStartS = (performance.now() - started) / 1000;
  log(`  ${count} started in ${concurrentStartS.toFixed(1)} s`);
  let deployed = 0;
  let failed = 0;
  await pool(ids, 200, async (workflowId) => {
    try {
      const result = await client.workflow.getHandle<typeof pipelineRunWorkflow>(workflowId).result();
      if (result.status === 'deployed') deployed++;
      else failed++;
    } catch {
      failed++;
    }
    if ((deployed + failed) % 250 === 0) log(`  ${deployed + failed}/${count} finished`);
  });
  const concurrentWallS = (performance.now() - started) / 1000;
  return {
    concurrentStarted: count,
    concurrentRuns: deployed,
    concurrentFailed: failed,
    concurrentWallS: round(concurrentWallS),
    concurrentStartS: round(concurrentStartS),
    concurrentRunsPerS: round(deployed / concurrentWallS),
  };
}

/** Calls `fn` on every item with at most `limit` calls in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** Nearest-rank percentile: the smallest value with at least q% of the values at or below it. */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((q / 100) * sorted.length))) - 1]!;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** How long the ready-made worker takes to start, with the prebundled workflow code and bundling at start. */
export interface WorkerStartFigures {
  /** Fork to ready (both task queues' workers created and running), median, seconds: with the prebundle. */
  workerStartS: number;
  /** The same, bundling the workflow code at start. */
  workerStartUnbundledS: number;
  /** workerStartS over workerStartUnbundledS. */
  workerStartVsUnbundled: number;
  workerStartRounds: number;
}

/**
 * Starts the ready-made worker in a fresh process `rounds` times each way, alternating, against the configured servers
 * (`bundlePath` is a bundle written by `writeWorkflowBundle`), and returns the medians.
 */
export async function measureWorkerStart(options: {
  config: MlopsConfig;
  bundlePath: string;
  rounds?: number;
  log?: (line: string) => void;
}): Promise<WorkerStartFigures> {
  const rounds = options.rounds ?? 5;
  const log = options.log ?? (() => undefined);
  const config: MlopsConfig = { ...options.config, workerMetricsPort: 0 };
  const prebundled: number[] = [];
  const unbundled: number[] = [];
  log(`worker start: ${rounds} fresh processes each, with the prebundle and bundling at start, alternating`);
  for (let i = 0; i < rounds; i++) {
    prebundled.push(await startWorkerOnce(config, options.bundlePath));
    unbundled.push(await startWorkerOnce(config, 'unbundled'));
    log(`  round ${i + 1}: ${prebundled.at(-1)!.toFixed(2)} s prebundled, ${unbundled.at(-1)!.toFixed(2)} s bundling at start`);
  }
  const workerStartS = round(percentile(prebundled, 50));
  const workerStartUnbundledS = round(percentile(unbundled, 50));
  return {
    workerStartS,
    workerStartUnbundledS,
    workerStartVsUnbundled: Math.round((workerStartS / workerStartUnbundledS) * 1000) / 1000,
    workerStartRounds: rounds,
  };
}

/** Forks src/bench/worker-start.ts and returns the seconds from fork to its ready message. */
function startWorkerOnce(config: MlopsConfig, mode: string): Promise<number> {
  const started = performance.now();
  const child = fork(require.resolve('./worker-start'), [mode], {
    env: { ...process.env, MLOPS_BENCH_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let readyS: number | undefined;
  child.on('message', () => (readyS ??= (performance.now() - started) / 1000));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code === 0 && readyS !== undefined) resolve(readyS);
      else reject(new Error(`the worker (${mode}) exited ${code} before it was ready: ${stderr.slice(-2000)}`));
    });
  });
}
