/**
 * Validation and profiling run by the engine over a typed relation, with the same rules, messages
 * and report shapes as the streaming `Validator` and `ProfileBuilder` of src/ml (which stay for rows
 * held in memory): one aggregate query per concern, whatever the number of rows.
 *
 * A typed relation has `__row` (the source row number) and, for the i-th column of the schema,
 * `v_i` (the typed value), `b_i` (a present value not of the type) and `x_i` (the raw value as
 * JSON, for examples in messages; only read where `b_i`).
 */
import type { CategoricalColumnProfile, DatasetProfile, NumericColumnProfile, ProfileOptions } from '../ml/profile';
import { quantileName } from '../ml/profile';
import { quantileSorted } from '../ml/stats/quantile';
import type { ColumnSpec, DatasetSchema } from '../ml/types';
import { isNumericType } from '../ml/values';
import { Validator, type ValidationOptions, type ValidationReport } from '../ml/data-validation';
import { literal, type Engine } from './engine';
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
  examples?: { relation: string; columns: Set<number> };
  /**
   * The relation's row count when the caller knows it: the quantile sample of the columns past the exact limit
   * is then drawn beside the aggregate scan instead of after it (the aggregate still decides which columns keep it).
   */
  rowCount?: number;
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

let groupTables = 0;

/**
 * The counts of each distinct value of several columns in one scan (GROUPING SETS), kept as a small
 * table: `v_i` and `g_i` (0 in the rows of column i's set), `n` and `first` (the first source row).
 * Category frequencies, the target's classes and the quantiles and histograms of columns with few
 * distinct values are then read from it instead of the data.
 */
async function groupCounts(
  engine: Engine,
  t: TypedRelation,
  columns: number[],
  withBad = false,
  alone: ReadonlySet<number> = new Set(),
): Promise<string | undefined> {
  if (columns.length === 0) return undefined;
  const table = `__mlops_groups_${++groupTables}`;
  // With `withBad`, each set is (v_i, b_i): the bad values (NULL v_i) are counted apart from the missing ones.
  const keysOf = (i: number) => (withBad ? [`v_${i}`, `b_${i}`] : [`v_${i}`]);
  const shared = columns.filter((i) => !alone.has(i));
  const parts: string[] = [];
  if (shared.length > 0) {
    const sets = shared.map((i) => `(${keysOf(i).join(', ')})`);
    const flags = shared.map((i) => `grouping(v_${i}) AS g_${i}`);
    parts.push(`${table}_shared`);
    await engine.run(
      `CREATE TEMP TABLE ${table}_shared AS SELECT ${[...shared.flatMap(keysOf), ...flags].join(', ')}, count(*) AS n, min(__row) AS first ` +
        `FROM ${t.relation} GROUP BY GROUPING SETS (${sets.join(', ')})`,
    );
  }
  // A column with many distinct values is counted by a GROUP BY of its own: the engine's GROUPING SETS cost more than the
  // separate scans once one set is large (flights' date: 214k values).
  for (const i of columns.filter((c) => alone.has(c))) {
    parts.push(`${table}_${i}`);
    await engine.run(
      `CREATE TEMP TABLE ${table}_${i} AS SELECT ${keysOf(i).join(', ')}, 0 AS g_${i}, count(*) AS n, min(__row) AS first FROM ${t.relation} ` +
        `GROUP BY ${keysOf(i).join(', ')}`,
    );
  }
  // One relation of all the counts (a flag a part lacks is NULL, so never 0).
  await engine.run(`CREATE TEMP VIEW ${table} AS ${parts.map((x) => `SELECT * FROM ${x}`).join(' UNION ALL BY NAME ')}`);
  groupParts.set(table, parts);
  return table;
}

const groupParts = new Map<string, string[]>();

/** Drops a `groupCounts` relation and its tables. */
async function dropGroups(engine: Engine, table: string): Promise<void> {
  await engine.run(`DROP VIEW ${table}`);
  for (const part of groupParts.get(table) ?? []) await engine.run(`DROP TABLE ${part}`);
  groupParts.delete(table);
}

