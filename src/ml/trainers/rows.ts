/**
 * Turns JSON rows (as a model server receives them) into a Frame of a model's features, rejecting any
 * value that does not fit its column's type with an error that names the row and the field.
 *
 * Lenient (the default, for rows read from files and logs): a feature that is absent, null or a missing
 * token ("", "NA", ...) is missing and gets the model's imputation; values are read as their column's
 * type where they can be (`"5"` as a number, `1` as true); fields that are not features are ignored.
 *
 * Strict (`{ strict: true }`, what the model server uses): every row holds exactly the features, each
 * as a JSON value of its column's type, never converted from another type. A feature that is absent
 * and a field that is not a feature are both errors naming the key; a present `null` stays a missing
 * value the model handles.
 */
import { FailureType, MlopsError } from '../../errors';
import { columnSpec } from '../preprocess';
import type { ColumnType, DatasetSchema, Frame } from '../types';
import { toBoolean, toCategory, toDatetime, toNumeric } from '../values';

const EXPECTED = {
  numeric: 'a number',
  boolean: 'true, false, 1 or 0',
  datetime: 'an ISO 8601 date or date-time, or epoch milliseconds',
  categorical: 'a string',
} as const;

const EXPECTED_STRICT = {
  numeric: 'a JSON number or null',
  boolean: 'true, false or null',
  datetime: 'an ISO 8601 date or date-time string, epoch milliseconds, or null',
  categorical: 'a JSON string or null',
} as const;

/** How rows are read. */
export interface RowsOptions {
  /** Exactly the features, each of its column's JSON type, no conversion (default false). */
  strict?: boolean;
}

/** Builds a Frame holding the schema's features from JSON rows. */
export function rowsToFrame(schema: DatasetSchema, rows: unknown[], options: RowsOptions = {}): Frame {
  if (!Array.isArray(rows)) throw new MlopsError(FailureType.InvalidInput, 'Rows must be a JSON array of objects.');
  const strict = options.strict === true;
  const features = new Set(schema.features);
  rows.forEach((row, i) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new MlopsError(FailureType.InvalidInput, `Row ${i} is not a JSON object; send one object per row, keyed by feature name.`, {
        row: i,
      });
    }
    if (strict) checkKeys(schema, features, row as Record<string, unknown>, i);
  });
  const columns: Frame['columns'] = {};
  for (const name of schema.features) {
    const spec = columnSpec(schema, name);
    if (spec.type === 'categorical') {
      columns[name] = rows.map((row, i) => {
        const value = (row as Record<string, unknown>)[name];
        if (strict ? value !== null && typeof value !== 'string' : typeof value === 'object' && value !== null)
          reject(i, name, spec.type, value, strict);
        return toCategory(value);
      });
      continue;
    }
    const convert = strict ? STRICT[spec.type] : spec.type === 'numeric' ? toNumeric : spec.type === 'boolean' ? toBoolean : toDatetime;
    const col = new Float64Array(rows.length);
    rows.forEach((row, i) => {
      const value = (row as Record<string, unknown>)[name];
      const v = convert(value);
      if (v === undefined) reject(i, name, spec.type, value, strict);
      col[i] = v;
    });
    columns[name] = col;
  }
  return { rowCount: rows.length, columns };
}

/**
 * Strict readers: the JSON type of the column or null. NaN (from a binary FP64 tensor) and "" (a binary
 * BYTES tensor cannot say null) are missing too, as missing tokens are in every reader.
 */
const STRICT: Record<Exclude<ColumnType, 'categorical'>, (value: unknown) => number | undefined> = {
  numeric: (v) => (v === null ? NaN : typeof v === 'number' && !(v === Infinity || v === -Infinity) ? v : undefined),
  boolean: (v) => (v === null ? NaN : typeof v === 'boolean' ? (v ? 1 : 0) : undefined),
  datetime: (v) => (v === null ? NaN : typeof v === 'string' ? toDatetime(v) : typeof v === 'number' && Number.isFinite(v) ? v : undefined),
};

/** A strict row holds every feature (null when missing) and nothing else. */
function checkKeys(schema: DatasetSchema, features: Set<string>, row: Record<string, unknown>, i: number): void {
  for (const key of Object.keys(row)) {
    if (!features.has(key)) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Row ${i}: field "${key}" is not a feature of the model; send only its features (${schema.features.join(', ')}).`,
        {
          row: i,
          field: key,
        },
      );
    }
  }
  if (Object.keys(row).length === features.size) return;
  for (const name of schema.features) {
    if (!(name in row)) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Row ${i}: feature "${name}" is missing; send every feature, with null for a missing value.`,
        { row: i, field: name },
      );
    }
  }
}

function reject(row: number, field: string, type: keyof typeof EXPECTED, value: unknown, strict: boolean): never {
  const shown = JSON.stringify(value) ?? String(value);
  const expected = (strict ? EXPECTED_STRICT : EXPECTED)[type];
  throw new MlopsError(
    FailureType.InvalidInput,
    `Row ${row}: field "${field}" must be ${expected} (it is ${type}), got ${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}.`,
    {
      row,
      field,
      expected: type,
    },
  );
}
