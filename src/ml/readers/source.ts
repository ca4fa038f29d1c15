/**
 * Where data comes from: a local path, an http(s) URL or `s3://bucket/key`, opened as a byte stream,
 * and which format it is in. The core never imports the storage module: S3 reads go through an
 * injected `openS3`.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { FailureType, MlopsError } from '../../errors';

/** Opens an object in S3-compatible storage as a stream (supplied by the storage module). */
export type OpenS3 = (bucket: string, key: string) => Promise<Readable>;

/** The file formats the readers understand. */
export type DataFormat = 'csv' | 'jsonl' | 'json' | 'parquet';

/** How to open and parse a data source. */
export interface SourceOptions {
  /** The file format; by default taken from the extension (.csv/.tsv, .jsonl/.ndjson, .json, .parquet, each optionally .gz). */
  format?: DataFormat;
  /** The CSV field delimiter (one character); default ',' or tab for .tsv. */
  delimiter?: string;
  /** Opens `s3://` sources; required for them. */
  openS3?: OpenS3;
}

/** A parsed source location. */
export type Location = { kind: 'file'; path: string } | { kind: 'http'; url: string } | { kind: 's3'; bucket: string; key: string };

/** Parses a source string into a location. */
export function parseLocation(source: string): Location {
  if (/^https?:\/\//i.test(source)) return { kind: 'http', url: source };
  if (/^s3:\/\//i.test(source)) {
    const rest = source.slice(5);
    const slash = rest.indexOf('/');
    if (slash <= 0 || slash === rest.length - 1) {
      throw new MlopsError(FailureType.InvalidInput, `"${source}" is not a valid S3 location: write s3://bucket/key`);
    }
    return { kind: 's3', bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
  }
  if (/^file:\/\//i.test(source)) return { kind: 'file', path: fileURLToPath(source) };
  return { kind: 'file', path: source };
}

/** The name a source is known by in messages. */
export function describeSource(source: string): string {
  return source.replace(/^(https?:\/\/)[^/@]*@/i, '$1'); // never print credentials embedded in a URL
}

/** The format and CSV delimiter of a source, from the options or its extension. */
export function detectFormat(source: string, options: SourceOptions = {}): { format: DataFormat; delimiter: string; gzip: boolean } {
  const path = source.replace(/[?#].*$/, '').toLowerCase();
  const gzip = path.endsWith('.gz');
  const base = gzip ? path.slice(0, -3) : path;
  let format = options.format;
  if (!format) {
    if (base.endsWith('.csv') || base.endsWith('.tsv')) format = 'csv';
    else if (base.endsWith('.jsonl') || base.endsWith('.ndjson')) format = 'jsonl';
    else if (base.endsWith('.json')) format = 'json';
    else if (base.endsWith('.parquet') || base.endsWith('.pq')) format = 'parquet';
    else {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Cannot tell the format of "${describeSource(source)}" from its name: set format to csv, jsonl, json or parquet`,
      );
    }
  }
  const delimiter = options.delimiter ?? (base.endsWith('.tsv') ? '\t' : ',');
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new MlopsError(
      FailureType.InvalidInput,
      `The CSV delimiter must be one character other than a quote or newline, got ${JSON.stringify(delimiter)}`,
    );
  }
  return { format, delimiter, gzip };
}

/** Opens a source as a byte stream (decompressed when it ends in .gz). */
export async function openSource(source: string, options: SourceOptions = {}): Promise<Readable> {
  const stream = await openRaw(source, options);
  return source
    .replace(/[?#].*$/, '')
    .toLowerCase()
    .endsWith('.gz')
    ? stream.pipe(createGunzip())
    : stream;
}

export async function openRaw(source: string, options: SourceOptions): Promise<Readable> {
  const location = parseLocation(source);
  switch (location.kind) {
    case 'file':
      return openFile(location.path);
    case 'http':
      return openHttp(location.url);
    case 's3':
      if (!options.openS3) {
        throw new MlopsError(FailureType.Configuration, `Reading ${source} needs an S3 opener: pass openS3 in the reader options`);
      }
      return options.openS3(location.bucket, location.key);
  }
}

async function openFile(path: string): Promise<Readable> {
  try {
    const stat = await fs.stat(path);
    if (!stat.isFile()) throw new MlopsError(FailureType.InvalidInput, `Data source ${path} is not a file`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MlopsError(FailureType.NotFound, `Data file ${path} does not exist: check the path`);
    }
    throw err;
  }
  return createReadStream(path, { highWaterMark: 1 << 20 });
}

async function openHttp(url: string): Promise<Readable> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    // Nothing listening, or no such host: retrying for minutes would not help, so the stage fails at once.
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') {
      const { host } = new URL(url);
      const why = code === 'ECONNREFUSED' ? `connection refused at ${host} (nothing listens there)` : `the host ${host} does not exist`;
      throw new MlopsError(
        FailureType.NotFound,
        `Could not read ${describeSource(url)}: ${why}. Check the dataset source URL, or start its server.`,
        { host, code },
        { cause: err },
      );
    }
    throw new MlopsError(FailureType.Unavailable, `Could not reach ${describeSource(url)}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  if (!response.ok || !response.body) {
    const type =
      response.status === 404 || response.status === 410
        ? FailureType.NotFound
        : response.status === 401 || response.status === 403
          ? FailureType.AccessDenied
          : response.status >= 500 || response.status === 429
            ? FailureType.Unavailable
            : FailureType.InvalidInput;
    throw new MlopsError(type, `GET ${describeSource(url)} answered HTTP ${response.status} ${response.statusText}`);
  }
  return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
}
