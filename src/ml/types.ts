/**
 * Shared types of the ML core. The core never imports Temporal; activities adapt it.
 *
 * A `Frame` is a materialised table in columns: numeric, boolean and datetime columns are Float64Array
 * (NaN marks a missing value; booleans are 0/1; datetimes are epoch milliseconds, UTC), categorical
 * columns are arrays of strings with null for missing.
 */

/** The kind of a column, as declared in the pipeline spec or inferred and frozen into a snapshot. */
export type ColumnType = 'numeric' | 'categorical' | 'boolean' | 'datetime';

/** One column of a dataset schema, with its optional validation constraints. */
export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** Smallest allowed value (numeric, datetime as ISO string or epoch ms). */
  min?: number;
  /** Largest allowed value. */
  max?: number;
  /** Allowed categories (categorical); values outside are "unseen categories". */
  allowed?: string[];
  /** Largest acceptable fraction of missing values, 0..1 (default: 0 for the target, 1 otherwise). */
  maxNullRate?: number;
}

/** Whether a model predicts a class or a number. */
export type Task = 'classification' | 'regression';

/** The schema of a dataset: its columns, the target and the features a model uses. */
export interface DatasetSchema {
  columns: ColumnSpec[];
  target: string;
  features: string[];
  task: Task;
}

/** A column's values in memory. */
export type Column = Float64Array | (string | null)[];

/** A materialised table, column by column. */
export interface Frame {
  rowCount: number;
  columns: Record<string, Column>;
}

/** Receives training progress as a fraction in [0, 1]. */
export type ProgressCallback = (fraction: number, message?: string) => void;

/** Where a trainer saves and loads its checkpoint, so a killed training resumes instead of restarting. */
export interface CheckpointStore {
  load(): Promise<unknown | undefined>;
  save(state: unknown): Promise<void>;
}

// ---- rollout evidence (src/ml/rollout.ts computes it; the rollout workflow reads it) ----

/** One logged prediction of a rollout, as the evidence reads it. */
export interface RolloutPrediction {
  /** The prediction id; a shadow's record carries the id of the champion's answer it mirrors. */
  id: string;
  version: number;
  /** Which side answered: the champion, the canary candidate, or the shadow (logged, never returned). */
  role?: 'champion' | 'candidate' | 'shadow';
  latencyMs?: number;
  /** Set when the prediction failed (the request was answered with an error). */
  error?: string;
  output?: { label?: string; probabilities?: Record<string, number>; value?: number };
  /** The ground truth sent as feedback, when it arrived. */
  label?: string | number | null;
}

/** What one version did during a step. */
export interface VersionEvidence {
  version: number;
  /** Predictions it made (answered or, for a shadow, mirrored). */
  requests: number;
  /** Of those, predictions that failed. */
  errors: number;
  /** errors / requests; 0 with no requests. */
  errorRate: number;
  /** 99th percentile of its prediction latency (nearest rank), when any latency was logged. */
  p99LatencyMs?: number;
  /** Successful predictions whose label arrived. */
  labelled: number;
  /** The compared metric on those rows, when there are some. */
  metric?: number;
}

/** Both versions' evidence over one step. */
export interface RolloutEvidence {
  /** The compared metric's name, when the rollout compares one. */
  metric?: string;
  champion: VersionEvidence;
  candidate: VersionEvidence;
  /** True for a shadow: both versions are measured on the same prediction ids. */
  sameRequests: boolean;
}

/** What a step of a rollout needs, and how it compares the versions (durations in milliseconds). */
export interface StepPolicy {
  minRequests: number;
  minLabelled: number;
  /** How long a step waits for minRequests. */
  maxWaitMs: number;
  /** How long a step waits for minLabelled, from its start (not below maxWaitMs). */
  labelBoundMs: number;
  metric?: string;
  tolerance: number;
  maxErrorRateIncrease: number;
  maxP99Ratio: number;
  p99SlackMs: number;
}

/**
 * A step's verdict: `pass` (the candidate did no worse on everything compared), `fail` (it did worse on something:
 * roll back), `wait` (not enough evidence yet, time left), `expired` (not enough evidence and no time left).
 * `reasons` says why in sentences a person reads in the status.
 */
export interface StepVerdict {
  decision: 'pass' | 'fail' | 'wait' | 'expired';
  reasons: string[];
}
