/**
 * Dataset profiles (the StatisticsGen of this package): per column count, nulls, mean, std, min, max,
 * quantiles and a quantile histogram for numeric columns, frequencies for categorical ones. Built in
 * one streaming pass; the result is plain JSON and becomes the drift reference of a model version.
 *
 * Conventions:
 * - `std` is the population standard deviation (ddof = 0, like numpy's default and TFDV).
 * - Quantiles follow numpy's default 'linear' method. They are exact while a column has at most
 *   `exactLimit` values (default 1,000,000); beyond that a KLL sketch takes over, with rank error
 *   reported in `rankError` (≈ 1.7/k of n, k = 4096 by default: about 0.04%).
 * - The histogram has `bins` (default 10) quantile bins: edges are the quantiles at 0, 1/bins, …, 1
 *   with duplicates removed, counts follow numpy.histogram (each bin [lo, hi), the last [lo, hi]).
 * - Statistics of a column with no values are null (JSON has no NaN).
 */
import type { Row, RowBatch } from './readers/batch';
import { KllSketch, quantileSorted } from './stats/quantile';
import { typeBatch, type TypedBatch, type TypedColumn } from './typed-batch';
import type { ColumnSpec, ColumnType, DatasetSchema } from './types';

/** Options for profiling. */
export interface ProfileOptions {
  /** Quantiles to report, in (0, 1); default p1, p5, p25, p50, p75, p95, p99. */
  quantiles?: number[];
  /** Number of quantile bins in the histogram (default 10). */
  bins?: number;
  /** Values kept per numeric column for exact quantiles before switching to a sketch (default 1,000,000). */
  exactLimit?: number;
  /** KLL sketch size when the exact limit is passed (default 4096). */
  sketchK?: number;
  /** Distinct categories tracked per column; later new ones are counted in `otherCount` (default 10,000). */
  maxCategories?: number;
}

/** Histogram over quantile bins: `counts[i]` values fall in [edges[i], edges[i+1]) (the last bin is closed). */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** Profile of a numeric, boolean (0/1) or datetime (epoch ms) column. */
export interface NumericColumnProfile {
  name: string;
  type: Exclude<ColumnType, 'categorical'>;
  kind: 'numeric';
  /** Present, valid values. */
  count: number;
  /** Missing values. */
  nulls: number;
  /** Present values that are not of the column's type. */
  invalid: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** Quantiles by name: p1, p5, p25, p50, ... */
  quantiles: Record<string, number | null>;
  histogram: Histogram;
  /**
   * 'exact', or 'kll' when the column had more than `exactLimit` values; 'sample' when the engine took them
   * from a sample of rows past that limit (the histogram's counts stay exact, `rankError` is measured).
   */
  quantileMethod: 'exact' | 'kll' | 'sample';
  /** Normalised rank error bound of the quantiles and histogram (0 when exact; measured over every row when 'sample'). */
  rankError: number;
}

/** Profile of a categorical column. */
export interface CategoricalColumnProfile {
  name: string;
  type: 'categorical';
  kind: 'categorical';
  count: number;
  nulls: number;
  invalid: number;
  /** Distinct categories tracked. */
  distinct: number;
  /** Categories by descending count (ties by value). */
  frequencies: { value: string; count: number }[];
  /** Values of categories beyond `maxCategories`, not tracked individually. */
  otherCount: number;
}

export type ColumnProfile = NumericColumnProfile | CategoricalColumnProfile;

/** Profile of a dataset. */
export interface DatasetProfile {
  rowCount: number;
  columns: ColumnProfile[];
}

const DEFAULT_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

/** The name of a quantile: 0.01 → "p1", 0.025 → "p2.5". */
export function quantileName(q: number): string {
  return `p${Number((q * 100).toFixed(6))}`;
}

class NumericAccumulator {
  count = 0;
  nulls = 0;
  invalid = 0;
  private mean = 0;
  private m2 = 0;
  private min = Infinity;
  private max = -Infinity;
  private values: Float64Array | undefined = new Float64Array(1024);
  private sketch: KllSketch | undefined;
  constructor(
    readonly spec: ColumnSpec,
    private readonly options: Required<ProfileOptions>,
  ) {}

