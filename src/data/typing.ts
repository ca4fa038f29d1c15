/**
 * The rules of src/ml/values.ts (what is missing, what is a number, a boolean, a datetime or a
 * category) written as SQL over a column of any DuckDB type, so the engine types, validates and
 * profiles exactly as the row readers do. Each typed column is a value (DOUBLE for numeric, boolean
 * and datetime columns, VARCHAR for categorical ones; NULL when missing or invalid) and a `bad` flag
 * (a present value that is not of the type, never NULL).
 */
import type { ColumnType } from '../ml/types';
import { MISSING_TOKENS } from '../ml/values';
import { ident, literal } from './engine';

/** How a DuckDB column holds its values. */
/** How a DuckDB column holds its values (`integer`: a number that cannot be NaN or infinite). */
export type RawKind = 'text' | 'json' | 'integer' | 'number' | 'bool' | 'timestamp' | 'date' | 'other';

/** The kind of a DuckDB type name (as DESCRIBE prints it). */
export function rawKind(type: string): RawKind {
  const t = type.toUpperCase();
  if (t === 'VARCHAR') return 'text';
  if (t === 'JSON') return 'json';
  if (t === 'BOOLEAN') return 'bool';
  if (t === 'DATE') return 'date';
  if (t.startsWith('TIMESTAMP')) return 'timestamp';
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/.test(t)) return 'integer';
  if (/^(FLOAT|DOUBLE|DECIMAL)/.test(t)) return 'number';
  return 'other';
}

/**
 * `x` is one of `values`, as SQL. A list lookup, not `x IN (...)`: DuckDB turns an IN list of six or more
 * constants in a projection into a join per column, which made typing a wide text table several times slower.
 */
export function inListSql(x: string, values: readonly string[]): string {
  return `list_contains([${values.map(literal).join(', ')}], ${x})`;
}

/** A typed column as SQL. */
export interface TypedSql {
  /** DOUBLE for numeric, boolean (1/0) and datetime (epoch ms) columns; VARCHAR for categorical ones. */
  value: string;
  /** TRUE for a present value that does not fit the type. */
  bad: string;
}

/** The column as text, for kinds that hold text (JSON strings lose their quotes). */
function text(col: string, kind: RawKind): string {
  return kind === 'json' ? `json_extract_string(${col}, '$')` : col;
}

/** A double as JavaScript's String(x) writes it (whole numbers without ".0"). */
export function jsNumberText(x: string): string {
  return `CASE WHEN ${x} = trunc(${x}) AND abs(${x}) < 1e21 THEN CAST(CAST(${x} AS HUGEINT) AS VARCHAR) ELSE CAST(${x} AS VARCHAR) END`;
}

/** A timestamp as JavaScript's Date.toISOString() writes it. */
function isoText(x: string): string {
  return `strftime(CAST(${x} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%gZ')`;
}

/**
 * The one parse a text column needs for a numeric or datetime type, for callers that project it
 * once in an inner query and pass its name to `typedSql` as `parsed` (the parse is the costly part).
 */
export function parseSql(type: ColumnType, name: string, kind: RawKind): string | undefined {
  if (kind !== 'text' && kind !== 'json') return undefined;
  const t = text(ident(name), kind);
  if (type === 'numeric') return `TRY_CAST(${t} AS DOUBLE)`;
  if (type === 'datetime') return `TRY_CAST(trim(${t}) AS TIMESTAMPTZ)`;
  return undefined;
}

