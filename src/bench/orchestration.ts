/**
 * Orchestration benchmark: what Temporal adds to a pipeline run when the stages themselves cost nothing.
 * The real `pipelineRun` workflow bundle runs against a real Temporal and MinIO, with every stage
 * activity replaced by one that hands back prepared references (real artifacts, stored once) at once.
 *
 * - Overhead per stage: runs one at a time; for each stage, the time from the previous stage's
 *   result being recorded in the history (the run's start, for the first stage) to this stage's result
 *   being recorded, minus the activity function's own time as measured inside it.
 * - Throughput: many runs started together, counted until every one has returned its result.
 *
 * scripts/bench.mjs runs it through src/bench/run.ts, which starts the servers.
 */
import { performance } from 'node:perf_hooks';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { DeployResult, EvaluateResult, IngestResult, pipelineRunWorkflow, ServabilityResult, TrainResult } from '../contracts';
import { connectClient, startRun } from '../client';
import type { MlopsConfig } from '../config';
import { parsePipelineSpec, type PipelineSpec } from '../spec/pipeline';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { activityName, namespacedActivities } from '../contracts/activity-names';

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

/** The stages that are activities when approval is not required and no monitor is enabled. */
export const MEASURED_STAGES = ['ingestDataset', 'trainModel', 'evaluateCandidate', 'checkServability', 'deployCandidate'] as const;

/** What `runOrchestrationBench` measured. Percentiles are nearest-rank over the measured runs. */
export interface OrchestrationBenchResult extends ThroughputFigures {
  /** Overhead per stage (see the module comment), p50 and p95 over every stage of every measured run, ms. */
  stageOverheadP50Ms: number;
  stageOverheadP95Ms: number;
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

/** Runs the overhead and throughput measurements on one pair of workers. */
export async function runOrchestrationBench(options: OrchestrationBenchOptions): Promise<OrchestrationBenchResult> {
  const o = { runs: options.runs ?? 200, warmupRuns: options.warmupRuns ?? 10, concurrent: options.concurrent ?? 1000 };
  return withBenchWorkers(options, async (bench) => {
    const overhead = await measureOverhead(bench, o.runs, o.warmupRuns);
    const together = await measureThroughput(bench, o.concurrent);
    return { ...overhead, ...together, workerOptions: JSON.stringify(bench.tuning) };
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
  const orchestration = await Worker.create({
    ...common,
    taskQueue: config.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: namespacedActivities(activities.stages),
    ...tuning,
  });
  const training = await Worker.create({
    ...common,
    taskQueue: config.trainingTaskQueue,
    activities: namespacedActivities({ trainModel: activities.trainModel }),
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

type OverheadFigures = Omit<OrchestrationBenchResult, keyof ThroughputFigures | 'workerOptions'>;

/** Runs one at a time and reads each history for the per-stage overhead. */
async function measureOverhead(bench: BenchContext, runs: number, warmupRuns: number): Promise<OverheadFigures> {
  const { client, config, spec, tag, log } = bench;
  log(`warm-up: ${warmupRuns} runs`);
  for (let i = 0; i < warmupRuns; i++) await oneRun(client, config, spec, `bench-warmup-${tag}-${i}`);

  log(`overhead: ${runs} runs, one at a time`);
  const measured: RunTiming[] = [];
  for (let i = 0; i < runs; i++) {
    const workflowId = `bench-overhead-${tag}-${i}`;
    const roundTripMs = await oneRun(client, config, spec, workflowId);
    measured.push(await timingFromHistory(client, workflowId, roundTripMs, bench.ownMs));
    if ((i + 1) % 50 === 0) log(`  ${i + 1}/${runs} runs`);
  }

  const stages = measured.flatMap((m) => m.stages);
  const p = (values: number[], q: number) => round(percentile(values, q));
  return {
    stageOverheadP50Ms: p(
      stages.map((s) => s.overheadMs),
      50,
    ),
    stageOverheadP95Ms: p(
      stages.map((s) => s.overheadMs),
      95,
    ),
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
    activityOwnP50Ms:
      Math.round(
        percentile(
          measured.map((m) => m.activityOwnMs),
          50,
        ) * 1000,
      ) / 1000,
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
  const [snapshot, profile, report, model] = await Promise.all(
    ['snapshot', 'profile', 'report', 'model'].map((kind) => store.putJson({ bench: 'orchestration', kind })),
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
    <T>(body: () => T) =>
    async (): Promise<T> => {
      const started = performance.now();
      const out = body();
      const { workflowExecution, activityId } = Context.current().info;
      ownMs.set(`${workflowExecution?.workflowId}/${activityId}`, performance.now() - started);
      return out;
    };
  return {
    ownMs,
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

interface RunTiming {
  roundTripMs: number;
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
async function timingFromHistory(client: Client, workflowId: string, roundTripMs: number, ownMs: Map<string, number>): Promise<RunTiming> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
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
    if (event.workflowExecutionStartedEventAttributes) startedAt = previous = at;
    else if (event.workflowTaskScheduledEventAttributes) taskScheduledAt = at;
    else if (event.workflowTaskStartedEventAttributes) taskStartedAt = at;
    else if (event.workflowTaskCompletedEventAttributes)
      workflowTasks.push({ dispatchMs: taskStartedAt - taskScheduledAt, processingMs: at - taskStartedAt });
    else if (event.workflowExecutionCompletedEventAttributes) closedAt = at;
    else if (event.activityTaskScheduledEventAttributes) {
      const a = event.activityTaskScheduledEventAttributes;
      scheduled.set(String(event.eventId), { name: activityName(a.activityType?.name ?? '?'), activityId: a.activityId ?? '', at });
    } else if (event.activityTaskCompletedEventAttributes) {
      const s = scheduled.get(String(event.activityTaskCompletedEventAttributes.scheduledEventId));
      if (!s || previous === undefined) throw new Error(`${workflowId}: activity completion without its scheduling`);
      const own = ownMs.get(`${workflowId}/${s.activityId}`);
      if (own === undefined) throw new Error(`${workflowId}: no own time recorded for ${s.name}`);
      activityOwnMs += own;
      stages.push({ name: s.name, overheadMs: at - previous - own, activityOverheadMs: at - s.at - own });
      previous = at;
    }
  }
  if (startedAt === undefined || closedAt === undefined) throw new Error(`${workflowId}: history has no start or completion`);
  if (stages.length !== MEASURED_STAGES.length)
    throw new Error(`${workflowId}: expected ${MEASURED_STAGES.length} stages, found ${stages.length}`);
  return { roundTripMs, runOverheadMs: closedAt - startedAt - activityOwnMs, activityOwnMs, stages, workflowTasks };
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
