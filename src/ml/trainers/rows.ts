/**
 * Turns JSON rows (as a model server receives them) into a Frame of a model's features, rejecting any
 * value that does not fit its column's type with an error that names the row and the field.
 *
 * A feature that is absent, null or a missing token ("", "NA", ...) is missing and gets the model's
 * imputation. Fields that are not features (an id, the target) are ignored.
 */
import { FailureType, MlopsError } from '../../errors';
import { columnSpec } from '../preprocess';
import type { DatasetSchema, Frame } from '../types';
import { toBoolean, toCategory, toDatetime, toNumeric } from '../values';

const EXPECTED = {
  numeric: 'a number',
  boolean: 'true, false, 1 or 0',
  datetime: 'an ISO 8601 date or date-time, or epoch milliseconds',
  categorical: 'a string',
} as const;

/** Builds a Frame holding the schema's features from JSON rows. */
export function rowsToFrame(schema: DatasetSchema, rows: unknown[]): Frame {
  if (!Array.isArray(rows)) throw new MlopsError(FailureType.InvalidInput, 'Rows must be a JSON array of objects.');
  const columns: Frame['columns'] = {};
  rows.forEach((row, i) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new MlopsError(FailureType.InvalidInput, `Row ${i} is not a JSON object; send one object per row, keyed by feature name.`, { row: i });
    }
  });
  for (const name of schema.features) {
    const spec = columnSpec(schema, name);
    if (spec.type === 'categorical') {
      columns[name] = rows.map((row, i) => {
        const value = (row as Record<string, unknown>)[name];
        if (typeof value === 'object' && value !== null) reject(i, name, spec.type, value);
        return toCategory(value);
      });
      continue;
    }
    const convert = spec.type === 'numeric' ? toNumeric : spec.type === 'boolean' ? toBoolean : toDatetime;
    const col = new Float64Array(rows.length);
    rows.forEach((row, i) => {
      const value = (row as Record<string, unknown>)[name];
      const v = convert(value);
      if (v === undefined) reject(i, name, spec.type, value);
      col[i] = v;
    });
    columns[name] = col;
  }
  return { rowCount: rows.length, columns };
}

function reject(row: number, field: string, type: keyof typeof EXPECTED, value: unknown): never {
  const shown = JSON.stringify(value) ?? String(value);
  throw new MlopsError(FailureType.InvalidInput, `Row ${row}: field "${field}" must be ${EXPECTED[type]} (it is ${type}), got ${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}.`, {
    row,
    field,
    expected: type,
  });
}
