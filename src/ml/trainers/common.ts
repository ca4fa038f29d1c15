/**
 * What the built-in trainers share: hyperparameter validation, target encoding, throttled progress,
 * checkpoint cadence and cancellation between iterations.
 */
import { z } from 'zod';
import { FailureType, MlopsError } from '../../errors';
import type { CheckpointStore, DatasetSchema, Frame, ProgressCallback } from '../types';
import { categoricalColumn, columnSpec, numericColumn } from '../preprocess';
import type { TrainInput } from './model';

/** Validates hyperparameters against a zod schema, failing with the offending parameter's name. */
export function parseParams<T extends z.ZodType>(trainer: string, schema: T, params: Record<string, unknown>): z.infer<T> {
  const result = schema.safeParse(params ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((k) => `"${k}"`).join(', ');
    throw new MlopsError(
      FailureType.InvalidInput,
      `Unknown parameter ${names} for trainer ${trainer}; known parameters: ${Object.keys(shapeOf(schema)).join(', ')}.`,
      {
        trainer,
        params: issue.keys,
      },
    );
  }
  const name = issue.path.map(String).join('.') || '(params)';
  throw new MlopsError(FailureType.InvalidInput, `Invalid parameter "${name}" for trainer ${trainer}: ${issue.message}.`, {
    trainer,
    param: name,
  });
}

function shapeOf(schema: z.ZodType): Record<string, unknown> {
  const s = schema as unknown as { shape?: Record<string, unknown> };
  return s.shape ?? {};
}

/** A classification target as class indices into sorted `classes`; missing labels are an error. */
export interface ClassTarget {
  classes: string[];
  y: Int32Array;
}

/**
 * Reads the target of a classification frame. Numeric and boolean targets become text labels ("1", "true").
 * With known `classes` and `unknown: 'skip'`, a label outside them (or missing) is -1 instead of an error.
 */
export function classTarget(frame: Frame, schema: DatasetSchema, classes?: string[], unknown: 'error' | 'skip' = 'error'): ClassTarget {
  const labels = targetLabels(frame, schema);
  const known = classes ?? [...new Set(labels.filter((l): l is string => l !== null))].sort();
  const index = new Map(known.map((c, k) => [c, k]));
  const y = new Int32Array(frame.rowCount);
  for (let i = 0; i < y.length; i++) {
    const label = labels[i];
    const k = label === null ? undefined : index.get(label);
    if (k === undefined && unknown === 'skip') {
      y[i] = -1;
      continue;
    }
    if (k === undefined) {
      const why = label === null ? 'is missing' : `is "${label}", a class not seen in training`;
      throw new MlopsError(
        FailureType.InvalidInput,
        `The target "${schema.target}" of row ${i} ${why}; drop or fix such rows before training.`,
        { row: i, target: schema.target },
      );
    }
    y[i] = k;
  }
  if (!classes && known.length < 2) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `The target "${schema.target}" has ${known.length} class(es) in the training data; classification needs at least two.`,
      {
        target: schema.target,
        classes: known,
      },
    );
  }
  return { classes: known, y };
}

function targetLabels(frame: Frame, schema: DatasetSchema): (string | null)[] {
  const spec = columnSpec(schema, schema.target);
  if (spec.type === 'categorical') return categoricalColumn(frame, schema.target);
  const values = numericColumn(frame, schema.target, spec.type);
  return Array.from(values, (v) => (Number.isNaN(v) ? null : spec.type === 'boolean' ? String(v === 1) : String(v)));
}

/** Reads a regression target; a missing value is an error. */
export function numericTarget(frame: Frame, schema: DatasetSchema): Float64Array {
  const spec = columnSpec(schema, schema.target);
  if (spec.type !== 'numeric') {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Regression needs a numeric target, but "${schema.target}" is ${spec.type}; set task: classification or change the target.`,
      {
        target: schema.target,
      },
    );
  }
  const y = numericColumn(frame, schema.target, 'numeric');
  const missing = y.findIndex((v) => Number.isNaN(v));
  if (missing >= 0) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `The target "${schema.target}" of row ${missing} is missing; drop or fix such rows before training.`,
      { row: missing, target: schema.target },
    );
  }
  return y;
}

/** Fails early on inputs no trainer can use. */
export function checkTrainInput(input: TrainInput): void {
  if (input.train.rowCount === 0) throw new MlopsError(FailureType.InvalidInput, 'The training data has no rows.');
  if (input.schema.features.length === 0)
    throw new MlopsError(FailureType.InvalidInput, 'The schema lists no features; name at least one in features.');
  if (input.schema.features.includes(input.schema.target)) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `The target "${input.schema.target}" is also listed as a feature; remove it from features.`,
      { target: input.schema.target },
    );
  }
}

/**
 * Reports progress at most once per `intervalMs` (and always at 1), checkpoints on a cadence, honours
 * cancellation, and yields to the event loop so heartbeats and other I/O keep flowing during a long fit.
 */
export class TrainingLoop {
  private lastProgress = -Infinity;
  private lastSaveAt = Date.now();
  private lastSaveIteration: number;
  private readonly everyIterations: number;
  private readonly everyMs: number;

  constructor(
    private readonly input: Pick<TrainInput, 'onProgress' | 'checkpoint' | 'checkpointEvery' | 'signal'>,
    startIteration: number,
    private readonly intervalMs = 500,
  ) {
    this.lastSaveIteration = startIteration;
    this.everyIterations = input.checkpointEvery?.iterations ?? 25;
    this.everyMs = (input.checkpointEvery?.seconds ?? 10) * 1000;
  }

  /** Reports progress (throttled) and gives the event loop a turn; throws if cancelled. */
  async progress(fraction: number, message?: string): Promise<void> {
    this.throwIfAborted();
    const now = Date.now();
    if (fraction < 1 && now - this.lastProgress < this.intervalMs) return;
    this.lastProgress = now;
    const cb: ProgressCallback | undefined = this.input.onProgress;
    cb?.(Math.min(1, Math.max(0, fraction)), message);
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.throwIfAborted();
  }

  /** Saves `state()` when enough iterations or time have passed since the last save. */
  async maybeCheckpoint(iteration: number, state: () => unknown): Promise<void> {
    const store: CheckpointStore | undefined = this.input.checkpoint;
    if (!store) return;
    const due = iteration - this.lastSaveIteration >= this.everyIterations || Date.now() - this.lastSaveAt >= this.everyMs;
    if (!due) return;
    await store.save(state());
    this.lastSaveIteration = iteration;
    this.lastSaveAt = Date.now();
  }

  throwIfAborted(): void {
    const signal = this.input.signal;
    if (signal?.aborted) throw signal.reason ?? new Error('Training was cancelled.');
  }
}

/**
 * Loads a checkpoint and keeps it only if it was written by the same training (same trainer, resolved
 * parameters, seed and data shape); anything else is ignored, and training starts over.
 */
export async function loadCheckpoint<T extends { fingerprint: string }>(
  store: CheckpointStore | undefined,
  fingerprint: string,
): Promise<T | undefined> {
  if (!store) return undefined;
  const saved = (await store.load()) as T | undefined;
  if (!saved || typeof saved !== 'object' || saved.fingerprint !== fingerprint) return undefined;
  return saved;
}

/** Identifies a training, so a checkpoint from another one is never resumed. */
export function trainingFingerprint(kind: string, params: unknown, input: TrainInput): string {
  return JSON.stringify({
    kind,
    params,
    seed: input.seed,
    rows: input.train.rowCount,
    validationRows: input.validation?.rowCount ?? 0,
    features: input.schema.features,
    target: input.schema.target,
  });
}
