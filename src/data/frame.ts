/**
 * Reading Parquet (snapshots and users' files) through the engine, column by column: typed frames
 * for training and evaluation, the hash-split sides stored in a snapshot, validation and profiles
 * of a file, and the split files external trainers get. No JS object is made per row.
 */
import { open } from 'node:fs/promises';
import { FailureType, MlopsError } from '../errors';
import type { DatasetProfile, ProfileOptions } from '../ml/profile';
import type { Column, ColumnSpec, DatasetSchema, Frame } from '../ml/types';
import type { ValidationOptions, ValidationReport } from '../ml/data-validation';
import { isNumericType } from '../ml/values';
import { profileTyped, validateTyped, type TypedRelation } from './checks';
import { Engine, ident, literal, withEngine } from './engine';
import { HASH_METHOD_KEY, HASH_SEED_KEY, hashKeySql, registerHash, type HashMethod } from './snapshot';
import { jsLiteralSql, rawKind, typedSql, type RawKind } from './typing';

/** Columns a snapshot adds to the data: the source row number and the hash-split key. */
export const SNAPSHOT_COLUMNS: ReadonlySet<string> = new Set(['__row', '__hash']);

/** Distinct strings of a column shared between rows; past this the column is taken for free text. */
const INTERN_LIMIT = 1 << 16;

/** Engine settings for reading one file: small, since Parquet is read a row group at a time. */
const READ_ENGINE = { memoryLimit: '256MB' };

/** Whether a local file is Parquet (by its magic bytes, whatever its name). */
export async function isParquetFile(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && head.toString('latin1') === 'PAR1';
  } finally {
    await handle.close();
  }
}

function relationOf(path: string): string {
  return `read_parquet(${literal(path)}, file_row_number = true)`;
}

async function kindsOf(engine: Engine, path: string): Promise<Map<string, RawKind>> {
  return new Map((await engine.describe(relationOf(path))).map((c) => [c.name, rawKind(c.type)]));
}

/** The file as a typed relation (a view named `checked`) against the schema's columns. */
async function typedView(engine: Engine, path: string, schema: DatasetSchema): Promise<TypedRelation> {
  const kinds = await kindsOf(engine, path);
  const rowExpr = kinds.has('__row') ? '__row' : 'file_row_number + 1';
  const select = [`${rowExpr} AS __row`];
  const present: boolean[] = [];
  schema.columns.forEach((spec, i) => {
    const kind = kinds.get(spec.name);
    present.push(kind !== undefined);
    if (kind === undefined) {
      select.push(
        `${spec.type === 'categorical' ? 'CAST(NULL AS VARCHAR)' : 'CAST(NULL AS DOUBLE)'} AS v_${i}`,
        `false AS b_${i}`,
        `CAST(NULL AS VARCHAR) AS x_${i}`,
      );
      return;
    }
    const t = typedSql(spec.type, spec.name, kind);
    select.push(`${t.value} AS v_${i}`, `${t.bad} AS b_${i}`, `${jsLiteralSql(spec.name, kind)} AS x_${i}`);
  });
  await engine.run(`CREATE OR REPLACE VIEW checked AS SELECT ${select.join(', ')} FROM ${relationOf(path)}`);
  const declared = new Set(schema.columns.map((c) => c.name));
  const extra = [...kinds.keys()].filter((n) => !declared.has(n) && !SNAPSHOT_COLUMNS.has(n) && n !== 'file_row_number');
  return { relation: 'checked', specs: schema.columns, present, extra: extra.map((name) => ({ name, firstRow: 1 })) };
}

/** Validates a local Parquet file with the engine (same report as `validateSource`). */
export async function validateParquet(path: string, schema: DatasetSchema, options: ValidationOptions = {}): Promise<ValidationReport> {
  return withEngine(READ_ENGINE, async (engine) => validateTyped(engine, await typedView(engine, path, schema), schema, options));
}

