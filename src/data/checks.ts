/**
 * Validation and profiling run by the engine over a typed relation, with the same rules, messages
 * and report shapes as the streaming `Validator` and `ProfileBuilder` of src/ml (which stay for rows
 * held in memory): a few aggregate queries per concern, whatever the number of rows.
 *
 * A typed relation has `__row` (the source row number) and, for the i-th column of the schema,
 * `v_i` (the typed value), `b_i` (a present value not of the type) and `x_i` (the raw value as
 * JSON, for examples in messages; only read where `b_i`).
 *
 * How the work is split (each part on a connection of its own, which the engine runs side by side):
 * - the value counts of every column that has few distinct values (categories, the target, numbers with
 *   few distinct values), one small table per column, from which all its figures are read;
 * - one aggregate scan of the rows for the other columns (counts, moments, minimum and maximum);
 * - for numeric columns past the exact limit, a sample of rows, sorted here, for their quantiles.
 */
import type { CategoricalColumnProfile, DatasetProfile, NumericColumnProfile, ProfileOptions } from '../ml/profile';
import { lowerBound, quantileName, uniqueSorted, upperBound } from '../ml/profile';
import { quantileSorted, selectRanks } from '../ml/stats/quantile';
import type { ColumnSpec, DatasetSchema } from '../ml/types';
import { isNumericType } from '../ml/values';
import { Validator, type ValidationOptions, type ValidationReport } from '../ml/data-validation';
import type { Engine } from './engine';
import { inListSql, jsNumberText } from './typing';

/** A relation typed against a schema's columns. */
export interface TypedRelation {
  relation: string;
  specs: ColumnSpec[];
  /** Whether the data has the i-th column at all. */
  present: boolean[];
  /** Columns of the data that the schema does not declare, with the first row that has them. */
  extra: { name: string; firstRow: number }[];
  /**
   * Where the examples of bad values of some columns are read instead (their `x_i` in `relation` is
   * then NULL): a relation of the same rows with `__row`, `b_i` and `x_i`, scanned only when bad values
   * were found, so the raw text need not be stored beside every typed value.
   */
  examples?: { relation: string; columns: Set<number>; /** Makes `relation`, before it is first read. */ prepare?: () => Promise<void> };
  /** The relation's row count when the caller knows it: the quantile sample is then drawn beside the aggregate scan. */
  rowCount?: number;
  /**
   * The exact minimum and maximum of some numeric columns' present values, known without a scan (the
   * engine's statistics of a stored column): the aggregate scan then leaves them out.
   */
  known?: Map<number, { min: number; max: number }>;
  /**
   * Columns whose value counts are better taken from their raw values (a relation passing them on as `key`), typed
   * after counting by `retype`: a SELECT of `v`, `b`, `n` and `first` over a relation of `k`, `n` and `first`. Typing
   * the distinct values instead of every row is what makes counting a typed source cheap.
   */
  keyed?: { relation: string; columns: Map<number, { key: string; retype: (counts: string) => string }> };
}

const DEFAULT_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

type Row = Record<string, unknown>;
/** A double literal read exactly as JavaScript wrote it (a bare 0.1 would be a DECIMAL to DuckDB). */
const dbl = (x: number): string => `CAST('${x}' AS DOUBLE)`;
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const rows5 = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number) : []);

/** What `checkTyped` computes: the validation report, the profile, or both from shared scans. */
export interface CheckOptions {
  validation?: ValidationOptions | false;
  profile?: ProfileOptions | false;
}

/** Values per column in the sample that quantiles past the exact limit are taken from (rows drawn by a hash of their number). */
export const QUANTILE_SAMPLE = 1 << 17;

/** The chance that a sampled column's true rank error exceeds the `rankError` it states (Dvoretzky–Kiefer–Wolfowitz). */
export const SAMPLE_RISK = 1e-3;

/**
 * The rank error bound of quantiles and histogram counts read from a sample of `m` values: with probability
 * 1 - SAMPLE_RISK no value's rank in the sample is further than this share from its rank in all the values (the
 * Dvoretzky–Kiefer–Wolfowitz inequality), plus one sample value for the interpolation between two of them.
 */
export function sampleRankError(m: number): number {
  return Math.sqrt(Math.log(2 / SAMPLE_RISK) / (2 * m)) + 1 / m;
}

/**
 * Which numeric columns look like they have few distinct values (codes, counts, flags, coarse times), from their
 * opening rows: at most a quarter of them distinct. One query for all of them.
 */
