/**
 * Building a dataset snapshot with the engine: the sources are loaded into an on-disk DuckDB
 * database in the task's scratch directory, typed from every row (not a sample), filtered
 * (`filter`, `where`), extended with the spec's derived columns, validated and profiled with
 * aggregate queries, and written as one Parquet file (zstd, bounded row groups) with the typed
 * columns, each row's source row number (`__row`) and its hash-split key (`__hash`).
 *
 * Row numbers in messages are source rows: data rows counted from 1 across the sources in order,
 * before any filter.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBScalarFunction, UINTEGER, VARCHAR, version as duckdbVersion } from '@duckdb/node-api';
import { FailureType, MlopsError } from '../errors';
import type { DatasetProfile } from '../ml/profile';
import { schemaFromTypes } from '../ml/readers/infer';
import type { OpenS3 } from '../ml/readers/source';
import type { ColumnSpec, ColumnType, DatasetSchema } from '../ml/types';
import type { ValidationIssue, ValidationOptions, ValidationReport } from '../ml/data-validation';
import { toDatetime } from '../ml/values';
import { checkTyped, type TypedRelation } from './checks';
import { Engine, engineMessage, ident, literal, sourceError, storedStats, utcMillis } from './engine';
import { asUtf8, encodingError, type SourceEncoding } from './encoding';
import { INGEST_MEMORY_LIMIT } from './limits';
import { readerSql, Scratch, type LocalSource } from './sources';
import { columnTypeOf, jsLiteralSql, parseSql, rawKind, storageSql, typedSql, type RawKind } from './typing';

/** Parquet row groups: bounded, so a reader's memory is bounded by one group of the columns it reads. */
export const SNAPSHOT_ROW_GROUP = 122_880;
/** Key of the hash seed in the snapshot's Parquet metadata. */
export const HASH_SEED_KEY = 'temporal-mlops.hash-seed';
/** Key of the hash function in the snapshot's Parquet metadata: `md5`; snapshots without it used `fnv1a`. */
export const HASH_METHOD_KEY = 'temporal-mlops.hash';
/** How a snapshot's hash-split keys were computed. */
export type HashMethod = 'md5' | 'fnv1a';

/**
 * The hash-split key of a text, in SQL: the first 4 bytes of its MD5, big-endian, as an unsigned 32-bit number
 * (Python: `int(hashlib.md5(text.encode()).hexdigest()[:8], 16)`). Computed by the engine, in parallel, with no
 * JavaScript per row; MD5 is fixed by its RFC, so the keys never change with the engine's version.
 */
export function md5KeySql(text: string): string {
  return `CAST(('0x' || left(md5(${text}), 8)) AS UINTEGER)`;
}

/** The hash-split key of a text in SQL by a snapshot's method (`fnv1a` needs `registerHash` first). */
export function hashKeySql(method: HashMethod, text: string): string {
  return method === 'md5' ? md5KeySql(text) : `mlops_fnv(${text})`;
}
/** Share of present values that may fail a column's inferred type before it is inferred as categorical. */
export const INFERENCE_TOLERANCE = 0.01;

/** What to read, how to shape it, and where to write the snapshot. */
export interface BuildSnapshotOptions {
  /** The main source, then any extra sources (new data windows), all with the same columns. */
  sources: string[];
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  delimiter?: string;
  /** The main source's text encoding (default UTF-8); another one is transcoded to UTF-8 before the engine reads it. */
  encoding?: SourceEncoding;
  /** Drop the rows whose target is missing (counted in the lineage as `droppedMissingTarget`) instead of failing validation. */
  dropMissingTarget?: boolean;
  /** The format of the extra sources, when their names do not tell it. */
  windowFormat?: 'csv' | 'jsonl' | 'json' | 'parquet';
  openS3?: OpenS3;
  /** The declared schema; when absent it is inferred from every row with `target`. */
  schema?: DatasetSchema;
  target?: string;
  /** Keep only rows of the first source whose datetime column lies in [from, to]; extra sources are kept whole. */
  filter?: { column: string; from?: string; to?: string };
  /** Derived columns: name to SQL expression over the typed columns (e.g. `delayed: "delay > 15"`). */
  columns?: Record<string, string>;
  /** Keep only rows where this SQL condition over the typed columns (and derived ones) is true. */
  where?: string;
  /** The seed of the hash split (the spec's split.seed). */
  hashSeed?: number;
  /** The Parquet file to write. */
  outFile: string;
  /** Scratch directory for the engine's database and copies of remote sources. */
  dir: string;
  /** Most bytes of remote sources copied into `dir` (default 20 GiB). */
  scratchBudget?: number;
  /**
   * `exact` types every value of a CSV with our rules in SQL; `auto` (default) first lets the reader parse the
   * numeric columns of one CSV source and keeps that only when it matches (docs/data.md), else types exactly.
   */
  typing?: 'auto' | 'exact';
  /** Told which path typed a streamed text source (tests, logs). */
  onTyping?: (path: 'fast' | 'exact') => void;
  /** Engine memory limit (default `INGEST_MEMORY_LIMIT`). */
  memoryLimit?: string;
  validation?: ValidationOptions;
  /** Called after each step with its name and wall time in milliseconds (benchmarks, logs). */
  onStep?: (step: string, ms: number) => void;
}

/** How a snapshot was made, stored with it (its lineage). */
export interface SnapshotLineage {
  engine: string;
  format: 'parquet';
  sources: { name: string; format: string; rows: number }[];
  filter?: { column: string; from?: string; to?: string };
  where?: string;
  derived?: Record<string, string>;
  hashSeed: number;
  rowsRead: number;
  rowsKept: number;
  /** Rows dropped because their target was missing (`dataset.dropMissingTarget`), after the filter and `where`. */
  droppedMissingTarget?: number;
}

/** The built snapshot, before it is stored. */
export interface BuiltSnapshot {
  schema: DatasetSchema;
  rowCount: number;
  validation: ValidationReport;
  profile: DatasetProfile;
  classCounts?: Record<string, number>;
  lineage: SnapshotLineage;
}

