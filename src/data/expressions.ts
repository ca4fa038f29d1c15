/**
 * Checking the spec's SQL (derived columns and the row filter) before any workflow starts: each
 * expression must parse as one SQL expression, and, when the source is a local file, bind against
 * its columns with the types ingest will give them. The message names the expression and quotes
 * the engine.
 */
import { FailureType, MlopsError } from '../errors';
import { detectFormat, parseLocation } from '../ml/readers/source';
import type { ColumnType, DatasetSchema } from '../ml/types';
import { engineMessage, ident, withEngine, type Engine } from './engine';
import { readerSql } from './sources';
import { rawKind } from './typing';

/** The parts of the spec's dataset section the check reads. */
export interface DatasetExpressions {
  source: string;
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  delimiter?: string;
  schema?: DatasetSchema;
  columns?: Record<string, string>;
  where?: string;
}

const SQL_TYPE: Record<ColumnType, string> = { numeric: 'DOUBLE', boolean: 'BOOLEAN', datetime: 'TIMESTAMP', categorical: 'VARCHAR' };

function refused(where: string, expression: string, message: string): MlopsError {
  return new MlopsError(
    FailureType.InvalidInput,
    `${where}: "${expression}" is not a valid expression over the dataset's columns: ${message}`,
    { expression },
  );
}

/** The source's columns as typed at ingest, as an empty relation; undefined when the source is not a local file. */
async function emptyRelation(engine: Engine, d: DatasetExpressions): Promise<string | undefined> {
  const location = parseLocation(d.source);
  if (location.kind !== 'file') return undefined;
  const { format, delimiter } = detectFormat(d.source, d);
  let columns: { name: string; type: string }[];
  try {
    // Without a declared schema, DuckDB's own sniffing stands in for ingest's inference (same types for clean data).
    const reader =
      format === 'csv'
        ? `read_csv('${location.path.replace(/'/g, "''")}', header = true, delim = '${delimiter.replace(/'/g, "''")}')`
        : readerSql({ name: d.source, path: location.path, format, delimiter });
    columns = await engine.describe(reader);
  } catch {
    return undefined; // an unreadable source is reported by ingest, with its own message
  }
  const declared = new Map((d.schema?.columns ?? []).map((c) => [c.name, c.type]));
  const select = columns.map((c) => {
    const type = declared.get(c.name);
    const kind = rawKind(c.type);
    const sql = type
      ? SQL_TYPE[type]
      : kind === 'number' || kind === 'integer'
        ? 'DOUBLE'
        : kind === 'bool'
          ? 'BOOLEAN'
          : kind === 'timestamp' || kind === 'date'
            ? 'TIMESTAMP'
            : 'VARCHAR';
    return `CAST(NULL AS ${sql}) AS ${ident(c.name)}`;
  });
  return `(SELECT ${select.join(', ')} LIMIT 0)`;
}

/** Refuses a derived column or row filter that does not parse, or (for a local source) does not bind to its columns. */
export async function checkDatasetExpressions(d: DatasetExpressions): Promise<void> {
  const expressions: [string, string, 'column' | 'where'][] = Object.entries(d.columns ?? {}).map(([name, e]) => [
    `dataset.columns.${name}`,
    e,
    'column',
  ]);
  if (d.where) expressions.push(['dataset.where', d.where, 'where']);
  if (expressions.length === 0) return;
  await withEngine({ memoryLimit: '128MB', threads: 1 }, async (engine) => {
    for (const [where, expression] of expressions) {
      let count: number;
      try {
        count = (await engine.connection.extractStatements(`SELECT (${expression}) AS x`)).count;
      } catch (err) {
        throw refused(where, expression, engineMessage(err));
      }
      if (count !== 1) throw refused(where, expression, 'expected one expression, not several statements');
    }
    const relation = await emptyRelation(engine, d);
    if (!relation) return;
    for (const [where, expression, kind] of expressions) {
      const sql =
        kind === 'column'
          ? `DESCRIBE SELECT (${expression}) AS x FROM ${relation}`
          : `DESCRIBE SELECT * FROM ${relation} WHERE (${expression})`;
      try {
        await engine.run(sql);
      } catch (err) {
        throw refused(where, expression, engineMessage(err));
      }
    }
  });
}