async function fewValues(engine: Engine, t: TypedRelation, columns: number[]): Promise<Map<number, number>> {
  if (columns.length === 0) return new Map();
  const parts = columns.map((i) => `count(DISTINCT v_${i}) AS d_${i}, count(v_${i}) AS n_${i}`);
  const r = await engine.one<Row>(`SELECT ${parts.join(', ')} FROM (SELECT * FROM ${t.relation} LIMIT 20000)`);
  return new Map(columns.filter((i) => num(r[`d_${i}`]) <= num(r[`n_${i}`]) / 4).map((i) => [i, num(r[`d_${i}`])]));
}

/** Runs tasks on up to `width` connections of their own (closed after), keeping the results in order. */
async function sideBySide<T>(engine: Engine, tasks: ((e: Engine) => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    const e = await engine.connect();
    try {
      while (next < tasks.length) {
        const k = next++;
        results[k] = await tasks[k](e);
      }
    } finally {
      e.close();
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(width, tasks.length) }, lane));
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return results;
}

/** The quantiles a profile reports, then its histogram's edges (0, 1/bins, ..., 1). */
function profileQuantiles(options: ProfileOptions): { quantiles: number[]; edgeQs: number[] } {
  const bins = options.bins ?? 10;
  return {
    quantiles: options.quantiles ?? DEFAULT_QUANTILES,
    edgeQs: Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * (1 / bins))),
  };
}

/** A column's quantile figures: the reported quantiles, the histogram and how they were found. */
interface Shape {
  quantiles: number[];
  histogram: { edges: number[]; counts: number[] };
  quantileMethod: 'exact' | 'sample';
  rankError: number;
}

/** The present values' count below a value, for every value the shape needs (a histogram edge). */
type Below = (e: number) => number;

/** Quantile values (numpy's linear method) and the histogram they bound, from ranked values and counts below edges. */
function shapeOf(
  sorted: ArrayLike<number>,
  count: number,
  qs: { quantiles: number[]; edgeQs: number[] },
  below: Below,
  span?: { min: number; max: number },
): Pick<Shape, 'quantiles' | 'histogram'> {
  const quantiles = qs.quantiles.map((q) => quantileSorted(sorted, q));
  const raw = qs.edgeQs.map((q) => quantileSorted(sorted, q));
  // The histogram spans every value, whatever a sample saw.
  if (span) {
    raw[0] = span.min;
    raw[raw.length - 1] = span.max;
  }
  const edges = uniqueSorted(raw);
  if (edges.length === 1) return { quantiles, histogram: { edges, counts: [count] } };
  // numpy's bins: [lo, hi) for every bin but the last, which is closed.
  const cumulative = edges.map((e, k) => (k === 0 ? 0 : k === edges.length - 1 ? count : below(e)));
  const counts = edges.slice(0, -1).map((_, k) => cumulative[k + 1] - cumulative[k]);
  return { quantiles, histogram: { edges, counts } };
}

/** What is known of one column after the scans: its counts and, for numbers, moments and shape. */
interface Figures {
  count: number;
  bad: number;
  nulls: number;
  below: number;
  above: number;
  lowest: number;
  highest: number;
  unseen: number;
  mean: number | null;
  std: number | null;
  shape?: Shape;
  frequencies?: { value: string; count: number }[];
  classes?: { label: string; n: number; first: number }[];
}

let countTables = 0;

/** A numeric column's value counts read out of the engine: present values ascending, with running counts. */
interface Counted {
  values: Float64Array;
  /** Values at most values[j]: the running sum of their counts. */
  upto: Float64Array;
  bad: number;
  nulls: number;
}

/** The values of a DOUBLE column of a chunk with no NULLs, copied in bulk. */
function doubles(vector: unknown, rows: number): Float64Array {
  const items = (vector as { items?: Float64Array }).items;
  if (items instanceof Float64Array && items.length >= rows) return items.subarray(0, rows);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = Number((vector as { getItem(r: number): unknown }).getItem(r));
  return out;
}

/** Reads a relation of value counts (`v`, `b`, `n`) out of the engine in bulk, present values ascending. */
async function readCounts(e: Engine, counts: string): Promise<Counted> {
  const result = await e.connection.run(`SELECT v, b, CAST(n AS DOUBLE) AS n FROM ${counts} ORDER BY v NULLS LAST`);
  const values = new Float64Array(result.rowCount);
  const upto = new Float64Array(result.rowCount);
  let at = 0;
  let running = 0;
  let bad = 0;
  let nulls = 0;
  for (let k = 0; k < result.chunkCount; k++) {
    const chunk = result.getChunk(k);
    const v = chunk.getColumnVector(0);
    const b = chunk.getColumnVector(1);
    const n = doubles(chunk.getColumnVector(2), chunk.rowCount);
    // Present values come first: copied in bulk up to the first missing one.
    let present = 0;
    while (present < chunk.rowCount && v.getItem(present) !== null) present++;
    values.set(doubles(v, chunk.rowCount).subarray(0, present), at);
    for (let r = 0; r < present; r++) upto[at + r] = running += n[r];
    at += present;
    for (let r = present; r < chunk.rowCount; r++) {
      if (b.getItem(r)) bad += n[r];
      else nulls += n[r];
    }
  }
  return { values: values.subarray(0, at), upto: upto.subarray(0, at), bad, nulls };
}

