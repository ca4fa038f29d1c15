/**
 * Client-side operations shared by the CLI and user scripts: start a run, read its status, decide an
 * approval, and manage retraining schedules. Everything goes through Temporal's client.
 */
import { Client, Connection, ScheduleOverlapPolicy, WorkflowNotFoundError, type ScheduleDescription } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { MlopsConfig } from './config';
import { FailureType, MlopsError } from './errors';
import type { PipelineSpec } from './spec/pipeline';
import {
  type DecideRequest,
  decideUpdate,
  type GateAnswer,
  type PipelineRunInput,
  type PipelineRunResult,
  type PipelineRunStatus,
  pipelineRunWorkflow,
  pipelineStatusQuery,
  type Trigger,
} from './contracts';
import { activityName } from './contracts/activity-names';

/** Connects a Temporal client as configured, and checks that the server answers and the namespace exists; close it with `client.connection.close()`. */
export async function connectClient(config: MlopsConfig, options: { dataConverter?: DataConverter } = {}): Promise<Client> {
  const { address } = config.temporal.connection;
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: '5s' });
  } catch (err) {
    throw new MlopsError(
      FailureType.Unavailable,
      `Cannot reach Temporal at ${address}: ${(err as Error).message}. Start the local stack with "npm run stack:up", or set TEMPORAL_ADDRESS.`,
    );
  }
  const { namespace } = config.temporal;
  try {
    await connection.withDeadline(Date.now() + 10_000, () => connection.workflowService.describeNamespace({ namespace }));
  } catch (err) {
    await connection.close();
    const notFound = (err as { code?: number }).code === 5;
    throw new MlopsError(
      notFound ? FailureType.Configuration : FailureType.Unavailable,
      notFound
        ? `Temporal at ${address} has no namespace "${namespace}": create it (temporal operator namespace create ${namespace}) or set TEMPORAL_NAMESPACE.`
        : `Temporal at ${address} did not answer for namespace "${namespace}": ${(err as Error).message}`,
    );
  }
  return new Client({ connection, namespace, ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}) });
}

/** How long after its last poll a worker still counts as polling: a live worker's long poll lasts about a minute. */
const POLLER_FRESH_MS = 100_000;

/** Whether some worker polls `taskQueue` for workflow or activity tasks (seen within the last 100 s). */
export async function hasPollers(client: Client, taskQueue: string, kind: 'workflow' | 'activity'): Promise<boolean> {
  const res = await client.withDeadline(Date.now() + 10_000, () =>
    client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType:
        kind === 'workflow'
          ? temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
          : temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    }),
  );
  const now = Date.now();
  return (res.pollers ?? []).some((p) => now - (optionalTsToMs(p.lastAccessTime) ?? 0) < POLLER_FRESH_MS);
}

/** The warning shown when no worker polls a task queue, with what to do. */
export function noWorkerMessage(taskQueue: string, kind: 'workflow' | 'activity'): string {
  return (
    `no worker polls task queue "${taskQueue}" for ${kind} tasks: nothing moves until one does. ` +
    `Start one with "mlops worker" (with the same MLOPS_TASK_QUEUE and MLOPS_TRAINING_TASK_QUEUE).`
  );
}

/** Throws a clear error unless a worker polls both the orchestration and the training task queues. */
export async function requireWorkers(client: Client, config: MlopsConfig, needs: { training?: boolean } = {}): Promise<void> {
  const checks: [string, 'workflow' | 'activity'][] = [
    [config.taskQueue, 'workflow'],
    [config.taskQueue, 'activity'],
  ];
  if (needs.training) checks.push([config.trainingTaskQueue, 'activity']);
  for (const [queue, kind] of checks) {
    if (!(await hasPollers(client, queue, kind)))
      throw new MlopsError(FailureType.Unavailable, noWorkerMessage(queue, kind).replace(/^no/, 'No'));
  }
}

