/**
 * Data validation against a dataset schema (the ExampleValidator of this package), in one streaming
 * pass: missing or extra columns, values of the wrong type, too many nulls, values out of range,
 * unseen categories, an empty dataset, missing labels and classes with too few rows.
 *
 * The result is a report; `validationError` turns its blocking issues into one
 * `MlopsDataValidationFailed` error that names each column, rule, observed and expected value and
 * sample row numbers.
 */
import { FailureType, MlopsError } from '../errors';
import type { Row, RowBatch } from './readers/batch';
import { typeBatch, type TypedBatch } from './typed-batch';
import type { ColumnSpec, DatasetSchema } from './types';

/** The validation rules. */
export type ValidationRule =
  | 'missing_column'
  | 'extra_column'
  | 'type'
  | 'null_rate'
  | 'range'
  | 'unseen_category'
  | 'empty_dataset'
  | 'missing_label'
  | 'class_too_small';

/** Whether an issue stops the pipeline or is only reported. */
export type Severity = 'blocking' | 'warning';

/** One finding. */
export interface ValidationIssue {
  /** The column, or null for a dataset-level issue. */
  column: string | null;
  rule: ValidationRule;
  severity: Severity;
  observed: number | string;
  expected: number | string;
  /** 1-based numbers of (up to `sampleSize`) offending rows; empty for dataset-level issues. */
  sampleRows: number[];
  message: string;
}

/** The outcome of validating a dataset. */
export interface ValidationReport {
  /** True when there is no blocking issue. */
  ok: boolean;
  rowCount: number;
  issues: ValidationIssue[];
  /** The data source, when validated from one. */
  source?: string;
}

/** Validation settings. */
export interface ValidationOptions {
  /** Fewest rows a class of a classification target may have (default 2, the least a stratified split needs). */
  minRowsPerClass?: number;
  /** Fewest rows the dataset may have (default 1). */
  minRows?: number;
  /** Offending row numbers kept per issue (default 5). */
  sampleSize?: number;
  /**
   * Severity per rule. Defaults: everything blocks except extra columns and unseen categories in a
   * feature (warnings); an unseen category in the target always defaults to blocking.
   */
  severity?: Partial<Record<ValidationRule, Severity>>;
  /** Distinct target classes tracked (default 10,000). */
  maxClasses?: number;
}

const DEFAULT_SEVERITY: Record<ValidationRule, Severity> = {
  missing_column: 'blocking',
  extra_column: 'warning',
  type: 'blocking',
  null_rate: 'blocking',
  range: 'blocking',
  unseen_category: 'warning',
  empty_dataset: 'blocking',
  missing_label: 'blocking',
  class_too_small: 'blocking',
};

/** Keeps a count and the first few row numbers. */
class Tally {
  count = 0;
  rows: number[] = [];
  constructor(private readonly limit: number) {}
  hit(row: number): void {
    this.count++;
    if (this.rows.length < this.limit) this.rows.push(row);
  }
  merge(other: TallyCounts): void {
    this.count += other.count;
    for (const row of other.rows) if (this.rows.length < this.limit) this.rows.push(row);
  }
}

/** A count and the first few row numbers, as kept by a tally. */
export interface TallyCounts {
  count: number;
  rows: number[];
}

interface ColumnState {
  spec: ColumnSpec;
  isTarget: boolean;
  present: boolean;
  nulls: Tally;
  invalid: Tally;
  invalidExamples: unknown[];
  below: Tally;
  above: Tally;
  lowest: number;
  highest: number;
  unseen: Tally;
  unseenValues: Set<string>;
  allowed?: Set<string>;
}

/** Validates incrementally: feed batches (or typed batches shared with profiling), then `finish`. */
export class Validator {
  readonly specs: ColumnSpec[];
  private rowCount = 0;
  private readonly states: ColumnState[];
  private readonly extra = new Map<string, number>();
  private readonly classes = new Map<string, Tally>();
  private readonly opts: Required<Omit<ValidationOptions, 'severity'>> & { severity: Partial<Record<ValidationRule, Severity>> };

