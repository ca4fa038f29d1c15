/**
 * Building a dataset snapshot: read one or more sources, keep the rows in the filter window, write
 * them as canonical JSON lines (the snapshot, content-addressed by the caller), then validate and
 * profile them in streaming passes. Memory stays constant in the input size.
 */
import { createWriteStream } from 'node:fs';
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
    // The spec's format applies to the main source; extra sources (new data windows) are known by their extension.
    const options = i === 0 ? { format: o.format, delimiter: o.delimiter, openS3: o.openS3 } : { openS3: o.openS3 };
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
  method: 'random' | 'stratified' | 'time';
  testFraction: number;
  seed: number;
  column?: string;
}

/** Reads a snapshot file and splits it the same way every time (train and evaluate agree on the holdout). */
export async function loadSplit(file: string, schema: DatasetSchema, split: SplitSpec): Promise<{ train: Frame; test: Frame }> {
  const columns = [...new Set([...schema.features, schema.target, ...(split.column ? [split.column] : [])])];
  const frame = await readFrame(file, schema, { format: 'jsonl', columns });
  const options: SplitOptions =
    split.method === 'time' ? { method: 'time', testFraction: split.testFraction, column: split.column! } : { method: split.method, testFraction: split.testFraction, seed: split.seed };
  const indices = splitFrame(frame, schema, options);
  return { train: takeRows(frame, indices.train), test: takeRows(frame, indices.test) };
}
