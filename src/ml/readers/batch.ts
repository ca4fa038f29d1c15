/** The unit every reader produces: a batch of rows with their positions in the source, for error messages. */
import { FailureType, MlopsError } from '../../errors';

/** One row as read: column name to raw value (strings from CSV, JSON values, Parquet values). */
export type Row = Record<string, unknown>;

/** Consecutive rows of one source. */
export interface RowBatch {
  /** Column names seen in this batch (the header for CSV and Parquet; the union of keys for JSON). */
  columns: string[];
  rows: Row[];
  /** 1-based row number of `rows[0]` (data rows, not counting a CSV header). */
  firstRow: number;
  /** 1-based line of the source where each row starts (Parquet: the row number). */
  lines: number[];
}

/** Rows per batch: large enough to amortise async overhead, small enough to keep memory flat. */
export const DEFAULT_BATCH_ROWS = 4096;

/** The `MlopsInvalidInput` raised for a malformed source, naming the source and the line. */
export function malformed(source: string, line: number | undefined, message: string, hint?: string): MlopsError {
  const where = line === undefined ? source : `${source} line ${line}`;
  return new MlopsError(FailureType.InvalidInput, `${where}: ${message}${hint ? `. ${hint}` : ''}`, { source, line });
}