  constructor(
    private readonly schema: DatasetSchema,
    options: ValidationOptions = {},
  ) {
    this.specs = schema.columns;
    this.opts = {
      minRowsPerClass: options.minRowsPerClass ?? 2,
      minRows: options.minRows ?? 1,
      sampleSize: options.sampleSize ?? 5,
      severity: options.severity ?? {},
      maxClasses: options.maxClasses ?? 10_000,
    };
    const n = this.opts.sampleSize;
    this.states = this.specs.map((spec) => ({
      spec,
      isTarget: spec.name === schema.target,
      present: false,
      nulls: new Tally(n),
      invalid: new Tally(n),
      invalidExamples: [],
      below: new Tally(n),
      above: new Tally(n),
      lowest: Infinity,
      highest: -Infinity,
      unseen: new Tally(n),
      unseenValues: new Set(),
      allowed: spec.allowed ? new Set(spec.allowed) : undefined,
    }));
  }

  /** Adds a batch of raw rows. */
  addBatch(batch: RowBatch): void {
    this.addTyped(typeBatch(batch, this.specs));
  }

  /** Adds a batch typed against `this.specs`. */
  addTyped(batch: TypedBatch): void {
    this.rowCount += batch.rowCount;
    for (const name of batch.extra) {
      if (!this.extra.has(name)) this.extra.set(name, batch.firstRow);
    }
    batch.columns.forEach((col, k) => {
      const s = this.states[k];
      if (col.present) s.present = true;
      const first = batch.firstRow;
      col.invalid.forEach((offset, j) => {
        s.invalid.hit(first + offset);
        if (s.invalidExamples.length < 3) s.invalidExamples.push(col.invalidRaw[j]);
      });
      const { min, max } = s.spec;
      if (col.values instanceof Float64Array) {
        const values = col.values;
        const invalid = new Set(col.invalid);
        for (let i = 0; i < values.length; i++) {
          const v = values[i];
          if (Number.isNaN(v)) {
            if (!invalid.has(i)) s.nulls.hit(first + i);
            continue;
          }
          if (min !== undefined && v < min) {
            s.below.hit(first + i);
            if (v < s.lowest) s.lowest = v;
          }
          if (max !== undefined && v > max) {
            s.above.hit(first + i);
            if (v > s.highest) s.highest = v;
          }
          if (s.isTarget) this.countClass(String(v), first + i);
        }
      } else {
        const values = col.values;
        for (let i = 0; i < values.length; i++) {
          const v = values[i];
          if (v === null) {
            s.nulls.hit(first + i);
            continue;
          }
          if (s.allowed && !s.allowed.has(v)) {
            s.unseen.hit(first + i);
            if (s.unseenValues.size < 10) s.unseenValues.add(v);
          }
          if (s.isTarget) this.countClass(v, first + i);
        }
      }
    });
  }

  /**
   * Adds counts computed elsewhere (the engine's aggregate queries) for a whole dataset: per column of
   * `specs`, in order, the tallies `addTyped` would have kept, and the target's classes in order of
   * first appearance.
   */
  addCounts(counts: {
    rowCount: number;
    extra: { name: string; firstRow: number }[];
    columns: {
      present: boolean;
      invalid: TallyCounts;
      invalidExamples: unknown[];
      nulls: TallyCounts;
      below: TallyCounts;
      above: TallyCounts;
      lowest: number;
      highest: number;
      unseen: TallyCounts;
      unseenValues: string[];
    }[];
    classes: { label: string; count: number; rows: number[] }[];
  }): void {
    this.rowCount += counts.rowCount;
    for (const e of counts.extra) if (!this.extra.has(e.name)) this.extra.set(e.name, e.firstRow);
    counts.columns.forEach((c, k) => {
      const s = this.states[k];
      if (c.present) s.present = true;
      s.invalid.merge(c.invalid);
      s.invalidExamples.push(...c.invalidExamples.slice(0, 3 - s.invalidExamples.length));
      s.nulls.merge(c.nulls);
      s.below.merge(c.below);
      s.above.merge(c.above);
      s.lowest = Math.min(s.lowest, c.lowest);
      s.highest = Math.max(s.highest, c.highest);
      s.unseen.merge(c.unseen);
      for (const v of c.unseenValues) if (s.unseenValues.size < 10) s.unseenValues.add(v);
    });
    for (const c of counts.classes) {
      const tally = this.classes.get(c.label) ?? new Tally(this.opts.sampleSize);
      tally.merge(c);
      this.classes.set(c.label, tally);
    }
  }

