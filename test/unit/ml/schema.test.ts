import { isMlopsError, type MlopsError } from '../../../src/errors';
import { parseColumnSpec, parseDatasetSchema } from '../../../src/ml/schema';

function error(f: () => unknown): MlopsError {
  try {
    f();
  } catch (err) {
    if (isMlopsError(err)) return err;
    throw err;
  }
  throw new Error('expected an error');
}

const valid = {
  columns: [
    { name: 'temp', type: 'numeric', min: -40, max: 50, maxNullRate: 0.1 },
    { name: 'weather', type: 'categorical', allowed: ['rain', 'sun'] },
  ],
  target: 'weather',
  features: ['temp'],
  task: 'classification',
};

describe('dataset schema', () => {
  test('a valid schema parses to the same value', () => {
    expect(parseDatasetSchema(valid)).toEqual(valid);
  });

  test('a wrong column type is reported by its field path', () => {
    const err = error(() =>
      parseDatasetSchema({ ...valid, columns: [valid.columns[0], { name: 'weather', type: 'text' }] }, 'spec.dataset.schema'),
    );
    expect(err.type).toBe('MlopsInvalidInput');
    expect(err.message).toContain('spec.dataset.schema.columns[1].type:');
  });

  test('a target or feature that is not a column is named', () => {
    const err = error(() => parseDatasetSchema({ ...valid, target: 'label', features: ['temp', 'wind'] }));
    expect(err.message).toContain('schema.target: target "label" is not one of the columns');
    expect(err.message).toContain('schema.features[1]: feature "wind" is not one of the columns');
  });

  test('contradictions are rejected: min above max, a categorical regression target, the target as a feature, duplicates', () => {
    expect(error(() => parseColumnSpec({ name: 'x', type: 'numeric', min: 5, max: 1 })).message).toContain(
      'column.min: min (5) is larger than max (1)',
    );
    expect(error(() => parseDatasetSchema({ ...valid, task: 'regression' })).message).toContain(
      'schema.task: a regression target must be numeric',
    );
    expect(error(() => parseDatasetSchema({ ...valid, features: ['temp', 'weather'] })).message).toContain(
      'schema.features[1]: the target "weather" cannot also be a feature',
    );
    expect(error(() => parseDatasetSchema({ ...valid, columns: [...valid.columns, valid.columns[0]] })).message).toContain(
      'schema.columns[2].name: column "temp" is declared twice',
    );
  });

  test('unknown fields and out-of-range null rates are rejected', () => {
    expect(error(() => parseColumnSpec({ name: 'x', type: 'numeric', nullable: true })).message).toMatch(/nullable/);
    expect(error(() => parseColumnSpec({ name: 'x', type: 'numeric', maxNullRate: 1.5 })).message).toContain('column.maxNullRate');
  });
});
