/**
 * Dataset snapshots for the lifecycle stages: ingest builds one with the engine (src/data: Parquet
 * with typed columns, source row numbers and hash-split keys, validated and profiled out of core);
 * train and validate read its split back column by column. JSON-lines snapshots made before the
 * engine are still read, split and served the same way.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { FailureType, MlopsError } from '../errors';
import { hashSides, isParquetFile, readParquetFrame, writeParquetSide } from '../data/frame';
import { readFrame } from '../data/read';
import { buildSnapshot, type SnapshotLineage } from '../data/snapshot';
import type { DatasetProfile } from './profile';
import type { OpenS3 } from './readers';
import { splitFrame, takeRows, type SplitOptions } from './split';
import type { DatasetSchema, Frame } from './types';
import type { ValidationReport } from './data-validation';

export type { SnapshotLineage } from '../data/snapshot';

/** What to read and how to keep it. */
export interface SnapshotOptions {
  /** The main source, then any extra sources (new data windows), all with the same columns. */
  sources: string[];
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  delimiter?: string;
  /** The declared schema; when absent it is inferred from every row with `target`. */
  schema?: DatasetSchema;
  target?: string;
  /** Keep only rows of the first source whose datetime column lies in [from, to]; extra sources are kept whole. */
  filter?: { column: string; from?: string; to?: string };
  /** Derived columns: name to SQL expression over the typed columns. */
  columns?: Record<string, string>;
  /** Keep only rows where this SQL condition holds. */
  where?: string;
  /** The main source's text encoding (default UTF-8). */
  encoding?: 'utf-8' | 'latin1' | 'windows-1252';
  /** Drop rows whose target is missing, counting them in the lineage. */
  dropMissingTarget?: boolean;
  /** The hash split's seed (the spec's dataset.split.seed); default 42. */
  hashSeed?: number;
  /** The format of the extra sources, when their names do not tell it. */
  windowFormat?: 'csv' | 'jsonl' | 'json' | 'parquet';
  openS3?: OpenS3;
  /** Where to write the snapshot (Parquet). */
  outFile: string;
  /** Scratch space for the engine and copies of remote sources (default: a temporary directory, removed after). */
  scratchDir?: string;
  /** Most bytes of remote sources copied into scratch space (default 20 GiB; workers pass MLOPS_SCRATCH_BUDGET). */
  scratchBudget?: number;
  /** The engine's memory limit (default 1.6 GB; workers pass MLOPS_INGEST_MEMORY_LIMIT). */
  memoryLimit?: string;
}

/** The built snapshot, before it is stored. */
export interface PreparedSnapshot {
  schema: DatasetSchema;
  rowCount: number;
  validation: ValidationReport;
  profile: DatasetProfile;
  classCounts?: Record<string, number>;
  /** How the snapshot was made: sources, filter, derived columns, engine. */
  lineage: SnapshotLineage;
}

/** Reads the sources into one Parquet snapshot file, validated and profiled by the engine. */
export async function prepareSnapshot(o: SnapshotOptions): Promise<PreparedSnapshot> {
  const own = o.scratchDir ? undefined : await mkdtemp(join(tmpdir(), 'mlops-ingest-'));
  try {
    return await buildSnapshot({
      sources: o.sources,
      format: o.format,
      delimiter: o.delimiter,
      windowFormat: o.windowFormat,
      openS3: o.openS3,
      schema: o.schema,
      target: o.target,
      filter: o.filter,
      columns: o.columns,
      where: o.where,
      encoding: o.encoding,
      dropMissingTarget: o.dropMissingTarget,
      hashSeed: o.hashSeed,
      outFile: o.outFile,
      dir: o.scratchDir ?? own!,
      scratchBudget: o.scratchBudget,
      memoryLimit: o.memoryLimit,
    });
  } finally {
    if (own) await rm(own, { recursive: true, force: true });
  }
}

/** How a snapshot is split into training and holdout rows (as in the pipeline spec). */
export interface SplitSpec {
  method: 'hash' | 'random' | 'stratified' | 'time';
  testFraction: number;
  seed: number;
  column?: string;
}

/** The row indices of each side of a snapshot's split, the same every time (train and evaluate agree on the holdout). */
async function splitIndices(
  file: string,
  frame: Frame,
  schema: DatasetSchema,
  split: SplitSpec,
): Promise<{ train: number[]; test: number[] }> {
  if (split.method !== 'hash') {
    const options: SplitOptions =
      split.method === 'time'
        ? { method: 'time', testFraction: split.testFraction, column: split.column! }
        : { method: split.method, testFraction: split.testFraction, seed: split.seed };
    return splitFrame(frame, schema, options);
  }
  const test = await hashedTestRows(file, split.testFraction, split.seed);
  if (test.length !== frame.rowCount) throw new Error(`snapshot ${file}: ${test.length} lines but ${frame.rowCount} rows`);
  const indices = { train: [] as number[], test: [] as number[] };
  for (let i = 0; i < test.length; i++) (test[i] ? indices.test : indices.train).push(i);
  if (indices.train.length === 0 || indices.test.length === 0) throw emptySide(frame.rowCount, split, indices.train.length === 0);
  return indices;
}

