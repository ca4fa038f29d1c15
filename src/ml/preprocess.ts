/**
 * Feature preprocessing that travels inside every model, so serving applies exactly the training transforms.
 *
 * `fitPreprocessing` learns, from the training frame only, how each feature becomes numeric model inputs;
 * `transformFrame` applies that recipe to any frame (training, validation, serving):
 *
 * - numeric: kept as is; a missing value is replaced by the training median or mean (or left NaN when the
 *   trainer handles missing values itself, as gbdt does).
 * - boolean: 0/1; a missing value becomes the more frequent of 0 and 1 in training (or stays NaN when
 *   imputation is off).
 * - categorical: one-hot, one output per category seen in training, in sorted order. A missing value becomes
 *   the most frequent category, or a `(missing)` category of its own when training had missing values. A
 *   category never seen in training (or a missing value with nowhere to go) sets every output of the feature to 0.
 *   With `categoricalEncoding: 'codes'` (gbdt's native categories) a categorical feature is one output instead:
 *   the index of its category in `categories` (the at most `maxCategories` most frequent ones with at least
 *   `MIN_CATEGORY_COUNT` training rows, sorted); any other category, rare or never seen in training, is the
 *   code `categories.length` ("other"), and a missing value stays NaN.
 * - datetime (epoch milliseconds, UTC): five outputs, `year` (fractional, e.g. 2012.5), `dayOfYearSin/Cos`
 *   and `dayOfWeekSin/Cos` (a position on the yearly and weekly cycle, so December 31 sits next to January 1),
 *   and `timeOfDaySin/Cos` for the position in the day. A missing timestamp is replaced by the training median.
 *
 * With `standardize`, numeric and datetime outputs are centred and scaled by the training mean and standard
 * deviation (population, as scikit-learn's StandardScaler); one-hot and boolean outputs stay 0/1.
 */
import { FailureType, MlopsError } from '../errors';
import { nthElement } from './stats/quantile';
import type { ColumnSpec, ColumnType, DatasetSchema, Frame } from './types';

/** The category that stands for "missing" when missing values are their own category. */
export const MISSING_CATEGORY = '(missing)';

/** How a trainer wants its inputs prepared. */
export interface PreprocessingOptions {
  /** Centre and scale numeric and datetime outputs (linear models need it; trees do not). */
  standardize: boolean;
  /** How a missing numeric, boolean or datetime value is filled; `none` leaves NaN for trainers that handle it. */
  numericImpute: 'median' | 'mean' | 'none';
  /** How a missing categorical value is encoded (one-hot only; codes keep missing values as NaN). */
  categoricalImpute: 'most-frequent' | 'missing-token';
  /** One-hot outputs (the default, and what models without this field used), or one output of category codes. */
  categoricalEncoding?: 'one-hot' | 'codes';
  /** With codes: the most categories a feature keeps; the rest share the "other" code. */
  maxCategories?: number;
}

/** With category codes, a category seen on fewer training rows than this shares the "other" code. */
export const MIN_CATEGORY_COUNT = 10;

/** The learned recipe for one input feature. */
export type FeatureTransform =
  | { name: string; type: 'numeric' | 'boolean'; fill: number | null }
  | { name: string; type: 'datetime'; fill: number | null }
  | { name: string; type: 'categorical'; categories: string[]; fill: string | null };

/** The whole learned preprocessing, stored as plain JSON inside a model. */
export interface Preprocessing {
  options: PreprocessingOptions;
  features: FeatureTransform[];
  /** The name of each model input, e.g. `temp_max`, `weather=rain`, `date.dayOfYearSin`. */
  outputs: string[];
  /** Per output: subtract this (0 for one-hot and boolean outputs). */
  center: number[];
  /** Per output: then divide by this (1 for one-hot and boolean outputs). */
  scale: number[];
}

/** Model inputs, one Float64Array per output (column-major), `rowCount` long each. */
export interface DesignMatrix {
  rowCount: number;
  columns: Float64Array[];
  names: string[];
}

/** The outputs of a datetime feature, in order. */
export const DATETIME_PARTS = [
  'year',
  'dayOfYearSin',
  'dayOfYearCos',
  'dayOfWeekSin',
  'dayOfWeekCos',
  'timeOfDaySin',
  'timeOfDayCos',
] as const;
const MS_PER_DAY = 86_400_000;

/** Learns the preprocessing of `schema.features` from a training frame. */
export function fitPreprocessing(frame: Frame, schema: DatasetSchema, options: PreprocessingOptions): Preprocessing {
  return fitTransform(frame, schema, options).preprocessing;
}