/** A numeric column's figures from its value counts, exactly: validation counts, moments, numpy's quantiles, the histogram. */
function numericFigures(c: Counted, spec: ColumnSpec, o: { validate: boolean; profile: ProfileOptions | undefined }): Figures {
  const present = c.values.length;
  const count = present > 0 ? c.upto[present - 1] : 0;
  const upTo = (j: number): number => (j === 0 ? 0 : c.upto[j - 1]);
  // Values below a bound: the running count before the first value not below it.
  const below: Below = (x) => upTo(lowerBound(c.values, x));
  const figures: Figures = {
    count,
    bad: c.bad,
    nulls: c.nulls,
    below: o.validate && spec.min !== undefined ? below(spec.min) : 0,
    above: o.validate && spec.max !== undefined ? count - upTo(upperBound(c.values, spec.max)) : 0,
    lowest: present > 0 ? c.values[0] : Infinity,
    highest: present > 0 ? c.values[present - 1] : -Infinity,
    unseen: 0,
    mean: null,
    std: null,
  };
  if (!o.profile || count === 0) return figures;
  let sum = 0;
  for (let j = 0; j < present; j++) sum += c.values[j] * (c.upto[j] - upTo(j));
  const mean = sum / count;
  let squares = 0;
  for (let j = 0; j < present; j++) squares += (c.upto[j] - upTo(j)) * (c.values[j] - mean) * (c.values[j] - mean);
  figures.mean = mean;
  figures.std = Math.sqrt(squares / count);
  // The value at rank k (0-based, ascending): the first whose running count passes k.
  const sorted = new Proxy({ length: count } as { length: number; [rank: number]: number }, {
    get: (target, key) => (key === 'length' ? target.length : c.values[upperBound(c.upto, Number(key))]),
  });
  figures.shape = { ...shapeOf(sorted, count, profileQuantiles(o.profile), below), quantileMethod: 'exact', rankError: 0 };
  return figures;
}

/**
 * A column's figures from its value counts (one GROUP BY scan of the rows into a small table on the
 * connection given): for numbers, the counts are read out and everything is exact arithmetic over them
 * (validation counts, moments, numpy's quantiles, the histogram's counts); for categories, the
 * frequencies; for the target, its classes in the order they first appear.
 */
async function countedColumn(
  e: Engine,
  t: TypedRelation,
  i: number,
  o: { validate: boolean; profile: ProfileOptions | undefined; classes?: number; maxCategories: number },
): Promise<Figures> {
  const spec = t.specs[i];
  const table = `__mlops_counts_${++countTables}`;
  const keyed = t.keyed?.columns.get(i);
  const numeric = isNumericType(spec.type);
  const typedCounts =
    keyed && keyed.retype(`(SELECT ${keyed.key} AS k, count(*) AS n, min(__row) AS first FROM ${t.keyed!.relation} GROUP BY ${keyed.key})`);
  // A number's figures are read from every row of its counts (raw values typed to the same number may stay apart), in
  // one query; a category's and the target's counts are kept in a small table for the queries that read them.
  if (numeric && o.classes === undefined)
    return numericFigures(
      await readCounts(
        e,
        `(${typedCounts ?? `SELECT v_${i} AS v, b_${i} AS b, count(*) AS n FROM ${t.relation} GROUP BY v_${i}, b_${i}`})`,
      ),
      spec,
      o,
    );
  // The first row of a value matters only for the target's classes (their order).
  const first = o.classes !== undefined;
  await e.run(
    `CREATE TEMP TABLE ${table} AS ` +
      (typedCounts
        ? `SELECT v, b, sum(n) AS n${first ? ', min(first) AS first' : ''} FROM (${typedCounts}) GROUP BY v, b`
        : `SELECT v_${i} AS v, b_${i} AS b, count(*) AS n${first ? ', min(__row) AS first' : ''} FROM ${t.relation} GROUP BY v_${i}, b_${i}`),
  );
  try {
    let figures: Figures;
    if (numeric) {
      figures = numericFigures(await readCounts(e, table), spec, o);
    } else {
      const parts = [
        'coalesce(sum(n) FILTER (WHERE v IS NOT NULL), 0) AS count',
        'coalesce(sum(n) FILTER (WHERE b), 0) AS bad',
        'coalesce(sum(n) FILTER (WHERE v IS NULL AND NOT b), 0) AS nulls',
      ];
      if (o.validate && spec.allowed) parts.push(`coalesce(sum(n) FILTER (WHERE NOT ${inListSql('v', spec.allowed)}), 0) AS unseen`);
      const r = await e.one<Row>(`SELECT ${parts.join(', ')} FROM ${table}`);
      figures = {
        count: num(r.count),
        bad: num(r.bad),
        nulls: num(r.nulls),
        below: 0,
        above: 0,
        lowest: Infinity,
        highest: -Infinity,
        unseen: num(r.unseen),
        mean: null,
        std: null,
      };
      if (o.profile && figures.count > 0) {
        const top = await e.rows<{ value: string; count: number }>(
          `SELECT v AS value, n AS count FROM ${table} WHERE v IS NOT NULL ORDER BY count DESC, value LIMIT ${o.maxCategories}`,
        );
        figures.frequencies = top.map((f) => ({ value: f.value, count: num(f.count) }));
      }
    }
    if (o.classes !== undefined) {
      const label = numeric ? jsNumberText('v') : 'v';
      figures.classes = (
        await e.rows<{ label: string; n: number; first: number }>(
          `SELECT ${label} AS label, n, first FROM ${table} WHERE v IS NOT NULL ORDER BY first LIMIT ${o.classes}`,
        )
      ).map((c) => ({ label: c.label, n: num(c.n), first: num(c.first) }));
    }
    return figures;
  } finally {
    await e.run(`DROP TABLE ${table}`);
  }
}

