/**
 * Reading datasets: rows streamed from CSV, JSON lines, JSON arrays or Parquet, from a local path,
 * an http(s) URL or `s3://bucket/key`, and `readFrame` to materialise only the columns a model needs.
 * Ingest reads sources with the engine (src/data); these row readers stay for row-at-a-time
 * consumers (monitor windows, demo, small in-memory checks). `readFrame` of a local Parquet file
 * (every snapshot) goes through the engine, column by column.
 */
import { FailureType, MlopsError } from '../../errors';
import type { Column, DatasetSchema, Frame } from '../types';
import { typeBatch } from '../typed-batch';
import { isNumericType } from '../values';
import { malformed, recordBatch, type Row, type RowBatch } from './batch';
import { readCsvBatches } from './csv';
import { readJsonArrayBatches, readJsonLinesBatches } from './json';
import { readParquetBatches } from './parquet';
import { describeSource, detectFormat, openSource, parseLocation, type SourceOptions } from './source';

export type { Row, RowBatch } from './batch';
export type { DataFormat, OpenS3, SourceOptions } from './source';
export { inferSchema, type InferOptions } from './infer';

/** How to read a source. */
export interface ReadOptions extends SourceOptions {
  /** Rows per batch (default 4096). */
  batchRows?: number;
  /** Read only these columns (Parquet skips the others on disk; other formats drop them after parsing). */
  columns?: string[];
}

/** Streams a source as batches of rows, with their row and line numbers. */
export async function* readBatches(source: string, options: ReadOptions = {}): AsyncGenerator<RowBatch> {
  const { format, delimiter } = detectFormat(source, options);
  const name = describeSource(source);
  if (format === 'parquet') {
    yield* readParquetBatches(source, options);
    return;
  }
  const stream = await openSource(source, options);
  const batches =
    format === 'csv'
      ? readCsvBatches(stream, name, { delimiter, batchRows: options.batchRows })
      : format === 'jsonl'
        ? readJsonLinesBatches(stream, name, { batchRows: options.batchRows })
        : readJsonArrayBatches(stream, name, { batchRows: options.batchRows });
  const keep = options.columns;
  for await (const batch of batches) yield keep ? project(batch, keep) : batch;
}

function project(batch: RowBatch, keep: string[]): RowBatch {
  const columns = batch.columns.filter((c) => keep.includes(c));
  if (batch.records) {
    const indices = columns.map((c) => batch.columns.indexOf(c));
    const records = batch.records.map((r) => indices.map((i) => r[i]));
    return recordBatch(columns, records, batch.firstRow, batch.lines);
  }
  const rows = batch.rows.map((r) => {
    const out: Row = {};
    for (const c of columns) if (c in r) out[c] = r[c];
    return out;
  });
  return { ...batch, columns, rows };
}

/**
 * Rows of a source, one at a time. While iterating, `row` and `line` give the position of the row
 * last yielded, so a consumer can name it in an error.
 */
export class RowStream implements AsyncIterable<Row> {
  /** 1-based number of the row last yielded (0 before the first). */
  row = 0;
  /** 1-based line in the source where the row last yielded starts. */
  line = 0;
  constructor(
    /** The source, as named in messages. */
    readonly source: string,
    private readonly options: ReadOptions = {},
  ) {}

  /** The same rows in batches (faster for bulk consumers). */
  batches(): AsyncGenerator<RowBatch> {
    return readBatches(this.source, this.options);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Row> {
    for await (const batch of this.batches()) {
      for (let i = 0; i < batch.rows.length; i++) {
        this.row = batch.firstRow + i;
        this.line = batch.lines[i];
        yield batch.rows[i];
      }
    }
  }
}

/** Streams the rows of a source (memory stays flat whatever the file size). */
export function readRows(source: string, options: ReadOptions = {}): RowStream {
  return new RowStream(source, options);
}

/**
 * The path of a local source that is Parquet by its content (snapshots are Parquet whatever a
 * caller's `format` says), read column by column by the engine; undefined otherwise.
 */
export async function localParquet(source: string): Promise<string | undefined> {
  const location = parseLocation(source);
  if (location.kind !== 'file') return undefined;
  const { isParquetFile } = await import('../../data/frame');
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
  if (parquet) {
    const { readParquetFrame } = await import('../../data/frame');
    return readParquetFrame(parquet, schema, wanted, describeSource(source));
  }
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