/** Learns the preprocessing from a training frame and returns it with the training frame transformed. */
export function fitTransform(
  frame: Frame,
  schema: DatasetSchema,
  options: PreprocessingOptions,
): { preprocessing: Preprocessing; design: DesignMatrix } {
  const scratch = new Float64Array(options.numericImpute === 'none' ? 0 : frame.rowCount);
  const features = schema.features.map((name) => fitFeature(frame, columnSpec(schema, name), options, scratch));
  const outputs: string[] = [];
  const center: number[] = [];
  const scale: number[] = [];
  // Learn centre and scale from the unscaled training outputs themselves, then scale those in place
  // (which needs private copies; without scaling the frame's own columns serve as they are).
  const raw = encode(frame, features, options, options.standardize);
  for (let j = 0; j < raw.columns.length; j++) {
    outputs.push(raw.names[j]);
    if (options.standardize && raw.scalable[j]) {
      const { mean, std } = meanStd(raw.columns[j]);
      center.push(mean);
      scale.push(std > 0 ? std : 1);
    } else {
      center.push(0);
      scale.push(1);
    }
  }
  const preprocessing = { options, features, outputs, center, scale };
  applyScaling(preprocessing, raw.columns);
  return { preprocessing, design: { rowCount: frame.rowCount, columns: raw.columns, names: raw.names } };
}

/**
 * Learns the preprocessing and returns the transformed training frame row-major (`rowCount × outputs`),
 * the layout a linear model reads, without an intermediate column-major copy; `allocate` provides the
 * matrix (e.g. in shared memory).
 */
export function fitTransformRows(
  frame: Frame,
  schema: DatasetSchema,
  options: PreprocessingOptions,
  allocate: (length: number) => Float64Array = (length) => new Float64Array(length),
): { preprocessing: Preprocessing; X: Float64Array; width: number } {
  const scratch = new Float64Array(options.numericImpute === 'none' ? 0 : frame.rowCount);
  const features = schema.features.map((name) => fitFeature(frame, columnSpec(schema, name), options, scratch));
  const raw = encode(frame, features, options, false);
  const center: number[] = [];
  const scale: number[] = [];
  raw.columns.forEach((col, j) => {
    const { mean, std } = options.standardize && raw.scalable[j] ? meanStd(col) : { mean: 0, std: 1 };
    center.push(mean);
    scale.push(std > 0 ? std : 1);
  });
  const n = frame.rowCount;
  const d = raw.columns.length;
  const X = allocate(n * d);
  const cols = raw.columns;
  const c = Float64Array.from(center);
  const s = Float64Array.from(scale);
  for (let i = 0, o = 0; i < n; i++) for (let j = 0; j < d; j++, o++) X[o] = (cols[j][i] - c[j]) / s[j];
  return { preprocessing: { options, features, outputs: raw.names, center, scale }, X, width: d };
}

/** Applies a learned preprocessing to a frame, giving the model inputs. */
export function transformFrame(recipe: Preprocessing, frame: Frame): DesignMatrix {
  const raw = encode(frame, recipe.features, recipe.options);
  applyScaling(recipe, raw.columns);
  return { rowCount: frame.rowCount, columns: raw.columns, names: raw.names };
}

function applyScaling(recipe: Preprocessing, columns: Float64Array[]): void {
  for (let j = 0; j < columns.length; j++) {
    const c = recipe.center[j];
    const s = recipe.scale[j];
    if (c === 0 && s === 1) continue;
    const col = columns[j];
    for (let i = 0; i < col.length; i++) col[i] = (col[i] - c) / s;
  }
}

/** Finds a feature's column spec, failing with the name when the schema does not declare it. */
export function columnSpec(schema: DatasetSchema, name: string): ColumnSpec {
  const spec = schema.columns.find((c) => c.name === name);
  if (!spec)
    throw new MlopsError(
      FailureType.InvalidInput,
      `Feature "${name}" is not a column of the schema; declare it in columns or remove it from features.`,
      { feature: name },
    );
  return spec;
}