/**
 * The present values of some numeric columns in a sample of rows (unsorted): rows are drawn by a hash of their
 * row number (about `QUANTILE_SAMPLE` of them, the same rows each time), so no order or period in the data
 * biases them, and the values are copied out of the engine's vectors in bulk.
 */
async function drawSample(e: Engine, t: TypedRelation, columns: number[], rowCount: number): Promise<Map<number, Float64Array>> {
  const out = new Map<number, Float64Array>();
  if (columns.length === 0) return out;
  const k = Math.max(1, Math.floor(rowCount / QUANTILE_SAMPLE));
  const result = await e.connection.run(
    `SELECT ${columns.map((i) => `v_${i}`).join(', ')} FROM ${t.relation}${k > 1 ? ` WHERE hash(__row) % ${k} = 0` : ''}`,
  );
  const values = columns.map(() => new Float64Array(result.rowCount));
  const filled = columns.map(() => 0);
  for (let k = 0; k < result.chunkCount; k++) {
    const chunk = result.getChunk(k);
    columns.forEach((_, c) => {
      const vector = chunk.getColumnVector(c);
      for (let r = 0; r < chunk.rowCount; r++) {
        const x = vector.getItem(r);
        if (x !== null) values[c][filled[c]++] = Number(x);
      }
    });
  }
  columns.forEach((i, c) => out.set(i, values[c].subarray(0, filled[c])));
  return out;
}

/**
 * Validates and profiles a typed relation with as few scans as the rules allow, run side by side: the value
 * counts of each few-valued column (categories, the target's classes, numbers with few distinct values), one
 * aggregate scan for every other column, and for numeric columns past the exact limit a sample of rows. Numeric
 * columns under the limit that are not few-valued are sorted once for exact quantiles, and counted once more for
 * their histograms. Sample rows are read only for what was found. Validation results are exactly those of
 * `Validator`; the profile is `ProfileBuilder`'s, with a sample where it would use a sketch.
 */
