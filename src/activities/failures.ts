/**
 * Turns errors raised by the core into Temporal failures in one place: an `MlopsError` becomes an
 * `ApplicationFailure` of the same type, non-retryable when its type says so (src/errors.ts).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptors } from '@temporalio/worker';
import { isMlopsError } from '../errors';

/** Converts an error thrown by an activity into the failure Temporal records. */
export function toFailure(err: unknown): unknown {
  if (!isMlopsError(err)) return err;
  return ApplicationFailure.create({
    message: err.message,
    type: err.type,
    nonRetryable: !err.retryable,
    details: err.details ? [err.details] : undefined,
    cause: err.cause instanceof Error ? err.cause : undefined,
  });
}

/** Activity interceptor factory applying `toFailure` to every activity of the worker. */
export function failureInterceptor(): ActivityInterceptors {
  return {
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (err) {
          throw toFailure(err);
        }
      },
    },
  };
}