  add(x: number): void {
    if (Number.isNaN(x)) {
      this.nulls++;
      return;
    }
    const n = ++this.count;
    const delta = x - this.mean;
    this.mean += delta / n;
    this.m2 += delta * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    if (this.values) {
      if (n > this.options.exactLimit) this.switchToSketch();
      else {
        if (n > this.values.length) {
          const bigger = new Float64Array(Math.min(this.values.length * 2, this.options.exactLimit));
          bigger.set(this.values);
          this.values = bigger;
        }
        this.values[n - 1] = x;
        return;
      }
    }
    this.sketch!.add(x);
  }

  private switchToSketch(): void {
    this.sketch = new KllSketch(this.options.sketchK);
    this.sketch.addMany(this.values!.subarray(0, this.count - 1));
    this.values = undefined;
  }

  finish(): NumericColumnProfile {
    const { quantiles, bins } = this.options;
    const base = {
      name: this.spec.name,
      type: this.spec.type as NumericColumnProfile['type'],
      kind: 'numeric' as const,
      count: this.count,
      nulls: this.nulls,
      invalid: this.invalid,
    };
    if (this.count === 0) {
      return {
        ...base,
        mean: null,
        std: null,
        min: null,
        max: null,
        quantiles: Object.fromEntries(quantiles.map((q) => [quantileName(q), null])),
        histogram: { edges: [], counts: [] },
        quantileMethod: 'exact',
        rankError: 0,
      };
    }
    const edgeQs = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * (1 / bins)));
    let qValues: number[];
    let histogram: Histogram;
    if (this.values) {
      const sorted = this.values.subarray(0, this.count).sort();
      qValues = quantiles.map((q) => quantileSorted(sorted, q));
      histogram = quantileHistogram(sorted, bins);
    } else {
      const sketch = this.sketch!;
      qValues = sketch.quantiles(quantiles);
      const edges = uniqueSorted(sketch.quantiles(edgeQs));
      edges[0] = this.min;
      edges[edges.length - 1] = this.max;
      histogram = { edges: uniqueSorted(edges), counts: [] };
      histogram.counts =
        histogram.edges.length === 1
          ? [this.count]
          : histogram.edges.slice(0, -1).map((lo, i) => {
              const last = i === histogram.edges.length - 2;
              const below = last ? this.count : sketch.countBelow(histogram.edges[i + 1], true);
              return Math.round(below - sketch.countBelow(lo, true));
            });
    }
    return {
      ...base,
      mean: this.mean,
      std: Math.sqrt(this.m2 / this.count),
      min: this.min,
      max: this.max,
      quantiles: Object.fromEntries(quantiles.map((q, i) => [quantileName(q), qValues[i]])),
      histogram,
      quantileMethod: this.values ? 'exact' : 'kll',
      rankError: this.values ? 0 : this.sketch!.rankError,
    };
  }
}

