/**
 * Reading datasets: rows streamed from CSV, JSON lines, JSON arrays or Parquet, from a local path,
 * an http(s) URL or `s3://bucket/key`. Ingest reads sources with the engine (src/data); these row
 * readers stay for row-at-a-time consumers (monitor windows, demo, small in-memory checks) and for
 * src/data/read.ts (`readFrame`, `validateSource`, `profileSource`) when a source is not a local
 * Parquet file.
 */
import { recordBatch, type Row, type RowBatch } from './batch';
import { readCsvBatches } from './csv';
import { readJsonArrayBatches, readJsonLinesBatches } from './json';
import { readParquetBatches } from './parquet';
import { describeSource, detectFormat, openSource, type SourceOptions } from './source';

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
