import { FailureType, isMlopsError } from '../../../src/errors';
import { rowsToFrame } from '../../../src/ml/trainers';
import type { DatasetSchema } from '../../../src/ml/types';

const schema: DatasetSchema = {
  columns: [
    { name: 'temp', type: 'numeric' },
    { name: 'rainy', type: 'boolean' },
    { name: 'city', type: 'categorical' },
    { name: 'day', type: 'datetime' },
    { name: 'label', type: 'categorical' },
  ],
  target: 'label',
  features: ['temp', 'rainy', 'city', 'day'],
  task: 'classification',
};

function refusal(rows: unknown[]): string {
  try {
    rowsToFrame(schema, rows, { strict: true });
  } catch (err) {
    expect(isMlopsError(err) && err.type === FailureType.InvalidInput).toBe(true);
    return (err as Error).message;
  }
  throw new Error('the rows were accepted');
}

describe('strict rows, as the model server reads them', () => {
  const good = { temp: 10.5, rainy: false, city: 'Oslo', day: '2024-05-01' };

  it('take exactly the features, each of its JSON type, with null as a missing value', () => {
    const frame = rowsToFrame(schema, [good, { temp: null, rainy: null, city: null, day: null }, { ...good, day: 1714521600000 }], {
      strict: true,
    });
    expect(Array.from(frame.columns.temp as Float64Array)).toEqual([10.5, NaN, 10.5]);
    expect(Array.from(frame.columns.rainy as Float64Array)).toEqual([0, NaN, 0]);
    expect(frame.columns.city).toEqual(['Oslo', null, 'Oslo']);
    expect((frame.columns.day as Float64Array)[0]).toBe(Date.UTC(2024, 4, 1));
    expect((frame.columns.day as Float64Array)[2]).toBe(1714521600000);
  });

  it('refuse an absent feature and a key that is not a feature, naming the row and the key', () => {
    expect(refusal([good, { temp: 1, rainy: true, city: 'Oslo' }])).toBe(
      'Row 1: feature "day" is missing; send every feature, with null for a missing value.',
    );
    expect(refusal([{ ...good, label: 'x' }])).toBe(
      'Row 0: field "label" is not a feature of the model; send only its features (temp, rainy, city, day).',
    );
  });

  it('convert nothing: a boolean is not a number, a number is not a boolean or a category, text is not a number', () => {
    expect(refusal([{ ...good, temp: true }])).toMatch(/^Row 0: field "temp" must be a JSON number or null \(it is numeric\), got true\.$/);
    expect(refusal([{ ...good, temp: '10.5' }])).toMatch(/field "temp" must be a JSON number or null/);
    expect(refusal([{ ...good, rainy: 1 }])).toMatch(/field "rainy" must be true, false or null/);
    expect(refusal([{ ...good, city: 5 }])).toMatch(/field "city" must be a JSON string or null/);
    expect(refusal([{ ...good, day: 'May 1st' }])).toMatch(/field "day" must be an ISO 8601 date or date-time string/);
  });

  it('lenient reading (files, logs) is unchanged: text numbers are read, other fields ignored', () => {
    const frame = rowsToFrame(schema, [{ temp: '10.5', rainy: 'true', city: 5, day: '2024-05-01', extra: 1 }]);
    expect((frame.columns.temp as Float64Array)[0]).toBe(10.5);
    expect(frame.columns.city).toEqual(['5']);
  });
});