export async function checkTyped(
  engine: Engine,
  t: TypedRelation,
  schema: DatasetSchema,
  o: CheckOptions = {},
): Promise<{ validation?: ValidationReport; profile?: DatasetProfile }> {
  const validate = o.validation !== false;
  const profile = o.profile === false ? undefined : (o.profile ?? {});
  const vopts = o.validation === false ? {} : (o.validation ?? {});
  const specs = t.specs;
  const numeric = [...specs.keys()].filter((i) => isNumericType(specs[i].type));
  const targetIndex = specs.findIndex((s) => s.name === schema.target);
  const classes = validate && schema.task === 'classification' && targetIndex >= 0 && t.present[targetIndex];
  const countOptions = {
    validate,
    profile,
    maxCategories: profile?.maxCategories ?? 10_000,
  };
  type Part =
    | { kind: 'scan'; row: Row; scanned: number[] }
    | { kind: 'counts'; i: number; figures: Figures }
    | { kind: 'sample'; values: Map<number, Float64Array> };
  const countTask =
    (i: number) =>
    async (e: Engine): Promise<Part> => ({
      kind: 'counts',
      i,
      figures: await countedColumn(e, t, i, {
        ...countOptions,
        classes: classes && i === targetIndex ? (vopts.maxClasses ?? 10_000) : undefined,
      }),
    });
  // The categories and the target are counted by value whatever the numbers turn out to be: they start at once,
  // beside the look at the numbers' opening rows that decides the rest.
  const first = new Set<number>();
  if (classes) first.add(targetIndex);
  if (profile) for (const i of specs.keys()) if (!isNumericType(specs[i].type)) first.add(i);
  const planned = (async (): Promise<Part[]> => {
    const few = profile ? await fewValues(engine, t, numeric) : new Map<number, number>();
    const counted = numeric.filter((i) => !first.has(i) && few.has(i));
    const scanned = [...specs.keys()].filter((i) => !first.has(i) && !few.has(i));
    const limit = profile?.exactLimit ?? 1_000_000;
    const early = profile && t.rowCount !== undefined && t.rowCount > limit ? scanned.filter((i) => isNumericType(specs[i].type)) : [];
    // The aggregate scan of the rows for the columns not counted by value.
    const aggregates = ['count(*) AS n'];
    for (const i of scanned) {
      const spec = specs[i];
      aggregates.push(`count(v_${i}) AS count_${i}`, `count_if(b_${i}) AS bad_${i}`);
      if (isNumericType(spec.type)) {
        const bounded = validate && (spec.min !== undefined || spec.max !== undefined);
        if (!t.known?.has(i) && (profile || bounded)) aggregates.push(`min(v_${i}) AS min_${i}`, `max(v_${i}) AS max_${i}`);
        const known = t.known?.get(i);
        // With the range known, the moments are sums around its middle (cheaper than the engine's running variance, and
        // as exact: no value is further from that middle than half the range); else the engine's mean and deviation.
        if (profile && known) {
          const c = dbl((known.min + known.max) / 2);
          aggregates.push(`sum(v_${i} - ${c}) AS s1_${i}`, `sum((v_${i} - ${c}) * (v_${i} - ${c})) AS s2_${i}`);
        } else if (profile) aggregates.push(`avg(v_${i}) AS mean_${i}`, `stddev_pop(v_${i}) AS std_${i}`);
      } else if (validate && spec.allowed) aggregates.push(`count_if(NOT ${inListSql(`v_${i}`, spec.allowed)}) AS unseen_${i}`);
    }
    const tasks: ((e: Engine) => Promise<Part>)[] = [
      async (e) => ({
        kind: 'scan',
        scanned,
        row:
          scanned.length === 0 && t.rowCount !== undefined
            ? { n: t.rowCount }
            : await e.one<Row>(`SELECT ${aggregates.join(', ')} FROM ${t.relation}`),
      }),
      ...counted.map(countTask),
    ];
    if (early.length > 0) tasks.push(async (e) => ({ kind: 'sample', values: await drawSample(e, t, early, t.rowCount!) }));
    return sideBySide(engine, tasks, 2);
  })();
  const settled = await Promise.allSettled([sideBySide(engine, [...first].map(countTask), 2), planned]);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  const parts = settled.flatMap((outcome) => (outcome as PromiseFulfilledResult<Part[]>).value);
  const scan = parts.find((p): p is Extract<Part, { kind: 'scan' }> => p.kind === 'scan')!;
  const scanned = scan.scanned;
  const r = scan.row;
  const rowCount = num(r.n);
  const figures = new Map<number, Figures>();
  let sample: Map<number, Float64Array> | undefined;
  for (const part of parts) {
    if (part.kind === 'counts') figures.set(part.i, part.figures);
    if (part.kind === 'sample') sample = part.values;
  }
  // The scanned columns' figures; the counts beyond a declared range only where the range was passed.
  const recount: string[] = [];
  for (const i of scanned) {
    const spec = specs[i];
    const known = t.known?.get(i);
    const lowest = known ? known.min : r[`min_${i}`] === null || r[`min_${i}`] === undefined ? Infinity : Number(r[`min_${i}`]);
    const highest = known ? known.max : r[`max_${i}`] === null || r[`max_${i}`] === undefined ? -Infinity : Number(r[`max_${i}`]);
    const count = num(r[`count_${i}`]);
    const bad = num(r[`bad_${i}`]);
    figures.set(i, {
      count,
      bad,
      nulls: rowCount - count - bad,
      below: 0,
      above: 0,
      lowest,
      highest,
      unseen: num(r[`unseen_${i}`]),
      ...moments(r, i, count, known),
    });
    if (validate && spec.min !== undefined && lowest < spec.min) recount.push(`count_if(v_${i} < ${dbl(spec.min)}) AS below_${i}`);
    if (validate && spec.max !== undefined && highest > spec.max) recount.push(`count_if(v_${i} > ${dbl(spec.max)}) AS above_${i}`);
  }
  if (recount.length > 0) {
    const c = await engine.one<Row>(`SELECT ${recount.join(', ')} FROM ${t.relation}`);
    for (const i of scanned) {
      const f = figures.get(i)!;
      f.below = num(c[`below_${i}`]);
      f.above = num(c[`above_${i}`]);
    }
  }
  const validation = validate ? await finishValidation(engine, t, schema, vopts, rowCount, figures) : undefined;
  const profiled = profile ? await finishProfile(engine, t, profile, rowCount, figures, sample) : undefined;
  return { validation, profile: profiled };
}