/** FNV-1a (32 bit) over UTF-16 code units, as the JSON-lines snapshots (and Parquet snapshots before `md5`) hashed their lines. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Registers `mlops_fnv(text)` with the engine, to split snapshots made before `md5` keys by another seed. */
export function registerHash(engine: Engine): void {
  const fn = DuckDBScalarFunction.create({
    name: 'mlops_fnv',
    returnType: UINTEGER,
    parameterTypes: [VARCHAR],
    mainFunction: (_info, input, output) => {
      const v = input.getColumnVector(0);
      for (let i = 0; i < input.rowCount; i++) output.setItem(i, fnv1a(v.getItem(i) as string));
      output.flush();
    },
  });
  engine.connection.registerScalarFunction(fn);
}

function bound(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = toDatetime(text);
  if (ms === undefined || Number.isNaN(ms))
    throw new MlopsError(FailureType.InvalidInput, `dataset.filter.${what}: "${text}" is not an ISO date`);
  return ms;
}

interface RawColumn {
  name: string;
  kind: RawKind;
}

/**
 * Infers the type of each raw column from every row: a DuckDB-typed column keeps its type; a text
 * column is boolean when every present value is true/false, else numeric (or datetime) when at most
 * `INFERENCE_TOLERANCE` of its present values fail to parse (validation then names their rows),
 * else categorical. One bad token never turns a numeric column into a categorical one.
 */
async function inferTypes(
  engine: Engine,
  relation: string,
  raw: RawColumn[],
  mixed?: Map<string, 'numeric' | 'datetime'>,
): Promise<ColumnSpec[]> {
  const text = raw.filter((c) => c.kind === 'text' || c.kind === 'json');
  const parts = (i: number, c: RawColumn, checks: ('bool' | 'numeric' | 'datetime')[]): string[] => {
    const present = `${typedSql('categorical', c.name, c.kind).value} IS NOT NULL`;
    const col = c.kind === 'json' ? `json_extract_string(${ident(c.name)}, '$')` : ident(c.name);
    const out = [`count_if(${present}) AS p_${i}`];
    if (checks.includes('bool')) out.push(`count_if(${present} AND lower(trim(${col})) NOT IN ('true', 'false')) AS nb_${i}`);
    for (const [type, key] of [
      ['numeric', 'n'],
      ['datetime', 'd'],
    ] as const) {
      if (!checks.includes(type)) continue;
      const t = typedSql(type, c.name, c.kind);
      out.push(`count_if(${t.bad}) AS ${key}bad_${i}`, `count(${t.value}) AS ${key}_${i}`);
    }
    return out;
  };
  const fits = (stats: Record<string, unknown>, i: number, key: 'n' | 'd'): boolean => {
    const n = (k: string): number => Number(stats[`${k}_${i}`] ?? 0);
    return n(key) > 0 && n(`${key}bad`) <= INFERENCE_TOLERANCE * n('p');
  };
  // A first look at the opening rows proposes a type; every row then has its say on that type, so
  // where a bad token sits changes nothing. Columns with no number or date in the opening rows are
  // categorical without a second pass (parsing every value as a date is the costly part).
  const opening =
    text.length === 0
      ? {}
      : await engine.one(
          `SELECT ${text.flatMap((c, i) => parts(i, c, ['bool', 'numeric', 'datetime'])).join(', ')} FROM (SELECT * FROM ${relation} LIMIT 10000)`,
        );
  const proposal = text.map((c, i): ColumnType | 'mixed' => {
    const n = (k: string): number => Number(opening[`${k}_${i}`] ?? 0);
    if (n('p') > 0 && n('nb') === 0) return 'boolean';
    if (n('n') > 0) return 'numeric';
    if (n('d') > 0) return 'datetime';
    return n('p') === 0 ? 'mixed' : 'categorical';
  });
  const full = text.flatMap((c, i) =>
    proposal[i] === 'categorical'
      ? []
      : parts(
          i,
          c,
          proposal[i] === 'boolean' ? ['bool'] : proposal[i] === 'numeric' ? ['numeric', 'datetime'] : ['bool', 'numeric', 'datetime'],
        ),
  );
  const stats = full.length === 0 ? {} : await engine.one(`SELECT ${full.join(', ')} FROM ${relation}`);
  return raw.map((c): ColumnSpec => {
    if (c.kind !== 'text' && c.kind !== 'json') return { name: c.name, type: columnTypeOf(c.kind) };
    const i = text.indexOf(c);
    if (proposal[i] === 'categorical') return { name: c.name, type: 'categorical' };
    const n = (k: string): number => Number(stats[`${k}_${i}`] ?? 0);
    let type: ColumnType = 'categorical';
    if (proposal[i] !== 'numeric' && n('p') > 0 && n('nb') === 0) type = 'boolean';
    else if (fits(stats, i, 'n')) type = 'numeric';
    else if (fits(stats, i, 'd')) type = 'datetime';
    // Numbers or dates mixed with other text (dates in several formats, decimal commas): categorical, but the caller checks it.
    else if (n('n') > 0 || n('d') > 0) mixed?.set(c.name, n('n') >= n('d') ? 'numeric' : 'datetime');
    return { name: c.name, type };
  });
}

/**
 * Loads the sources as the relation `raw` with a source row number `__src_row`: one Parquet file is
 * read in place (a view; Parquet is already columnar and typed); with `stream`, one CSV source is a
 * view over the file too, typed in the same scan that reads it (its row numbers and count
 * come from the typed table; `undefined` is returned); anything else is copied into a table.
 */
