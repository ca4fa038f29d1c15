/**
 * Sources for the engine: a local file is read in place; an http(s) URL or an s3:// object is first
 * copied into the task's scratch directory, with a bounded disk budget, because the engine reads
 * files with random access (Parquet footers, parallel CSV scans). Then each format becomes a DuckDB
 * table function call.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { FailureType, MlopsError } from '../errors';
import { describeSource, detectFormat, openRaw, parseLocation, type DataFormat, type SourceOptions } from '../ml/readers/source';
import { literal } from './engine';
import { DEFAULT_SCRATCH_BUDGET } from './limits';

/** A source ready for the engine. */
export interface LocalSource {
  /** As named in messages (credentials removed). */
  name: string;
  path: string;
  format: DataFormat;
  delimiter: string;
}

/** Copies remote sources into `dir`; `budget` bounds the bytes copied by one call to `localSource` and its siblings. */
export class Scratch {
  used = 0;
  constructor(
    readonly dir: string,
    readonly budget: number = DEFAULT_SCRATCH_BUDGET,
  ) {}

  /** The source as a local file, with its format. */
  async localSource(source: string, options: SourceOptions = {}): Promise<LocalSource> {
    const { format, delimiter } = detectFormat(source, options);
    const name = describeSource(source);
    const location = parseLocation(source);
    if (location.kind === 'file') {
      const stat = await fs.stat(location.path).catch(() => undefined);
      if (!stat) throw new MlopsError(FailureType.NotFound, `Data file ${location.path} does not exist: check the path`);
      if (!stat.isFile()) throw new MlopsError(FailureType.InvalidInput, `Data source ${location.path} is not a file`);
      return { name, path: location.path, format, delimiter };
    }
    const ext = source
      .replace(/[?#].*$/, '')
      .toLowerCase()
      .endsWith('.gz')
      ? `.${format}.gz`
      : `.${format}`;
    const path = join(this.dir, `source-${randomUUID()}${ext}`);
    await fs.mkdir(this.dir, { recursive: true });
    const stream = await openRaw(source, options);
    const budget = this.budget;
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.used += chunk.length;
        if (this.used > budget) {
          done(
            new MlopsError(
              FailureType.InvalidInput,
              `${name} is larger than the scratch budget of ${budget} bytes for remote sources: raise MLOPS_SCRATCH_BUDGET or read it from a local disk`,
            ),
          );
        } else done(null, chunk);
      },
    });
    await pipeline(stream, counter, createWriteStream(path));
    return { name, path, format, delimiter };
  }
}

/**
 * Bytes of a CSV file each of the engine's reading threads takes at a time. Storing the rows of a 1 GB CSV in
 * file order took 3.2 s at the reader's default and 2.4 s at 16 or 32 MB (fewer, larger batches to put back in
 * order; 8 MB took 3.0 s, 128 MB and more were slower again). Each use of a view over the file reads one buffer
 * of its head (24 ms at 16 MB, 37 ms at 32 MB), but 16 MB gave no faster ingest and more peak memory.
 */
export const CSV_BUFFER = 1 << 25;

/**
 * The DuckDB table function reading a local source, every row and column as the row readers would.
 * For JSON, `columns` (the names DuckDB found) reads every value as JSON text, so our rules, not
 * DuckDB's guesses (it takes "1970-01-01" for a date), decide types, and a row hashes as it was written.
 */
export function readerSql(
  source: LocalSource,
  columns?: string[],
  typed?: { doubles: string[]; times?: string[]; rejects: string },
): string {
  const asJson = columns ? `, columns = {${columns.map((c) => `${literal(c)}: 'JSON'`).join(', ')}}` : '';
  const path = literal(source.path);
  switch (source.format) {
    case 'parquet':
      return `read_parquet(${path})`;
    case 'csv':
      // Every field as text: the typing rules decide what is a number; quoted empty strings stay empty strings.
      return (
        `read_csv(${path}, header = true, all_varchar = true, delim = ${literal(source.delimiter)}, quote = '"', escape = '"', ` +
        `allow_quoted_nulls = false, strict_mode = true, buffer_size = ${CSV_BUFFER}` +
        // The fast path of typing (docs/data.md): these columns parsed as numbers (or timestamps) by the reader, rows it cannot parse set aside.
        (typed
          ? `, types = {${[
              ...typed.doubles.map((c) => `${literal(c)}: 'DOUBLE'`),
              // A text it cannot read as a timestamp is NULL here, not set aside: the caller checks for NULLs.
              ...(typed.times ?? []).map((c) => `${literal(c)}: 'TIMESTAMPTZ'`),
            ].join(', ')}}, store_rejects = true, ` +
            `rejects_table = ${literal(typed.rejects)}, rejects_scan = ${literal(`${typed.rejects}_scans`)}`
          : '') +
        ')'
      );
    case 'jsonl':
      return `read_json(${path}, format = 'newline_delimited', records = true, sample_size = -1${asJson})`;
    case 'json':
      return `read_json(${path}, format = 'array', records = true, sample_size = -1${asJson})`;
  }
}