/** A scanned column's mean and population standard deviation, from the engine's or from sums around the known range's middle. */
function moments(r: Row, i: number, count: number, known?: { min: number; max: number }): { mean: number | null; std: number | null } {
  const read = (key: string): number | null => (r[key] === null || r[key] === undefined ? null : Number(r[key]));
  if (!known || r[`s1_${i}`] === undefined) return { mean: read(`mean_${i}`), std: read(`std_${i}`) };
  if (count === 0) return { mean: null, std: null };
  const d = num(r[`s1_${i}`]) / count;
  return { mean: (known.min + known.max) / 2 + d, std: Math.sqrt(Math.max(0, num(r[`s2_${i}`]) / count - d * d)) };
}

/** Validates a typed relation; the report is the one `Validator` gives for the same rows. */
export async function validateTyped(
  engine: Engine,
  t: TypedRelation,
  schema: DatasetSchema,
  options: ValidationOptions = {},
): Promise<ValidationReport> {
  return (await checkTyped(engine, t, schema, { validation: options, profile: false })).validation!;
}

/** The conditions each validation count stands for, over the typed relation. */
function conditionsOf(spec: ColumnSpec, i: number): Map<string, string> {
  const v = `v_${i}`;
  const out = new Map<string, string>([
    ['bad', `b_${i}`],
    ['nulls', `${v} IS NULL AND NOT b_${i}`],
  ]);
  if (isNumericType(spec.type)) {
    if (spec.min !== undefined) out.set('below', `${v} < ${dbl(spec.min)}`);
    if (spec.max !== undefined) out.set('above', `${v} > ${dbl(spec.max)}`);
  } else if (spec.allowed) out.set('unseen', `NOT ${inListSql(v, spec.allowed)}`);
  return out;
}

