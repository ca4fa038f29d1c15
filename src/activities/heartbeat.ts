/**
 * Heartbeats on a timer. A long stage (an external program that prints nothing for ten minutes, a
 * download, scoring a large holdout) must keep telling Temporal it is alive, or the heartbeat timeout
 * kills it and the retry starts over. The timer sends the latest details every few seconds; a worker
 * that dies stops its timer too, so it is still noticed within the heartbeat timeout.
 */
import { Context } from '@temporalio/activity';

/** How often the timer heartbeats; well under the heartbeat timeout the workflows set (7 s, src/workflows/options.ts). */
export const HEARTBEAT_EVERY_MS = 2_000;

/** The details a stage's heartbeats carry; `update` merges into them and heartbeats at once. */
export interface Heartbeat<T extends object> {
  /** The details sent with every heartbeat. */
  readonly details: T;
  /** Merges new details (progress, a checkpoint) and heartbeats now. */
  update(details: Partial<T>): void;
}

/**
 * Runs `work` while heartbeating every `HEARTBEAT_EVERY_MS` with the current details (and once at
 * the start), then stops the timer whatever the outcome. A heartbeat timeout shorter than three
 * periods shortens the period to a third of it, so the timer always beats in time.
 */
export async function withHeartbeat<T extends object, R>(
  initial: T,
  work: (beat: Heartbeat<T>) => Promise<R>,
  everyMs?: number,
): Promise<R> {
  const ctx = Context.current();
  const timeout = ctx.info.heartbeatTimeoutMs;
  everyMs ??= timeout ? Math.max(100, Math.min(HEARTBEAT_EVERY_MS, Math.floor(timeout / 3))) : HEARTBEAT_EVERY_MS;
  const details = { ...initial } as T;
  const beat: Heartbeat<T> = {
    details,
    update(next) {
      Object.assign(details, next);
      ctx.heartbeat({ ...details });
    },
  };
  ctx.heartbeat({ ...details });
  const timer = setInterval(() => ctx.heartbeat({ ...details }), everyMs);
  try {
    return await work(beat);
  } finally {
    clearInterval(timer);
  }
}
