import { profileNumeric, profileRows, type CategoricalColumnProfile, type NumericColumnProfile } from '../../../src/ml/profile';
import { profileSource } from '../../../src/data/read';
import { quantileSorted } from '../../../src/ml/stats/quantile';
import type { ColumnSpec } from '../../../src/ml/types';
import { normals, uniforms } from '../../helpers/ml-data';
import { expectClose, reference, SEATTLE } from '../../helpers/ml-reference';

const SEATTLE_COLUMNS: ColumnSpec[] = [
  { name: 'date', type: 'datetime' },
  { name: 'precipitation', type: 'numeric' },
  { name: 'temp_max', type: 'numeric' },
  { name: 'temp_min', type: 'numeric' },
  { name: 'wind', type: 'numeric' },
  { name: 'weather', type: 'categorical' },
];

describe('profile of the Seattle weather data', () => {
  let columns: Record<string, NumericColumnProfile | CategoricalColumnProfile>;
  let rowCount: number;
  beforeAll(async () => {
    const profile = await profileSource(SEATTLE, SEATTLE_COLUMNS);
    rowCount = profile.rowCount;
    columns = Object.fromEntries(profile.columns.map((c) => [c.name, c]));
  });

  test.each(['precipitation', 'temp_max', 'temp_min', 'wind', 'date'])(
    '%s: count, mean, std, min, max and quantiles match pandas/numpy',
    (name) => {
      const expected = reference.seattle.numeric[name];
      const col = columns[name] as NumericColumnProfile;
      expect(rowCount).toBe(reference.seattle.rowCount);
      expect(col.count).toBe(expected.count);
      expect(col.nulls).toBe(0);
      for (const stat of ['mean', 'std', 'min', 'max'] as const) expectClose(col[stat], expected[stat]);
      for (const [q, value] of Object.entries(expected.quantiles)) expectClose(col.quantiles[q], value as number);
      expect(col.quantileMethod).toBe('exact');
    },
  );

  test.each(['precipitation', 'temp_max', 'wind'])("%s: histogram has numpy's quantile bin edges and counts", (name) => {
    const expected = reference.seattle.numeric[name].histogram;
    const { histogram } = columns[name] as NumericColumnProfile;
    expect(histogram.edges).toHaveLength(expected.edges.length);
    histogram.edges.forEach((e, i) => expectClose(e, expected.edges[i]));
    expect(histogram.counts).toEqual(expected.counts);
  });

  test('precipitation, mostly zero, collapses duplicate bin edges', () => {
    const { histogram } = columns.precipitation as NumericColumnProfile;
    expect(histogram.edges.length).toBeLessThan(11);
    expect(histogram.counts.reduce((s, c) => s + c, 0)).toBe(1461);
  });

  test('weather frequencies match pandas value_counts, most frequent first', () => {
    const weather = columns.weather as CategoricalColumnProfile;
    const expected = reference.seattle.categorical.weather as Record<string, number>;
    expect(weather.frequencies).toEqual(Object.entries(expected).map(([value, count]) => ({ value, count })));
    expect(weather.distinct).toBe(5);
  });

  test('the profile survives a JSON round trip unchanged', async () => {
    const profile = await profileSource(SEATTLE, SEATTLE_COLUMNS);
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
  });
});

describe('profiling edge cases', () => {
  test('missing and invalid values are counted apart from valid ones', async () => {
    const rows = [{ x: '1' }, { x: '' }, { x: 'NA' }, { x: 'oops' }, { x: '3' }];
    const [x] = (await profileRows(rows, [{ name: 'x', type: 'numeric' }])).columns as NumericColumnProfile[];
    expect([x.count, x.nulls, x.invalid, x.mean, x.min, x.max]).toEqual([2, 2, 1, 2, 1, 3]);
  });

  test('a column with no values has null statistics, not NaN', async () => {
    const [x] = (await profileRows([{ x: '' }, { x: null }], [{ name: 'x', type: 'numeric' }])).columns as NumericColumnProfile[];
    expect(x.mean).toBeNull();
    expect(x.quantiles.p50).toBeNull();
    expect(JSON.stringify(x)).not.toContain('NaN');
  });

  test('past the exact limit, quantiles come from a sketch within its documented rank error', () => {
    const values = normals(91, 200_000);
    const exact = Float64Array.from(values).sort();
    const profile = profileNumeric('x', values, { exactLimit: 10_000 });
    expect(profile.quantileMethod).toBe('kll');
    expect(profile.rankError).toBeGreaterThan(0);
    expect(profile.rankError).toBeLessThan(0.001);
    for (const [name, q] of [
      ['p1', 0.01],
      ['p25', 0.25],
      ['p50', 0.5],
      ['p99', 0.99],
    ] as const) {
      const estimate = profile.quantiles[name]!;
      let rank = 0;
      while (rank < exact.length && exact[rank] <= estimate) rank++;
      expect(Math.abs(rank / exact.length - q)).toBeLessThan(profile.rankError * 2);
    }
    expectClose(profile.mean!, exact.reduce((s, v) => s + v, 0) / exact.length, 1e-9);
    expect(profile.histogram.counts.reduce((s, c) => s + c, 0)).toBeGreaterThan(199_000);
  });

  test('quantiles interpolate linearly between order statistics like numpy', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0.1)).toBeCloseTo(1.3, 15);
    expect(quantileSorted([7], 0.9)).toBe(7);
  });

  test('categories beyond the tracking limit are counted as other', async () => {
    const rows = Array.from(uniforms(5, 100), (u, i) => ({ c: `k${i}`, u }));
    const [c] = (await profileRows(rows, [{ name: 'c', type: 'categorical' }], { maxCategories: 10 }))
      .columns as CategoricalColumnProfile[];
    expect(c.distinct).toBe(10);
    expect(c.otherCount).toBe(90);
    expect(c.count).toBe(100);
  });
});