async function finishValidation(
  engine: Engine,
  t: TypedRelation,
  schema: DatasetSchema,
  options: ValidationOptions,
  rowCount: number,
  figures: Map<number, Figures>,
): Promise<ValidationReport> {
  const sample = options.sampleSize ?? 5;
  // The counts are in; now the sample rows and examples, only for what was found.
  const samples: string[] = [];
  const elsewhere: string[] = [];
  for (const [i, spec] of t.specs.entries()) {
    const f = figures.get(i)!;
    for (const [key, condition] of conditionsOf(spec, i)) {
      if (f[key as 'bad' | 'nulls' | 'below' | 'above' | 'unseen'] === 0) continue;
      samples.push(`min(__row, ${sample}) FILTER (WHERE ${condition}) AS s_${key}_${i}`);
      if (key === 'bad')
        (t.examples?.columns.has(i) ? elsewhere : samples).push(`arg_min(x_${i}, __row, 3) FILTER (WHERE ${condition}) AS badx_${i}`);
    }
  }
  const r: Row = {};
  if (samples.length > 0) Object.assign(r, await engine.one<Row>(`SELECT ${samples.join(', ')} FROM ${t.relation}`));
  if (elsewhere.length > 0) {
    await t.examples!.prepare?.();
    Object.assign(r, await engine.one<Row>(`SELECT ${elsewhere.join(', ')} FROM ${t.examples!.relation}`));
  }
  const validator = new Validator(schema, options);
  const tallies: Parameters<Validator['addCounts']>[0] = { rowCount, extra: t.extra, columns: [], classes: [] };
  for (const [i, spec] of t.specs.entries()) {
    const f = figures.get(i)!;
    let unseenValues: string[] = [];
    if (spec.allowed && f.unseen > 0) {
      const values = await engine.rows<{ v: string }>(
        `SELECT v_${i} AS v FROM ${t.relation} WHERE NOT ${inListSql(`v_${i}`, spec.allowed)} GROUP BY v_${i} ORDER BY min(__row) LIMIT 10`,
      );
      unseenValues = values.map((x) => x.v);
    }
    tallies.columns.push({
      present: t.present[i],
      invalid: { count: f.bad, rows: rows5(r[`s_bad_${i}`]) },
      invalidExamples: Array.isArray(r[`badx_${i}`]) ? (r[`badx_${i}`] as string[]).map((x) => JSON.parse(x) as unknown) : [],
      nulls: { count: f.nulls, rows: rows5(r[`s_nulls_${i}`]) },
      below: { count: f.below, rows: rows5(r[`s_below_${i}`]) },
      above: { count: f.above, rows: rows5(r[`s_above_${i}`]) },
      lowest: isNumericType(spec.type) && spec.min !== undefined ? f.lowest : Infinity,
      highest: isNumericType(spec.type) && spec.max !== undefined ? f.highest : -Infinity,
      unseen: { count: f.unseen, rows: rows5(r[`s_unseen_${i}`]) },
      unseenValues,
    });
  }
  const targetIndex = t.specs.findIndex((s) => s.name === schema.target);
  const classes = targetIndex >= 0 ? figures.get(targetIndex)?.classes : undefined;
  if (classes) {
    // Sample rows matter only for classes too small to train on: one more scan, only when there are any.
    const minRows = options.minRowsPerClass ?? 2;
    const rowsOf = new Map<string, number[]>();
    if (classes.some((c) => c.n < minRows)) {
      const label = isNumericType(t.specs[targetIndex].type) ? jsNumberText('v') : 'v';
      const small = await engine.rows<{ label: string; rows: number[] }>(
        `SELECT ${label} AS label, rows FROM (SELECT v_${targetIndex} AS v, min(__row, ${sample}) AS rows FROM ${t.relation} WHERE ` +
          `v_${targetIndex} IS NOT NULL GROUP BY ALL HAVING count(*) < ${minRows})`,
      );
      for (const c of small) rowsOf.set(c.label, rows5(c.rows));
    }
    tallies.classes = classes.map((c) => ({ label: c.label, count: c.n, rows: rowsOf.get(c.label) ?? [] }));
  }
  validator.addCounts(tallies);
  return validator.finish();
}

/**
 * numpy's 'linear' quantiles of a column's `count` present values, exactly: the values at the few ranks the
 * quantiles need, from one sort of the rows (DuckDB's quantile_cont selects once per quantile, which costs
 * several times more for the 18 a profile asks for).
 */
async function rankedValues(engine: Engine, t: TypedRelation, i: number, count: number, qs: number[]): Promise<Row> {
  const ranks = new Set<number>();
  for (const q of qs) {
    const lo = Math.floor((count - 1) * q);
    ranks.add(lo).add(Math.min(lo + 1, count - 1));
  }
  const sorted: { length: number; [rank: number]: number } = { length: count };
  const rows = await engine.rows<{ r: number; v: number }>(
    `SELECT r, v FROM (SELECT v_${i} AS v, row_number() OVER (ORDER BY v_${i}) - 1 AS r FROM ${t.relation} WHERE v_${i} IS NOT ` +
      `NULL) WHERE r IN (${[...ranks].join(', ')})`,
  );
  for (const row of rows) sorted[Number(row.r)] = Number(row.v);
  return sorted as unknown as Row;
}

/** Profiles a typed relation; the profile has the shape `ProfileBuilder` gives. */
export async function profileTyped(engine: Engine, t: TypedRelation, options: ProfileOptions = {}): Promise<DatasetProfile> {
  const schema = { columns: t.specs, target: '', features: [], task: 'regression' as const };
  return (await checkTyped(engine, t, schema, { validation: false, profile: options })).profile!;
}