/** Numeric columns whose opening rows have more distinct values than this are value-counted by a GROUP BY of their own. */
export const ALONE_DISTINCT = 1000;

/** The rows of column i's set in a `groupCounts` table (present values only). */
const setOf = (table: string, i: number): string => `(SELECT v_${i} AS v, n, first FROM ${table} WHERE g_${i} = 0 AND v_${i} IS NOT NULL)`;

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

/**
 * Validates and profiles a typed relation with as few scans as the rules allow: one aggregate for the
 * validation counts and the profile's moments, one GROUPING SETS scan for the value counts (categories,
 * classes, numeric columns with few distinct values), one sort per other numeric column and one scan
 * for their histograms; sample rows only for what was found. Results are exactly those of
 * `Validator` and `ProfileBuilder` (exact quantiles) for the same rows.
 */
export async function checkTyped(
  engine: Engine,
  t: TypedRelation,
  schema: DatasetSchema,
  o: CheckOptions = {},
): Promise<{ validation?: ValidationReport; profile?: DatasetProfile }> {
  const aggregates = new Map<string, string>([['n', 'count(*)']]);
  // The same figures from a table of value counts (`groupCounts` with flags): column i's rows are those with g_i = 0.
  const fromCounts = new Map<string, string>([['n', 'sum(n) FILTER (WHERE g_0 = 0)']]);
  const conditions = new Map<string, string>();
  const columnOf = new Map<string, number>();
  if (o.validation !== false) {
    t.specs.forEach((spec, i) => {
      const v = `v_${i}`;
      for (const key of [`bad_${i}`, `nulls_${i}`, `below_${i}`, `above_${i}`, `unseen_${i}`]) columnOf.set(key, i);
      conditions.set(`bad_${i}`, `b_${i}`);
      conditions.set(`nulls_${i}`, `${v} IS NULL AND NOT b_${i}`);
      if (isNumericType(spec.type)) {
        if (spec.min !== undefined) {
          conditions.set(`below_${i}`, `${v} < ${dbl(spec.min)}`);
          aggregates.set(`lowest_${i}`, `min(${v})`);
        }
        if (spec.max !== undefined) {
          conditions.set(`above_${i}`, `${v} > ${dbl(spec.max)}`);
          aggregates.set(`highest_${i}`, `max(${v})`);
        }
      } else if (spec.allowed) {
        conditions.set(`unseen_${i}`, `NOT ${inListSql(v, spec.allowed)}`);
      }
    });
    for (const [key, condition] of conditions) {
      aggregates.set(key, `count_if(${condition})`);
      fromCounts.set(key, `coalesce(sum(n) FILTER (WHERE g_${columnOf.get(key)} = 0 AND (${condition})), 0)`);
    }
    for (const [key] of aggregates) {
      const m = /^(lowest|highest)_(\d+)$/.exec(key);
      if (m) fromCounts.set(key, `${m[1] === 'lowest' ? 'min' : 'max'}(v_${m[2]}) FILTER (WHERE g_${m[2]} = 0)`);
    }
  }
  if (o.profile !== false) {
    t.specs.forEach((spec, i) => {
      const v = `v_${i}`;
      aggregates.set(`count_${i}`, `count(${v})`).set(`bad_${i}`, `count_if(b_${i})`);
      const set = `g_${i} = 0 AND ${v} IS NOT NULL`;
      fromCounts
        .set(`count_${i}`, `coalesce(sum(n) FILTER (WHERE ${set}), 0)`)
        .set(`bad_${i}`, `coalesce(sum(n) FILTER (WHERE g_${i} = 0 AND b_${i}), 0)`);
      if (isNumericType(spec.type)) {
        aggregates
          .set(`mean_${i}`, `avg(${v})`)
          .set(`std_${i}`, `stddev_pop(${v})`)
          .set(`min_${i}`, `min(${v})`)
          .set(`max_${i}`, `max(${v})`);
        // The population deviation around the mean (`m`, a first query), as stddev_pop.
        fromCounts
          .set(`mean_${i}`, `sum(${v} * n) FILTER (WHERE ${set}) / sum(n) FILTER (WHERE ${set})`)
          .set(
            `std_${i}`,
            `sqrt(sum(n * (${v} - m.mean_${i}) * (${v} - m.mean_${i})) FILTER (WHERE ${set}) / sum(n) FILTER (WHERE ${set}))`,
          )
          .set(`min_${i}`, `min(${v}) FILTER (WHERE g_${i} = 0)`)
          .set(`max_${i}`, `max(${v}) FILTER (WHERE g_${i} = 0)`);
      }
    });
  }
  const targetIndex = t.specs.findIndex((s) => s.name === schema.target);
  const classes = o.validation !== false && schema.task === 'classification' && targetIndex >= 0 && t.present[targetIndex];
  // When every column's values can be counted (categories; numbers with few distinct values), the value
  // counts of one GROUPING SETS scan give every figure below too: one scan of the data instead of two.
  const numeric = [...t.specs.keys()].filter((i) => isNumericType(t.specs[i].type));
  const few = o.profile === false ? new Map<number, number>() : await fewValues(engine, t, numeric);
  if (o.profile !== false && t.specs.length > 0 && few.size === numeric.length) {
    const all = [...t.specs.keys()];
    const alone = new Set([...few].filter(([, d]) => d > ALONE_DISTINCT).map(([i]) => i));
    const groups = (await groupCounts(engine, t, all, true, alone))!;
    try {
      const means = [...fromCounts].filter(([k]) => k.startsWith('mean_'));
      const select = [...fromCounts].map(([k, e]) => `${e} AS ${k}`).join(', ');
      const r = await engine.one<Row>(
        means.length > 0
          ? `WITH m AS (SELECT ${means.map(([k, e]) => `${e} AS ${k}`).join(', ')} FROM ${groups}) SELECT ${select} FROM ${groups}, m`
          : `SELECT ${select} FROM ${groups}`,
      );
      const validation =
        o.validation === false
          ? undefined
          : await finishValidation(engine, t, schema, o.validation ?? {}, r, conditions, classes ? groups : undefined);
      const profile = await finishProfile(engine, t, o.profile ?? {}, r, groups, new Set(all));
      return { validation, profile };
    } finally {
      await dropGroups(engine, groups);
    }
  }
  // The columns whose value counts are needed (a column with no values counts one NULL), counted in one scan beside
  // the aggregate scan (its own connection: the engine overlaps the two), and beside both, when the row count is
  // known, the quantile sample of the other numeric columns past the exact limit.
  const grouped = new Set<number>();
  if (classes) grouped.add(targetIndex);
  if (o.profile !== false) for (const i of t.specs.keys()) if (!isNumericType(t.specs[i].type) || few.has(i)) grouped.add(i);
  const limit = (o.profile === false ? undefined : o.profile?.exactLimit) ?? 1_000_000;
  const early = o.profile !== false && t.rowCount !== undefined && t.rowCount > limit ? numeric.filter((i) => !grouped.has(i)) : [];
  const sides: Engine[] = [];
  let groups: string | undefined;
  try {
    const side = async () => {
      const e = await engine.connect();
      sides.push(e);
      return e;
    };
    const settled = await Promise.allSettled([
      side().then((c) => c.one<Row>(`SELECT ${[...aggregates].map(([k, e]) => `${e} AS ${k}`).join(', ')} FROM ${t.relation}`)),
      groupCounts(
        engine,
        t,
        [...grouped].sort((a, b) => a - b),
      ).then((g) => (groups = g)),
      early.length > 0
        ? side().then((c) => sampledQuantiles(c, t, early, t.rowCount!, profileQuantiles(o.profile || {})))
        : Promise.resolve(undefined),
    ]);
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    const r = (settled[0] as PromiseFulfilledResult<Row>).value;
    const drawn = (settled[2] as PromiseFulfilledResult<Map<number, number[]> | undefined>).value;
    // A column keeps its early sample only when it has more values than the exact limit (as the aggregate counted).
    const sampled = drawn && new Map([...drawn].filter(([i]) => num(r[`count_${i}`]) > limit));
    const validation =
      o.validation === false
        ? undefined
        : await finishValidation(engine, t, schema, o.validation ?? {}, r, conditions, classes ? groups : undefined);
    const profile = o.profile === false ? undefined : await finishProfile(engine, t, o.profile ?? {}, r, groups, grouped, sampled);
    return { validation, profile };
  } finally {
    for (const e of sides) e.close();
    if (groups) await dropGroups(engine, groups);
  }
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

async function finishValidation(
  engine: Engine,
  t: TypedRelation,
  schema: DatasetSchema,
  options: ValidationOptions,
  r: Row,
  conditions: Map<string, string>,
  groups?: string,
): Promise<ValidationReport> {
  const sample = options.sampleSize ?? 5;
  // The counts are in; now the sample rows and examples, only for what was found.
  const samples: string[] = [];
  const elsewhere: string[] = [];
  for (const [key, condition] of conditions) {
    if (num(r[key]) === 0) continue;
    samples.push(`min(__row, ${sample}) FILTER (WHERE ${condition}) AS s_${key}`);
    if (!key.startsWith('bad_')) continue;
    const i = Number(key.slice(4));
    (t.examples?.columns.has(i) ? elsewhere : samples).push(`arg_min(x_${i}, __row, 3) FILTER (WHERE ${condition}) AS badx_${i}`);
  }
  if (samples.length > 0) Object.assign(r, await engine.one<Row>(`SELECT ${samples.join(', ')} FROM ${t.relation}`));
  if (elsewhere.length > 0) Object.assign(r, await engine.one<Row>(`SELECT ${elsewhere.join(', ')} FROM ${t.examples!.relation}`));
  const validator = new Validator(schema, options);
  const tallies: Parameters<Validator['addCounts']>[0] = { rowCount: num(r.n), extra: t.extra, columns: [], classes: [] };
  for (const [i, spec] of t.specs.entries()) {
    let unseenValues: string[] = [];
    if (spec.allowed && num(r[`unseen_${i}`]) > 0) {
      const values = await engine.rows<{ v: string }>(
        `SELECT v_${i} AS v FROM ${t.relation} WHERE NOT ${inListSql(`v_${i}`, spec.allowed)} GROUP BY v_${i} ORDER BY min(__row) LIMIT 10`,
      );
      unseenValues = values.map((x) => x.v);
    }
    tallies.columns.push({
      present: t.present[i],
      invalid: { count: num(r[`bad_${i}`]), rows: rows5(r[`s_bad_${i}`]) },
      invalidExamples: Array.isArray(r[`badx_${i}`]) ? (r[`badx_${i}`] as string[]).map((x) => JSON.parse(x) as unknown) : [],
      nulls: { count: num(r[`nulls_${i}`]), rows: rows5(r[`s_nulls_${i}`]) },
      below: { count: num(r[`below_${i}`]), rows: rows5(r[`s_below_${i}`]) },
      above: { count: num(r[`above_${i}`]), rows: rows5(r[`s_above_${i}`]) },
      lowest: r[`lowest_${i}`] === null || r[`lowest_${i}`] === undefined ? Infinity : Number(r[`lowest_${i}`]),
      highest: r[`highest_${i}`] === null || r[`highest_${i}`] === undefined ? -Infinity : Number(r[`highest_${i}`]),
      unseen: { count: num(r[`unseen_${i}`]), rows: rows5(r[`s_unseen_${i}`]) },
      unseenValues,
    });
  }
  const targetIndex = t.specs.findIndex((s) => s.name === schema.target);
  if (groups) {
    const label = isNumericType(t.specs[targetIndex].type) ? jsNumberText('v') : 'v';
    const classes = await engine.rows<{ label: string; n: number; first: number }>(
      `SELECT ${label} AS label, n, first FROM ${setOf(groups, targetIndex)} ORDER BY first LIMIT ${options.maxClasses ?? 10_000}`,
    );
    // Sample rows matter only for classes too small to train on: one more scan, only when there are any.
    const minRows = options.minRowsPerClass ?? 2;
    const rowsOf = new Map<string, number[]>();
    if (classes.some((c) => num(c.n) < minRows)) {
      const small = await engine.rows<{ label: string; rows: number[] }>(
        `SELECT ${label} AS label, rows FROM (SELECT v_${targetIndex} AS v, min(__row, ${sample}) AS rows FROM ${t.relation} WHERE ` +
          `v_${targetIndex} IS NOT NULL GROUP BY ALL HAVING count(*) < ${minRows})`,
      );
      for (const c of small) rowsOf.set(c.label, rows5(c.rows));
    }
    tallies.classes = classes.map((c) => ({ label: c.label, count: num(c.n), rows: rowsOf.get(c.label) ?? [] }));
  }
  validator.addCounts(tallies);
  return validator.finish();
}

/** The values at the given ranks (0-based, ascending order) of a column's present values. */
type Ranked = { length: number; [rank: number]: number };

/**
 * numpy's 'linear' quantiles of a column's `count` present values, exactly: the values at the few
 * ranks the quantiles need. From the column's value counts when it has few distinct values (a running
 * sum over the counts finds each rank), else from one sort of the rows (DuckDB's quantile_cont
 * selects once per quantile, which costs several times more for the 18 a profile asks for).
 */
async function exactQuantiles(
  engine: Engine,
  t: TypedRelation,
  i: number,
  count: number,
  qs: number[],
  groups?: string,
): Promise<number[]> {
  const ranks = new Set<number>();
  for (const q of qs) {
    const lo = Math.floor((count - 1) * q);
    ranks.add(lo).add(Math.min(lo + 1, count - 1));
  }
  const sorted: Ranked = { length: count };
  if (groups) {
    // The value at rank k is the smallest one whose running count passes k: one row, one filter per rank, over a
    // running sum that counts tied values together (cheaper than testing every value against every rank).
    const list = [...ranks];
    const hit = await engine.one<Row>(
      `SELECT ${list.map((k) => `min(v) FILTER (WHERE upto > ${k}) AS r_${k}`).join(', ')} FROM (SELECT v, sum(n) OVER (ORDER BY v) AS upto ` +
        `FROM ${setOf(groups, i)})`,
    );
    for (const k of list) sorted[k] = Number(hit[`r_${k}`]);
  } else {
    const rows = await engine.rows<{ r: number; v: number }>(
      `SELECT r, v FROM (SELECT v_${i} AS v, row_number() OVER (ORDER BY v_${i}) - 1 AS r FROM ${t.relation} WHERE v_${i} IS NOT ` +
        `NULL) WHERE r IN (${[...ranks].join(', ')})`,
    );
    for (const row of rows) sorted[Number(row.r)] = Number(row.v);
  }
  return qs.map((q) => quantileSorted(sorted, q));
}

/** The largest double below x (numpy's [lo, hi) bins counted with DuckDB's (lo, hi] ones). */
function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  const bits = new BigInt64Array(new Float64Array([x]).buffer);
  bits[0] += x > 0 ? -1n : 1n;
  return new Float64Array(bits.buffer)[0];
}

