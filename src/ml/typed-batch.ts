/**
 * Converts a batch of raw rows into typed columns once, so validation and profiling (which usually
 * run in the same pass) share the work. Invalid values are kept aside with their raw text.
 */
import type { RowBatch } from './readers/batch';
import type { ColumnSpec } from './types';
import { isNumericType, toBoolean, toCategory, toDatetime, toNumeric } from './values';

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
  const declared = new Set(specs.map((s) => s.name));
  const seen = new Set(batch.columns);
  const records = batch.records;
  const n = records ? records.length : batch.rows.length;
  const columns = specs.map((spec): TypedColumn => {
    const invalid: number[] = [];
    const invalidRaw: unknown[] = [];
    const name = spec.name;
    const index = records ? batch.columns.indexOf(name) : -1;
    const read: (i: number) => unknown = records ? (i) => (index === -1 ? undefined : records[i][index]) : (i) => batch.rows[i][name];
    if (isNumericType(spec.type)) {
      const values = new Float64Array(n);
      const convert = spec.type === 'numeric' ? toNumeric : spec.type === 'boolean' ? toBoolean : toDatetime;
      for (let i = 0; i < n; i++) {
        const raw = read(i);
        const v = convert(raw);
        if (v === undefined) {
          values[i] = NaN;
          invalid.push(i);
          invalidRaw.push(raw);
        } else values[i] = v;
      }
      return { spec, present: seen.has(name), values, invalid, invalidRaw };
    }
    const values = new Array<string | null>(n);
    for (let i = 0; i < n; i++) values[i] = toCategory(read(i));
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