async function loadSources(engine: Engine, locals: LocalSource[], stream = false): Promise<number[] | undefined> {
  if (locals.length === 1 && locals[0].format === 'parquet') {
    try {
      await engine.run(
        `CREATE VIEW raw AS SELECT file_row_number + 1 AS __src_row, * EXCLUDE (file_row_number) FROM ` +
          `read_parquet(${literal(locals[0].path)}, file_row_number = true)`,
      );
      const { n } = await engine.one<{ n: number }>('SELECT count(*) AS n FROM raw');
      return [n];
    } catch (err) {
      throw sourceError(locals[0].name, err);
    }
  }
  // CSV only: the engine reads it again cheaply (inference, hash keys); a JSON source is parsed once into a table.
  if (stream && locals.length === 1 && locals[0].format === 'csv') {
    const source = locals[0];
    // Row numbers are those of the typed table (rows are inserted in the file's order).
    try {
      await engine.run(`CREATE VIEW raw AS SELECT CAST(NULL AS BIGINT) AS __src_row, * FROM ${readerSql(source)}`);
    } catch (err) {
      throw (await encodingError(source, err)) ?? sourceError(source.name, err);
    }
    return undefined;
  }
  const counts: number[] = [];
  let before = 0;
  for (const [i, source] of locals.entries()) {
    try {
      // One JSON source is read as JSON text; with extra sources, values must share one SQL type, so DuckDB's types stay.
      const json = locals.length === 1 && (source.format === 'json' || source.format === 'jsonl');
      const reader = json
        ? readerSql(
            source,
            (await engine.describe(readerSql(source))).map((c) => c.name),
          )
        : readerSql(source);
      if (i === 0) await engine.run(`CREATE TABLE raw_rows AS SELECT * FROM ${reader}`);
      else await engine.run(`INSERT INTO raw_rows BY NAME SELECT * FROM ${reader}`);
    } catch (err) {
      throw (await encodingError(source, err)) ?? sourceError(source.name, err);
    }
    const { n } = await engine.one<{ n: number }>('SELECT count(*) AS n FROM raw_rows');
    counts.push(n - before);
    before = n;
  }
  await engine.run('CREATE VIEW raw AS SELECT rowid + 1 AS __src_row, * FROM raw_rows');
  return counts;
}

/**
 * Whether a byte `_` follows the first line of a file: DuckDB's CSV reader reads 1_000 as a number where our
 * rules do not, so a CSV with one takes the exact path of typing. Read while the engine reads the file.
 */
async function underscoreInData(path: string): Promise<boolean> {
  // One buffer read into again and again: a stream's fresh buffer per chunk cost four times the CPU on a 1 GB file.
  const file = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(1 << 22);
  try {
    let position = 0;
    let header = true;
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return false;
      position += bytesRead;
      const read = buffer.subarray(0, bytesRead);
      let from = 0;
      if (header) {
        const nl = read.indexOf(10);
        if (nl < 0) continue;
        header = false;
        from = nl + 1;
      }
      if (read.indexOf(95, from) >= 0) return true;
    }
  } finally {
    await file.close();
  }
}

/** A column's share of numbers or dates from which a mix with other text is refused rather than read as categories. */
export const MIXED_SHARE = 0.1;

/**
 * Blocking issues for inferred columns that mix numbers or ISO dates with other text (dates in three
 * formats, decimal commas): read as categories they would make one category per value in silence.
 */
async function mixedColumnIssues(
  engine: Engine,
  mixed: Map<string, 'numeric' | 'datetime'>,
  inSchema: Set<string>,
): Promise<ValidationIssue[]> {
  const issues: ValidationIssue[] = [];
  for (const [name, type] of mixed) {
    if (!inSchema.has(name)) continue;
    const t = typedSql(type, name, 'text');
    const { parsed, present } = await engine.one<{ parsed: number; present: number }>(
      `SELECT count(${t.value}) AS parsed, count(${typedSql('categorical', name, 'text').value}) AS present FROM kept`,
    );
    if (Number(parsed) < MIXED_SHARE * Number(present) || Number(parsed) === Number(present)) continue;
    const bad = await engine.rows<{ row: number; value: string }>(
      `SELECT __row AS row, ${ident(name)} AS value FROM kept WHERE ${t.bad} ORDER BY __row LIMIT 5`,
    );
    const what = type === 'numeric' ? 'numbers' : 'ISO 8601 dates';
    const examples = bad.map((b) => `${JSON.stringify(b.value)} (row ${b.row})`).join(', ');
    issues.push({
      column: name,
      rule: 'type',
      severity: 'blocking',
      observed: `${Number(present) - Number(parsed)} of ${present} values are not ${what}`,
      expected: type,
      sampleRows: bad.map((b) => Number(b.row)),
      message:
        `column "${name}" mixes ${what} (${parsed} of ${present} present values) with other text, e.g. ${examples}; ` +
        `write every value as ` +
        `${type === 'numeric' ? 'a finite number in decimal or exponent notation (a point, not a comma)' : 'an ISO 8601 date'}, or ` +
        `declare the column's type in dataset.schema`,
    });
  }
  return issues;
}

/**
 * No trainer learns from a row without a target, so a target's missing values that its `maxNullRate`
 * lets through would only fail training later, on an index into the training split. They are refused
 * here, naming their source rows and the spec field that drops them.
 */
async function unlabelledRowsIssue(
  engine: Engine,
  schema: DatasetSchema,
  issues: ValidationIssue[],
  profile: DatasetProfile,
): Promise<ValidationIssue[]> {
  const i = schema.columns.findIndex((c) => c.name === schema.target);
  if (i < 0 || issues.some((x) => x.column === schema.target && x.rule === 'missing_label')) return [];
  // The profile counted them already (its nulls are the missing values, bad ones apart): no scan unless there are any.
  const n = profile.columns[i]?.nulls ?? 0;
  if (n === 0) return [];
  const missing = `v_${i} IS NULL AND NOT b_${i}`;
  const rows = (await engine.rows<{ r: number }>(`SELECT __row AS r FROM checked WHERE ${missing} ORDER BY __row LIMIT 5`)).map((x) =>
    Number(x.r),
  );
  return [
    {
      column: schema.target,
      rule: 'missing_label',
      severity: 'blocking',
      observed: Number(n),
      expected: 0,
      sampleRows: rows,
      message:
        `target "${schema.target}" is missing in ${n} rows (source rows ${rows.join(', ')}${Number(n) > rows.length ? ', …' : ''}), ` +
        `which no trainer can learn from; set dataset.dropMissingTarget: true to drop them`,
    },
  ];
}

