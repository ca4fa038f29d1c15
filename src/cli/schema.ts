/**
 * `mlops schema infer <source>`: the schema ingest would infer from a local data file (every row read,
 * by the same engine and rules), printed as YAML to paste under `dataset:` in a pipeline spec, so the
 * types are frozen and reviewed instead of guessed again on every run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { SOURCE_ENCODINGS, type SourceEncoding } from '../data/encoding';
import { buildSnapshot, inferSourceColumns } from '../data/snapshot';
import { schemaFromTypes } from '../ml/readers/infer';
import type { ColumnSpec, DatasetSchema } from '../ml/types';
import type { ValidationIssue } from '../ml/data-validation';
import { emit, UsageError } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

const FORMATS = ['csv', 'jsonl', 'json', 'parquet'] as const;

interface InferOpts {
  target?: string;
  task?: 'classification' | 'regression';
  format?: (typeof FORMATS)[number];
  delimiter?: string;
  encoding?: SourceEncoding;
}

/** What `mlops schema infer` found. */
export interface InferredSchema {
  source: string;
  rows: number;
  /** The whole schema, when a target was given. */
  schema?: DatasetSchema;
  /** The columns alone, without a target. */
  columns?: ColumnSpec[];
  /** What ingest would report about this data with this schema (blocking issues stop a run). */
  issues: Pick<ValidationIssue, 'column' | 'rule' | 'severity' | 'message' | 'sampleRows'>[];
}

/** Infers the schema of a local source as ingest would. */
export async function inferSchemaOf(source: string, o: InferOpts): Promise<InferredSchema> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-schema-'));
  try {
    const read = { format: o.format, delimiter: o.delimiter, encoding: o.encoding };
    if (!o.target) {
      const { columns, rows } = await inferSourceColumns({ source, ...read, dir });
      return { source, rows, columns, issues: [] };
    }
    // Exactly what ingest does (the same typing, the 0/1-target rule, the checks), to a throwaway snapshot.
    const built = await buildSnapshot({
      sources: [source],
      ...read,
      target: o.target,
      outFile: join(dir, 'snapshot.parquet'),
      dir: join(dir, 'work'),
    });
    let schema = built.schema;
    if (o.task && o.task !== schema.task) {
      const { columns } = await inferSourceColumns({ source, ...read, dir: join(dir, 'again') });
      schema = schemaFromTypes(columns, { target: o.target, task: o.task });
    }
    const issues = built.validation.issues.map(({ column, rule, severity, message, sampleRows }) => ({
      column,
      rule,
      severity,
      message,
      sampleRows,
    }));
    return { source, rows: built.rowCount, schema, issues };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The YAML to paste under `dataset:`, with what to check as comments. */
export function schemaYaml(result: InferredSchema): string {
  const head = [`# Inferred by mlops schema infer from ${result.source} (${result.rows} rows, every row read).`];
  let body: string;
  if (result.schema) {
    const { target, task, features, columns } = result.schema;
    body = stringify({ schema: { target, task, features, columns } }, { flow: false });
    head.push('# Paste under `dataset:` in the pipeline spec; review the types, then add min/max/allowed where you know them.');
  } else {
    body = stringify({ schema: { columns: result.columns } });
    head.push('# Paste under `dataset:` and add target, task and features (or run again with --target <column>).');
  }
  const notes = result.issues.map(
    (i) =>
      `# ${i.severity === 'blocking' ? 'BLOCKING' : 'warning'}: ` +
      `${i.message}${i.sampleRows.length && !/\(row \d/.test(i.message) ? ` (rows ${i.sampleRows.join(', ')})` : ''}`,
  );
  if (notes.some((n) => n.startsWith('# BLOCKING'))) notes.unshift('# Ingest would refuse this data as it is:');
  return `${[...head, ...notes].join('\n')}\n${body}`;
}

/** Registers `mlops schema infer`. */
export function registerSchema(program: Command, run: Runner): void {
  const schema = program.command('schema').description('Work with dataset schemas');
  schema
    .command('infer <source>')
    .description('Print the schema ingest would infer from a local data file (every row read) as YAML to paste into a pipeline spec')
    .option('--target <column>', 'the column the model predicts (gives the task and features too)')
    .option('--task <task>', 'classification or regression (default: inferred; a 0/1 or true/false target is classification)')
    .option('--format <format>', `${FORMATS.join(', ')} (default: from the file name)`)
    .option('--delimiter <char>', 'CSV delimiter (default: comma, tab for .tsv)')
    .option('--encoding <encoding>', `${SOURCE_ENCODINGS.join(', ')} (default utf-8)`)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  mlops schema infer data/penguins.csv --target species >> schema.yaml')
    .action(
      run(async (json: boolean, source: string, opts: InferOpts) => {
        if (opts.task && opts.task !== 'classification' && opts.task !== 'regression')
          throw new UsageError(`--task: expected classification or regression, not "${opts.task}"`);
        if (opts.task && !opts.target) throw new UsageError('--task needs --target');
        if (opts.format && !(FORMATS as readonly string[]).includes(opts.format))
          throw new UsageError(`--format: expected one of ${FORMATS.join(', ')}, not "${opts.format}"`);
        if (opts.delimiter !== undefined && opts.delimiter.length !== 1) throw new UsageError('--delimiter: expected one character');
        if (opts.encoding && !(SOURCE_ENCODINGS as readonly string[]).includes(opts.encoding))
          throw new UsageError(`--encoding: expected one of ${SOURCE_ENCODINGS.join(', ')}, not "${opts.encoding}"`);
        const result = await inferSchemaOf(source, opts);
        emit(json, result, schemaYaml(result));
      }),
    );
}
