/**
 * Feature binning for histogram-based boosting: each input becomes a small integer, so a node's best split
 * is found by scanning at most 255 histogram bins instead of sorting values.
 *
 * Thresholds are learned as scikit-learn's HistGradientBoosting learns them: with at most `maxBins` distinct
 * values, the midpoints between consecutive distinct values; otherwise the midpoints at evenly spaced
 * percentiles. Bin b holds values with thresholds[b−1] < x ≤ thresholds[b], so "bin ≤ b" and
 * "x ≤ thresholds[b]" select the same rows, which lets a tree trained on bins predict on raw values.
 * Missing values (NaN) get their own bin, `MISSING_BIN`, whatever the feature's number of bins.
 *
 * A categorical feature arrives as category codes (preprocess.ts, `categoricalEncoding: 'codes'`: 0..m−1 for
 * the kept categories, m for "other") and its bin is its code: one byte per row, however many categories.
 */
import type { Rng } from '../../random';

/** The bin of missing values; real values use bins 0..254 at most. */
export const MISSING_BIN = 255;
/** Histogram slots per feature: every possible bin including the missing one. */
export const BINS_PER_FEATURE = 256;
/** The most bins real values may use (0..254), so the missing bin never collides with them. */
export const MAX_BINS = 255;
/** Thresholds are learned from at most this many rows, as scikit-learn does. */
const BINNING_SUBSAMPLE = 200_000;

/** The learned thresholds of every feature. */
export interface Binner {
  /** Per feature, increasing thresholds; feature f has thresholds[f].length + 1 bins for real values (none if categorical). */
  thresholds: Float64Array[];
  /** Per feature, 0 for a numeric feature, else its number of category codes (kept categories plus "other"). */
  categoryCodes: Int32Array;
}

/**
 * Learns bin thresholds from the training inputs: the rows `trainRows` of `columns` (all rows when omitted).
 * `categoryCodes[f]` > 0 marks feature f as categorical with that many codes.
 */
export function fitBinner(columns: Float64Array[], maxBins: number, rng: Rng, categoryCodes?: Int32Array, trainRows?: Uint32Array): Binner {
  const n = trainRows ? trainRows.length : columns.length > 0 ? columns[0].length : 0;
  let rows: Uint32Array | undefined;
  if (n > BINNING_SUBSAMPLE) {
    // A sorted random subset, the same one for every feature.
    rows = sampleWithoutReplacement(n, BINNING_SUBSAMPLE, rng);
    if (trainRows) rows = rows.map((k) => trainRows[k]);
  } else {
    rows = trainRows;
  }
  const codes = categoryCodes ?? new Int32Array(columns.length);
  const thresholds = columns.map((col, f) => (codes[f] > 0 ? new Float64Array(0) : featureThresholds(col, rows, maxBins)));
  return { thresholds, categoryCodes: codes };
}

/** Real-value bins per feature: thresholds + 1 for a numeric feature, the number of codes for a categorical one. */
export function realBinCounts(binner: Binner): Int32Array {
  return Int32Array.from(binner.thresholds, (t, f) => (binner.categoryCodes[f] > 0 ? binner.categoryCodes[f] : t.length + 1));
}

function featureThresholds(col: Float64Array, rows: Uint32Array | undefined, maxBins: number): Float64Array {
  const count = rows ? rows.length : col.length;
  const values = new Float64Array(count);
  let m = 0;
  for (let k = 0; k < count; k++) {
    const v = rows ? col[rows[k]] : col[k];
    if (v === v) values[m++] = v;
  }
  const sorted = values.subarray(0, m).sort();
  const distinct: number[] = [];
  for (let i = 0; i < m && distinct.length <= maxBins; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct.push(sorted[i]);
  if (distinct.length <= maxBins) {
    const out = new Float64Array(Math.max(0, distinct.length - 1));
    for (let i = 0; i < out.length; i++) out[i] = (distinct[i] + distinct[i + 1]) / 2;
    return out;
  }
  // Percentiles with the "midpoint" rule: halfway between the two order statistics around the position.
  const out = new Float64Array(maxBins - 1);
  for (let b = 1; b < maxBins; b++) {
    const pos = (b / maxBins) * (m - 1);
    out[b - 1] = (sorted[Math.floor(pos)] + sorted[Math.ceil(pos)]) / 2;
  }
  return out;
}

/**
 * Maps the inputs to bins, row-major (`rowCount × featureCount` bytes), the layout histogram building reads
 * one row at a time: the rows `rows` of `columns` in that order (all rows when omitted), so a subset is binned
 * without copying its values first. Writes into `out` when given (e.g. shared memory for worker threads).
 */
export function binRows(binner: Binner, columns: Float64Array[], out?: Uint8Array, rows?: Uint32Array): Uint8Array {
  const F = columns.length;
  const n = rows ? rows.length : F > 0 ? columns[0].length : 0;
  const binned = out ?? new Uint8Array(n * F);
  // Thresholds padded with +Infinity to 256 entries make the search a fixed eight halvings.
  const padded = binner.thresholds.map((thr) => {
    const p = new Float64Array(256).fill(Infinity);
    p.set(thr);
    return p;
  });
  for (let f = 0; f < F; f++) {
    const thr = padded[f];
    const col = columns[f];
    if (binner.categoryCodes[f] > 0) {
      for (let i = 0, o = f; i < n; i++, o += F) {
        const v = col[rows ? rows[i] : i];
        binned[o] = v !== v ? MISSING_BIN : v;
      }
      continue;
    }
    for (let i = 0, o = f; i < n; i++, o += F) {
      const v = col[rows ? rows[i] : i];
      if (v !== v) {
        binned[o] = MISSING_BIN;
        continue;
      }
      // The number of thresholds strictly below v.
      let pos = 0;
      if (thr[pos + 127] < v) pos += 128;
      if (thr[pos + 63] < v) pos += 64;
      if (thr[pos + 31] < v) pos += 32;
      if (thr[pos + 15] < v) pos += 16;
      if (thr[pos + 7] < v) pos += 8;
      if (thr[pos + 3] < v) pos += 4;
      if (thr[pos + 1] < v) pos += 2;
      if (thr[pos] < v) pos += 1;
      binned[o] = pos;
    }
  }
  return binned;
}

function sampleWithoutReplacement(n: number, k: number, rng: Rng): Uint32Array {
  // Floyd's algorithm keeps memory proportional to k.
  const chosen = new Set<number>();
  for (let j = n - k; j < n; j++) {
    const t = rng.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return Uint32Array.from(chosen).sort();
}