  private countClass(label: string, row: number): void {
    const tally = this.classes.get(label);
    if (tally) tally.hit(row);
    else if (this.classes.size < this.opts.maxClasses) {
      const t = new Tally(this.opts.sampleSize);
      t.hit(row);
      this.classes.set(label, t);
    }
  }

  private severity(rule: ValidationRule, isTarget = false): Severity {
    const configured = this.opts.severity[rule];
    if (configured) return configured;
    if (rule === 'unseen_category' && isTarget) return 'blocking';
    return DEFAULT_SEVERITY[rule];
  }

  /** The report over everything added so far. */
  finish(): ValidationReport {
    const issues: ValidationIssue[] = [];
    const add = (issue: Omit<ValidationIssue, 'severity'>, isTarget = false): void => {
      issues.push({ ...issue, severity: this.severity(issue.rule, isTarget) });
    };
    const rows = this.rowCount;
    if (rows < this.opts.minRows) {
      add({
        column: null,
        rule: 'empty_dataset',
        observed: rows,
        expected: `>= ${this.opts.minRows} rows`,
        sampleRows: [],
        message: rows === 0 ? 'the dataset has no rows' : `the dataset has ${rows} rows, fewer than the ${this.opts.minRows} required`,
      });
    }
    for (const [name, row] of this.extra) {
      add({
        column: name,
        rule: 'extra_column',
        observed: 'present',
        expected: 'not in the schema',
        sampleRows: [row],
        message: `column "${name}" is not in the schema and is ignored`,
      });
    }
    for (const s of this.states) this.columnIssues(s, rows, add);
    this.classIssues(add);
    return { ok: !issues.some((i) => i.severity === 'blocking'), rowCount: rows, issues };
  }

  private columnIssues(s: ColumnState, rows: number, add: (issue: Omit<ValidationIssue, 'severity'>, isTarget?: boolean) => void): void {
    const name = s.spec.name;
    if (!s.present && rows > 0) {
      add(
        {
          column: name,
          rule: 'missing_column',
          observed: 'absent',
          expected: 'present',
          sampleRows: [],
          message: `column "${name}" is declared in the schema but not in the data`,
        },
        s.isTarget,
      );
      return;
    }
    if (s.invalid.count > 0) {
      const examples = s.invalidExamples.map((v) => JSON.stringify(v)).join(', ');
      add(
        {
          column: name,
          rule: 'type',
          observed: `${s.invalid.count} non-${s.spec.type} value${s.invalid.count > 1 ? 's' : ''} (e.g. ${examples})`,
          expected: s.spec.type,
          sampleRows: s.invalid.rows,
          message: `column "${name}" has ${s.invalid.count} value(s) that are not ${s.spec.type}, e.g. ${examples}`,
        },
        s.isTarget,
      );
    }
    if (rows > 0) {
      const limit = s.spec.maxNullRate ?? (s.isTarget ? 0 : 1);
      const rate = s.nulls.count / rows;
      if (rate > limit) {
        add(
          {
            column: name,
            rule: s.isTarget ? 'missing_label' : 'null_rate',
            observed: rate,
            expected: limit,
            sampleRows: s.nulls.rows,
            message: s.isTarget
              ? `target "${name}" is missing in ${s.nulls.count} of ${rows} rows (rate ${fmt(rate)}, at most ${fmt(limit)} allowed)`
              : `column "${name}" is missing in ${s.nulls.count} of ${rows} rows (rate ${fmt(rate)}, at most ${fmt(limit)} allowed)`,
          },
          s.isTarget,
        );
      }
    }
    if (s.below.count + s.above.count > 0) {
      const { min, max } = s.spec;
      const observed =
        s.below.count > 0 && s.above.count > 0 ? `min ${s.lowest}, max ${s.highest}` : s.below.count > 0 ? s.lowest : s.highest;
      const expected = min !== undefined && max !== undefined ? `[${min}, ${max}]` : min !== undefined ? `>= ${min}` : `<= ${max}`;
      add(
        {
          column: name,
          rule: 'range',
          observed,
          expected,
          sampleRows: [...s.below.rows, ...s.above.rows].sort((a, b) => a - b).slice(0, this.opts.sampleSize),
          message: `column "${name}" has ${s.below.count + s.above.count} value(s) outside ${expected} (observed ${observed})`,
        },
        s.isTarget,
      );
    }
    if (s.unseen.count > 0) {
      const values = [...s.unseenValues].map((v) => JSON.stringify(v)).join(', ');
      add(
        {
          column: name,
          rule: 'unseen_category',
          observed: values,
          expected: `one of ${s.spec.allowed!.map((v) => JSON.stringify(v)).join(', ')}`,
          sampleRows: s.unseen.rows,
          message: `column "${name}" has ${s.unseen.count} value(s) outside its allowed categories: ${values}`,
        },
        s.isTarget,
      );
    }
  }

