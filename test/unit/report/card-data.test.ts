import { numericPsi } from '../../../src/ml/drift';
import { evaluateModel } from '../../../src/ml/evaluate';
import { builtinPredictor } from '../../../src/ml/predictor';
import { profileRows, type NumericColumnProfile } from '../../../src/ml/profile';
import { trainModel } from '../../../src/ml/trainers';
import { compareWithProfile, holdoutDiagnostics, residualSample } from '../../../src/report';
import { MAX_CATEGORY_BARS } from '../../../src/report/card-data';
import { holdout, rows, schema } from '../../helpers/model-card';
import { expectClose } from '../../helpers/ml-reference';
import { seattleSchema, seattleWeather, takeRows } from '../../helpers/seattle-weather';

const names = { reference: 'snapshot', current: 'holdout' };

describe('the distributions a card compares', () => {
  test('numeric columns are counted on the profile quantile bins, open at both ends, with the drift monitor PSI', async () => {
    const profile = await profileRows(rows(), schema);
    const frame = holdout();
    frame.columns.wind = Float64Array.from([...(frame.columns.wind as Float64Array)].map((w, i) => (i === 0 ? 100 : i === 1 ? -5 : w)));
    const { columns } = compareWithProfile(profile, frame, ['wind'], names);
    const wind = columns[0]!;
    const hist = (profile.columns.find((c) => c.name === 'wind') as NumericColumnProfile).histogram;
    expect(wind.reference).toEqual(hist.counts);
    expect(wind.current.reduce((s, c) => s + c, 0)).toBe(15);
    expect(wind.bins[0]).toMatch(/^< /);
    expect(wind.bins[wind.bins.length - 1]).toMatch(/^≥ /);
    expect(wind.edges).toHaveLength(wind.bins.length - 1);
    expectClose(wind.psi, numericPsi(hist, frame.columns.wind as Float64Array));
  });

  test('datetime bins are labelled with dates', async () => {
    const profile = await profileRows(rows(), schema);
    const day = compareWithProfile(profile, holdout(), ['day'], names).columns[0]!;
    expect(day.edges!.every((e) => /^\d{4}-\d{2}-\d{2}$/.test(e))).toBe(true);
  });

  test('a categorical column shows categories unseen in training after the known ones', async () => {
    const profile = await profileRows(rows(), schema);
    const frame = holdout();
    (frame.columns.weather as string[])[0] = 'hail';
    const weather = compareWithProfile(profile, frame, ['weather'], names).columns[0]!;
    expect(weather.bins).toEqual(['fog', 'rain', 'sun', 'hail']);
    expect(weather.reference).toEqual([20, 20, 20, 0]);
    expect(weather.current.reduce((s, c) => s + c, 0)).toBe(15);
    expect(weather.current[3]).toBe(1);
  });

  test('beyond twelve categories the rarest are summed into one bar, while PSI covers them all', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ city: `c${String(i).padStart(2, '0')}` }));
    const profile = await profileRows([...many, ...many.slice(0, 5)], [{ name: 'city', type: 'categorical' }]);
    const frame = { rowCount: 30, columns: { city: many.map((r) => r.city) } };
    const city = compareWithProfile(profile, frame, ['city'], names).columns[0]!;
    expect(city.bins).toHaveLength(MAX_CATEGORY_BARS);
    expect(city.bins[MAX_CATEGORY_BARS - 1]).toBe('19 others');
    expect(city.reference.reduce((s, c) => s + c, 0)).toBe(35);
    expect(city.current.reduce((s, c) => s + c, 0)).toBe(30);
    expect(city.psi).toBeGreaterThan(0);
  });

  test('a column missing on either side, or of another kind, is skipped with the reason', async () => {
    const profile = await profileRows(rows(), schema);
    const frame = holdout();
    frame.columns.wind = (frame.columns.weather as string[]).slice();
    delete frame.columns.rain_mm;
    const out = compareWithProfile(profile, frame, ['rain_mm', 'wind', 'pressure'], names);
    expect(out.columns).toEqual([]);
    expect(out.skipped).toEqual([
      { column: 'rain_mm', reason: 'not in the holdout' },
      { column: 'wind', reason: 'categorical here but numeric in the profile' },
      { column: 'pressure', reason: 'not in the snapshot profile' },
    ]);
  });
});

describe('holdout diagnostics', () => {
  test('a classifier gets one ROC curve per class whose mean area is the evaluated ROC AUC', async () => {
    const frame = seattleWeather();
    const train = takeRows(
      frame,
      Array.from({ length: 1000 }, (_, i) => i),
    );
    const test = takeRows(
      frame,
      Array.from({ length: frame.rowCount - 1000 }, (_, i) => 1000 + i),
    );
    const model = await trainModel('logistic-regression', { train, schema: seattleSchema, params: {}, seed: 1 });
    const predictor = builtinPredictor(model);
    const { roc, residuals } = holdoutDiagnostics(predictor, test, await predictor.predict(test));
    expect(residuals).toBeUndefined();
    expect(roc!.map((c) => c.label)).toEqual(model.classes);
    const mean = roc!.reduce((s, c) => s + c.auc, 0) / roc!.length;
    expectClose(mean, (await evaluateModel(predictor, test)).metrics.rocAuc!);
  });

  test('residuals skip rows without a target and are sampled evenly beyond the limit', () => {
    const actual = Float64Array.from({ length: 10 }, (_, i) => (i === 3 ? NaN : i));
    const predicted = Float64Array.from({ length: 10 }, (_, i) => i + 0.5);
    expect(residualSample(actual, predicted).rows).toBe(9);
    const sample = residualSample(actual, predicted, 3);
    expect(sample).toEqual({ predicted: [0.5, 4.5, 7.5], residual: [-0.5, -0.5, -0.5], rows: 9 });
  });
});
