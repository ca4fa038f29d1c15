/**
 * Building a dataset snapshot: read one or more sources, keep the rows in the filter window, write
 * them as canonical JSON lines (the snapshot, content-addressed by the caller), then validate and
 * profile them in streaming passes. Memory stays constant in the input size.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { FailureType, MlopsError } from '../errors';
import { profileSource, type DatasetProfile } from './profile';
import { inferSchema, readBatches, readFrame, type OpenS3, type Row } from './readers';
import { splitFrame, takeRows, type SplitOptions } from './split';
import type { DatasetSchema, Frame } from './types';
import { validateSource, type ValidationReport } from './validate';
import { toDatetime } from './values';

/** Rows used to infer a schema when the spec declares none. */
const INFERENCE_SAMPLE = 5000;

/** What to read and how to keep it. */
export interface SnapshotOptions {
  /** The main source, then any extra sources (new data windows), all with the same columns. */
  sources: string[];
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  delimiter?: string;
  /** The declared schema; when absent it is inferred from the first rows with `target`. */
  schema?: DatasetSchema;
  target?: string;
  /** Keep only rows of the first source whose datetime column lies in [from, to]; extra sources are kept whole. */
  filter?: { column: string; from?: string; to?: string };
  /** The format of the extra sources, when their names do not tell it. */
  windowFormat?: 'csv' | 'jsonl' | 'json' | 'parquet';
  openS3?: OpenS3;
  /** Where to write the snapshot (JSON lines). */
  outFile: string;
  /** Progress: rows written so far. */
  onRows?: (rows: number) => void;
}

/** The built snapshot, before it is stored. */
export interface PreparedSnapshot {
  schema: DatasetSchema;
  rowCount: number;
  validation: ValidationReport;
  profile: DatasetProfile;
  classCounts?: Record<string, number>;
}

function bound(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = toDatetime(text);
  if (ms === undefined || Number.isNaN(ms)) throw new MlopsError(FailureType.InvalidInput, `dataset.filter.${what}: "${text}" is not an ISO date`);
  return ms;
}

/** Reads the sources into one JSON-lines snapshot file, then validates and profiles it. */
export async function prepareSnapshot(o: SnapshotOptions): Promise<PreparedSnapshot> {
  const from = bound(o.filter?.from, 'from');
  // An ISO date as "to" includes that whole day.
  const to = bound(o.filter?.to, 'to');
  const toInclusive = to !== undefined && o.filter?.to && /^\d{4}-\d{2}-\d{2}$/.test(o.filter.to) ? to + 86_399_999 : to;
  const out = createWriteStream(o.outFile);
  const sample: Row[] = [];
  let rowCount = 0;
  for (const [i, source] of o.sources.entries()) {
    // The spec's format applies to the main source; extra sources (new data windows) have their own.
    const options = i === 0 ? { format: o.format, delimiter: o.delimiter, openS3: o.openS3 } : { format: o.windowFormat, openS3: o.openS3 };
    for await (const batch of readBatches(source, options)) {
      let text = '';
      for (const row of batch.rows) {
        if (i === 0 && o.filter) {
          const t = toDatetime(row[o.filter.column]);
          if (t === undefined || Number.isNaN(t)) continue;
          if ((from !== undefined && t < from) || (toInclusive !== undefined && t > toInclusive)) continue;
        }
        if (sample.length < INFERENCE_SAMPLE) sample.push(row);
        text += `${JSON.stringify(row)}\n`;
        rowCount++;
      }
      if (!out.write(text)) await once(out, 'drain');
      o.onRows?.(rowCount);
    }
  }
  out.end();
  await finished(out);
  if (rowCount === 0) {
    throw new MlopsError(FailureType.DataValidation, `The dataset is empty${o.filter ? ` after the filter ${o.filter.column} in [${o.filter.from ?? '…'}, ${o.filter.to ?? '…'}]` : ''}: no rows were read from ${o.sources.join(', ')}`);
  }
  if (!o.schema && !o.target) throw new MlopsError(FailureType.InvalidInput, 'dataset: give either a schema or the target column');
  const schema = o.schema ?? inferSchema(sample, { target: o.target! });
  const validation = await validateSource(o.outFile, schema, { format: 'jsonl' });
  const profile = await profileSource(o.outFile, schema, { format: 'jsonl' });
  const classCounts = schema.task === 'classification' ? categoryCounts(profile, schema.target) : undefined;
  return { schema, rowCount, validation, profile, classCounts };
}

function categoryCounts(profile: DatasetProfile, column: string): Record<string, number> | undefined {
  const col = profile.columns.find((c) => c.name === column);
  return col?.kind === 'categorical' ? Object.fromEntries(col.frequencies.map((f) => [f.value, f.count])) : undefined;
}

/** How a snapshot is split into training and holdout rows (as in the pipeline spec). */
export interface SplitSpec {
  method: 'hash' | 'random' | 'stratified' | 'time';
  testFraction: number;
  seed: number;
  column?: string;
}

/** The row indices of each side of a snapshot's split, the same every time (train and evaluate agree on the holdout). */
async function splitIndices(file: string, frame: Frame, schema: DatasetSchema, split: SplitSpec): Promise<{ train: number[]; test: number[] }> {
  if (split.method !== 'hash') {
    const options: SplitOptions =
      split.method === 'time' ? { method: 'time', testFraction: split.testFraction, column: split.column! } : { method: split.method, testFraction: split.testFraction, seed: split.seed };
    return splitFrame(frame, schema, options);
  }
  const test = await hashedTestRows(file, split.testFraction, split.seed);
  if (test.length !== frame.rowCount) throw new Error(`snapshot ${file}: ${test.length} lines but ${frame.rowCount} rows`);
  const indices = { train: [] as number[], test: [] as number[] };
  test.forEach((isTest, i) => (isTest ? indices.test : indices.train).push(i));
  if (indices.train.length === 0 || indices.test.length === 0) {
    throw new MlopsError(FailureType.InvalidInput, `A hash split of ${frame.rowCount} row(s) with testFraction ${split.testFraction} left the ${indices.train.length === 0 ? 'training' : 'test'} set empty; add rows or change testFraction`);
  }
  return indices;
}

async function readSplitFrame(file: string, schema: DatasetSchema, split: SplitSpec): Promise<Frame> {
  const columns = [...new Set([...schema.features, schema.target, ...(split.column ? [split.column] : [])])];
  return readFrame(file, schema, { format: 'jsonl', columns });
}

/** Reads a snapshot file and splits it the same way every time (train and evaluate agree on the holdout). */
export async function loadSplit(file: string, schema: DatasetSchema, split: SplitSpec): Promise<{ train: Frame; test: Frame }> {
  const frame = await readSplitFrame(file, schema, split);
  const indices = await splitIndices(file, frame, schema, split);
  return { train: takeRows(frame, indices.train), test: takeRows(frame, indices.test) };
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
export async function hashedTestRows(file: string, testFraction: number, seed: number): Promise<boolean[]> {
  const out: boolean[] = [];
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) if (line.length > 0) out.push(hashFraction(`${seed}:${line}`) < testFraction);
  return out;
}
