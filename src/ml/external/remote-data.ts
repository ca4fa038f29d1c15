/**
 * The training rows of an external trainer as remote data: Parquet part files in the artifact store,
 * handed to the program as presigned GET URLs (MLOPS_TRAIN_URIS), so a cluster (Dask, Spark) reads them
 * straight from MinIO in parallel instead of through the worker.
 *
 * Only the training side is ever written here: the parts are made from the file `writeTrainingRows`
 * wrote, which holds no holdout row. A URL gives read access to one part and nothing else, and stops
 * working when it expires (docs/scaling.md).
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ArtifactRef } from '../../storage/refs';
import { FailureType, MlopsError } from '../../errors';
import type { ColumnType, DatasetSchema } from '../types';

/** The format name written in the MLOPS_TRAIN_URIS file. */
export const TRAIN_PARTS_FORMAT = 'temporal-mlops/train-parts@1';

/** A run is split into at least this many parts (fewer only when there are fewer rows), so workers can read in parallel. */
export const MIN_PARTS = 4;

/** No part holds more rows than this; more rows make more parts. */
export const MAX_PART_ROWS = 1_000_000;

/** Rows per Parquet row group inside a part. */
const ROW_GROUP_ROWS = 122_880;

/** How long the URLs work when the trainer has no timeout: one hour. */
export const DEFAULT_URL_EXPIRY_SECONDS = 3600;

/** The longest a presigned URL may live (S3's limit): seven days. */
export const MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600;

/** One Parquet part written locally, before it is stored. */
export interface LocalPart {
  path: string;
  rows: number;
}

/** One part as the program sees it in MLOPS_TRAIN_URIS. */
export interface TrainPart {
  /** Presigned https (or http) GET URL; it works until `expires` and gives access to this part only. */
  url: string;
  /** Where the part lives, for information (reading it this way needs credentials the program is not given). */
  uri: string;
  /** sha256 of the part's bytes: compare after downloading. */
  sha256: string;
  size: number;
  rows: number;
}

/** The contents of the MLOPS_TRAIN_URIS file. */
export interface TrainParts {
  format: typeof TRAIN_PARTS_FORMAT;
  /** Training rows in all parts together. */
  rows: number;
  /** The Parquet columns, in order, with the schema's type of each. */
  columns: { name: string; type: ColumnType; parquet: string }[];
  /** When the URLs stop working (ISO 8601, UTC). */
  expires: string;
  parts: TrainPart[];
}

/** What storing the parts needs from the artifact store. */
export interface PartStore {
  putFile(path: string, options?: { contentType?: string }): Promise<ArtifactRef>;
  presignedGetUrl(target: ArtifactRef, expirySeconds: number): Promise<string>;
}

const PARQUET_TYPES: Record<ColumnType, string> = { numeric: 'DOUBLE', boolean: 'BOOLEAN', categorical: 'VARCHAR', datetime: 'VARCHAR' };

/** How many parts `rows` rows make. */
export function partCount(rows: number): number {
  return Math.max(Math.min(MIN_PARTS, rows), Math.ceil(rows / MAX_PART_ROWS), 1);
}

/**
 * How long the URLs live: the trainer's timeout when it has one (the program cannot need them longer),
 * otherwise an hour; never less than a minute, never more than seven days.
 */
export function urlExpirySeconds(timeoutMs?: number): number {
  const seconds = timeoutMs === undefined ? DEFAULT_URL_EXPIRY_SECONDS : Math.ceil(timeoutMs / 1000);
  return Math.min(MAX_URL_EXPIRY_SECONDS, Math.max(60, seconds));
}

function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Writes the rows of a JSON-lines file (the training rows) as zstd Parquet parts in `dir`, in file
 * order, one column per schema column typed by the schema (datetimes as their text). Rows are spread
 * evenly over `partCount(rows)` parts.
 */
export async function writeTrainingParts(trainFile: string, rows: number, schema: DatasetSchema, dir: string): Promise<LocalPart[]> {
  await mkdir(dir, { recursive: true });
  const count = partCount(rows);
  const sizes = Array.from({ length: count }, (_, i) => Math.floor(rows / count) + (i < rows % count ? 1 : 0));
  const parts: LocalPart[] = sizes.map((n, i) => ({ path: join(dir, `part-${String(i).padStart(5, '0')}.parquet`), rows: n }));
  const jsonParts = parts.map((p) => p.path.replace(/\.parquet$/, '.jsonl'));

  // One pass splits the lines; the engine then types and compresses each part.
  let part = 0;
  let inPart = 0;
  let out: WriteStream | undefined;
  const close = async () => {
    if (!out) return;
    out.end();
    await finished(out);
    out = undefined;
  };
  let seen = 0;
  for await (const line of createInterface({ input: createReadStream(trainFile), crlfDelay: Infinity })) {
    if (line.length === 0) continue;
    while (inPart >= (sizes[part] ?? Infinity)) {
      await close();
      part++;
      inPart = 0;
    }
    out ??= createWriteStream(jsonParts[part]!);
    if (!out.write(`${line}\n`)) await once(out, 'drain');
    inPart++;
    seen++;
  }
  await close();
  if (seen !== rows) throw new Error(`${trainFile}: ${seen} training rows, but ${rows} were expected`);

  const typed = schema.columns.map((c) => `${sqlString(c.name)}: ${sqlString(PARQUET_TYPES[c.type])}`).join(', ');
  const names = schema.columns.map((c) => `"${c.name.replace(/"/g, '""')}"`);
  const empty = `SELECT ${schema.columns.map((c, i) => `NULL::${PARQUET_TYPES[c.type]} AS ${names[i]}`).join(', ')} LIMIT 0`;
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    for (const [i, p] of parts.entries()) {
      const rowsOf = `SELECT ${names.join(', ')} FROM read_json(${sqlString(jsonParts[i]!)}, format = 'newline_delimited', columns = {${typed}})`;
      const query = p.rows > 0 ? rowsOf : empty;
      await connection.run(`COPY (${query}) TO ${sqlString(p.path)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`);
      await rm(jsonParts[i]!, { force: true });
    }
  } catch (err) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Could not write the training rows as Parquet: ${(err as Error).message}`,
      { trainFile },
      { cause: err },
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return parts;
}

/**
 * Stores the parts (content-addressed, like every artifact) and presigns a GET URL for each that
 * works for `expirySeconds`. Returns what the program reads from MLOPS_TRAIN_URIS.
 */
export async function publishTrainingParts(
  store: PartStore,
  parts: LocalPart[],
  schema: DatasetSchema,
  expirySeconds: number,
): Promise<TrainParts> {
  const expires = new Date(Date.now() + expirySeconds * 1000).toISOString();
  const published: TrainPart[] = [];
  for (const part of parts) {
    const ref = await store.putFile(part.path, { contentType: 'application/vnd.apache.parquet' });
    const url = await store.presignedGetUrl(ref, expirySeconds);
    published.push({ url, uri: ref.uri, sha256: ref.sha256, size: ref.size, rows: part.rows });
  }
  return {
    format: TRAIN_PARTS_FORMAT,
    rows: parts.reduce((n, p) => n + p.rows, 0),
    columns: schema.columns.map((c) => ({ name: c.name, type: c.type, parquet: PARQUET_TYPES[c.type] })),
    expires,
    parts: published,
  };
}