/** The id of a new pipeline run: `<model>-<trigger>-<time>`, readable in the Temporal UI. */
export function newRunId(model: string, trigger: Trigger, now = new Date()): string {
  return `${model}-${trigger}-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Starts a `pipelineRun`; returns its workflowId and runId. */
export async function startRun(
  client: Client,
  config: MlopsConfig,
  spec: PipelineSpec,
  opts: { requestedBy: string; trigger?: Trigger; workflowId?: string; reason?: string },
): Promise<{ workflowId: string; runId: string }> {
  const trigger = opts.trigger ?? 'manual';
  const input: PipelineRunInput = {
    spec,
    requestedBy: opts.requestedBy,
    trigger,
    trainingTaskQueue: config.trainingTaskQueue,
    reason: opts.reason,
    cardBaseUrl: config.cardBaseUrl,
  };
  const handle = await client.workflow.start(pipelineRunWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: opts.workflowId ?? newRunId(spec.model, trigger),
    args: [input],
    memo: { model: spec.model, trigger, requestedBy: opts.requestedBy },
    staticSummary: `${spec.model}: ${trigger} run requested by ${opts.requestedBy}`,
  });
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
}

/** A stage's activity that failed at least once and is retried: what `status` shows while it does. */
export interface RetryingActivity {
  activity: string;
  /** The attempt running or scheduled now (2 is the first retry). */
  attempt: number;
  /** Attempts allowed by the retry policy (0 for unlimited). */
  maximumAttempts: number;
  /** The message of the last attempt's failure. */
  lastError?: string;
  /** When the next attempt starts, while the activity waits out its backoff. */
  nextAttemptAt?: string;
}

/** A run's status and, while it trains, the training progress from the activity's heartbeat. */
export interface RunView {
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELED, TIMED_OUT, ... */
  execution: string;
  /** How the run stands in a word: running, or how it ended (deployed, validation-failed, rejected, failed, terminated, ...). */
  outcome: string;
  status?: PipelineRunStatus;
  trainingProgress?: number;
  /** Activities of the current stage that are being retried, with their attempt number and last error. */
  retrying?: RetryingActivity[];
  /** Why the run cannot move (no worker polls its task queues), while it runs. */
  workerWarnings?: string[];
  result?: PipelineRunResult;
  failure?: string;
  /** A link to open the run's model card (presigned, valid for a day), when the CLI can reach MinIO. */
  cardUrl?: string;
}

const EXECUTION_OUTCOME: Record<string, string> = {
  RUNNING: 'running',
  FAILED: 'failed',
  TERMINATED: 'terminated',
  CANCELLED: 'cancelled',
  CANCELED: 'cancelled',
  TIMED_OUT: 'timed out',
  CONTINUED_AS_NEW: 'continued as new',
};

/** Options of `describeRun`. */
export interface DescribeRunOptions {
  /** The training task queue, to say when no worker polls it while the run trains (default mlops-training). */
  trainingTaskQueue?: string;
}

/**
 * Reads a run's status query, its execution state, its training progress, the attempts and last errors
 * of activities being retried, and whether workers poll its task queues. The status query is skipped
 * when no worker could answer it (it would wait for one), and given ten seconds otherwise.
 */
export async function describeRun(client: Client, workflowId: string, options: DescribeRunOptions = {}): Promise<RunView> {
  const handle = client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new MlopsError(
        FailureType.NotFound,
        `No run with workflow id "${workflowId}"; list runs in the Temporal UI or with "temporal workflow list".`,
      );
    throw err;
  }
  const execution = description.status.name;
  const view: RunView = {
    workflowId,
    runId: description.runId,
    execution,
    outcome: EXECUTION_OUTCOME[execution] ?? execution.toLowerCase(),
  };
  const queue = description.taskQueue;
  const warnings: string[] = [];
  const workflowWorkers = await hasPollers(client, queue, 'workflow').catch(() => true);
  if (!workflowWorkers && execution === 'RUNNING') warnings.push(noWorkerMessage(queue, 'workflow'));
  if (workflowWorkers) {
    try {
      view.status = await client.withDeadline(Date.now() + 10_000, () => handle.query(pipelineStatusQuery));
    } catch {
      // A run that has not started its first task yet cannot answer queries; a busy worker may not answer in time.
    }
  }
  const pending = description.raw.pendingActivities ?? [];
  const converter = client.options.loadedDataConverter.payloadConverter;
  const training = pending.find((a) => activityName(a.activityType?.name ?? '') === 'trainModel');
  if (training?.heartbeatDetails?.payloads?.length) {
    const details = converter.fromPayload<{ progress?: number }>(training.heartbeatDetails.payloads[0]!);
    view.trainingProgress = typeof details?.progress === 'number' ? details.progress : undefined;
  }
  const retrying = pending
    .filter((a) => (a.attempt ?? 1) > 1 || a.lastFailure)
    .map((a): RetryingActivity => {
      const next = optionalTsToMs(a.nextAttemptScheduleTime);
      return {
        activity: activityName(a.activityType?.name ?? '?'),
        attempt: a.attempt ?? 1,
        maximumAttempts: a.maximumAttempts ?? 0,
        lastError: a.lastFailure?.message || a.lastFailure?.cause?.message || undefined,
        nextAttemptAt: next ? new Date(next).toISOString() : undefined,
      };
    });
  if (retrying.length) view.retrying = retrying;
  if (execution === 'RUNNING') {
    for (const a of pending) {
      if (a.state !== temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED) continue;
      const activityQueue =
        activityName(a.activityType?.name ?? '') === 'trainModel' ? (options.trainingTaskQueue ?? 'mlops-training') : queue;
      if (!(await hasPollers(client, activityQueue, 'activity').catch(() => true)))
        warnings.push(noWorkerMessage(activityQueue, 'activity'));
    }
  }
  if (warnings.length) view.workerWarnings = [...new Set(warnings)];
  if (execution === 'COMPLETED') {
    view.result = await handle.result();
    view.outcome = view.result?.status ?? 'completed';
  } else if (execution !== 'RUNNING') {
    view.failure = await handle.result().then(
      () => undefined,
      (err: Error) => (err.cause as Error | undefined)?.message ?? err.message,
    );
  }
  return view;
}

/** Sends an approve or reject decision through the `decide` Update and returns whether it was accepted. */
export async function decide(client: Client, workflowId: string, req: DecideRequest): Promise<GateAnswer> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    return await handle.executeUpdate(decideUpdate, { args: [req] });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      const state = await handle.describe().then(
        (d) => d.status.name,
        () => undefined,
      );
      if (state)
        throw new MlopsError(
          FailureType.InvalidInput,
          `Run "${workflowId}" has already ended (${state}); approvals are taken only while it waits at its approval gate.`,
        );
      throw new MlopsError(FailureType.NotFound, `No run with workflow id "${workflowId}".`);
    }
    const message = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    if (/not found|unknown update|no handler/i.test(message)) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Run "${workflowId}" is not waiting for an approval (it has not reached the approval gate, or needs none).`,
      );
    }
    throw err;
  }
}

