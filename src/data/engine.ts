/**
 * The embedded analytical engine of the data plane: one DuckDB database per task, spilling to the
 * task's scratch directory, so reading, validating, profiling and splitting run out of core with a
 * bounded memory limit. The core talks to it in SQL; results come back as small JS objects or as
 * columnar chunks, never as one JS object per data row.
 */
import { join } from 'node:path';
import { promises as fs } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection, type DuckDBDataChunk } from '@duckdb/node-api';
import { FailureType, MlopsError } from '../errors';

/** How an engine is opened. */
export interface EngineOptions {
  /** Scratch directory the engine spills to past its memory limit; default: DuckDB's own (small inputs, tests). */
  dir?: string;
  /** DuckDB's memory limit (default 256MB: the engine spills beyond it, keeping a worker's RSS bounded). */
  memoryLimit?: string;
  /** Worker threads (default 2). */
  threads?: number;
}

/** A scalar value as read back from a small query. */
export type SqlValue = string | number | boolean | null | SqlValue[] | { [key: string]: SqlValue };

function plain(value: unknown): SqlValue {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    const out: Record<string, SqlValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value as SqlValue;
}

/** With MLOPS_ENGINE_TRACE set, every statement (its start; all of it with `full`) and its wall time go to stderr (for tuning). */
function trace(sql: string, started: number): void {
  if (process.env.MLOPS_ENGINE_TRACE)
    process.stderr.write(`[engine ${Date.now() - started} ms] ${process.env.MLOPS_ENGINE_TRACE === 'full' ? sql : sql.slice(0, 300)}\n`);
}

/** One open DuckDB database and connection. Close it when done (the scratch directory is the caller's). */
export class Engine {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    /** Whether closing this engine closes the database too (false for `connect()`'s extra connections). */
    private readonly ownsInstance = true,
  ) {}

  /**
   * Another connection to the same database, to run a query beside one of this connection's: the engine overlaps
   * their scans and single-threaded steps. Tables and views are shared, temp tables are not. Close it when done.
   */
  async connect(): Promise<Engine> {
    const connection = await this.instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    return new Engine(this.instance, connection, false);
  }

  /** Opens an engine; with `dir`, the database and its spill files live there. */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    const settings: Record<string, string> = {
      threads: String(options.threads ?? 2),
      memory_limit: options.memoryLimit ?? '256MB',
      preserve_insertion_order: 'true',
    };
    // An in-memory database whose blocks spill to the scratch directory past the memory limit: out of
    // core without the write-ahead log and checkpoints an on-disk database file would cost.
    if (options.dir) {
      await fs.mkdir(options.dir, { recursive: true });
      settings.temp_directory = join(options.dir, 'spill');
    }
    const instance = await DuckDBInstance.create(':memory:', settings);
    const connection = await instance.connect();
    // Datetimes without an offset are UTC everywhere, never the worker's local time.
    await connection.run("SET TimeZone = 'UTC'");
    return new Engine(instance, connection);
  }

  /** Runs statements for their effect. */
  async run(sql: string): Promise<void> {
    const started = Date.now();
    await this.connection.run(sql);
    trace(sql, started);
  }

  /** Rows of a (small) result as plain objects. */
  async rows<T = Record<string, SqlValue>>(sql: string): Promise<T[]> {
    const started = Date.now();
    const reader = await this.connection.runAndReadAll(sql);
    trace(sql, started);
    return reader.getRowObjectsJS().map((r) => plain(r) as T);
  }

  /** The first row of a result. */
  async one<T = Record<string, SqlValue>>(sql: string): Promise<T> {
    const [row] = await this.rows<T>(sql);
    return row;
  }

  /** Streams a result chunk by chunk (about 2,048 rows each). */
  async *chunks(sql: string): AsyncGenerator<DuckDBDataChunk> {
    const result = await this.connection.stream(sql);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) return;
      yield chunk;
    }
  }

  /** Column names and DuckDB types of a relation (a table, view or table function call). */
  async describe(relation: string): Promise<{ name: string; type: string }[]> {
    const rows = await this.rows<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${relation}`);
    return rows.map((r) => ({ name: r.column_name, type: r.column_type }));
  }

  /** Closes the connection, and the database unless this is one of `connect()`'s connections. */
  close(): void {
    this.connection.closeSync();
    if (this.ownsInstance) this.instance.closeSync();
  }
}

/** Opens an engine, runs `work`, and always closes it. */
export async function withEngine<T>(options: EngineOptions, work: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open(options);
  try {
    return await work(engine);
  } finally {
    engine.close();
  }
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A quoted SQL identifier (column names come from users' files). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The engine's message without DuckDB's boilerplate, for errors shown to users. */
export function engineMessage(err: unknown): string {
  const text = (err as Error).message.split(/\nPossible fixes|\n\s*LINE \d+:|\nThe search space used|\n\s*Candidates:/)[0];
  return text.replace(/\s+/g, ' ').trim();
}

/** Wraps an engine error raised while reading a source as `MlopsInvalidInput` naming the source. */
export function sourceError(source: string, err: unknown): MlopsError {
  if (err instanceof MlopsError) return err;
  return new MlopsError(FailureType.InvalidInput, `${source}: cannot be read (${engineMessage(err)})`, { source }, { cause: err });
}

/** What the engine's statistics of a stored numeric column say (exact: they are kept as rows are stored). */
export interface StoredStats {
  /** The least and greatest values when the column holds numbers (NaN and infinities as such). */
  min?: number;
  max?: number;
  /** The least and greatest values as the engine wrote them. */
  minText: string;
  maxText: string;
  /** Whether the column has a missing value. */
  hasNull: boolean;
  /** Whether it has a present one. */
  hasValue: boolean;
}

function statsNumber(text: string): number | undefined {
  if (/^-?nan$/i.test(text)) return NaN;
  if (/^inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  return /^-?\d[\d.]*(e[+-]?\d+)?$/i.test(text) ? Number(text) : undefined;
}

/**
 * A stored column's NULLs and, for numbers, minimum and maximum, read from the text of DuckDB's `stats()` (its zone maps, which
 * the engine keeps exact as rows are stored, so no scan is needed); `undefined` when the text does not read as
 * expected (another engine version), and the caller scans instead.
 */
export function storedStats(text: unknown): StoredStats | undefined {
  const m = /^\[Min: ([^,\]]+), Max: ([^\]]+)\]\[Has Null: (true|false), Has No Null: (true|false)\]/.exec(String(text));
  if (!m) return undefined;
  return {
    min: statsNumber(m[1]),
    max: statsNumber(m[2]),
    minText: m[1],
    maxText: m[2],
    hasNull: m[3] === 'true',
    hasValue: m[4] === 'true',
  };
}

/** Epoch milliseconds of a UTC timestamp as the engine writes it (`2024-01-31 23:59:59.123`, with `+00` for TIMESTAMPTZ), if it has no finer part. */
export function utcMillis(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3})(0*))?(?:\+00)?$/.exec(text);
  // Date.UTC reads the years 0 to 99 as 1900 to 1999.
  if (!m || Number(m[1]) < 100) return undefined;
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
}