function fitFeature(frame: Frame, spec: ColumnSpec, options: PreprocessingOptions, scratch: Float64Array): FeatureTransform {
  if (spec.type === 'categorical') {
    const values = categoricalColumn(frame, spec.name);
    const counts = new Map<string, number>();
    let missing = 0;
    for (const v of values) {
      if (v === null) missing++;
      else counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    if (options.categoricalEncoding === 'codes')
      return { name: spec.name, type: 'categorical', categories: keptCategories(counts, options.maxCategories), fill: null };
    const categories = [...counts.keys()].sort();
    let fill: string | null = null;
    if (options.categoricalImpute === 'missing-token' && missing > 0) {
      categories.push(MISSING_CATEGORY);
      fill = MISSING_CATEGORY;
    } else if (options.categoricalImpute === 'most-frequent') {
      fill = mostFrequent(counts);
    }
    return { name: spec.name, type: 'categorical', categories, fill };
  }
  const values = numericColumn(frame, spec.name, spec.type);
  let fill: number | null = null;
  if (options.numericImpute !== 'none') {
    fill = options.numericImpute === 'median' || spec.type === 'datetime' ? median(values, scratch) : meanStd(values).mean;
    if (spec.type === 'boolean' && fill !== null) fill = fill >= 0.5 ? 1 : 0;
  }
  return { name: spec.name, type: spec.type, fill };
}

/**
 * The categories that get codes of their own: the most frequent ones (ties to the smaller name), at most
 * `max`, each seen on at least MIN_CATEGORY_COUNT rows, in sorted order.
 */
function keptCategories(counts: Map<string, number>, max = Number.MAX_SAFE_INTEGER): string[] {
  const frequent = [...counts].filter(([, c]) => c >= MIN_CATEGORY_COUNT);
  frequent.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return frequent
    .slice(0, max)
    .map(([k]) => k)
    .sort();
}

interface RawEncoding {
  columns: Float64Array[];
  names: string[];
  scalable: boolean[];
}

/**
 * Encodes the features as numeric outputs, unscaled. With `copy` false, a numeric column that needs no
 * filling is the frame's own array, not a copy: the caller must then not write to it.
 */
function encode(frame: Frame, features: FeatureTransform[], options: PreprocessingOptions, copy = true): RawEncoding {
  const codes = options.categoricalEncoding === 'codes';
  const out: RawEncoding = { columns: [], names: [], scalable: [] };
  const n = frame.rowCount;
  for (const f of features) {
    if (f.type === 'categorical' && codes) {
      out.columns.push(categoryCodes(categoricalColumn(frame, f.name), f.categories));
      out.names.push(f.name);
      out.scalable.push(false);
    } else if (f.type === 'categorical') {
      const values = categoricalColumn(frame, f.name);
      const index = new Map(f.categories.map((c, k) => [c, k]));
      const cols = f.categories.map(() => new Float64Array(n));
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? f.fill;
        const k = v === null ? undefined : index.get(v);
        if (k !== undefined) cols[k][i] = 1;
      }
      f.categories.forEach((c, k) => {
        out.columns.push(cols[k]);
        out.names.push(`${f.name}=${c}`);
        out.scalable.push(false);
      });
    } else if (f.type === 'datetime') {
      const values = numericColumn(frame, f.name, 'datetime');
      const parts = DATETIME_PARTS.map(() => new Float64Array(n));
      for (let i = 0; i < n; i++) {
        const v = Number.isNaN(values[i]) && f.fill !== null ? f.fill : values[i];
        writeDatetimeParts(v, parts, i);
      }
      DATETIME_PARTS.forEach((p, k) => {
        out.columns.push(parts[k]);
        out.names.push(`${f.name}.${p}`);
        out.scalable.push(true);
      });
    } else {
      const values = numericColumn(frame, f.name, f.type);
      const fill = f.fill;
      let col = values;
      if (copy || (fill !== null && hasMissing(values))) {
        col = new Float64Array(values);
        if (fill !== null) for (let i = 0; i < n; i++) if (col[i] !== col[i]) col[i] = fill;
      }
      out.columns.push(col);
      out.names.push(f.name);
      out.scalable.push(f.type === 'numeric');
    }
  }
  return out;
}

/** Category codes: the index in `categories`, `categories.length` for any other category, NaN for missing. */
function categoryCodes(values: (string | null)[], categories: string[]): Float64Array {
  const index = new Map(categories.map((c, k) => [c, k]));
  const other = categories.length;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v === null ? NaN : (index.get(v) ?? other);
  }
  return out;
}

function hasMissing(values: Float64Array): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== values[i]) return true;
  return false;
}

/** Writes the derived features of one timestamp (NaN stays NaN in every part). */
function writeDatetimeParts(ms: number, parts: Float64Array[], i: number): void {
  if (Number.isNaN(ms)) {
    for (const p of parts) p[i] = NaN;
    return;
  }
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  const startOfYear = Date.UTC(year, 0, 1);
  const daysInYear = (Date.UTC(year + 1, 0, 1) - startOfYear) / MS_PER_DAY;
  const dayOfYear = Math.floor((ms - startOfYear) / MS_PER_DAY); // 0-based
  const yearAngle = (2 * Math.PI * dayOfYear) / daysInYear;
  const weekAngle = (2 * Math.PI * d.getUTCDay()) / 7;
  const dayFraction = (ms - Math.floor(ms / MS_PER_DAY) * MS_PER_DAY) / MS_PER_DAY;
  const dayAngle = 2 * Math.PI * dayFraction;
  parts[0][i] = year + dayOfYear / daysInYear;
  parts[1][i] = Math.sin(yearAngle);
  parts[2][i] = Math.cos(yearAngle);
  parts[3][i] = Math.sin(weekAngle);
  parts[4][i] = Math.cos(weekAngle);
  parts[5][i] = Math.sin(dayAngle);
  parts[6][i] = Math.cos(dayAngle);
}