/** SQL typing a column `name` of the given kind as `type` (`parsed`: the column holding `parseSql`'s result, if projected). */
export function typedSql(type: ColumnType, name: string, kind: RawKind, parsed?: string): TypedSql {
  const col = ident(name);
  if (kind === 'text' || kind === 'json') {
    const t = text(col, kind);
    const missing = `(${t} IS NULL OR ${inListSql(t, [...MISSING_TOKENS])})`;
    switch (type) {
      case 'numeric': {
        const cast = parsed ?? parseSql(type, name, kind)!;
        // DuckDB also reads 1_000 as a number; JavaScript (and pandas) do not.
        const value = `CASE WHEN isfinite(${cast}) AND strpos(${t}, '_') = 0 THEN ${cast} END`;
        return { value, bad: `(${value} IS NULL AND NOT ${missing} AND trim(${t}) <> '')` };
      }
      case 'boolean': {
        const l = `lower(trim(${t}))`;
        return {
          value: `CASE WHEN ${missing} THEN NULL WHEN ${l} IN ('true', '1') THEN 1.0 WHEN ${l} IN ('false', '0') THEN 0.0 END`,
          bad: `(NOT ${missing} AND ${l} NOT IN ('true', '1', 'false', '0'))`,
        };
      }
      case 'datetime': {
        const ts = parsed ?? parseSql(type, name, kind)!;
        const value = `CASE WHEN isfinite(${ts}) THEN CAST(epoch_ms(${ts}) AS DOUBLE) END`;
        return { value, bad: `(${value} IS NULL AND NOT ${missing})` };
      }
      case 'categorical':
        return { value: `CASE WHEN ${missing} THEN NULL ELSE ${t} END`, bad: 'false' };
    }
  }
  const present = `(${col} IS NOT NULL)`;
  if (kind === 'integer' && type !== 'categorical') {
    // Never NaN nor infinite: every present value is a number.
    const d = `CAST(${col} AS DOUBLE)`;
    if (type === 'boolean')
      return { value: `CASE WHEN ${d} = 1 THEN 1.0 WHEN ${d} = 0 THEN 0.0 END`, bad: `coalesce(${d} NOT IN (0, 1), false)` };
    return { value: d, bad: 'false' };
  }
  if (kind === 'number' || kind === 'integer') {
    const d = `CAST(${col} AS DOUBLE)`;
    const nan = `isnan(${d})`;
    switch (type) {
      case 'numeric':
        return { value: `CASE WHEN isfinite(${d}) THEN ${d} END`, bad: `coalesce(NOT ${nan} AND NOT isfinite(${d}), false)` };
      case 'boolean':
        return {
          value: `CASE WHEN ${d} = 1 THEN 1.0 WHEN ${d} = 0 THEN 0.0 END`,
          bad: `coalesce(NOT ${nan} AND ${d} NOT IN (0, 1), false)`,
        };
      case 'datetime':
        return { value: `CASE WHEN isfinite(${d}) THEN ${d} END`, bad: `coalesce(NOT ${nan} AND NOT isfinite(${d}), false)` };
      case 'categorical':
        return { value: `CASE WHEN NOT ${nan} THEN ${jsNumberText(d)} END`, bad: 'false' };
    }
  }
  if (kind === 'bool') {
    if (type === 'categorical') return { value: `CAST(${col} AS VARCHAR)`, bad: 'false' };
    if (type === 'numeric' || type === 'boolean') return { value: `CASE WHEN ${col} THEN 1.0 WHEN NOT ${col} THEN 0.0 END`, bad: 'false' };
    return { value: 'CAST(NULL AS DOUBLE)', bad: present };
  }
  if (kind === 'timestamp' || kind === 'date') {
    if (type === 'datetime') return { value: `CAST(epoch_ms(CAST(${col} AS TIMESTAMP)) AS DOUBLE)`, bad: 'false' };
    if (type === 'categorical') return { value: isoText(col), bad: 'false' };
    return { value: 'CAST(NULL AS DOUBLE)', bad: present };
  }
  if (type === 'categorical') return { value: `CAST(to_json(${col}) AS VARCHAR)`, bad: 'false' };
  return { value: 'CAST(NULL AS DOUBLE)', bad: present };
}

/**
 * The value as JSON.stringify wrote it in a row of the old JSON-lines snapshots: the text of a hash
 * split's line and of examples in messages. `csv` maps an empty field (NULL to DuckDB) back to "".
 */
export function jsLiteralSql(name: string, kind: RawKind, csv = false): string {
  const col = ident(name);
  switch (kind) {
    case 'text':
      return csv ? `CAST(to_json(coalesce(${col}, '')) AS VARCHAR)` : `coalesce(CAST(to_json(${col}) AS VARCHAR), 'null')`;
    case 'number':
    case 'integer': {
      const d = `CAST(${col} AS DOUBLE)`;
      return `CASE WHEN ${col} IS NULL OR NOT isfinite(${d}) THEN 'null' ELSE ${jsNumberText(d)} END`;
    }
    case 'bool':
      return `coalesce(CAST(${col} AS VARCHAR), 'null')`;
    case 'timestamp':
    case 'date':
      return `coalesce('"' || ${isoText(col)} || '"', 'null')`;
    default:
      return `coalesce(CAST(to_json(${col}) AS VARCHAR), 'null')`;
  }
}

/** The DuckDB type a typed column is stored as in a snapshot. */
export function storageSql(type: ColumnType, value: string): string {
  switch (type) {
    case 'numeric':
      return value;
    case 'boolean':
      return `CAST(${value} AS BOOLEAN)`;
    case 'datetime':
      return `make_timestamp(CAST(round(${value} * 1000) AS BIGINT))`;
    case 'categorical':
      return value;
  }
}

/** The column type a DuckDB result type stands for (derived columns, typed Parquet). */
export function columnTypeOf(kind: RawKind): ColumnType {
  switch (kind) {
    case 'number':
    case 'integer':
      return 'numeric';
    case 'bool':
      return 'boolean';
    case 'timestamp':
    case 'date':
      return 'datetime';
    default:
      return 'categorical';
  }
}
