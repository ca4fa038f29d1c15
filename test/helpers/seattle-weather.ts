/** The seattle-weather example dataset as a Frame, and the reference split of test/fixtures/trainer-reference.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatasetSchema, Frame } from '../../src/ml/types';

export const SEATTLE_CSV = join(__dirname, '..', '..', 'examples', 'data', 'seattle-weather.csv');

/** Parses the (quote-free) CSV by hand, so these tests depend on no reader. */
export function seattleWeather(): Frame {
  const [header, ...lines] = readFileSync(SEATTLE_CSV, 'utf8').trim().split('\n');
  const names = header.split(',');
  const rows = lines.map((l) => l.split(','));
  const columns: Frame['columns'] = {};
  names.forEach((name, j) => {
    if (name === 'weather') columns[name] = rows.map((r) => r[j]);
    else if (name === 'date') columns[name] = Float64Array.from(rows, (r) => Date.parse(`${r[j]}T00:00:00Z`));
    else columns[name] = Float64Array.from(rows, (r) => Number(r[j]));
  });
  return { rowCount: rows.length, columns };
}

export const seattleSchema: DatasetSchema = {
  columns: [
    { name: 'date', type: 'datetime' },
    { name: 'precipitation', type: 'numeric' },
    { name: 'temp_max', type: 'numeric' },
    { name: 'temp_min', type: 'numeric' },
    { name: 'wind', type: 'numeric' },
    { name: 'weather', type: 'categorical' },
  ],
  target: 'weather',
  features: ['precipitation', 'temp_max', 'temp_min', 'wind', 'date'],
  task: 'classification',
};

/** The rows of a frame at the given indices, in that order. */
export function takeRows(frame: Frame, rows: readonly number[]): Frame {
  const columns: Frame['columns'] = {};
  for (const [name, col] of Object.entries(frame.columns)) {
    columns[name] = col instanceof Float64Array ? Float64Array.from(rows, (i) => col[i]) : rows.map((i) => col[i]);
  }
  return { rowCount: rows.length, columns };
}