async function finishProfile(
  engine: Engine,
  t: TypedRelation,
  options: ProfileOptions,
  rowCount: number,
  figures: Map<number, Figures>,
  /** Sorted samples of columns past the exact limit (drawn beside the aggregate scan), else drawn here. */
  drawn: Map<number, Float64Array> | undefined,
): Promise<DatasetProfile> {
  const qs = profileQuantiles(options);
  const limit = options.exactLimit ?? 1_000_000;
  const numericOf = (i: number) => isNumericType(t.specs[i].type);
  // Columns past the exact limit with no shape from value counts: their quantiles from a sample.
  const past = [...t.specs.keys()].filter((i) => numericOf(i) && !figures.get(i)!.shape && figures.get(i)!.count > limit);
  const sample = new Map([...(drawn ?? new Map<number, Float64Array>())].filter(([i]) => past.includes(i)));
  const missing = past.filter((i) => !sample.has(i));
  if (missing.length > 0) for (const [i, v] of await drawSample(engine, t, missing, rowCount)) sample.set(i, v);
  // Columns under the limit with many distinct values: sorted once each, then one scan counts all their histograms.
  const sorted = new Map<number, Row>();
  for (const i of t.specs.keys()) {
    const f = figures.get(i)!;
    if (!numericOf(i) || f.shape || sample.has(i) || f.count === 0) continue;
    sorted.set(i, await rankedValues(engine, t, i, f.count, [...qs.quantiles, ...qs.edgeQs]));
  }
  const edgesOf = new Map<number, number[]>();
  for (const [i, values] of sorted) {
    const f = figures.get(i)!;
    const ranked = values as unknown as { length: number; [rank: number]: number };
    const shape = shapeOf(ranked, f.count, qs, () => 0);
    edgesOf.set(i, shape.histogram.edges);
    f.shape = { ...shape, quantileMethod: 'exact', rankError: 0 };
  }
  const scanned = [...edgesOf].filter(([, edges]) => edges.length > 1);
  if (scanned.length > 0) {
    const below = scanned.flatMap(([i, edges]) => edges.slice(1, -1).map((e, k) => `count_if(v_${i} < ${dbl(e)}) AS h_${i}_${k + 1}`));
    const c = below.length > 0 ? await engine.one<Row>(`SELECT ${below.join(', ')} FROM ${t.relation}`) : {};
    for (const [i, edges] of scanned) {
      const f = figures.get(i)!;
      const cumulative = edges.map((_, k) => (k === 0 ? 0 : k === edges.length - 1 ? f.count : num(c[`h_${i}_${k}`])));
      f.shape!.histogram.counts = edges.slice(0, -1).map((_, k) => cumulative[k + 1] - cumulative[k]);
    }
  }
  // Sampled columns: quantiles of the sample, histogram counts scaled from it, the rank error its size allows.
  for (const [i, values] of sample) {
    const f = figures.get(i)!;
    const m = values.length;
    if (m === 0) continue;
    // Only the ranks the quantiles read are put in place (a sort of every sampled column cost several times more).
    const ranks = new Set<number>();
    for (const q of [...qs.quantiles, ...qs.edgeQs]) {
      const lo = Math.floor((m - 1) * q);
      ranks.add(lo).add(Math.min(lo + 1, m - 1));
    }
    selectRanks(
      values,
      [...ranks].sort((a, b) => a - b),
    );
    const below: Below = (e) => {
      let n = 0;
      for (let j = 0; j < m; j++) if (values[j] < e) n++;
      return Math.round((n / m) * f.count);
    };
    f.shape = {
      ...shapeOf(values, f.count, qs, below, { min: f.lowest, max: f.highest }),
      quantileMethod: 'sample',
      rankError: sampleRankError(m),
    };
  }
  const maxCategories = options.maxCategories ?? 10_000;
  const columns: (NumericColumnProfile | CategoricalColumnProfile)[] = [];
  for (const [i, spec] of t.specs.entries()) {
    const f = figures.get(i)!;
    const nulls = rowCount - f.count - f.bad;
    if (!numericOf(i)) {
      const top = (f.frequencies ?? []).slice(0, maxCategories);
      const tracked = top.reduce((s, x) => s + x.count, 0);
      columns.push({
        name: spec.name,
        type: 'categorical',
        kind: 'categorical',
        count: f.count,
        nulls,
        invalid: 0,
        distinct: top.length,
        frequencies: top,
        otherCount: f.count - tracked,
      });
      continue;
    }
    const base = {
      name: spec.name,
      type: spec.type as NumericColumnProfile['type'],
      kind: 'numeric' as const,
      count: f.count,
      nulls,
      invalid: f.bad,
      quantileMethod: 'exact' as const,
      rankError: 0,
    };
    if (f.count === 0 || !f.shape) {
      columns.push({
        ...base,
        mean: null,
        std: null,
        min: null,
        max: null,
        quantiles: Object.fromEntries(qs.quantiles.map((q) => [quantileName(q), null])),
        histogram: { edges: [], counts: [] },
      });
      continue;
    }
    columns.push({
      ...base,
      quantileMethod: f.shape.quantileMethod,
      rankError: f.shape.rankError,
      mean: f.mean,
      std: f.std,
      min: f.lowest,
      max: f.highest,
      quantiles: Object.fromEntries(qs.quantiles.map((q, k) => [quantileName(q), f.shape!.quantiles[k]])),
      histogram: f.shape.histogram,
    });
  }
  return { rowCount, columns };
}
