import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBatches } from '../../../src/ml/readers';
import { ProfileBuilder } from '../../../src/ml/profile';
import { typeBatch } from '../../../src/ml/typed-batch';
import type { DatasetSchema } from '../../../src/ml/types';
import { assertValid, validateRows, validationError, Validator, type ValidationIssue } from '../../../src/ml/data-validation';
import { validateSource } from '../../../src/data/read';
import { SEATTLE } from '../../helpers/ml-reference';

const seattle = (overrides: Partial<Record<string, object>> = {}): DatasetSchema => ({
  columns: [
    { name: 'date', type: 'datetime', ...overrides.date },
    { name: 'precipitation', type: 'numeric', min: 0, ...overrides.precipitation },
    { name: 'temp_max', type: 'numeric', ...overrides.temp_max },
    { name: 'temp_min', type: 'numeric', ...overrides.temp_min },
    { name: 'wind', type: 'numeric', ...overrides.wind },
    { name: 'weather', type: 'categorical', allowed: ['drizzle', 'rain', 'sun', 'snow', 'fog'], ...overrides.weather },
  ] as DatasetSchema['columns'],
  target: 'weather',
  features: ['precipitation', 'temp_max', 'temp_min', 'wind'],
  task: 'classification',
});

const issue = (issues: ValidationIssue[], rule: string, column?: string | null): ValidationIssue | undefined =>
  issues.find((i) => i.rule === rule && (column === undefined || i.column === column));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-validate-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function csv(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('validating the Seattle weather data', () => {
  test('the real file passes its schema with no issue', async () => {
    const report = await validateSource(SEATTLE, seattle());
    expect(report).toEqual({ ok: true, rowCount: 1461, issues: [], source: SEATTLE });
    expect(() => assertValid(report)).not.toThrow();
  });

  test('values above a column maximum block, with the most extreme value and the first offending rows', async () => {
    const report = await validateSource(SEATTLE, seattle({ temp_max: { max: 30 } }));
    expect(report.ok).toBe(false);
    const range = issue(report.issues, 'range', 'temp_max')!;
    expect(range.severity).toBe('blocking');
    expect(range.observed).toBe(35.6);
    expect(range.expected).toBe('<= 30');
    expect(range.sampleRows).toHaveLength(5);
    expect(range.sampleRows[0]).toBeGreaterThan(1);
  });

  test('a label outside the allowed classes blocks; an unseen category in a feature only warns', async () => {
    const report = await validateSource(SEATTLE, seattle({ weather: { allowed: ['rain', 'sun', 'fog', 'drizzle'] } }));
    const unseen = issue(report.issues, 'unseen_category', 'weather')!;
    expect(unseen.severity).toBe('blocking');
    expect(unseen.observed).toBe('"snow"');
    const featureSchema: DatasetSchema = {
      columns: [
        { name: 'city', type: 'categorical', allowed: ['a'] },
        { name: 'y', type: 'numeric' },
      ],
      target: 'y',
      features: ['city'],
      task: 'regression',
    };
    const featureReport = await validateRows(
      [
        { city: 'a', y: 1 },
        { city: 'b', y: 2 },
      ],
      featureSchema,
    );
    expect(featureReport.ok).toBe(true);
    expect(issue(featureReport.issues, 'unseen_category', 'city')).toMatchObject({ severity: 'warning', sampleRows: [2] });
  });

  test('a class with fewer rows than the configured minimum blocks', async () => {
    const report = await validateSource(SEATTLE, seattle(), { minRowsPerClass: 30 });
    const small = issue(report.issues, 'class_too_small')!;
    expect(small).toMatchObject({ column: 'weather', observed: 26, expected: '>= 30 rows' });
    expect(small.message).toContain('"snow"');
  });

  test('a column missing from the data blocks and an extra one warns', async () => {
    const schema = seattle();
    schema.columns.push({ name: 'humidity', type: 'numeric' });
    schema.columns = schema.columns.filter((c) => c.name !== 'date');
    const report = await validateSource(SEATTLE, schema);
    expect(issue(report.issues, 'missing_column', 'humidity')).toMatchObject({ severity: 'blocking', observed: 'absent' });
    expect(issue(report.issues, 'extra_column', 'date')).toMatchObject({ severity: 'warning' });
  });

  test('validation and profiling can share one streaming pass through typed batches', async () => {
    const schema = seattle({ wind: { max: 9 } });
    const validator = new Validator(schema);
    const profiler = new ProfileBuilder(schema);
    for await (const batch of readBatches(SEATTLE, { batchRows: 100 })) {
      const typed = typeBatch(batch, schema.columns);
      validator.addTyped(typed);
      profiler.addTyped(typed);
    }
    const report = validator.finish();
    expect(report.rowCount).toBe(1461);
    expect(issue(report.issues, 'range', 'wind')!.observed).toBe(9.5);
    expect(profiler.finish().columns.find((c) => c.name === 'wind')).toMatchObject({ count: 1461, max: 9.5 });
  });
});

describe('validation rules', () => {
  const schema: DatasetSchema = {
    columns: [
      { name: 'x', type: 'numeric', min: 0, max: 10, maxNullRate: 0.25 },
      { name: 'y', type: 'categorical' },
    ],
    target: 'y',
    features: ['x'],
    task: 'classification',
  };

  test('values of the wrong type are reported with examples and row numbers, and the error names the file', async () => {
    const path = csv('types.csv', 'x,y\n1,a\nabc,a\n2,b\n3x,b\n');
    const report = await validateSource(path, schema);
    expect(validationError(report)!.message).toContain(`for ${path}`);
    const type = issue(report.issues, 'type', 'x')!;
    expect(type.sampleRows).toEqual([2, 4]);
    expect(type.observed).toBe('2 non-numeric values (e.g. "abc", "3x")');
  });

  test('a null rate over the column limit blocks, with the rows that are missing', async () => {
    const report = await validateRows(
      [
        { x: 1, y: 'a' },
        { x: null, y: 'a' },
        { x: '', y: 'b' },
        { x: 4, y: 'b' },
      ],
      schema,
    );
    expect(issue(report.issues, 'null_rate', 'x')).toMatchObject({
      observed: 0.5,
      expected: 0.25,
      sampleRows: [2, 3],
      severity: 'blocking',
    });
  });

  test('rows without a label block as missing labels', async () => {
    const report = await validateRows(
      [
        { x: 1, y: 'a' },
        { x: 2, y: '' },
        { x: 3, y: 'a' },
        { x: 2, y: 'b' },
        { x: 2, y: 'b' },
      ],
      schema,
    );
    expect(issue(report.issues, 'missing_label', 'y')).toMatchObject({ observed: 0.2, expected: 0, sampleRows: [2] });
  });

  test('an empty dataset blocks', async () => {
    const report = await validateSource(csv('empty.csv', 'x,y\n'), schema);
    expect(report.rowCount).toBe(0);
    expect(report.issues).toEqual([expect.objectContaining({ column: null, rule: 'empty_dataset', severity: 'blocking', observed: 0 })]);
  });

  test('severities can be configured per rule', async () => {
    const report = await validateRows(
      [
        { x: 11, y: 'a' },
        { x: 1, y: 'a' },
      ],
      schema,
      { severity: { range: 'warning' } },
    );
    expect(report.ok).toBe(true);
    expect(issue(report.issues, 'range', 'x')!.severity).toBe('warning');
  });

  test('blocking issues become one data-validation error naming column, rule, observed, expected and rows', async () => {
    const report = await validateRows(
      [
        { x: -1, y: 'a' },
        { x: 20, y: 'a' },
        { x: 5, y: 'b' },
      ],
      schema,
    );
    const err = validationError(report, 'train.csv')!;
    expect(err.type).toBe('MlopsDataValidationFailed');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('for train.csv');
    expect(err.message).toContain('column "x" range: observed min -1, max 20, expected [0, 10] (rows 1, 2)');
    expect(err.message).toContain('column "y" class_too_small: observed 1, expected >= 2 rows (rows 3)');
    expect(() => assertValid(report, 'train.csv')).toThrow(err.message);
  });

  test('a report with only warnings produces no error', async () => {
    const report = await validateRows(
      [
        { x: 1, y: 'a', extra: 1 },
        { x: 2, y: 'a' },
      ],
      schema,
    );
    expect(report.issues.map((i) => i.rule)).toEqual(['extra_column']);
    expect(validationError(report)).toBeUndefined();
  });
});
