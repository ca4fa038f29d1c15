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
import { Validator, type ValidationOptions, type ValidationReport } from '../ml/validate';
import { literal, type Engine } from './engine';
import { jsNumberText } from './typing';

/** A relation typed against a schema's columns. */
export interface TypedRelation {
  relation: string;
  specs: ColumnSpec[];
  /** Whether the data has the i-th column at all. */
  present: boolean[];
  /** Columns of the data that the schema does not declare, with the first row that has them. */
  extra: { name: string; firstRow: number }[];
}

const DEFAULT_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

type Row = Record<string, unknown>;
/** A double literal read exactly as JavaScript wrote it (a bare 0.1 would be a DECIMAL to DuckDB). */
const dbl = (x: number): string => `CAST('${x}' AS DOUBLE)`;
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const rows5 = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number) : []);

/** Validates a typed relation; the report is the one `Validator` gives for the same rows. */
export async function validateTyped(engine: Engine, t: TypedRelation, schema: DatasetSchema, options: ValidationOptions = {}): Promise<ValidationReport> {
  const sample = options.sampleSize ?? 5;
  // First the counts (one cheap pass); then the sample rows and examples, only for what was found.
  const counts: string[] = ['count(*) AS n'];
  const conditions = new Map<string, string>();
  t.specs.forEach((spec, i) => {
    const v = `v_${i}`;
    conditions.set(`bad_${i}`, `b_${i}`);
    conditions.set(`nulls_${i}`, `${v} IS NULL AND NOT b_${i}`);
    if (isNumericType(spec.type)) {
      if (spec.min !== undefined) {
        conditions.set(`below_${i}`, `${v} < ${dbl(spec.min)}`);
        counts.push(`min(${v}) AS lowest_${i}`);
      }
      if (spec.max !== undefined) {
        conditions.set(`above_${i}`, `${v} > ${dbl(spec.max)}`);
        counts.push(`max(${v}) AS highest_${i}`);
      }
    } else if (spec.allowed) {
      conditions.set(`unseen_${i}`, `${v} NOT IN (${spec.allowed.map(literal).join(', ')})`);
    }
  });
  for (const [key, condition] of conditions) counts.push(`count_if(${condition}) AS ${key}`);
  const r = await engine.one<Row>(`SELECT ${counts.join(', ')} FROM ${t.relation}`);
  const samples: string[] = [];
  for (const [key, condition] of conditions) {
    if (num(r[key]) === 0) continue;
    samples.push(`min(__row, ${sample}) FILTER (WHERE ${condition}) AS s_${key}`);
    if (key.startsWith('bad_')) samples.push(`arg_min(x_${key.slice(4)}, __row, 3) FILTER (WHERE ${condition}) AS ${key.replace('bad_', 'badx_')}`);
  }
  if (samples.length > 0) Object.assign(r, await engine.one<Row>(`SELECT ${samples.join(', ')} FROM ${t.relation}`));
  const validator = new Validator(schema, options);
  const tallies: Parameters<Validator['addCounts']>[0] = { rowCount: num(r.n), extra: t.extra, columns: [], classes: [] };
  for (const [i, spec] of t.specs.entries()) {
    let unseenValues: string[] = [];
    if (spec.allowed && num(r[`unseen_${i}`]) > 0) {
      const values = await engine.rows<{ v: string }>(
        `SELECT v_${i} AS v FROM ${t.relation} WHERE v_${i} NOT IN (${spec.allowed.map(literal).join(', ')}) GROUP BY v_${i} ORDER BY min(__row) LIMIT 10`,
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
  if (schema.task === 'classification' && targetIndex >= 0 && t.present[targetIndex]) {
    const v = `v_${targetIndex}`;
    const label = isNumericType(t.specs[targetIndex].type) ? jsNumberText('v') : 'v';
    const classes = await engine.rows<{ label: string; n: number; rows: number[] }>(
      `SELECT ${label} AS label, n, rows FROM (SELECT ${v} AS v, count(*) AS n, min(__row, ${sample}) AS rows, min(__row) AS first FROM ${t.relation} ` +
        `WHERE ${v} IS NOT NULL GROUP BY ${v}) ORDER BY first LIMIT ${options.maxClasses ?? 10_000}`,
    );
    tallies.classes = classes.map((c) => ({ label: c.label, count: num(c.n), rows: rows5(c.rows) }));
  }
  validator.addCounts(tallies);
  return validator.finish();
}

/** Histogram counts (numpy.histogram's edges convention) from the counts of each distinct value. */
function binCounts(groups: { v: number; n: number }[], edges: number[], count: number): number[] {
  if (edges.length === 1) return [count];
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const { v, n } of groups) {
    let k = 0;
    while (k < edges.length - 2 && v >= edges[k + 1]) k++;
    if (v >= edges[0] && v <= edges[edges.length - 1]) counts[k] += n;
  }
  return counts;
}

/**
 * numpy's 'linear' quantiles of a column's `count` present values, exactly: the values at the few
 * ranks the quantiles need, from one sort (DuckDB's quantile_cont selects once per quantile, which
 * costs several times more for the 18 a profile asks for).
 */
async function exactQuantiles(engine: Engine, relation: string, column: string, count: number, qs: number[], fewValues: boolean): Promise<{ qs: number[]; groups?: { v: number; n: number }[] }> {
  const ranks = new Set<number>();
  for (const q of qs) {
    const lo = Math.floor((count - 1) * q);
    ranks.add(lo).add(Math.min(lo + 1, count - 1));
  }
  // Few distinct values (codes, counts, flags, coarse times): their counts give every rank without
  // sorting the rows, and the histogram too.
  const limit = 100_000;
  if (fewValues) {
    // A look at the opening rows: if most of them are distinct, so is the column; skip the counting.
    const { d, n } = await engine.one<{ d: number; n: number }>(`SELECT count(DISTINCT v) AS d, count(v) AS n FROM (SELECT ${column} AS v FROM ${relation} LIMIT 20000)`);
    fewValues = Number(d) <= Number(n) / 4;
  }
  const groups = !fewValues ? [] : await engine.rows<{ v: number; n: number }>(
    `SELECT v, n FROM (SELECT ${column} AS v, count(*) AS n FROM ${relation} WHERE ${column} IS NOT NULL GROUP BY ALL) ORDER BY v LIMIT ${limit + 1}`,
  );
  if (fewValues && groups.length <= limit) {
    const sorted: { length: number; [rank: number]: number } = { length: count };
    const wanted = [...ranks].sort((a, b) => a - b);
    let at = 0;
    let k = 0;
    for (const g of groups) {
      at += Number(g.n);
      while (k < wanted.length && wanted[k] < at) sorted[wanted[k++]] = Number(g.v);
    }
    return { qs: qs.map((q) => quantileSorted(sorted, q)), groups: groups.map((g) => ({ v: Number(g.v), n: Number(g.n) })) };
  }
  const rows = await engine.rows<{ r: number; v: number }>(
    `SELECT r, v FROM (SELECT ${column} AS v, row_number() OVER (ORDER BY ${column}) - 1 AS r FROM ${relation} WHERE ${column} IS NOT NULL) WHERE r IN (${[...ranks].join(', ')})`,
  );
  const sorted: { length: number; [rank: number]: number } = { length: count };
  for (const row of rows) sorted[Number(row.r)] = Number(row.v);
  return { qs: qs.map((q) => quantileSorted(sorted, q)) };
}

/** Profiles a typed relation; the profile has the shape `ProfileBuilder` gives, with exact quantiles at any size. */
export async function profileTyped(engine: Engine, t: TypedRelation, options: ProfileOptions = {}): Promise<DatasetProfile> {
  const quantiles = options.quantiles ?? DEFAULT_QUANTILES;
  const bins = options.bins ?? 10;
  const maxCategories = options.maxCategories ?? 10_000;
  const edgeQs = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * (1 / bins)));
  const parts: string[] = ['count(*) AS n'];
  t.specs.forEach((spec, i) => {
    const v = `v_${i}`;
    parts.push(`count(${v}) AS count_${i}`, `count_if(b_${i}) AS bad_${i}`);
    if (isNumericType(spec.type)) {
      parts.push(`avg(${v}) AS mean_${i}`, `stddev_pop(${v}) AS std_${i}`, `min(${v}) AS min_${i}`, `max(${v}) AS max_${i}`);
    }
  });
  const r = await engine.one<Row>(`SELECT ${parts.join(', ')} FROM ${t.relation}`);
  const rowCount = num(r.n);
  const numericEdges = new Map<number, number[]>();
  const valueCounts = new Map<number, { v: number; n: number }[]>();
  const columns: (NumericColumnProfile | CategoricalColumnProfile)[] = [];
  for (const [i, spec] of t.specs.entries()) {
    const count = num(r[`count_${i}`]);
    const invalid = num(r[`bad_${i}`]);
    const nulls = rowCount - count - invalid;
    if (!isNumericType(spec.type)) {
      const top = count === 0 ? [] : await engine.rows<{ value: string; count: number }>(
        `SELECT v_${i} AS value, count(*) AS count FROM ${t.relation} WHERE v_${i} IS NOT NULL GROUP BY ALL ORDER BY count DESC, value LIMIT ${maxCategories}`,
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
    const base = { name: spec.name, type: spec.type as NumericColumnProfile['type'], kind: 'numeric' as const, count, nulls, invalid, quantileMethod: 'exact' as const, rankError: 0 };
    if (count === 0) {
      columns.push({ ...base, mean: null, std: null, min: null, max: null, quantiles: Object.fromEntries(quantiles.map((q) => [quantileName(q), null])), histogram: { edges: [], counts: [] } });
      continue;
    }
    // Datetimes rarely repeat; other numbers often do (codes, counts, flags, rounded measures).
    const exact = await exactQuantiles(engine, t.relation, `v_${i}`, count, [...quantiles, ...edgeQs], spec.type !== 'datetime');
    const qs = exact.qs;
    const edges = qs.slice(quantiles.length).filter((e, k, all) => k === 0 || e !== all[k - 1]);
    if (exact.groups) valueCounts.set(i, exact.groups);
    else numericEdges.set(i, edges);
    columns.push({
      ...base,
      mean: Number(r[`mean_${i}`]),
      std: Number(r[`std_${i}`]),
      min: Number(r[`min_${i}`]),
      max: Number(r[`max_${i}`]),
      quantiles: Object.fromEntries(quantiles.map((q, k) => [quantileName(q), qs[k]])),
      histogram: { edges, counts: valueCounts.has(i) ? binCounts(valueCounts.get(i)!, edges, count) : [] },
    });
  }
  // Bin counts follow numpy.histogram: [lo, hi) for every bin but the last, which is closed. From
  // counts below each edge: one comparison per edge and value instead of two per bin.
  const below: string[] = [];
  for (const [i, edges] of numericEdges) {
    if (edges.length === 1) continue;
    edges.forEach((e, k) => below.push(k === edges.length - 1 ? `count_if(v_${i} <= ${dbl(e)}) AS h_${i}_${k}` : `count_if(v_${i} < ${dbl(e)}) AS h_${i}_${k}`));
  }
  const counts = below.length > 0 ? await engine.one<Row>(`SELECT ${below.join(', ')} FROM ${t.relation}`) : {};
  for (const [i, edges] of numericEdges) {
    const profile = columns[i] as NumericColumnProfile;
    profile.histogram.counts = edges.length === 1 ? [profile.count] : edges.slice(0, -1).map((_, k) => num(counts[`h_${i}_${k + 1}`]) - num(counts[`h_${i}_${k}`]));
  }
  return { rowCount, columns };
}
