/**
 * A built-in trainer on a thread of its own (training-thread.ts): the thread reads the training side of the
 * snapshot and fits the model, so the calling thread's event loop stays free while it runs. The activity's
 * liveness heartbeat fires on that event loop: a fit that held it (gbdt rounds take seconds on millions of
 * rows) would be taken for a dead worker. Progress and checkpoints come back as messages; cancelling kills
 * the thread at once.
 */
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { FailureType, MlopsError, isMlopsError, type FailureTypeName } from '../../errors';
import { startModuleThread } from '../../threads';
import type { SplitSpec } from '../dataset';
import type { CheckpointStore, DatasetSchema, ProgressCallback } from '../types';
import type { Model, TrainerName } from './model';

/** What the training thread is given: where the snapshot is and what to fit on its training side. */
export interface ThreadTrainRequest {
  /** A local snapshot file (Parquet, or the JSON lines of older snapshots). */
  snapshot: string;
  schema: DatasetSchema;
  split: SplitSpec;
  trainer: TrainerName;
  params: Record<string, unknown>;
  seed: number;
  checkpointEvery?: { iterations?: number; seconds?: number };
  /** Whether the thread has a checkpoint store (the calling thread keeps the store itself). */
  checkpoint: boolean;
}

/** What the calling thread does for the training thread. */
export interface ThreadTrainHooks {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Called once the training side is read, with its row count. */
  onLoaded?: (rows: number) => void;
  checkpoint?: CheckpointStore;
}

/** An error as it crosses between threads: enough to raise the same kind of error again. */
export interface ThreadError {
  name: string;
  message: string;
  stack?: string;
  type?: FailureTypeName;
  details?: Record<string, unknown>;
}

/** Messages from the training thread. */
export type FromTrainer =
  | { kind: 'loaded'; rows: number }
  | { kind: 'progress'; fraction: number; message?: string }
  | { kind: 'load-checkpoint'; id: number }
  | { kind: 'save-checkpoint'; id: number; state: unknown }
  | { kind: 'done'; model: Model; rows: number }
  | { kind: 'failed'; error: ThreadError };

/** Replies to the training thread's checkpoint requests. */
export type ToTrainer = { kind: 'reply'; id: number; value?: unknown; error?: ThreadError };

export function toThreadError(err: unknown): ThreadError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const out: ThreadError = { name: err.name, message: err.message, stack: err.stack };
  if (isMlopsError(err)) Object.assign(out, { type: err.type, details: err.details });
  return out;
}

/** The error again, of its kind: an `MlopsError` keeps its type, a `TypeError` stays a `TypeError` (a bug, not an outage). */
export function fromThreadError(e: ThreadError): Error {
  const Kind = { TypeError, RangeError, ReferenceError, SyntaxError }[e.name];
  const err = e.type
    ? new MlopsError(e.type, e.message, e.details)
    : Kind
      ? new Kind(e.message)
      : Object.assign(new Error(e.message), { name: e.name });
  if (e.stack) err.stack = e.stack;
  return err;
}

/** The training thread's module (training-thread.ts, or its compiled .js). */
const THREAD_FILE = join(__dirname, 'training-thread');

/** Fits `request.trainer` on the training side of the snapshot, on a thread of its own. */
export function trainInThread(request: ThreadTrainRequest, hooks: ThreadTrainHooks = {}): Promise<{ model: Model; rows: number }> {
  const { signal } = hooks;
  if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('Training was cancelled.'));
  return new Promise((resolve, reject) => {
    let settled = false;
    const thread: Worker = startModuleThread(THREAD_FILE, { workerData: request, name: `train-${request.trainer}` });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
      void thread.terminate();
    };
    const onAbort = () => finish(() => reject(signal!.reason ?? new Error('Training was cancelled.')));
    signal?.addEventListener('abort', onAbort, { once: true });
    const reply = (message: ToTrainer) => {
      if (!settled) thread.postMessage(message);
    };
    const serve = async (id: number, work: () => Promise<unknown>) => {
      try {
        reply({ kind: 'reply', id, value: await work() });
      } catch (err) {
        reply({ kind: 'reply', id, error: toThreadError(err) });
      }
    };
    thread.on('message', (m: FromTrainer) => {
      switch (m.kind) {
        case 'loaded':
          return hooks.onLoaded?.(m.rows);
        case 'progress':
          return hooks.onProgress?.(m.fraction, m.message);
        case 'load-checkpoint':
          return void serve(m.id, async () => hooks.checkpoint?.load());
        case 'save-checkpoint':
          return void serve(m.id, async () => hooks.checkpoint?.save(m.state));
        case 'done':
          return finish(() => resolve({ model: m.model, rows: m.rows }));
        case 'failed':
          return finish(() => reject(fromThreadError(m.error)));
      }
    });
    thread.on('error', (err) => finish(() => reject(threadDied(request, err))));
    thread.on('exit', (code) => finish(() => reject(threadDied(request, new Error(`it exited with code ${code}`)))));
  });
}

function threadDied(request: ThreadTrainRequest, err: Error): Error {
  // Out of memory is a property of the data and the machine: retrying on the same worker ends the same way.
  if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new MlopsError(
      FailureType.Trainer,
      `The ${request.trainer} training thread ran out of memory; give the training worker more memory, sample the data, or train ` +
        `outside the worker (trainer: command, see docs/scaling.md).`,
      { trainer: request.trainer },
    );
  }
  return new Error(`The ${request.trainer} training thread stopped: ${err.message}`, { cause: err });
}