/** Values per column in the sample quantiles are taken from (every k-th source row). */
export const QUANTILE_SAMPLE = 1 << 18;

/**
 * Quantiles (and histogram edges) of the numeric columns with more than `exactLimit` values and many distinct
 * ones, from a sample of every k-th row (about `QUANTILE_SAMPLE` rows; deterministic), as `ProfileBuilder`
 * switches to a sketch past the same limit: sorting every such column cost more than reading the file. The
 * histogram's counts and the rank error are then counted exactly over all rows. Columns the sample misses are
 * left to the exact path.
 */
async function sampledQuantiles(
  engine: Engine,
  t: TypedRelation,
  columns: number[],
  rowCount: number,
  qs: number[],
): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  if (columns.length === 0) return out;
  const step = Math.max(1, Math.floor(rowCount / QUANTILE_SAMPLE));
  const list = `[${qs.map(dbl).join(', ')}]`;
  const row = await engine.one<Row>(
    `SELECT ${columns.map((i) => `quantile_cont(v_${i}, ${list}) AS q_${i}`).join(', ')} FROM ${t.relation} WHERE __row % ${step} = 0`,
  );
  for (const i of columns) {
    const values = row[`q_${i}`];
    if (Array.isArray(values) && values.length === qs.length && values.every((v) => v !== null)) out.set(i, values.map(Number));
  }
  return out;
}

