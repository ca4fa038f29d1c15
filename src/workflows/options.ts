/** Activity options shared by the workflows: timeouts and the retry policy naming non-retryable failure types. */
import type { ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURE_TYPES } from '../errors';

/** Retries transient failures (MinIO down, network) with backoff; never retries bad input or integrity errors. */
export const defaultRetry: NonNullable<ActivityOptions['retry']> = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 20,
  nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
};

/**
 * How long Temporal waits for a heartbeat before it counts the activity's worker as dead and retries.
 * Every activity heartbeats every 2 s on a timer (src/activities/liveness.ts), so 7 s tolerates a few
 * late beats, and the retry (1 s backoff) starts within about 8 s of a worker's death, in every stage.
 */
export const HEARTBEAT_TIMEOUT = '7 seconds';

/** Options for short storage-bound activities. */
export const storageActivity: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: defaultRetry,
};

/** Options for the lifecycle stages that run on the orchestration task queue (ingest, validate, deploy, monitor). */
export const stageActivity: ActivityOptions = {
  ...storageActivity,
  startToCloseTimeout: '30 minutes',
};

/** Options for training, on its own task queue; a retry resumes from the last checkpoint in the heartbeat. */
export function trainingActivity(taskQueue: string): ActivityOptions {
  return { taskQueue, startToCloseTimeout: '12 hours', heartbeatTimeout: HEARTBEAT_TIMEOUT, retry: defaultRetry };
}