/** Profiles a local Parquet file with the engine (same shape as `profileSource`). */
export async function profileParquet(
  path: string,
  columns: DatasetSchema | ColumnSpec[],
  options: ProfileOptions = {},
): Promise<DatasetProfile> {
  const schema = Array.isArray(columns) ? { columns, target: '', features: [], task: 'classification' as const } : columns;
  return withEngine(READ_ENGINE, async (engine) => profileTyped(engine, await typedView(engine, path, schema), options));
}

/**
 * Reads columns of a Parquet file into a Frame, typed by the schema. A value that does not fit its
 * column's type raises `MlopsInvalidInput` naming the source row and column. With `keep` (one byte per
 * row of the file, 1 = keep), only those rows are materialised, in file order: a stage that needs one
 * side of a split, or a few rows of it, holds only those rows, never the whole file.
 */
export async function readParquetFrame(
  path: string,
  schema: DatasetSchema,
  wanted: string[],
  name = path,
  keep?: Uint8Array,
): Promise<Frame> {
  const specs = wanted.map((c) => {
    const spec = schema.columns.find((s) => s.name === c);
    if (!spec) throw new MlopsError(FailureType.InvalidInput, `Column "${c}" is not in the dataset schema`);
    return spec;
  });
  return withEngine(READ_ENGINE, async (engine) => {
    const kinds = await kindsOf(engine, path);
    const relation = relationOf(path);
    const { n } = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${relation}`);
    const missing = wanted.filter((c) => !kinds.has(c));
    if (missing.length > 0 && n > 0) {
      throw new MlopsError(FailureType.InvalidInput, `${name} has no column ${missing.map((c) => `"${c}"`).join(', ')}`);
    }
    const typed = specs.map((s) => (kinds.has(s.name) ? typedSql(s.type, s.name, kinds.get(s.name)!) : { value: 'NULL', bad: 'false' }));
    if (typed.length > 0) {
      const rowExpr = kinds.has('__row') ? '__row' : 'file_row_number + 1';
      const which = `CASE ${typed.map((t, k) => `WHEN ${t.bad} THEN ${k}`).join(' ')} END`;
      const bad = await engine.rows<{ row: number; k: number }>(
        `SELECT ${rowExpr} AS row, ${which} AS k FROM ${relation} WHERE ${typed.map((t) => t.bad).join(' OR ')} ORDER BY file_row_number LIMIT 1`,
      );
      if (bad.length > 0) {
        const spec = specs[bad[0].k];
        const [{ raw }] = await engine.rows<{ raw: string }>(
          `SELECT ${jsLiteralSql(spec.name, kinds.get(spec.name)!)} AS raw FROM ${relation} WHERE ${rowExpr} = ${bad[0].row}`,
        );
        throw new MlopsError(FailureType.InvalidInput, `${name}: row ${bad[0].row}, column "${spec.name}": ${raw} is not ${spec.type}`, {
          source: name,
          row: bad[0].row,
        });
      }
    }
    if (keep && keep.length !== n) throw new Error(`${name}: a row mask of ${keep.length} rows for a file of ${n}`);
    const kept = keep ? keep.reduce((sum, k) => sum + (k ? 1 : 0), 0) : n;
    const columns: Column[] = specs.map((s) => (isNumericType(s.type) ? new Float64Array(kept) : new Array<string | null>(kept)));
    if (specs.length > 0 && kept > 0) {
      let read = 0;
      let at = 0;
      const interned = specs.map(() => new Map<string, string>());
      for await (const chunk of engine.chunks(`SELECT ${typed.map((t, k) => `${t.value} AS c${k}`).join(', ')} FROM ${relation}`)) {
        const rows = chunk.rowCount;
        const picked: number[] = [];
        for (let i = 0; i < rows; i++) if (!keep || keep[read + i]) picked.push(i);
        specs.forEach((_, k) => {
          const vector = chunk.getColumnVector(k);
          const out = columns[k];
          if (out instanceof Float64Array) {
            for (let j = 0; j < picked.length; j++) {
              const v = vector.getItem(picked[j]) as number | null;
              out[at + j] = v === null ? NaN : v;
            }
          } else {
            // One string per distinct value, not per row: millions of rows then hold a few hundred strings,
            // which keeps the heap (and the garbage collector's pauses) bounded by the categories.
            const seen = interned[k];
            for (let j = 0; j < picked.length; j++) {
              const v = vector.getItem(picked[j]) as string | null;
              if (v === null || seen.size >= INTERN_LIMIT) out[at + j] = v;
              else {
                const known = seen.get(v);
                if (known === undefined) seen.set(v, v);
                out[at + j] = known ?? v;
              }
            }
          }
        });
        read += rows;
        at += picked.length;
      }
    }
    return { rowCount: kept, columns: Object.fromEntries(specs.map((s, k) => [s.name, columns[k]])) };
  });
}

/**
 * Whether each row of a snapshot is in the holdout of a hash split with this seed and fraction (1 =
 * holdout). The snapshot stores each row's key for the seed of the spec it was ingested with (the
 * key the JSON-lines snapshots gave the same row); another seed hashes the row's stored values, so
 * a row still keeps its side whatever is appended.
 */
export async function hashSides(path: string, testFraction: number, seed: number): Promise<Uint8Array> {
  return withEngine(READ_ENGINE, async (engine) => {
    const kv = await engine.rows<{ key: string; value: string }>(
      `SELECT CAST(key AS VARCHAR) AS key, CAST(value AS VARCHAR) AS value FROM parquet_kv_metadata(${literal(path)})`,
    );
    const stored = kv.find((k) => k.key === HASH_SEED_KEY)?.value;
    // Snapshots made before the keys were MD5 keep FNV-1a, so their rows keep their sides for any seed.
    const method: HashMethod = kv.find((k) => k.key === HASH_METHOD_KEY)?.value === 'md5' ? 'md5' : 'fnv1a';
    const kinds = await kindsOf(engine, path);
    let keys = '__hash';
    if (stored === undefined || Number(stored) !== seed) {
      if (method === 'fnv1a') registerHash(engine);
      const line = [...kinds.keys()]
        .filter((c) => !SNAPSHOT_COLUMNS.has(c) && c !== 'file_row_number')
        .map((c) => `${literal(`${JSON.stringify(c)}:`)} || ${jsLiteralSql(c, kinds.get(c)!)}`)
        .join(` || ',' || `);
      keys = hashKeySql(method, `${literal(`${seed}:{`)} || ${line || "''"} || '}'`);
    }
    const { n } = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${relationOf(path)}`);
    const sides = new Uint8Array(n);
    const limit = testFraction * 2 ** 32;
    let at = 0;
    for await (const chunk of engine.chunks(`SELECT ${keys} FROM read_parquet(${literal(path)})`)) {
      const vector = chunk.getColumnVector(0);
      for (let i = 0; i < chunk.rowCount; i++) sides[at + i] = (vector.getItem(i) as number) < limit ? 1 : 0;
      at += chunk.rowCount;
    }
    return sides;
  });
}

/** Writes the rows of a Parquet snapshot on one side of a split (1 = test) as JSON lines, without the snapshot's own columns. */
export async function writeParquetSide(path: string, isTest: Uint8Array, side: 0 | 1, file: string): Promise<void> {
  await withEngine(READ_ENGINE, async (engine) => {
    const kinds = await kindsOf(engine, path);
    const columns = [...kinds.keys()].filter((c) => !SNAPSHOT_COLUMNS.has(c) && c !== 'file_row_number').map(ident);
    await engine.run('CREATE TABLE sides (side UTINYINT)');
    const appender = await engine.connection.createAppender('sides');
    for (let i = 0; i < isTest.length; i++) {
      appender.appendUTinyInt(isTest[i]);
      appender.endRow();
    }
    appender.closeSync();
    const rows = `SELECT f.*, s.side FROM (SELECT rowid AS i, side FROM sides) s JOIN ${relationOf(path)} f ON f.file_row_number = s.i`;
    await engine.run(
      `COPY (SELECT ${columns.join(', ')} FROM (${rows}) WHERE side = ${side} ORDER BY file_row_number) TO ${literal(file)} (FORMAT json)`,
    );
  });
}