function expressionError(what: string, expression: string, err: unknown): MlopsError {
  return new MlopsError(
    FailureType.InvalidInput,
    `${what} "${expression}" is not a valid expression over the dataset's columns: ${engineMessage(err)}`,
    { expression },
  );
}

/** Reads the sources into one Parquet snapshot, validates and profiles it, all in the engine. */
export async function buildSnapshot(o: BuildSnapshotOptions): Promise<BuiltSnapshot> {
  if (!o.schema && !o.target) throw new MlopsError(FailureType.InvalidInput, 'dataset: give either a schema or the target column');
  const from = bound(o.filter?.from, 'from');
  // An ISO date as "to" includes that whole day.
  const to = bound(o.filter?.to, 'to');
  const toInclusive = to !== undefined && o.filter?.to && /^\d{4}-\d{2}-\d{2}$/.test(o.filter.to) ? to + 86_399_999 : to;
  const engine = await Engine.open({ dir: join(o.dir, 'engine'), memoryLimit: o.memoryLimit ?? INGEST_MEMORY_LIMIT });
  let last = Date.now();
  const step = (name: string): void => {
    const now = Date.now();
    o.onStep?.(name, now - last);
    last = now;
  };
  try {
    const scratch = new Scratch(join(o.dir, 'sources'), o.scratchBudget);
    const locals: LocalSource[] = [];
    for (const [i, source] of o.sources.entries()) {
      // The spec's format applies to the main source; extra sources (new data windows) have their own.
      const options =
        i === 0 ? { format: o.format, delimiter: o.delimiter, openS3: o.openS3 } : { format: o.windowFormat, openS3: o.openS3 };
      const local = await scratch.localSource(source, options);
      locals.push(i === 0 ? await asUtf8(local, o.encoding, scratch.dir) : local);
    }
    const loaded = await loadSources(engine, locals, true);
    // One text source is read by each scan of `raw` (no copy): its read errors surface in those scans.
    const streamed = loaded === undefined;
    const reading = async <T>(work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (err) {
        if (!streamed || err instanceof MlopsError) throw err;
        throw (await encodingError(locals[0], err)) ?? sourceError(locals[0].name, err);
      }
    };
    step('load');
    const csv = locals[0].format === 'csv';
    const raw: RawColumn[] = (await engine.describe('raw'))
      .filter((c) => c.name !== '__src_row')
      .map((c) => ({ name: c.name, kind: rawKind(c.type) }));
    for (const reserved of ['__row', '__hash', '__src_row']) {
      if (raw.some((c) => c.name === reserved))
        throw new MlopsError(
          FailureType.InvalidInput,
          `${locals[0].name}: the column name "${reserved}" is reserved for snapshots; rename it`,
        );
    }
    const declared = new Map((o.schema?.columns ?? []).map((c) => [c.name, c]));
    const mixed = new Map<string, 'numeric' | 'datetime'>();
    const rawTypes = o.schema
      ? raw.filter((c) => declared.has(c.name)).map((c) => declared.get(c.name)!)
      : await reading(() => inferTypes(engine, 'raw', raw, mixed));
    const typeOf = new Map(rawTypes.map((c) => [c.name, c.type]));
    step('infer');

    // The typed rows: schema columns in their storage types, with a bad-value flag and the raw text
    // for messages; other columns as read; the hash key of the row as the JSON-lines snapshots had it.
    const seed = o.hashSeed ?? 42;
    // One concat() call: a chain of || makes a new string per operator, which cost more than the MD5 itself.
    const line = `concat(${[
      "'{'",
      ...raw.map((c, k) => `${literal(`${k ? ',' : ''}${JSON.stringify(c.name)}:`)}, ${jsLiteralSql(c.name, c.kind, csv)}`),
      "'}'",
    ].join(', ')})`;
    const select = ['__src_row AS __row', `${line} AS __line`];
    const parsed: string[] = [];
    const values: string[] = [];
    // The fast path of a streamed CSV: its numeric columns parsed by the reader itself (the same rows as `typed`
    // stores when the reader sets no row aside, no value has a _, and each is finite or missing; else the exact path runs).
    const fastOf = (type: ColumnType): RawColumn[] =>
      streamed && csv && o.typing !== 'exact' ? raw.filter((c) => c.kind === 'text' && typeOf.get(c.name) === type) : [];
    const fastDoubles = fastOf('numeric');
    // Datetime columns parsed by the reader as TIMESTAMPTZ (the cast TRY_CAST makes, leading blanks allowed): kept only
    // when every value parsed and is finite, since the reader makes a text it cannot parse NULL instead of setting it aside.
    const fastTimes = fastOf('datetime');
    const fastSelect: string[] = [];
    const fastParsed: string[] = [];
    const fastValues: string[] = [];
    const flagless = new Set<string>();
    const exampleNames = new Map<string, string>();
    // Each typed column's own SQL (its parse, value and outputs), to type a table of its distinct raw values the same way.
    const pieces = new Map<string, { parse?: string; value?: string; items: string[] }>();
    for (const c of raw) {
      const type = typeOf.get(c.name);
      if (!type) {
        select.push(ident(c.name));
        fastSelect.push(ident(c.name));
        continue;
      }
      // A number the reader parsed is stored as read, with no flag: the path is kept only when every one is finite or
      // missing (NaN, missing or bad by its text, and infinities, bad by our rules, send the source to the exact path).
      if (fastDoubles.includes(c)) fastSelect.push(ident(c.name));
      if (fastTimes.includes(c))
        fastSelect.push(`${storageSql(type, typedSql(type, c.name, c.kind, ident(c.name)).value)} AS ${ident(c.name)}`);
      const parse = parseSql(type, c.name, c.kind);
      if (parse) parsed.push(`${parse} AS ${ident(`__p:${c.name}`)}`);
      const fast = !fastDoubles.includes(c) && !fastTimes.includes(c);
      if (parse && fast) fastParsed.push(`${parse} AS ${ident(`__p:${c.name}`)}`);
      const t = typedSql(type, c.name, c.kind, parse && ident(`__p:${c.name}`));
      // Columns whose values cannot be wrong (typed by the source) carry no flags.
      if (t.bad === 'false') {
        select.push(`${storageSql(type, t.value)} AS ${ident(c.name)}`);
        if (fast) fastSelect.push(`${storageSql(type, t.value)} AS ${ident(c.name)}`);
        flagless.add(c.name);
        pieces.set(c.name, { parse: parse && `${parse} AS ${ident(`__p:${c.name}`)}`, items: [select[select.length - 1]] });
        continue;
      }
      // The value once per row, in the middle query; a value is never bad, so the rule for bad
      // values is evaluated only where the value is missing.
      const v = ident(`__v:${c.name}`);
      values.push(`${t.value} AS ${v}`);
      const bad = `CASE WHEN ${v} IS NOT NULL THEN false ELSE ${t.bad} END`;
      select.push(
        `${storageSql(type, v)} AS ${ident(c.name)}`,
        `${bad} AS ${ident(`__bad:${c.name}`)}`,
        `CASE WHEN ${bad} THEN ${jsLiteralSql(c.name, c.kind, csv)} END AS ${ident(`__x:${c.name}`)}`,
      );
      if (fast) {
        fastValues.push(`${t.value} AS ${v}`);
        fastSelect.push(`${storageSql(type, v)} AS ${ident(c.name)}`, `${bad} AS ${ident(`__bad:${c.name}`)}`);
      }
      exampleNames.set(c.name, ident(`__x:${c.name}`));
      pieces.set(c.name, {
        parse: parse && `${parse} AS ${ident(`__p:${c.name}`)}`,
        value: `${t.value} AS ${v}`,
        items: select.slice(-3, -1),
      });
    }
    // Text is parsed once per value, in the inner query; typed once, in the middle one. A typed source's view passes its
    // raw values on too (`__k:`), so the checks can count each column's distinct raw values, then type only those.
    const extra = (list: string[]): string => list.map((p) => `, ${p}`).join('');
    const keyed = !streamed && parsed.length === 0;
    const keys = keyed ? [...pieces.keys()].map((name) => `${ident(name)} AS ${ident(`__k:${name}`)}`) : [];
    // Made when first needed: each use of a view over a CSV reads the file's head again, and the fast path of a CSV
    // does not need this one until the snapshot is written.
    let typedMade = false;
    const withTyped = async (): Promise<void> => {
      if (typedMade) return;
      await engine.run(
        `CREATE VIEW typed AS SELECT ${[...select, ...keys].join(', ')} FROM (SELECT *${extra(values)} FROM (SELECT *${extra(parsed)} FROM raw))`,
      );
      typedMade = true;
    };
    if (!streamed) await withTyped();

    const conditions: string[] = [];
    if (o.filter) {
      if (!typeOf.has(o.filter.column) && !raw.some((c) => c.name === o.filter!.column)) {
        throw new MlopsError(FailureType.InvalidInput, `dataset.filter.column: "${o.filter.column}" is not a column of ${locals[0].name}`);
      }
      const kind = typeOf.get(o.filter.column) === 'datetime' ? 'timestamp' : raw.find((c) => c.name === o.filter!.column)!.kind;
      const t = typedSql('datetime', o.filter.column, kind).value;
      const window = [`${t} IS NOT NULL`];
      if (from !== undefined) window.push(`${t} >= ${from}`);
      if (toInclusive !== undefined) window.push(`${t} <= ${toInclusive}`);
      // Extra sources are kept whole (one source has no rows past its own).
      conditions.push(loaded && loaded.length > 1 ? `(__row > ${loaded[0]} OR (${window.join(' AND ')}))` : `(${window.join(' AND ')})`);
    }
    const derived = Object.entries(o.columns ?? {});
    for (const [name, expression] of derived) {
      if (raw.some((c) => c.name === name))
        throw new MlopsError(FailureType.InvalidInput, `dataset.columns.${name}: the data already has a column "${name}"`);
      try {
        await withTyped();
        await engine.run(`DESCRIBE SELECT (${expression}) AS x FROM typed`);
      } catch (err) {
        throw expressionError(`dataset.columns.${name}:`, expression, err);
      }
    }
    if (o.where) {
      try {
        await withTyped();
        await engine.run(`DESCRIBE SELECT * FROM typed WHERE (${o.where})`);
      } catch (err) {
        throw expressionError('dataset.where:', o.where, err);
      }
      conditions.push(`(${o.where})`);
    }
    let droppedMissingTarget: number | undefined;
    const targetName = o.schema?.target ?? o.target;
    if (o.dropMissingTarget && targetName) {
      // Missing, not invalid: a target value of the wrong type stays a validation issue naming its row.
      const fromSource = typeOf.has(targetName);
      const expression = derived.find(([name]) => name === targetName)?.[1];
      if (!fromSource && !expression)
        throw new MlopsError(
          FailureType.InvalidInput,
          `dataset.dropMissingTarget: the target "${targetName}" is not a column of ${locals[0].name}`,
        );
      const present = fromSource
        ? `(${ident(targetName)} IS NOT NULL${flagless.has(targetName) ? '' : ` OR ${ident(`__bad:${targetName}`)}`})`
        : `((${expression}) IS NOT NULL)`;
      const before = conditions.length ? `${conditions.join(' AND ')} AND ` : '';
      await withTyped();
      droppedMissingTarget = Number(
        (await reading(() => engine.one<{ n: number }>(`SELECT count(*) AS n FROM typed WHERE ${before}NOT ${present}`))).n,
      );
      conditions.push(present);
    }
    const keep = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
    const derivedSql = derived.map(([name, expression]) => `, (${expression}) AS ${ident(name)}`).join('');
    // Text is parsed once into a table that every later scan reads; typed sources (Parquet) stay a view over
    // the file, which the engine reads again faster than it copies it.
    const materialize = parsed.length > 0;
    const unstored = ['__line', ...exampleNames.values()].join(', ');
    let counts: number[];
    // The exact range of numbers stored by the fast path, from the engine's statistics (no scan for them later).
    const storedRange = new Map<string, { min: number; max: number }>();
    if (streamed) {
      // One scan reads, types and stores every row (the row's number is its place in the table); the filter,
      // `where` and derived columns are a view over it, so an error in this scan is one of reading the source.
      let fastRows: number | undefined;
      if (fastDoubles.length + fastTimes.length > 0) {
        const reader = readerSql(locals[0], undefined, {
          doubles: fastDoubles.map((c) => c.name),
          times: fastTimes.map((c) => c.name),
          rejects: '__rejects',
        });
        const [underscore] = await Promise.all([
          fastDoubles.length > 0 && underscoreInData(locals[0].path),
          reading(() =>
            engine.run(
              `CREATE TABLE typed_store AS SELECT ${fastSelect.join(', ')} FROM (SELECT *${extra(fastValues)} FROM (SELECT *${extra(fastParsed)} FROM ${reader}))`,
            ),
          ),
        ]);
        // A stored timestamp is NULL where the reader's was (missing or not a timestamp) or was not finite. The engine's
        // statistics of the stored columns say so without a scan (and give the numbers' exact range); a scan when they do not read.
        const fastColumns = [...fastDoubles, ...fastTimes];
        const stats = await engine.rows<Record<string, unknown>>(
          `SELECT (SELECT count(*) FROM typed_store) AS n, (SELECT count(*) FROM __rejects) AS rejected, ` +
            `${fastColumns.map((c, k) => `stats(${ident(c.name)}) AS s_${k}`).join(', ')} FROM typed_store LIMIT 1`,
        );
        const read = fastColumns.map((c, k) => {
          const x = stats[0] ? storedStats(stats[0][`s_${k}`]) : undefined;
          return x && (fastTimes.includes(c) || (x.min !== undefined && x.max !== undefined)) ? x : undefined;
        });
        let r: { n: number; nonFinite: number; rejected: number };
        if (stats[0] && read.every((x) => x !== undefined)) {
          const nonFinite = fastColumns.some((c, k) => {
            const x = read[k]!;
            return fastTimes.includes(c) ? x.hasNull : x.hasValue && !(Number.isFinite(x.min!) && Number.isFinite(x.max!));
          });
          r = { n: Number(stats[0].n), nonFinite: nonFinite ? 1 : 0, rejected: Number(stats[0].rejected) };
          fastColumns.forEach((c, k) => {
            const x = read[k]!;
            if (!x.hasValue) return;
            // A datetime's range in epoch milliseconds, when its text reads as one.
            const min = fastTimes.includes(c) ? utcMillis(x.minText) : x.min;
            const max = fastTimes.includes(c) ? utcMillis(x.maxText) : x.max;
            if (min !== undefined && max !== undefined) storedRange.set(c.name, { min, max });
          });
        } else {
          const nonFinite = [
            ...fastDoubles.map((c) => `NOT isfinite(${ident(c.name)})`),
            ...fastTimes.map((c) => `${ident(c.name)} IS NULL`),
          ].join(' OR ');
          r = await engine.one<{ n: number; nonFinite: number; rejected: number }>(
            `SELECT count(*) AS n, count_if(${nonFinite}) AS nonFinite, (SELECT count(*) FROM __rejects) AS rejected FROM typed_store`,
          );
        }
        if (!underscore && Number(r.nonFinite) === 0 && Number(r.rejected) === 0) {
          fastRows = Number(r.n);
          // No parsed number is bad: their flags are constants, not stored (a narrower table, cheaper to fill).
          const flags = [...fastDoubles, ...fastTimes].map((c) => `, false AS ${ident(`__bad:${c.name}`)}`).join('');
          await engine.run(`CREATE VIEW typed_rows AS SELECT rowid + 1 AS __row, *${flags} FROM typed_store`);
          o.onTyping?.('fast');
        } else {
          storedRange.clear();
          await engine.run('DROP TABLE typed_store');
        }
      }
      if (fastRows === undefined) {
        await withTyped();
        await reading(() => engine.run(`CREATE TABLE typed_store AS SELECT * EXCLUDE (__row, ${unstored}) FROM typed`));
        await engine.run('CREATE VIEW typed_rows AS SELECT rowid + 1 AS __row, * FROM typed_store');
        fastRows = Number((await engine.one<{ n: number }>('SELECT count(*) AS n FROM typed_store')).n);
        o.onTyping?.('exact');
      }
      counts = [fastRows];
    } else counts = loaded;
    const rowsRead = counts.reduce((a, b) => a + b, 0);
    let rowCount: number;
    const derivedError = (err: unknown): MlopsError =>
      new MlopsError(
        FailureType.InvalidInput,
        `The dataset's derived columns or filter failed on the data: ${engineMessage(err)}`,
        undefined,
        {
          cause: err,
        },
      );
    // Whether the checks will compute a derived column (every column is in an inferred schema).
    const checkedLater = (name: string): boolean => !o.schema || o.schema.columns.some((c) => c.name === name);
    /** Runs work that computes derived values; an engine error is theirs when computing them alone fails too. */
    const computing = async <T>(work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (err) {
        if (err instanceof MlopsError || derived.length === 0) throw err;
        try {
          await engine.one(`SELECT ${derived.map(([name], k) => `count(${ident(name)}) AS d_${k}`).join(', ')} FROM kept`);
        } catch (own) {
          throw derivedError(own);
        }
        throw err;
      }
    };
    try {
      // The raw text of bad values stays out of the table: read again from the source where examples are needed.
      await engine.run(
        streamed
          ? `CREATE VIEW kept AS SELECT *${derivedSql} FROM typed_rows${keep}`
          : `CREATE ${materialize ? 'TABLE' : 'VIEW'} kept AS SELECT * EXCLUDE (${unstored})${derivedSql} FROM typed${keep}`,
      );
      // Counting the derived values makes the engine compute each one: an expression that fails on the data fails here.
      // The schema's derived columns are computed by the checks' scans anyway (a failure there is traced back to them).
      const computed = derived
        .filter(([name]) => !checkedLater(name))
        .map(([name], k) => `, count(${ident(name)}) AS d_${k}`)
        .join('');
      rowCount = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n${computed} FROM kept`)).n);
    } catch (err) {
      throw derivedError(err);
    }
    step('type');
    const keptColumns = new Map((await engine.describe('kept')).map((c) => [c.name, rawKind(c.type)]));
    if (rowCount === 0) {
      const why = [
        o.filter ? ` after the filter ${o.filter.column} in [${o.filter.from ?? '…'}, ${o.filter.to ?? '…'}]` : '',
        o.where ? ` where ${o.where}` : '',
        droppedMissingTarget ? ` after dropping ${droppedMissingTarget} rows whose target is missing` : '',
      ].join('');
      throw new MlopsError(FailureType.DataValidation, `The dataset is empty${why}: no rows were read from ${o.sources.join(', ')}`);
    }

    const derivedTypes = derived.map(([name]): ColumnSpec => ({ name, type: columnTypeOf(keptColumns.get(name)!) }));
    const inferred = [...rawTypes, ...derivedTypes];
    const label = inferred.find((c) => c.name === o.target);
    if (!o.schema && label?.type === 'numeric') {
      // A target of only 0s and 1s is a label (docs/data.md lists 1/0 as booleans), not a quantity:
      // classification, unless a declared schema says regression.
      const { other, n } = await computing(() =>
        engine.one<{ other: number; n: number }>(
          `SELECT count_if(${ident(label.name)} NOT IN (0, 1)) AS other, count(${ident(label.name)}) AS n FROM kept`,
        ),
      );
      if (Number(other) === 0 && Number(n) > 0) label.type = 'boolean';
    }
    const schema = o.schema ?? schemaFromTypes(inferred, { target: o.target! });
    const rawNames = new Set(raw.map((c) => c.name));
    const derivedNames = new Set(derived.map(([name]) => name));

    // The relation validation and profiling read: v_i, b_i, x_i per schema column.
    const v: string[] = ['__row'];
    // Each column's value and flag as they read the kept columns (to type a table of distinct raw values the same way).
    const checkedOf = new Map<number, { value: string; bad: string }>();
    const examples: string[] = ['__row'];
    const exampleColumns = new Set<number>();
    const present: boolean[] = [];
    schema.columns.forEach((spec, i) => {
      const stored = keptColumns.get(spec.name);
      if (stored === undefined) {
        present.push(false);
        v.push(
          `${spec.type === 'categorical' ? 'CAST(NULL AS VARCHAR)' : 'CAST(NULL AS DOUBLE)'} AS v_${i}`,
          `false AS b_${i}`,
          `CAST(NULL AS VARCHAR) AS x_${i}`,
        );
        return;
      }
      present.push(true);
      const rawKindOf = raw.find((c) => c.name === spec.name)?.kind;
      const typedHere = rawNames.has(spec.name) && typeOf.get(spec.name) === spec.type;
      // A number stored by the typing above is already the typed value (finite or NULL), as is a category typed from text (NULL when missing).
      const t =
        typedHere && (spec.type === 'numeric' || (spec.type === 'categorical' && (rawKindOf === 'text' || rawKindOf === 'json')))
          ? { value: ident(spec.name), bad: 'false' }
          : typedSql(spec.type, spec.name, stored);
      if (rawNames.has(spec.name) && typeOf.has(spec.name) && flagless.has(spec.name)) {
        v.push(`${t.value} AS v_${i}`, `${t.bad} AS b_${i}`, `CAST(NULL AS VARCHAR) AS x_${i}`);
        checkedOf.set(i, { value: t.value, bad: t.bad });
      } else if (rawNames.has(spec.name) && typeOf.has(spec.name)) {
        // A stored value is never bad (typing made it NULL), so the source's flag alone marks the bad values.
        v.push(`${t.value} AS v_${i}`, `(${ident(`__bad:${spec.name}`)} OR ${t.bad}) AS b_${i}`, `CAST(NULL AS VARCHAR) AS x_${i}`);
        checkedOf.set(i, { value: t.value, bad: `(${ident(`__bad:${spec.name}`)} OR ${t.bad})` });
        examples.push(`${ident(`__bad:${spec.name}`)} AS b_${i}`, `${ident(`__x:${spec.name}`)} AS x_${i}`);
        exampleColumns.add(i);
      } else {
        v.push(`${t.value} AS v_${i}`, `${t.bad} AS b_${i}`, `${jsLiteralSql(spec.name, stored)} AS x_${i}`);
        if (derivedNames.has(spec.name)) checkedOf.set(i, { value: t.value, bad: t.bad });
      }
    });
    // Keyed value counts (a typed source read in place): a column's distinct raw values in the kept rows, typed as the
    // views above type them; a derived column's by its own values.
    const keyedCounts = new Map<number, { key: string; retype: (counts: string) => string }>();
    if (keyed) {
      for (const [i, c] of checkedOf) {
        const name = schema.columns[i].name;
        const piece = pieces.get(name);
        if (!piece && !derivedNames.has(name)) continue;
        const own = piece
          ? (counts: string) =>
              `SELECT ${piece.items.join(', ')}, n, first FROM (SELECT *${piece.value ? `, ${piece.value}` : ''} FROM (SELECT *` +
              `${piece.parse ? `, ${piece.parse}` : ''} FROM (SELECT k AS ${ident(name)}, n, first FROM ${counts})))`
          : (counts: string) => `SELECT k AS ${ident(name)}, n, first FROM ${counts}`;
        keyedCounts.set(i, {
          key: ident(piece ? `__k:${name}` : name),
          retype: (counts) => `SELECT ${c.value} AS v, ${c.bad} AS b, n, first FROM (${own(counts)})`,
        });
      }
    }
    await engine.run(`CREATE VIEW checked AS SELECT ${v.join(', ')} FROM kept`);
    // The same rows as kept, in the same order (the filter is deterministic), typed again from the source.
    // A streamed source's rows are numbered by the kept rows they line up with. Made only when bad values were found.
    const prepareExamples = async (): Promise<void> => {
      await withTyped();
      await engine.run(
        streamed && examples.length > 1
          ? `CREATE VIEW examples AS SELECT k.__row, e.* FROM (SELECT ${examples.slice(1).join(', ')} FROM typed${keep}) e POSITIONAL JOIN (SELECT __row FROM kept) k`
          : `CREATE VIEW examples AS SELECT ${examples.join(', ')} FROM ${streamed ? 'kept' : `typed${keep}`}`,
      );
    };
    const declaredNames = new Set(schema.columns.map((c) => c.name));
    const relation: TypedRelation = {
      relation: 'checked',
      specs: schema.columns,
      present,
      extra: [...raw.map((c) => c.name), ...derivedNames].filter((n) => !declaredNames.has(n)).map((name) => ({ name, firstRow: 1 })),
      examples: { relation: 'examples', columns: exampleColumns, prepare: prepareExamples },
      rowCount,
      keyed: { relation: 'kept', columns: keyedCounts },
      // Every stored row is kept: the range of a number stored as read is the table's.
      known: keep
        ? undefined
        : new Map(
            schema.columns.flatMap((spec, i) => {
              const range = storedRange.get(spec.name);
              const same = (spec.type === 'numeric' || spec.type === 'datetime') && typeOf.get(spec.name) === spec.type;
              return range && same ? [[i, range] as const] : [];
            }),
          ),
    };
    // Validation and profile share their scans.
    const checked = await computing(() => checkTyped(engine, relation, schema, { validation: o.validation ?? {}, profile: {} }));
    const validation = { ...checked.validation!, source: locals[0].name };
    const unlabelled = await unlabelledRowsIssue(engine, schema, validation.issues, checked.profile!);
    for (const issue of [...(await mixedColumnIssues(engine, mixed, new Set(schema.columns.map((c) => c.name)))), ...unlabelled]) {
      validation.issues.push(issue);
      validation.ok = false;
    }
    const profile = checked.profile!;
    step('check');

    // The snapshot: schema columns in their storage types, other columns as read, then __row and __hash.
    const out: string[] = [];
    for (const name of [...raw.map((c) => c.name), ...derived.map(([n]) => n)]) {
      const spec = schema.columns.find((c) => c.name === name);
      const stored = keptColumns.get(name)!;
      if (spec && derivedNames.has(name) && columnTypeOf(stored) !== spec.type)
        out.push(`${storageSql(spec.type, typedSql(spec.type, name, stored).value)} AS ${ident(name)}`);
      else out.push(ident(name));
    }
    out.push('__row', '__hash');
    // The hash keys of the same rows in the same order (the filter is deterministic), joined by position;
    // computed on every thread first, as the file is written by one.
    await withTyped();
    await engine.run(`CREATE TEMP TABLE __keys AS SELECT ${md5KeySql(`${literal(`${seed}:`)} || __line`)} AS __hash FROM typed${keep}`);
    // One thread writes, so the same data always gives the same bytes (the snapshot's identity).
    await engine.run('SET threads = 1');
    await engine.run(
      `COPY (SELECT ${out.join(', ')} FROM kept POSITIONAL JOIN __keys) TO ${literal(o.outFile)} (FORMAT parquet, COMPRESSION ` +
        `zstd, ROW_GROUP_SIZE ${SNAPSHOT_ROW_GROUP}, KV_METADATA {${literal(HASH_SEED_KEY)}: ` +
        `${literal(String(seed))}, ${literal(HASH_METHOD_KEY)}: 'md5'})`,
    );
    step('write');
    const target = profile.columns.find((c) => c.name === schema.target);
    const classCounts =
      schema.task === 'classification' && target?.kind === 'categorical'
        ? Object.fromEntries(target.frequencies.map((f) => [f.value, f.count]))
        : undefined;
    const lineage: SnapshotLineage = {
      engine: `duckdb ${duckdbVersion()}`,
      format: 'parquet',
      sources: locals.map((l, i) => ({ name: l.name, format: l.format, rows: counts[i] })),
      ...(o.filter ? { filter: o.filter } : {}),
      ...(o.where ? { where: o.where } : {}),
      ...(derived.length ? { derived: Object.fromEntries(derived) } : {}),
      hashSeed: seed,
      rowsRead,
      rowsKept: rowCount,
      ...(droppedMissingTarget !== undefined ? { droppedMissingTarget } : {}),
    };
    return { schema, rowCount, validation, profile, classCounts, lineage };
  } finally {
    engine.close();
  }
}

/** The column types ingest would infer for a source (every row read), without a target: for `mlops schema infer` before the target is chosen. */
export async function inferSourceColumns(o: {
  source: string;
  format?: BuildSnapshotOptions['format'];
  delimiter?: string;
  encoding?: SourceEncoding;
  openS3?: OpenS3;
  dir: string;
}): Promise<{ columns: ColumnSpec[]; rows: number }> {
  const engine = await Engine.open({ dir: join(o.dir, 'engine') });
  try {
    const scratch = new Scratch(join(o.dir, 'sources'));
    const local = await asUtf8(
      await scratch.localSource(o.source, { format: o.format, delimiter: o.delimiter, openS3: o.openS3 }),
      o.encoding,
      scratch.dir,
    );
    const [rows] = (await loadSources(engine, [local]))!;
    const raw: RawColumn[] = (await engine.describe('raw'))
      .filter((c) => c.name !== '__src_row')
      .map((c) => ({ name: c.name, kind: rawKind(c.type) }));
    return { columns: await inferTypes(engine, 'raw', raw), rows };
  } finally {
    engine.close();
  }
}
