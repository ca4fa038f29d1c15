/**
 * Converts a batch of raw rows into typed columns once, so validation and profiling (which usually
 * run in the same pass) share the work. Invalid values are kept aside with their raw text.
 */
import type { RowBatch } from './readers/batch';
import type { ColumnSpec } from './types';
import { isNumericType, toTyped } from './values';

/** One column of a batch, typed. */
export interface TypedColumn {
  spec: ColumnSpec;
  /** Whether any row of the batch has this column at all. */
  present: boolean;
  /** Numbers (NaN = missing or invalid) for numeric, boolean and datetime columns; labels otherwise. */
  values: Float64Array | (string | null)[];
  /** Offsets (within the batch) of present values that are not of the column's type. */
  invalid: number[];
  /** The raw values at `invalid`, for messages. */
  invalidRaw: unknown[];
}

/** A batch with typed columns. */
export interface TypedBatch {
  rowCount: number;
  firstRow: number;
  lines: number[];
  /** Columns of the batch that the schema does not declare. */
  extra: string[];
  columns: TypedColumn[];
}

/** Types the columns of a batch according to `specs`. */
export function typeBatch(batch: RowBatch, specs: readonly ColumnSpec[]): TypedBatch {
  const n = batch.rows.length;
  const declared = new Set(specs.map((s) => s.name));
  const seen = new Set(batch.columns);
  const columns = specs.map((spec): TypedColumn => {
    const invalid: number[] = [];
    const invalidRaw: unknown[] = [];
    const name = spec.name;
    const rows = batch.rows;
    if (isNumericType(spec.type)) {
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const raw = rows[i][name];
        const v = toTyped(spec.type, raw) as number | undefined;
        if (v === undefined) {
          values[i] = NaN;
          invalid.push(i);
          invalidRaw.push(raw);
        } else values[i] = v;
      }
      return { spec, present: seen.has(name), values, invalid, invalidRaw };
    }
    const values = new Array<string | null>(n);
    for (let i = 0; i < n; i++) values[i] = toTyped('categorical', rows[i][name]) as string | null;
    return { spec, present: seen.has(name), values, invalid, invalidRaw };
  });
  return {
    rowCount: n,
    firstRow: batch.firstRow,
    lines: batch.lines,
    extra: batch.columns.filter((c) => !declared.has(c)),
    columns,
  };
}
