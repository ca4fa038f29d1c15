/** The reference numbers computed by scripts/reference/ml_reference.py with scikit-learn, scipy and pandas. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const reference: any = JSON.parse(readFileSync(join(__dirname, '../fixtures/ml-reference.json'), 'utf8'));

/** Absolute agreement within 1e-9, or relative agreement for large magnitudes. */
export function expectClose(actual: number | null | undefined, expected: number, tolerance = 1e-9): void {
  expect(typeof actual).toBe('number');
  const diff = Math.abs((actual as number) - expected);
  if (diff > tolerance && diff > tolerance * Math.abs(expected)) {
    throw new Error(`expected ${expected}, got ${actual} (difference ${diff})`);
  }
}

export const SEATTLE = join(__dirname, '../../examples/data/seattle-weather.csv');
