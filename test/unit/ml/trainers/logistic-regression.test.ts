/** Behaviour of the logistic-regression trainer beyond parity with scikit-learn. */
import { predict, trainModel, type LogisticRegressionModel } from '../../../../src/ml/trainers';
import { createRng } from '../../../../src/ml/random';
import { BinomialObjective, allocateMatrix } from '../../../../src/ml/trainers/binomial-objective';
import type { DatasetSchema, Frame } from '../../../../src/ml/types';

const schema: DatasetSchema = {
  columns: [
    { name: 'a', type: 'numeric' },
    { name: 'b', type: 'numeric' },
    { name: 'color', type: 'categorical' },
    { name: 'y', type: 'categorical' },
  ],
  target: 'y',
  features: ['a', 'b', 'color'],
  task: 'classification',
};

function table(n: number, seed: number): Frame {
  const rng = createRng(seed);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const color: (string | null)[] = [];
  const y: string[] = [];
  for (let i = 0; i < n; i++) {
    a[i] = rng.next() < 0.05 ? NaN : rng.next() * 4 - 2;
    b[i] = rng.next() * 100;
    color.push(rng.next() < 0.05 ? null : ['red', 'blue'][rng.int(2)]);
    const z = 2 * (Number.isNaN(a[i]) ? 0 : a[i]) - 0.02 * (b[i] - 50) + (color[i] === 'red' ? 1 : -1) + (rng.next() - 0.5);
    y.push(z > 0 ? 'pos' : 'neg');
  }
  return { rowCount: n, columns: { a, b, color, y } };
}

it('learns a linear boundary through missing values and categories', async () => {
  const model = await trainModel('logistic-regression', { train: table(4000, 1), schema, params: {}, seed: 0 });
  const test = table(2000, 2);
  const labels = predict(model, test).labels!;
  const truth = test.columns.y as string[];
  expect(labels.filter((l, i) => l === truth[i]).length / truth.length).toBeGreaterThan(0.9);
});

it('a smaller C shrinks the coefficients', async () => {
  const train = table(3000, 3);
  const loose = (await trainModel('logistic-regression', { train, schema, params: { C: 10 }, seed: 0 })) as LogisticRegressionModel;
  const tight = (await trainModel('logistic-regression', { train, schema, params: { C: 0.001 }, seed: 0 })) as LogisticRegressionModel;
  const norm = (m: LogisticRegressionModel) => Math.hypot(...m.coefficients.flat());
  expect(norm(tight)).toBeLessThan(norm(loose) / 5);
});

it('the thread count does not change the model', async () => {
  const train = table(50_000, 4);
  const previous = process.env.MLOPS_LR_THREADS;
  try {
    process.env.MLOPS_LR_THREADS = '1';
    const one = JSON.stringify(await trainModel('logistic-regression', { train, schema, params: {}, seed: 0 }));
    process.env.MLOPS_LR_THREADS = '2';
    const two = JSON.stringify(await trainModel('logistic-regression', { train, schema, params: {}, seed: 0 }));
    expect(two).toBe(one);
  } finally {
    if (previous === undefined) delete process.env.MLOPS_LR_THREADS;
    else process.env.MLOPS_LR_THREADS = previous;
  }
});

it('the objective threads start from their module on disk', () => {
  const n = 100;
  const objective = new BinomialObjective(allocateMatrix(n * 2, 2), new Int32Array(n), 2, 1, 2);
  try {
    expect(objective.threads).toBe(2);
  } finally {
    objective.close();
  }
});