/** The id of a model's retraining schedule. */
export function scheduleIdFor(model: string): string {
  return `retrain-schedule-${model}`;
}

const OVERLAP: Record<NonNullable<PipelineSpec['schedule']>['overlap'], ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

/** Creates a Temporal Schedule that starts `pipelineRun` (trigger `schedule`) as the spec's schedule says. */
export async function createSchedule(client: Client, config: MlopsConfig, spec: PipelineSpec, requestedBy = 'schedule'): Promise<string> {
  const s = spec.schedule;
  if (!s)
    throw new MlopsError(
      FailureType.InvalidInput,
      `The spec of "${spec.model}" has no schedule section; add schedule: { cron: "0 3 * * *" } or { interval: 1d }.`,
    );
  const scheduleId = scheduleIdFor(spec.model);
  const input: PipelineRunInput = {
    spec,
    requestedBy,
    trigger: 'schedule',
    trainingTaskQueue: config.trainingTaskQueue,
    reason: 'scheduled retraining',
  };
  await client.schedule.create({
    scheduleId,
    spec: s.cron ? { cronExpressions: [s.cron] } : { intervals: [{ every: s.interval! }] },
    action: {
      type: 'startWorkflow',
      workflowType: pipelineRunWorkflow,
      taskQueue: config.taskQueue,
      workflowId: `${spec.model}-schedule`,
      args: [input],
    },
    policies: { overlap: OVERLAP[s.overlap], catchupWindow: s.catchupWindow },
    state: { paused: s.paused, note: `Retraining of ${spec.model}` },
    memo: { model: spec.model },
  });
  return scheduleId;
}

/** A schedule, summarised for `mlops schedule list|describe`. */
export interface ScheduleView {
  scheduleId: string;
  paused: boolean;
  note?: string;
  spec: unknown;
  nextActionTimes: string[];
  recentActions: { scheduledAt: string; workflowId?: string }[];
}

/** Summarises a schedule's description. */
export function scheduleView(scheduleId: string, d: ScheduleDescription): ScheduleView {
  return {
    scheduleId,
    paused: d.state.paused,
    note: d.state.note,
    spec: d.spec,
    nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      workflowId: a.action.type === 'startWorkflow' ? a.action.workflow.workflowId : undefined,
    })),
  };
}
