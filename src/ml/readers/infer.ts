/**
 * Infers a dataset schema from a sample of rows, for a first run before a schema is frozen into the
 * pipeline spec. The rules are deliberately simple and predictable.
 */
import { FailureType, MlopsError } from '../../errors';
import type { ColumnSpec, ColumnType, DatasetSchema, Task } from '../types';
import { isMissing, toDatetime, toNumeric } from '../values';
import type { Row } from './batch';

/** Options for `inferSchema`. */
export interface InferOptions {
  /** The column a model predicts. */
  target: string;
  /** The feature columns; default: every column but the target and datetime columns. */
  features?: string[];
  /** Overrides the task; 'classification' turns a numeric target (such as 0/1 labels) into a categorical one. */
  task?: Task;
}

/**
 * The type that fits every present value of a column, checked in this order:
 * boolean (true/false in any case, or JSON booleans), numeric, datetime (ISO 8601), else categorical.
 * A column with no present value is categorical.
 */
function inferType(values: unknown[]): ColumnType {
  const present = values.filter((v) => !isMissing(v));
  if (present.length === 0) return 'categorical';
  const isBool = (v: unknown): boolean => typeof v === 'boolean' || (typeof v === 'string' && /^(true|false)$/i.test(v.trim()));
  if (present.every(isBool)) return 'boolean';
  if (present.every((v) => typeof v !== 'boolean' && !(v instanceof Date) && toNumeric(v) !== undefined)) return 'numeric';
  if (present.every((v) => (typeof v === 'string' || v instanceof Date) && toDatetime(v) !== undefined)) return 'datetime';
  return 'categorical';
}

/**
 * Infers a `DatasetSchema` from sample rows. The task is classification when the target is
 * categorical or boolean, regression when it is numeric (unless `task` says otherwise).
 */
export function inferSchema(rows: Iterable<Row>, options: InferOptions): DatasetSchema {
  const names: string[] = [];
  const values = new Map<string, unknown[]>();
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (!values.has(key)) {
        values.set(key, []);
        names.push(key);
      }
      values.get(key)!.push(row[key]);
    }
  }
  if (names.length === 0) throw new MlopsError(FailureType.InvalidInput, 'Cannot infer a schema from no rows');
  return schemaFromTypes(
    names.map((name) => ({ name, type: inferType(values.get(name)!) })),
    options,
  );
}

/**
 * Assembles a schema from inferred column types: the target's task (classification when it is
 * categorical or boolean, regression when numeric, unless `task` says otherwise) and the features.
 */
export function schemaFromTypes(inferred: ColumnSpec[], options: InferOptions): DatasetSchema {
  const names = inferred.map((c) => c.name);
  if (!names.includes(options.target)) {
    throw new MlopsError(FailureType.InvalidInput, `Target column "${options.target}" is not in the data (columns: ${names.join(', ')})`);
  }
  const columns: ColumnSpec[] = inferred.map((c) => ({ ...c }));
  const target = columns.find((c) => c.name === options.target)!;
  let task: Task;
  if (options.task === 'classification') {
    if (target.type === 'numeric' || target.type === 'datetime') target.type = 'categorical';
    task = 'classification';
  } else if (options.task === 'regression') {
    if (target.type !== 'numeric') {
      throw new MlopsError(FailureType.InvalidInput, `A regression target must be numeric, but "${target.name}" looks ${target.type}`);
    }
    task = 'regression';
  } else if (target.type === 'datetime') {
    throw new MlopsError(FailureType.InvalidInput, `Target "${target.name}" is a datetime column; a model cannot predict it`);
  } else {
    task = target.type === 'numeric' ? 'regression' : 'classification';
  }
  target.maxNullRate = 0;
  const features = options.features ?? columns.filter((c) => c.name !== target.name && c.type !== 'datetime').map((c) => c.name);
  for (const f of features) {
    if (!names.includes(f)) throw new MlopsError(FailureType.InvalidInput, `Feature "${f}" is not in the data`);
  }
  return { columns, target: target.name, features, task };
}
