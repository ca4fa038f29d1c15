/** The preprocessing a model carries: learned from training data only, applied identically at serving. */
import { MISSING_CATEGORY, fitPreprocessing, median, transformFrame } from '../../../../src/ml/preprocess';
import type { DatasetSchema, Frame } from '../../../../src/ml/types';

const schema: DatasetSchema = {
  columns: [
    { name: 'size', type: 'numeric' },
    { name: 'color', type: 'categorical' },
    { name: 'fresh', type: 'boolean' },
    { name: 'when', type: 'datetime' },
    { name: 'label', type: 'categorical' },
  ],
  target: 'label',
  features: ['size', 'color', 'fresh', 'when'],
  task: 'classification',
};

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);
const train: Frame = {
  rowCount: 5,
  columns: {
    size: Float64Array.from([1, 2, NaN, 4, 10]),
    color: ['red', 'blue', 'red', null, 'green'],
    fresh: Float64Array.from([1, 1, 0, NaN, 1]),
    when: Float64Array.from([day('2020-01-01'), day('2020-06-30'), NaN, day('2020-12-31'), day('2021-03-01')]),
    label: ['a', 'b', 'a', 'b', 'a'],
  },
};

function column(names: string[], columns: Float64Array[], name: string): number[] {
  return Array.from(columns[names.indexOf(name)]);
}

describe('imputation', () => {
  it('fills a missing number with the training median, and a missing boolean with the more frequent value', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'median', categoricalImpute: 'missing-token' });
    const out = transformFrame(recipe, train);
    expect(column(out.names, out.columns, 'size')).toEqual([1, 2, 3, 4, 10]);
    expect(column(out.names, out.columns, 'fresh')).toEqual([1, 1, 0, 1, 1]);
  });

  it('can fill with the mean instead', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'mean', categoricalImpute: 'missing-token' });
    expect(column(recipe.outputs, transformFrame(recipe, train).columns, 'size')[2]).toBeCloseTo(17 / 4, 12);
  });

  it('leaves NaN in place when imputation is off (trees handle missing values themselves)', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'none', categoricalImpute: 'missing-token' });
    expect(Number.isNaN(column(recipe.outputs, transformFrame(recipe, train).columns, 'size')[2])).toBe(true);
  });

  it('medians of even and odd counts follow the usual definition', () => {
    expect(median(Float64Array.from([5, 1, 3]))).toBe(3);
    expect(median(Float64Array.from([4, 1, 3, 2]))).toBe(2.5);
    expect(median(Float64Array.from([NaN, 7, NaN]))).toBe(7);
  });
});

describe('one-hot encoding of categoricals', () => {
  it('makes one output per training category, with missing values as a category of their own', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'median', categoricalImpute: 'missing-token' });
    const colorOutputs = recipe.outputs.filter((n) => n.startsWith('color='));
    expect(colorOutputs).toEqual(['color=blue', 'color=green', 'color=red', `color=${MISSING_CATEGORY}`]);
    const out = transformFrame(recipe, train);
    expect(column(out.names, out.columns, 'color=red')).toEqual([1, 0, 1, 0, 0]);
    expect(column(out.names, out.columns, `color=${MISSING_CATEGORY}`)).toEqual([0, 0, 0, 1, 0]);
  });

  it('can fill a missing category with the most frequent one', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'median', categoricalImpute: 'most-frequent' });
    const out = transformFrame(recipe, train);
    expect(column(out.names, out.columns, 'color=red')).toEqual([1, 0, 1, 1, 0]);
  });

  it('encodes a category never seen in training as all zeros', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'median', categoricalImpute: 'missing-token' });
    const serving: Frame = {
      rowCount: 1,
      columns: { size: Float64Array.of(1), color: ['purple'], fresh: Float64Array.of(0), when: Float64Array.of(day('2020-01-01')) },
    };
    const out = transformFrame(recipe, serving);
    for (const name of out.names.filter((n) => n.startsWith('color='))) expect(column(out.names, out.columns, name)).toEqual([0]);
  });
});

