/**
 * Reading any source into what the stages use: a typed `Frame`, a validation report, a profile. A
 * local file that is Parquet by its content (every snapshot, whatever name or `format` a caller
 * passes) goes through the engine column by column (`frame.ts`); any other source is streamed by the
 * row readers of src/ml/readers, with the same rules (typing, validation, profile) from src/ml.
 */
import { FailureType, MlopsError } from '../errors';
import { Validator, type ValidationOptions, type ValidationReport } from '../ml/data-validation';
import { ProfileBuilder, type DatasetProfile, type ProfileOptions } from '../ml/profile';
import { readBatches, type ReadOptions } from '../ml/readers';
import { malformed } from '../ml/readers/batch';
import { describeSource, parseLocation } from '../ml/readers/source';
import { typeBatch } from '../ml/typed-batch';
import type { Column, ColumnSpec, DatasetSchema, Frame } from '../ml/types';
import { isNumericType } from '../ml/values';
import { isParquetFile, profileParquet, readParquetFrame, validateParquet } from './frame';

/**
 * The path of a local source that is Parquet by its content (snapshots are Parquet whatever a
 * caller's `format` says), read column by column by the engine; undefined otherwise.
 */
export async function localParquet(source: string): Promise<string | undefined> {
  const location = parseLocation(source);
  if (location.kind !== 'file') return undefined;
  return (await isParquetFile(location.path)) ? location.path : undefined;
}

/** Options for `readFrame`. */
export interface ReadFrameOptions extends ReadOptions {
  /** Columns to materialise; default: the schema's features and target. */
  columns?: string[];
}

/** Grows a Float64Array or an array of categories as rows arrive. */
class ColumnBuilder {
  private numbers: Float64Array;
  private readonly labels: (string | null)[] = [];
  length = 0;
  constructor(readonly numeric: boolean) {
    this.numbers = new Float64Array(numeric ? 1024 : 0);
  }
  push(value: number | string | null): void {
    if (this.numeric) {
      if (this.length === this.numbers.length) {
        const bigger = new Float64Array(this.numbers.length * 2);
        bigger.set(this.numbers);
        this.numbers = bigger;
      }
      this.numbers[this.length] = value as number;
    } else this.labels.push(value as string | null);
    this.length++;
  }
  finish(): Column {
    return this.numeric ? this.numbers.slice(0, this.length) : this.labels;
  }
}

/**
 * Reads the needed columns of a source into a `Frame`, converted to their schema types. A value that
 * does not fit its column's type raises `MlopsInvalidInput` naming the source, row, line and column
 * (run validation first to get a full report instead).
 */
export async function readFrame(source: string, schema: DatasetSchema, options: ReadFrameOptions = {}): Promise<Frame> {
  const wanted = options.columns ?? [...schema.features, schema.target];
  const parquet = await localParquet(source);
  if (parquet) return readParquetFrame(parquet, schema, wanted, describeSource(source));
  const specs = wanted.map((name) => {
    const spec = schema.columns.find((c) => c.name === name);
    if (!spec) throw new MlopsError(FailureType.InvalidInput, `Column "${name}" is not in the dataset schema`);
    return spec;
  });
  const builders = specs.map((s) => new ColumnBuilder(isNumericType(s.type)));
  const name = describeSource(source);
  let rowCount = 0;
  const seen = new Set<string>();
  for await (const batch of readBatches(source, { ...options, columns: wanted })) {
    for (const c of batch.columns) seen.add(c);
    const typed = typeBatch(batch, specs);
    typed.columns.forEach((col, k) => {
      if (col.invalid.length > 0) {
        const i = col.invalid[0];
        throw malformed(
          name,
          batch.lines[i],
          `row ${batch.firstRow + i}, column "${col.spec.name}": ${JSON.stringify(col.invalidRaw[0])} is not ${col.spec.type}`,
        );
      }
      const values = col.values;
      for (let i = 0; i < values.length; i++) builders[k].push(values[i]);
    });
    rowCount += typed.rowCount;
  }
  const missing = wanted.filter((c) => !seen.has(c));
  if (missing.length > 0 && rowCount > 0) {
    throw new MlopsError(FailureType.InvalidInput, `${name} has no column ${missing.map((c) => `"${c}"`).join(', ')}`);
  }
  const columns: Record<string, Column> = {};
  specs.forEach((s, k) => (columns[s.name] = builders[k].finish()));
  return { rowCount, columns };
}

/** Validates a data source in one pass (a local Parquet file, such as a snapshot, in the engine). */
export async function validateSource(
  source: string,
  schema: DatasetSchema,
  options: ValidationOptions & ReadOptions = {},
): Promise<ValidationReport> {
  const parquet = await localParquet(source);
  if (parquet) return { ...(await validateParquet(parquet, schema, options)), source: describeSource(source) };
  const validator = new Validator(schema, options);
  for await (const batch of readBatches(source, options)) validator.addBatch(batch);
  return { ...validator.finish(), source: describeSource(source) };
}

/** Profiles a data source in one pass (a local Parquet file, such as a snapshot, in the engine). */
export async function profileSource(
  source: string,
  columns: DatasetSchema | ColumnSpec[],
  options: ProfileOptions & ReadOptions = {},
): Promise<DatasetProfile> {
  const parquet = await localParquet(source);
  if (parquet) return profileParquet(parquet, columns, options);
  const builder = new ProfileBuilder(columns, options);
  for await (const batch of readBatches(source, options)) builder.addBatch(batch);
  return builder.finish();
}