/** Ascending values without repeats. */
export function uniqueSorted(values: number[]): number[] {
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

/** Index of the first element ≥ x. */
export function lowerBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The profile's quantile histogram of ascending values (edges at quantiles 0, 1/bins, …, 1, deduplicated). */
export function quantileHistogram(sorted: ArrayLike<number>, bins = 10): Histogram {
  if (sorted.length === 0) return { edges: [], counts: [] };
  const edges = uniqueSorted(Array.from({ length: bins + 1 }, (_, i) => quantileSorted(sorted, i === bins ? 1 : i * (1 / bins))));
  return { edges, counts: histogramSorted(sorted, edges) };
}

/** Counts per bin with numpy.histogram's edge convention, for ascending values. */
export function histogramSorted(sorted: ArrayLike<number>, edges: number[]): number[] {
  if (edges.length === 1) return [sorted.length];
  const counts: number[] = [];
  for (let i = 0; i < edges.length - 1; i++) {
    const lo = lowerBound(sorted, edges[i]);
    const hi = i === edges.length - 2 ? upperBound(sorted, edges[i + 1]) : lowerBound(sorted, edges[i + 1]);
    counts.push(hi - lo);
  }
  return counts;
}

/** Count of elements ≤ x. */
export function upperBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class CategoricalAccumulator {
  count = 0;
  nulls = 0;
  otherCount = 0;
  private readonly counts = new Map<string, number>();
  constructor(
    readonly spec: ColumnSpec,
    private readonly maxCategories: number,
  ) {}
  add(value: string | null): void {
    if (value === null) {
      this.nulls++;
      return;
    }
    this.count++;
    const c = this.counts.get(value);
    if (c !== undefined) this.counts.set(value, c + 1);
    else if (this.counts.size < this.maxCategories) this.counts.set(value, 1);
    else this.otherCount++;
  }
  finish(): CategoricalColumnProfile {
    const frequencies = [...this.counts.entries()]
      .map(([value, count]) => ({ value, count }))
      .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    return {
      name: this.spec.name,
      type: 'categorical',
      kind: 'categorical',
      count: this.count,
      nulls: this.nulls,
      invalid: 0,
      distinct: this.counts.size,
      frequencies,
      otherCount: this.otherCount,
    };
  }
}

/** Builds a profile incrementally: feed batches (or typed batches shared with validation), then `finish`. */
export class ProfileBuilder {
  readonly specs: ColumnSpec[];
  private rowCount = 0;
  private readonly accumulators: (NumericAccumulator | CategoricalAccumulator)[];
  constructor(columns: DatasetSchema | ColumnSpec[], options: ProfileOptions = {}) {
    this.specs = Array.isArray(columns) ? columns : columns.columns;
    const full: Required<ProfileOptions> = {
      quantiles: options.quantiles ?? DEFAULT_QUANTILES,
      bins: options.bins ?? 10,
      exactLimit: options.exactLimit ?? 1_000_000,
      sketchK: options.sketchK ?? 4096,
      maxCategories: options.maxCategories ?? 10_000,
    };
    this.accumulators = this.specs.map((s) =>
      s.type === 'categorical' ? new CategoricalAccumulator(s, full.maxCategories) : new NumericAccumulator(s, full),
    );
  }

  /** Adds a batch of raw rows. */
  addBatch(batch: RowBatch): void {
    this.addTyped(typeBatch(batch, this.specs));
  }

  /** Adds a batch already typed against the same columns. */
  addTyped(batch: TypedBatch): void {
    this.rowCount += batch.rowCount;
    batch.columns.forEach((col: TypedColumn, k) => {
      const acc = this.accumulators[k];
      if (acc instanceof NumericAccumulator) {
        const values = col.values as Float64Array;
        for (let i = 0; i < values.length; i++) acc.add(values[i]);
        // invalid values were counted as NaN, i.e. as nulls: move them
        acc.nulls -= col.invalid.length;
        acc.invalid += col.invalid.length;
      } else {
        const values = col.values as (string | null)[];
        for (let i = 0; i < values.length; i++) acc.add(values[i]);
      }
    });
  }

  finish(): DatasetProfile {
    return { rowCount: this.rowCount, columns: this.accumulators.map((a) => a.finish()) };
  }
}

/** Profiles rows from any iterable (sync or async). */
export async function profileRows(
  rows: AsyncIterable<Row> | Iterable<Row>,
  columns: DatasetSchema | ColumnSpec[],
  options: ProfileOptions = {},
): Promise<DatasetProfile> {
  const builder = new ProfileBuilder(columns, options);
  let batch: Row[] = [];
  const flush = (): void => {
    builder.addBatch({ columns: [], rows: batch, firstRow: 0, lines: [] });
    batch = [];
  };
  for await (const row of rows) {
    batch.push(row);
    if (batch.length >= 4096) flush();
  }
  flush();
  return builder.finish();
}

/** Profile of one numeric column given as values (NaN = missing). */
export function profileNumeric(name: string, values: ArrayLike<number>, options: ProfileOptions = {}): NumericColumnProfile {
  const builder = new ProfileBuilder([{ name, type: 'numeric' }], options);
  builder.addTyped({
    rowCount: values.length,
    firstRow: 1,
    lines: [],
    extra: [],
    columns: [{ spec: { name, type: 'numeric' }, present: true, values: Float64Array.from(values), invalid: [], invalidRaw: [] }],
  });
  return builder.finish().columns[0] as NumericColumnProfile;
}