/** Reads a numeric, boolean or datetime column, failing clearly when it is absent or of the wrong kind. */
export function numericColumn(frame: Frame, name: string, type: ColumnType): Float64Array {
  const col = frame.columns[name];
  if (col === undefined) throw new MlopsError(FailureType.InvalidInput, `Column "${name}" is missing from the data.`, { column: name });
  if (!(col instanceof Float64Array)) {
    throw new MlopsError(FailureType.InvalidInput, `Column "${name}" is declared ${type} but holds text; fix its type in the schema.`, {
      column: name,
      type,
    });
  }
  return col;
}

/** Reads a categorical column, failing clearly when it is absent or of the wrong kind. */
export function categoricalColumn(frame: Frame, name: string): (string | null)[] {
  const col = frame.columns[name];
  if (col === undefined) throw new MlopsError(FailureType.InvalidInput, `Column "${name}" is missing from the data.`, { column: name });
  if (col instanceof Float64Array) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Column "${name}" is declared categorical but holds numbers; fix its type in the schema.`,
      { column: name },
    );
  }
  return col;
}

function mostFrequent(counts: Map<string, number>): string | null {
  let best: string | null = null;
  let bestCount = -1;
  // Ties go to the smallest category, so the choice does not depend on row order.
  for (const [k, c] of counts) if (c > bestCount || (c === bestCount && best !== null && k < best)) [best, bestCount] = [k, c];
  return best;
}

/** Mean and population standard deviation of the non-missing values (0 and 0 when there are none). */
export function meanStd(values: Float64Array): { mean: number; std: number } {
  let n = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === v) {
      sum += v;
      n++;
    }
  }
  if (n === 0) return { mean: 0, std: 0 };
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === v) ss += (v - mean) * (v - mean);
  }
  return { mean, std: Math.sqrt(ss / n) };
}

/** Median of the non-missing values (the mean of the two middle ones for an even count), 0 when there are none; `scratch` is overwritten. */
export function median(values: Float64Array, scratch?: Float64Array): number {
  // A reused scratch buffer spares one large allocation per column.
  const buffer = scratch && scratch.length >= values.length ? scratch : new Float64Array(values.length);
  if (values.length < 4096 || !LITTLE_ENDIAN) {
    let n = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === values[i]) buffer[n++] = values[i];
    return n === 0 ? 0 : middleOf(buffer.subarray(0, n), (n - 1) >> 1, n >> 1);
  }
  // Bucket by the top bits of each value's IEEE 754 pattern, made order-preserving (sign, exponent and
  // the first mantissa bits), find the buckets holding the middle ranks, and select only among their
  // values: two passes over the data instead of a selection over all of it, and still exact.
  const words = new Uint32Array(values.buffer, values.byteOffset, 2 * values.length);
  const counts = new Int32Array(1 << MEDIAN_BUCKET_BITS);
  const shift = 32 - MEDIAN_BUCKET_BITS;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== values[i]) continue;
    // Flipping all bits of a negative and the sign bit of a positive value makes the bits sort like the values.
    const hi = words[2 * i + 1];
    counts[(hi ^ ((hi >> 31) | 0x80000000)) >>> shift]++;
    n++;
  }
  if (n === 0) return 0;
  const lowRank = (n - 1) >> 1;
  const highRank = n >> 1;
  let below = 0;
  let first = 0;
  while (below + counts[first] <= lowRank) below += counts[first++];
  let last = first;
  let upTo = below + counts[first];
  while (upTo <= highRank) upTo += counts[++last];
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue;
    const hi = words[2 * i + 1];
    const k = (hi ^ ((hi >> 31) | 0x80000000)) >>> shift;
    if (k >= first && k <= last) buffer[m++] = v;
  }
  return middleOf(buffer.subarray(0, m), lowRank - below, highRank - below);
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
/** 2^18 buckets: 64 per power of two, so a bucket rarely holds more than a few percent of a column. */
const MEDIAN_BUCKET_BITS = 18;

/** The mean of the values of ranks `lo` and `hi` (equal for an odd count); rearranges `a`. */
function middleOf(a: Float64Array, lo: number, hi: number): number {
  const upper = select(a, hi);
  if (lo === hi) return upper;
  // After selecting rank hi, every value left of it is smaller or equal: rank lo is their maximum.
  let lower = -Infinity;
  for (let i = 0; i < hi; i++) if (a[i] > lower) lower = a[i];
  return (lower + upper) / 2;
}

/** The k-th smallest value of `a`, with every smaller or equal value moved before it. */
function select(a: Float64Array, k: number): number {
  nthElement(a, 0, a.length - 1, k);
  return a[k];
}
