/**
 * Client-side operations shared by the CLI and user scripts: start a run, read its status, decide an
 * approval, and manage retraining schedules. Everything goes through Temporal's client.
 */
import { Client, Connection, ScheduleOverlapPolicy, WorkflowNotFoundError, type ScheduleDescription } from '@temporalio/client';
import type { MlopsConfig } from './config';
import { FailureType, MlopsError } from './errors';
import type { PipelineSpec } from './spec/pipeline';
import { decideUpdate, pipelineStatusQuery, type DecideRequest } from './workflows/definitions';
import type { GateAnswer } from './workflows/approval-gate';
import type { PipelineRunInput, PipelineRunResult, PipelineRunStatus, Trigger } from './workflows/types';

/** Connects a Temporal client as configured; close it with `client.connection.close()`. */
export async function connectClient(config: MlopsConfig): Promise<Client> {
  try {
    const connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (err) {
    throw new MlopsError(
      FailureType.Unavailable,
      `Cannot reach Temporal at ${config.temporal.connection.address}: ${(err as Error).message}. Start the local stack with "npm run stack:up", or set TEMPORAL_ADDRESS.`,
    );
  }
}

/** The id of a new pipeline run: `<model>-<trigger>-<time>`, readable in the Temporal UI. */
export function newRunId(model: string, trigger: Trigger, now = new Date()): string {
  return `${model}-${trigger}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Starts a `pipelineRun`; returns its workflowId and runId. */
export async function startRun(
  client: Client,
  config: MlopsConfig,
  spec: PipelineSpec,
  opts: { requestedBy: string; trigger?: Trigger; workflowId?: string; reason?: string },
): Promise<{ workflowId: string; runId: string }> {
  const trigger = opts.trigger ?? 'manual';
  const input: PipelineRunInput = { spec, requestedBy: opts.requestedBy, trigger, trainingTaskQueue: config.trainingTaskQueue, reason: opts.reason };
  const handle = await client.workflow.start('pipelineRun', {
    taskQueue: config.taskQueue,
    workflowId: opts.workflowId ?? newRunId(spec.model, trigger),
    args: [input],
    memo: { model: spec.model, trigger, requestedBy: opts.requestedBy },
    staticSummary: `${spec.model}: ${trigger} run requested by ${opts.requestedBy}`,
  });
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
}

/** A run's status and, while it trains, the training progress from the activity's heartbeat. */
export interface RunView {
  workflowId: string;
  runId: string;
  execution: string;
  status?: PipelineRunStatus;
  trainingProgress?: number;
  result?: PipelineRunResult;
  failure?: string;
  /** A link to open the run's model card (presigned, valid for a day), when the CLI can reach MinIO. */
  cardUrl?: string;
}

/** Reads a run's status query, its execution state, and its training progress. */
export async function describeRun(client: Client, workflowId: string): Promise<RunView> {
  const handle = client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new MlopsError(FailureType.NotFound, `No run with workflow id "${workflowId}"; list runs in the Temporal UI or with "temporal workflow list".`);
    throw err;
  }
  const view: RunView = { workflowId, runId: description.runId, execution: description.status.name };
  try {
    view.status = await handle.query(pipelineStatusQuery);
  } catch {
    // A run that has not started its first task yet cannot answer queries.
  }
  const raw = description.raw.pendingActivities ?? [];
  const training = raw.find((a) => a.activityType?.name === 'trainModel');
  if (training?.heartbeatDetails?.payloads?.length) {
    const [details] = await Promise.all([client.options.loadedDataConverter.payloadConverter.fromPayload<{ progress?: number }>(training.heartbeatDetails.payloads[0]!)]);
    view.trainingProgress = typeof details?.progress === 'number' ? details.progress : undefined;
  }
  if (description.status.name === 'COMPLETED') view.result = await handle.result();
  else if (description.status.name !== 'RUNNING') {
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
      if (state) throw new MlopsError(FailureType.InvalidInput, `Run "${workflowId}" has already ended (${state}); approvals are taken only while it waits at its approval gate.`);
      throw new MlopsError(FailureType.NotFound, `No run with workflow id "${workflowId}".`);
    }
    const message = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    if (/not found|unknown update|no handler/i.test(message)) {
      throw new MlopsError(FailureType.InvalidInput, `Run "${workflowId}" is not waiting for an approval (it has not reached the approval gate, or needs none).`);
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
  if (!s) throw new MlopsError(FailureType.InvalidInput, `The spec of "${spec.model}" has no schedule section; add schedule: { cron: "0 3 * * *" } or { interval: 1d }.`);
  const scheduleId = scheduleIdFor(spec.model);
  const input: PipelineRunInput = { spec, requestedBy, trigger: 'schedule', trainingTaskQueue: config.trainingTaskQueue, reason: 'scheduled retraining' };
  await client.schedule.create({
    scheduleId,
    spec: s.cron ? { cronExpressions: [s.cron] } : { intervals: [{ every: s.interval! }] },
    action: { type: 'startWorkflow', workflowType: 'pipelineRun', taskQueue: config.taskQueue, workflowId: `${spec.model}-schedule`, args: [input] },
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
    recentActions: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.type === 'startWorkflow' ? a.action.workflow.workflowId : undefined })),
  };
}
