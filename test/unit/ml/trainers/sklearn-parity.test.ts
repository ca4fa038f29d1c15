/**
 * On the seattle-weather example, with the same features and the same split as scikit-learn
 * (test/fixtures/trainer-reference.json, made by scripts/reference/trainer_reference.py), the built-in
 * trainers score within one percentage point of scikit-learn's estimators or better.
 */
import reference from '../../../fixtures/trainer-reference.json';
import { predict, trainModel } from '../../../../src/ml/trainers';
import type { Frame } from '../../../../src/ml/types';
import { seattleSchema, seattleWeather, takeRows } from '../../../helpers/seattle-weather';

const frame = seattleWeather();
const train = takeRows(frame, reference.split.train);
const test = takeRows(frame, reference.split.test);
const truth = test.columns.weather as string[];

function accuracy(labels: string[], expected: string[]): number {
  return labels.filter((l, i) => l === expected[i]).length / expected.length;
}

describe('accuracy parity with scikit-learn on seattle-weather', () => {
  it('logistic-regression is at most 1 point below StandardScaler + LogisticRegression', async () => {
    const model = await trainModel('logistic-regression', { train, schema: seattleSchema, params: {}, seed: 1 });
    const acc = accuracy(predict(model, test).labels!, truth);
    expect(acc).toBeGreaterThanOrEqual(reference.logisticRegression.accuracy - 0.01);
  });

  it('gbdt is at most 1 point below HistGradientBoostingClassifier', async () => {
    const model = await trainModel('gbdt', { train, schema: seattleSchema, params: {}, seed: 1 });
    const acc = accuracy(predict(model, test).labels!, truth);
    expect(acc).toBeGreaterThanOrEqual(reference.gbdt.accuracy - 0.01);
  });

  it('gbdt regression explains temp_max about as well as HistGradientBoostingRegressor', async () => {
    const r = reference.gbdtRegression;
    const schema = { ...seattleSchema, target: r.target, features: r.features, task: 'regression' as const };
    const model = await trainModel('gbdt', { train, schema, params: {}, seed: 1 });
    const values = predict(model, test).values!;
    const y = test.columns.temp_max as Float64Array;
    const mean = y.reduce((a, b) => a + b, 0) / y.length;
    let ssRes = 0;
    let ssTot = 0;
    y.forEach((v, i) => {
      ssRes += (v - values[i]) ** 2;
      ssTot += (v - mean) ** 2;
    });
    expect(1 - ssRes / ssTot).toBeGreaterThanOrEqual(r.r2 - 0.01);
  });
});

describe('logistic-regression fits the same optimum as scikit-learn', () => {
  it('multinomial probabilities match LogisticRegression to 1e-4 when both converge tightly', async () => {
    const t = reference.logisticRegression.tight;
    const model = await trainModel('logistic-regression', {
      train,
      schema: seattleSchema,
      params: { C: t.C, tol: 1e-9, maxIter: 10_000 },
      seed: 1,
    });
    expect(model.classes).toEqual(reference.classes);
    const probs = predict(model, takeRows(frame, t.rows)).probabilities!;
    probs.forEach((row, i) => row.forEach((p, k) => expect(Math.abs(p - t.probabilities[i][k])).toBeLessThan(1e-4)));
  });

  it('binary probabilities match LogisticRegression to 1e-4 when both converge tightly', async () => {
    const b = reference.logisticRegression.binaryTight;
    const binaryTrain: Frame = takeRows(frame, b.trainRows);
    const model = await trainModel('logistic-regression', {
      train: binaryTrain,
      schema: seattleSchema,
      params: { C: b.C, tol: 1e-9, maxIter: 10_000 },
      seed: 1,
    });
    expect(model.classes).toEqual(b.classes);
    expect(model.kind === 'logistic-regression' && model.coefficients.length).toBe(1);
    const probs = predict(model, takeRows(frame, b.rows)).probabilities!;
    probs.forEach((row, i) => row.forEach((p, k) => expect(Math.abs(p - b.probabilities[i][k])).toBeLessThan(1e-4)));
  });
});
