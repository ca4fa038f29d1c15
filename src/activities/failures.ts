/**
 * Turns errors raised by the core into Temporal failures in one place: an `MlopsError` becomes an
 * `ApplicationFailure` of the same type, non-retryable when its type says so (src/errors.ts). A bug of
 * ours (a TypeError and the like) becomes a non-retryable `MlopsInternalError` with its stack logged,
 * because retrying runs the same code on the same input again; network errors stay retryable.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptors } from '@temporalio/worker';
import { bugMessage, FailureType, isMlopsError, isProgrammingError } from '../errors';

/** Converts an error thrown by an activity into the failure Temporal records. */
export function toFailure(err: unknown): unknown {
  if (isProgrammingError(err)) {
    const details = [{ error: err.name, message: err.message }];
    return ApplicationFailure.create({ message: bugMessage(err), type: FailureType.Bug, nonRetryable: true, details, cause: err });
  }
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
          if (isProgrammingError(err)) logBug(err);
          throw toFailure(err);
        }
      },
    },
  };
}

/** Logs a bug with its stack in the worker log, where the failure's message points. */
function logBug(err: Error): void {
  const fields = { error: err.name, message: err.message, stack: err.stack };
  try {
    Context.current().log.error('internal error in an activity (a bug in temporal-mlops; not retried)', fields);
  } catch {
    console.error('internal error in an activity (a bug in temporal-mlops; not retried)', fields);
  }
}
