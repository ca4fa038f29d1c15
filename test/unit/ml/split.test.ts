import { createRng, permutation } from '../../../src/ml/random';
import { randomSplit, splitFrame, stratifiedSplit, takeRows, timeSplit } from '../../../src/ml/split';
import type { DatasetSchema, Frame } from '../../../src/ml/types';
import { isMlopsError } from '../../../src/errors';

function expectPartition(train: number[], test: number[], n: number): void {
  expect([...train, ...test].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('seeded random numbers', () => {
  test('the same seed gives the same sequence and another seed a different one', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const seqA = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(seqA);
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  test('the generator matches the Python mirror the reference numbers are computed with', () => {
    // Mulberry32(0).next() * 2**32 in scripts/reference/ml_reference.py
    expect(Math.round(createRng(0).next() * 2 ** 32)).toBe(1144304738);
  });

  test('a permutation contains every index exactly once', () => {
    const p = Array.from(permutation(1000, createRng(7)));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});

describe('splits', () => {
  test('a random split puts ceil(fraction · n) rows in test, is reproducible from its seed and covers every row once', () => {
    const a = randomSplit(101, 0.2, 1);
    expect(a.test).toHaveLength(21);
    expect(a.train).toHaveLength(80);
    expectPartition(a.train, a.test, 101);
    expect(randomSplit(101, 0.2, 1)).toEqual(a);
    expect(randomSplit(101, 0.2, 2).test).not.toEqual(a.test);
  });

  test('a stratified split keeps each class share and both sets of every class non-empty', () => {
    const labels = [...Array(90).fill('a'), ...Array(9).fill('b'), 'c', 'c'];
    const { train, test } = stratifiedSplit(labels, 0.2, 3);
    expectPartition(train, test, labels.length);
    expect(test).toHaveLength(Math.ceil(0.2 * labels.length));
    const count = (idx: number[], l: string): number => idx.filter((i) => labels[i] === l).length;
    expect(count(test, 'a')).toBe(18);
    expect(count(test, 'b')).toBeGreaterThanOrEqual(1);
    expect(count(test, 'c')).toBe(1);
    expect(count(train, 'c')).toBe(1);
    expect(stratifiedSplit(labels, 0.2, 3)).toEqual({ train, test });
  });

  test('a stratified split refuses rows without a label', () => {
    let caught: unknown;
    try {
      stratifiedSplit(['a', null, 'b', 'a'], 0.5, 1);
    } catch (err) {
      caught = err;
    }
    expect(isMlopsError(caught) && caught.message).toMatch(/Row 2 has no label/);
  });

  test('a time split tests on the newest rows only', () => {
    const times = Float64Array.from([5, 1, 9, 3, 7, 2, 8, 4, 6, 0]);
    const { train, test } = timeSplit(times, 0.3);
    expect(test.map((i) => times[i]).sort()).toEqual([7, 8, 9]);
    expect(Math.max(...train.map((i) => times[i]))).toBeLessThan(Math.min(...test.map((i) => times[i])));
  });

  test('a fraction that leaves no training rows is invalid input', () => {
    expect(() => randomSplit(3, 0.9, 1)).toThrow(/training set would be empty/);
    expect(() => randomSplit(10, 0, 1)).toThrow(/between 0 and 1/);
  });

  test('splitFrame dispatches on the method and takeRows gathers the rows of every column', () => {
    const frame: Frame = {
      rowCount: 6,
      columns: {
        when: Float64Array.from([6, 5, 4, 3, 2, 1]),
        x: Float64Array.from([10, 20, 30, 40, 50, 60]),
        y: ['a', 'b', 'a', 'b', 'a', 'b'],
      },
    };
    const schema: DatasetSchema = {
      columns: [
        { name: 'when', type: 'datetime' },
        { name: 'x', type: 'numeric' },
        { name: 'y', type: 'categorical' },
      ],
      target: 'y',
      features: ['x'],
      task: 'classification',
    };
    const byTime = splitFrame(frame, schema, { method: 'time', column: 'when', testFraction: 0.34 });
    expect(byTime.test).toEqual([0, 1, 2]);
    const strat = splitFrame(frame, schema, { method: 'stratified', testFraction: 0.34, seed: 9 });
    const test = takeRows(frame, strat.test);
    expect(test.rowCount).toBe(3);
    // 1.5 test rows per class: the leftover row goes to the first class in label order
    expect([...(test.columns.y as string[])].sort()).toEqual(['a', 'a', 'b']);
    expect(Array.from(test.columns.x as Float64Array)).toEqual(strat.test.map((i) => (i + 1) * 10));
  });
});
