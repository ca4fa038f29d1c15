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
