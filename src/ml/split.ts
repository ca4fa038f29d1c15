/**
 * Train/test splits as index arrays: seeded random, stratified by class, or by time. The same
 * seed and data always give the same split, so a re-run of a pipeline trains on the same rows.
 *
 * Sizes follow scikit-learn's train_test_split: the test set has ceil(testFraction · n) rows.
 * Indices are returned in ascending order (row order of the source), not in shuffled order.
 */
import { FailureType, MlopsError } from '../errors';
import { createRng, permutation, shuffleInPlace } from './random';
import type { Column, DatasetSchema, Frame } from './types';

/** Row indices of a split. */
export interface SplitIndices {
  train: number[];
  test: number[];
}

/** How to split. */
export type SplitOptions =
  | { method: 'random'; testFraction: number; seed: number }
  | { method: 'stratified'; testFraction: number; seed: number }
  | { method: 'time'; testFraction: number; column: string };

function testSize(n: number, testFraction: number): number {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new MlopsError(FailureType.InvalidInput, `testFraction must be between 0 and 1 (exclusive), got ${testFraction}`);
  }
  const nTest = Math.ceil(testFraction * n);
  if (n < 2 || nTest >= n) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Cannot split ${n} row(s) with testFraction ${testFraction}: the training set would be empty`,
    );
  }
  return nTest;
}

const ascending = (a: number, b: number): number => a - b;

/** A seeded random split. */
export function randomSplit(rowCount: number, testFraction: number, seed: number): SplitIndices {
  const nTest = testSize(rowCount, testFraction);
  const order = permutation(rowCount, createRng(seed));
  return {
    test: Array.from(order.subarray(0, nTest)).sort(ascending),
    train: Array.from(order.subarray(nTest)).sort(ascending),
  };
}

/**
 * A seeded split that keeps each class's share in both sets. The test size is ceil(testFraction · n);
 * it is shared out to classes in proportion to their size, rounding down and then giving the
 * leftover rows to the classes with the largest remainders (ties: larger class, then label order).
 * Every class with at least 2 rows keeps at least one row in each set when the sizes allow it.
 * Missing labels (null/NaN) are not allowed: validate first.
 */
export function stratifiedSplit(labels: Column, testFraction: number, seed: number): SplitIndices {
  const n = labels.length;
  const nTest = testSize(n, testFraction);
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (v === null || (typeof v === 'number' && Number.isNaN(v))) {
      throw new MlopsError(FailureType.InvalidInput, `Row ${i + 1} has no label; a stratified split needs every label`);
    }
    const key = String(v);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  }
  const keys = [...groups.keys()].sort();
  const quotas = keys.map((k) => {
    const exact = (groups.get(k)!.length * nTest) / n;
    return { key: k, size: groups.get(k)!.length, take: Math.floor(exact), remainder: exact - Math.floor(exact) };
  });
  let left = nTest - quotas.reduce((s, q) => s + q.take, 0);
  const byRemainder = [...quotas].sort((a, b) => b.remainder - a.remainder || b.size - a.size || (a.key < b.key ? -1 : 1));
  for (const q of byRemainder) {
    if (left === 0) break;
    q.take++;
    left--;
  }
  // Keep both sides of every class of 2+ rows non-empty when possible.
  for (const q of quotas) {
    if (q.size >= 2 && q.take === 0) {
      const donor = quotas.filter((d) => d.take > 1).sort((a, b) => b.take - a.take)[0];
      if (donor) {
        donor.take--;
        q.take++;
      }
    }
    if (q.size >= 2 && q.take === q.size) {
      const receiver = quotas.filter((d) => d.take < d.size - 1).sort((a, b) => b.size - b.take - (a.size - a.take))[0];
      if (receiver) {
        receiver.take++;
        q.take--;
      }
    }
  }
  const rng = createRng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const q of quotas) {
    const members = shuffleInPlace<number, number[]>(groups.get(q.key)!.slice(), rng);
    test.push(...members.slice(0, q.take));
    train.push(...members.slice(q.take));
  }
  return { train: train.sort(ascending), test: test.sort(ascending) };
}

/**
 * A split by time: the latest ceil(testFraction · n) rows (by the datetime values, epoch ms) are the
 * test set, so a model is evaluated on data newer than anything it trained on. Ties keep row order.
 */
export function timeSplit(times: Float64Array, testFraction: number): SplitIndices {
  const n = times.length;
  const nTest = testSize(n, testFraction);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(times[i])) {
      throw new MlopsError(FailureType.InvalidInput, `Row ${i + 1} has no time value; a time split needs a time on every row`);
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => times[a] - times[b] || a - b);
  return {
    train: order.slice(0, n - nTest).sort(ascending),
    test: order.slice(n - nTest).sort(ascending),
  };
}

/** Splits a frame as the options say (stratified uses the schema's target). */
export function splitFrame(frame: Frame, schema: DatasetSchema, options: SplitOptions): SplitIndices {
  switch (options.method) {
    case 'random':
      return randomSplit(frame.rowCount, options.testFraction, options.seed);
    case 'stratified': {
      const labels = frame.columns[schema.target];
      if (!labels) throw new MlopsError(FailureType.InvalidInput, `The frame has no target column "${schema.target}"`);
      return stratifiedSplit(labels, options.testFraction, options.seed);
    }
    case 'time': {
      const times = frame.columns[options.column];
      if (!(times instanceof Float64Array)) {
        throw new MlopsError(FailureType.InvalidInput, `A time split needs the datetime column "${options.column}" in the frame`);
      }
      return timeSplit(times, options.testFraction);
    }
  }
}

/** Rows [start, end) of a frame; numeric columns are views, not copies. */
export function sliceRows(frame: Frame, start: number, end: number): Frame {
  const columns: Record<string, Column> = {};
  for (const [name, column] of Object.entries(frame.columns))
    columns[name] = column instanceof Float64Array ? column.subarray(start, end) : column.slice(start, end);
  return { rowCount: end - start, columns };
}

/** The rows of a frame at the given indices, in that order. */
export function takeRows(frame: Frame, indices: ArrayLike<number>): Frame {
  const columns: Record<string, Column> = {};
  for (const [name, column] of Object.entries(frame.columns)) {
    if (column instanceof Float64Array) {
      const out = new Float64Array(indices.length);
      for (let i = 0; i < indices.length; i++) out[i] = column[indices[i]];
      columns[name] = out;
    } else {
      const out = new Array<string | null>(indices.length);
      for (let i = 0; i < indices.length; i++) out[i] = column[indices[i]];
      columns[name] = out;
    }
  }
  return { rowCount: indices.length, columns };
}
