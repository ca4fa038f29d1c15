/**
 * Liveness of every activity, whatever its stage does, so a dead worker is noticed in seconds and a
 * stopping worker hands its activities back at once.
 *
 * - A timer heartbeats every 2 s for as long as the activity runs, re-sending the details the activity
 *   last heartbeated (its progress, its checkpoint), so the timer never erases them. The workflows'
 *   heartbeat timeout (src/workflows/options.ts) can then be a few seconds in every stage, not minutes.
 * - When the worker shuts down (SIGTERM, SIGINT), the SDK cancels running activities with
 *   `WORKER_SHUTDOWN`. The activity is failed at once with a retryable failure, so Temporal schedules
 *   the next attempt on another worker now, instead of waiting out the heartbeat timeout.
 */
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** How often the liveness timer heartbeats. */
export const LIVENESS_EVERY_MS = 2_000;

/** The failure type of an attempt handed back by a worker that is shutting down (retryable). */
export const WORKER_SHUTDOWN_FAILURE = 'MlopsWorkerShutdown';

/** The interceptor factory; add it to a worker's activity interceptors (the plugin does). */
export function livenessInterceptor(everyMs = LIVENESS_EVERY_MS): ActivityInterceptorsFactory {
  return (ctx: Context) => ({
    inbound: {
      async execute(input, next) {
        if (ctx.info.isLocal) return next(input);
        // Start from the previous attempt's details, so a beat before the activity's own keeps its checkpoint.
        let last: unknown = ctx.info.heartbeatDetails;
        const send = ctx.heartbeat;
        (ctx as { heartbeat: (details?: unknown) => void }).heartbeat = (details?: unknown) => {
          last = details;
          send(details);
        };
        const timer = setInterval(() => send(last), everyMs);
        let stop!: (err: unknown) => void;
        const handedBack = new Promise<never>((_, reject) => (stop = reject));
        ctx.cancelled.catch((err: Error) => {
          if (err?.message === 'WORKER_SHUTDOWN') {
            stop(
              ApplicationFailure.retryable(
                `the worker running ${ctx.info.activityType} is shutting down; another worker takes this activity over`,
                WORKER_SHUTDOWN_FAILURE,
              ),
            );
          }
        });
        try {
          return await Promise.race([next(input), handedBack]);
        } finally {
          clearInterval(timer);
        }
      },
    },
  });
}