/** The quantiles a profile reports, then its histogram's edges (0, 1/bins, ..., 1). */
function profileQuantiles(options: ProfileOptions): number[] {
  const bins = options.bins ?? 10;
  return [...(options.quantiles ?? DEFAULT_QUANTILES), ...Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * (1 / bins)))];
}

/** Profiles a typed relation; the profile has the shape `ProfileBuilder` gives, with exact quantiles at any size. */
export async function profileTyped(engine: Engine, t: TypedRelation, options: ProfileOptions = {}): Promise<DatasetProfile> {
  const schema = { columns: t.specs, target: '', features: [], task: 'regression' as const };
  return (await checkTyped(engine, t, schema, { validation: false, profile: options })).profile!;
}

async function finishProfile(
  engine: Engine,
  t: TypedRelation,
  options: ProfileOptions,
  r: Row,
  groups: string | undefined,
  grouped: Set<number>,
  /** Quantiles already drawn from a sample (columns past the exact limit), else drawn here. */
  drawn?: Map<number, number[]>,
): Promise<DatasetProfile> {
  const quantiles = options.quantiles ?? DEFAULT_QUANTILES;
  const bins = options.bins ?? 10;
  const maxCategories = options.maxCategories ?? 10_000;
  const edgeQs = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * (1 / bins)));
  const rowCount = num(r.n);
  const numericEdges = new Map<number, number[]>();
  const columns: (NumericColumnProfile | CategoricalColumnProfile)[] = [];
  const limit = options.exactLimit ?? 1_000_000;
  const past = [...t.specs.keys()].filter((i) => isNumericType(t.specs[i].type) && !grouped.has(i) && num(r[`count_${i}`]) > limit);
  const sampled = drawn ?? (await sampledQuantiles(engine, t, past, rowCount, profileQuantiles(options)));
  for (const [i, spec] of t.specs.entries()) {
    const count = num(r[`count_${i}`]);
    const invalid = num(r[`bad_${i}`]);
    const nulls = rowCount - count - invalid;
    if (!isNumericType(spec.type)) {
      const top =
        count === 0
          ? []
          : await engine.rows<{ value: string; count: number }>(
              `SELECT v AS value, n AS count FROM ${setOf(groups!, i)} ORDER BY count DESC, value LIMIT ${maxCategories}`,
            );
      const tracked = top.reduce((s, f) => s + num(f.count), 0);
      columns.push({
        name: spec.name,
        type: 'categorical',
        kind: 'categorical',
        count,
        nulls,
        invalid: 0,
        distinct: top.length,
        frequencies: top.map((f) => ({ value: f.value, count: num(f.count) })),
        otherCount: count - tracked,
      });
      continue;
    }
    const base = {
      name: spec.name,
      type: spec.type as NumericColumnProfile['type'],
      kind: 'numeric' as const,
      count,
      nulls,
      invalid,
      quantileMethod: 'exact' as const,
      rankError: 0,
    };
    if (count === 0) {
      columns.push({
        ...base,
        mean: null,
        std: null,
        min: null,
        max: null,
        quantiles: Object.fromEntries(quantiles.map((q) => [quantileName(q), null])),
        histogram: { edges: [], counts: [] },
      });
      continue;
    }
    const few = grouped.has(i) ? groups : undefined;
    const fromSample = sampled.get(i);
    const qs = fromSample ?? (await exactQuantiles(engine, t, i, count, [...quantiles, ...edgeQs], few));
    if (fromSample) {
      // The histogram spans every value, whatever the sample saw.
      qs[quantiles.length] = Number(r[`min_${i}`]);
      qs[qs.length - 1] = Number(r[`max_${i}`]);
    }
    const edges = qs.slice(quantiles.length).filter((e, k, all) => k === 0 || e !== all[k - 1]);
    numericEdges.set(i, edges);
    columns.push({
      ...base,
      ...(fromSample ? { quantileMethod: 'sample' as const } : {}),
      mean: Number(r[`mean_${i}`]),
      std: Number(r[`std_${i}`]),
      min: Number(r[`min_${i}`]),
      max: Number(r[`max_${i}`]),
      quantiles: Object.fromEntries(quantiles.map((q, k) => [quantileName(q), qs[k]])),
      histogram: { edges, counts: [] },
    });
  }
  // Bin counts follow numpy.histogram: [lo, hi) for every bin but the last, which is closed. From
  // counts below each edge: one comparison per edge and value instead of two per bin; from the value
  // counts where a column has them, else in one scan of the rows for all other columns.
  const below = (v: string, e: number, last: boolean): string => `${v} ${last ? '<=' : '<'} ${dbl(e)}`;
  const scanned: string[] = [];
  const counts: Row = {};
  for (const [i, edges] of numericEdges) {
    if (edges.length === 1) continue;
    if (sampled.has(i)) continue;
    if (grouped.has(i)) {
      const parts = edges.map((e, k) => `sum(n) FILTER (WHERE ${below('v', e, k === edges.length - 1)}) AS h_${i}_${k}`);
      Object.assign(counts, await engine.one<Row>(`SELECT ${parts.join(', ')} FROM ${setOf(groups!, i)}`));
    } else edges.forEach((e, k) => scanned.push(`count_if(${below(`v_${i}`, e, k === edges.length - 1)}) AS h_${i}_${k}`));
  }
  // Columns profiled from a sample: their histogram and the exact rank of every reported value, from one
  // binned count per column (values at most each bound), so the profile states its true rank error.
  const allQs = [...quantiles, ...edgeQs];
  const bounds = new Map<number, number[]>();
  for (const [i, qs] of sampled)
    bounds.set(
      i,
      [...new Set(qs.flatMap((a) => [nextDown(a), a]))].sort((x, y) => x - y),
    );
  const binned = [...bounds].map(([i, b]) => `histogram(v_${i}, [${b.map(dbl).join(', ')}]) AS r_${i}`);
  if (scanned.length > 0 || binned.length > 0)
    Object.assign(counts, await engine.one<Row>(`SELECT ${[...scanned, ...binned].join(', ')} FROM ${t.relation}`));
  for (const [i, b] of bounds) {
    const bins = new Map(((counts[`r_${i}`] ?? []) as { key: number | null; value: number }[]).map((x) => [x.key, num(x.value)]));
    let sum = 0;
    const atMost = new Map(b.map((bound) => [bound, (sum += bins.get(bound) ?? 0)]));
    const profile = columns[i] as NumericColumnProfile;
    const n = profile.count;
    const edges = numericEdges.get(i)!;
    edges.forEach((e, k) => (counts[`h_${i}_${k}`] = k === edges.length - 1 ? n : atMost.get(nextDown(e))!));
    // How far each reported value's rank lies from the rank it stands for (numpy's linear method), as a share of the values.
    let worst = 0;
    sampled.get(i)!.forEach((a, k) => {
      const p = allQs[k] * (n - 1);
      worst = Math.max(worst, atMost.get(nextDown(a))! - Math.ceil(p), Math.floor(p) + 1 - atMost.get(a)!);
    });
    profile.rankError = worst / n;
  }
  for (const [i, edges] of numericEdges) {
    const profile = columns[i] as NumericColumnProfile;
    profile.histogram.counts =
      edges.length === 1 ? [profile.count] : edges.slice(0, -1).map((_, k) => num(counts[`h_${i}_${k + 1}`]) - num(counts[`h_${i}_${k}`]));
  }
  return { rowCount, columns };
}
