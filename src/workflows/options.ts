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

/** Options for short storage-bound activities. */
export const storageActivity: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: defaultRetry,
};