function emptySide(rows: number, split: SplitSpec, trainEmpty: boolean): MlopsError {
  const side = trainEmpty ? 'training' : 'test';
  return new MlopsError(
    FailureType.InvalidInput,
    `A hash split of ${rows} row(s) with testFraction ${split.testFraction} left the ${side} set empty; add rows or change testFraction`,
  );
}

function splitColumns(schema: DatasetSchema, split: SplitSpec): string[] {
  return [...new Set([...schema.features, schema.target, ...(split.column ? [split.column] : [])])];
}

async function readSplitFrame(file: string, schema: DatasetSchema, split: SplitSpec): Promise<Frame> {
  const columns = splitColumns(schema, split);
  // A Parquet snapshot is recognised by its content; older snapshots are JSON lines.
  return readFrame(file, schema, { format: 'jsonl', columns });
}

/** Reads a snapshot file and splits it the same way every time (train and evaluate agree on the holdout). */
export async function loadSplit(file: string, schema: DatasetSchema, split: SplitSpec): Promise<{ train: Frame; test: Frame }> {
  const frame = await readSplitFrame(file, schema, split);
  const indices = await splitIndices(file, frame, schema, split);
  return { train: takeRows(frame, indices.train), test: takeRows(frame, indices.test) };
}

/**
 * One side of a snapshot's split, the same rows in the same order as that side of `loadSplit`; with `sample`,
 * that many of them spread evenly over the side. A Parquet snapshot split by hash is read for those rows only
 * (each row's side is known from its stored key before any value is read), so a stage holds the side it
 * needs, or a few rows of it, never the whole snapshot. Other splits need the whole frame to decide.
 */
export async function loadSide(
  file: string,
  schema: DatasetSchema,
  split: SplitSpec,
  side: 'train' | 'test',
  options: { sample?: number } = {},
): Promise<Frame> {
  if (split.method !== 'hash' || !(await isParquetFile(file))) {
    const frame = (await loadSplit(file, schema, split))[side];
    return options.sample === undefined ? frame : takeRows(frame, evenly(frame.rowCount, options.sample));
  }
  const sides = await hashSides(file, split.testFraction, split.seed);
  const wanted = side === 'test' ? 1 : 0;
  let count = 0;
  for (let i = 0; i < sides.length; i++) if (sides[i] === wanted) count++;
  const tests = side === 'test' ? count : sides.length - count;
  if (tests === 0 || tests === sides.length) throw emptySide(sides.length, split, tests === sides.length);
  const keep = new Uint8Array(sides.length);
  const picks = options.sample === undefined ? undefined : evenly(count, options.sample);
  for (let i = 0, k = 0, p = 0; i < sides.length; i++) {
    if (sides[i] !== wanted) continue;
    if (!picks) keep[i] = 1;
    else if (picks[p] === k) ((keep[i] = 1), p++);
    k++;
  }
  return readParquetFrame(file, schema, splitColumns(schema, split), file, keep);
}

/** `n` row positions out of `total`, spread evenly from the first (all of them when `total` <= `n`). */
export function evenly(total: number, n: number): number[] {
  if (total <= n) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: n }, (_, k) => Math.floor((k * total) / n));
}

/**
 * Writes the training side of a snapshot's split as a JSON-lines file (for external trainers), the same
 * split as `loadSplit`. The holdout is never written: a program that trains cannot see the rows it is judged on.
 */
export async function writeTrainingRows(
  file: string,
  schema: DatasetSchema,
  split: SplitSpec,
  trainFile: string,
): Promise<{ trainRows: number; testRows: number }> {
  const indices = await splitIndices(file, await readSplitFrame(file, schema, split), schema, split);
  const isTest = new Uint8Array(indices.train.length + indices.test.length);
  for (const i of indices.test) isTest[i] = 1;
  if (await isParquetFile(file)) {
    await writeParquetSide(file, isTest, 0, trainFile);
    return { trainRows: indices.train.length, testRows: indices.test.length };
  }
  const train = createWriteStream(trainFile);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line.length === 0) continue;
    if (isTest[i++]) continue;
    if (!train.write(`${line}\n`)) await once(train, 'drain');
  }
  train.end();
  await finished(train);
  return { trainRows: indices.train.length, testRows: indices.test.length };
}

/** FNV-1a (32 bit) of a string, as a fraction in [0, 1). */
function hashFraction(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}

/**
 * Which rows of a snapshot are holdout rows under a hash split: a row's side depends only on its
 * content and the seed, so it keeps its side as the dataset grows (TFX's hash buckets). A champion
 * is then never scored on rows it was trained on, whatever data was appended since.
 */
export async function hashedTestRows(file: string, testFraction: number, seed: number): Promise<ArrayLike<boolean | number>> {
  if (await isParquetFile(file)) return hashSides(file, testFraction, seed);
  const out: boolean[] = [];
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) if (line.length > 0) out.push(hashFraction(`${seed}:${line}`) < testFraction);
  return out;
}