describe('datetimes', () => {
  it('become year, yearly and weekly cycles and time of day, so December 31 sits next to January 1', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: false, numericImpute: 'median', categoricalImpute: 'missing-token' });
    const out = transformFrame(recipe, train);
    expect(out.names.filter((n) => n.startsWith('when.'))).toEqual([
      'when.year',
      'when.dayOfYearSin',
      'when.dayOfYearCos',
      'when.dayOfWeekSin',
      'when.dayOfWeekCos',
      'when.timeOfDaySin',
      'when.timeOfDayCos',
    ]);
    const sin = column(out.names, out.columns, 'when.dayOfYearSin');
    const cos = column(out.names, out.columns, 'when.dayOfYearCos');
    const distance = (i: number, j: number) => Math.hypot(sin[i] - sin[j], cos[i] - cos[j]);
    expect(distance(0, 3)).toBeLessThan(0.05); // Jan 1 and Dec 31
    expect(distance(0, 1)).toBeGreaterThan(1.9); // Jan 1 and Jun 30: opposite sides of the year
    expect(column(out.names, out.columns, 'when.year')[0]).toBe(2020);
    // 2020-01-01 was a Wednesday (day 3 with Sunday = 0).
    expect(column(out.names, out.columns, 'when.dayOfWeekSin')[0]).toBeCloseTo(Math.sin((2 * Math.PI * 3) / 7), 12);
  });
});

describe('standardisation', () => {
  it('centres and scales numeric outputs with training statistics, leaving one-hot outputs as 0/1', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: true, numericImpute: 'median', categoricalImpute: 'missing-token' });
    const out = transformFrame(recipe, train);
    const size = column(out.names, out.columns, 'size');
    const mean = size.reduce((a, b) => a + b, 0) / size.length;
    const variance = size.reduce((a, b) => a + (b - mean) ** 2, 0) / size.length;
    expect(mean).toBeCloseTo(0, 12);
    expect(variance).toBeCloseTo(1, 12);
    expect(column(out.names, out.columns, 'color=red')).toEqual([1, 0, 1, 0, 0]);
    // Serving reuses the training statistics rather than its own.
    const one: Frame = {
      rowCount: 1,
      columns: { size: Float64Array.of(3), color: ['red'], fresh: Float64Array.of(1), when: Float64Array.of(day('2020-06-30')) },
    };
    expect(column(out.names, transformFrame(recipe, one).columns, 'size')[0]).toBeCloseTo(size[2], 12);
  });

  it('survives a JSON round trip unchanged, as it travels inside the model', () => {
    const recipe = fitPreprocessing(train, schema, { standardize: true, numericImpute: 'median', categoricalImpute: 'missing-token' });
    const copy = JSON.parse(JSON.stringify(recipe));
    expect(transformFrame(copy, train).columns).toEqual(transformFrame(recipe, train).columns);
  });
});

it('the median of a large column is exact, whatever the distribution', () => {
  const rng = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const next = rng(11);
  const cases = [
    Float64Array.from({ length: 10_001 }, () => next() * 100),
    Float64Array.from({ length: 20_000 }, () => Math.exp(next() * 30)), // heavily skewed
    Float64Array.from({ length: 9_999 }, (_, i) => (i % 3 === 0 ? NaN : Math.floor(next() * 5))), // many ties
    Float64Array.from({ length: 5_000 }, (_, i) => (i < 4_999 ? 1 : 1e300)),
    Float64Array.from({ length: 12_000 }, () => (next() - 0.6) * 1e-3), // both signs, small magnitudes
    Float64Array.from({ length: 8_192 }, (_, i) => (i % 2 ? -0 : i % 3 ? 0 : -next())), // zeros of both signs
    Float64Array.from({ length: 6_000 }, () => -Math.exp(next() * 50)), // all negative, skewed
  ];
  for (const values of cases) {
    const sorted = Array.from(values)
      .filter((v) => !Number.isNaN(v))
      .sort((a, b) => a - b);
    const n = sorted.length;
    const expected = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    expect(median(values)).toBe(expected);
  }
});