  private classIssues(add: (issue: Omit<ValidationIssue, 'severity'>, isTarget?: boolean) => void): void {
    if (this.schema.task !== 'classification') return;
    const min = this.opts.minRowsPerClass;
    const labels = [...this.classes.keys()].sort();
    for (const label of labels) {
      const tally = this.classes.get(label)!;
      if (tally.count < min) {
        add({
          column: this.schema.target,
          rule: 'class_too_small',
          observed: tally.count,
          expected: `>= ${min} rows`,
          sampleRows: tally.rows,
          message: `class ${JSON.stringify(label)} of "${this.schema.target}" has ${tally.count} row(s), fewer than the ${min} required`,
        });
      }
    }
  }
}

function fmt(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

/** Validates rows from any iterable (sync or async); row numbers count from 1. */
export async function validateRows(
  rows: AsyncIterable<Row> | Iterable<Row>,
  schema: DatasetSchema,
  options: ValidationOptions = {},
): Promise<ValidationReport> {
  const validator = new Validator(schema, options);
  let batch: Row[] = [];
  let firstRow = 1;
  const flush = (): void => {
    const columns = new Set<string>();
    for (const r of batch) for (const k in r) columns.add(k);
    validator.addBatch({ columns: [...columns], rows: batch, firstRow, lines: [] });
    firstRow += batch.length;
    batch = [];
  };
  for await (const row of rows) {
    batch.push(row);
    if (batch.length >= 4096) flush();
  }
  flush();
  return validator.finish();
}

/** One `MlopsDataValidationFailed` error for the report's blocking issues, or undefined when it has none. */
export function validationError(report: ValidationReport, source?: string): MlopsError | undefined {
  const blocking = report.issues.filter((i) => i.severity === 'blocking');
  if (blocking.length === 0) return undefined;
  const parts = blocking.map((i) => {
    const where = i.column === null ? 'dataset' : `column "${i.column}"`;
    const rows = i.sampleRows.length > 0 ? ` (rows ${i.sampleRows.join(', ')})` : '';
    return `${where} ${i.rule}: observed ${i.observed}, expected ${i.expected}${rows}`;
  });
  const name = source ?? report.source;
  const subject = name ? ` for ${name}` : '';
  return new MlopsError(
    FailureType.DataValidation,
    `Data validation failed${subject} with ${blocking.length} blocking issue(s): ${parts.join('; ')}. Fix the data or relax the schema.`,
    { issues: blocking },
  );
}

/** Throws the `validationError` of a report, if any. */
export function assertValid(report: ValidationReport, source?: string): void {
  const err = validationError(report, source);
  if (err) throw err;
}
