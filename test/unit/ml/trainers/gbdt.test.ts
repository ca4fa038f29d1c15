/** Behaviour of the gbdt trainer beyond accuracy parity: missing values, limits, early stopping, determinism. */
import { predict, trainModel, type GbdtModel, type ModelTree } from '../../../../src/ml/trainers';
import { createRng } from '../../../../src/ml/random';
import { HistogramBuilder } from '../../../../src/ml/trainers/gbdt/histograms';
import type { DatasetSchema, Frame } from '../../../../src/ml/types';

const schema: DatasetSchema = {
  columns: [
    { name: 'a', type: 'numeric' },
    { name: 'b', type: 'numeric' },
    { name: 'c', type: 'categorical' },
    { name: 'y', type: 'categorical' },
  ],
  target: 'y',
  features: ['a', 'b', 'c'],
  task: 'classification',
};

/** y depends on a (with missing a meaning "yes"), on b, and on the category c. */
function table(n: number, seed: number, noise = 0): Frame {
  const rng = createRng(seed);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const c: (string | null)[] = [];
  const y: string[] = [];
  for (let i = 0; i < n; i++) {
    a[i] = rng.next() < 0.2 ? NaN : rng.next() * 10;
    b[i] = rng.next() * 10;
    c.push(['red', 'green', 'blue'][rng.int(3)]);
    let yes = Number.isNaN(a[i]) || (a[i] > 6 && b[i] > 3) || c[i] === 'blue';
    if (rng.next() < noise) yes = !yes;
    y.push(yes ? 'yes' : 'no');
  }
  return { rowCount: n, columns: { a, b, c, y } };
}

function accuracy(model: GbdtModel, frame: Frame): number {
  const labels = predict(model, frame).labels!;
  const y = frame.columns.y as string[];
  return labels.filter((l, i) => l === y[i]).length / y.length;
}

function depth(tree: ModelTree, node = 0): number {
  return tree.left[node] < 0 ? 0 : 1 + Math.max(depth(tree, tree.left[node]), depth(tree, tree.right[node]));
}

async function fitGbdt(train: Frame, params: Record<string, unknown>, seed = 0): Promise<GbdtModel> {
  return (await trainModel('gbdt', { train, schema, params, seed })) as GbdtModel;
}

it('learns where missing values go: rows with a missing feature are classified by that alone', async () => {
  const model = await fitGbdt(table(3000, 1), { maxIter: 40 });
  expect(accuracy(model, table(2000, 2))).toBeGreaterThan(0.99);
  const missing: Frame = { rowCount: 1, columns: { a: Float64Array.of(NaN), b: Float64Array.of(0), c: ['red'] } };
  expect(predict(model, missing).labels).toEqual(['yes']);
});

it('sends missing values to the larger side when training had none, instead of failing', async () => {
  const train = table(2000, 3);
  (train.columns.a as Float64Array).forEach((v, i, arr) => {
    if (Number.isNaN(v)) arr[i] = 5;
  });
  const model = await fitGbdt(train, { maxIter: 10 });
  const out = predict(model, { rowCount: 1, columns: { a: Float64Array.of(NaN), b: Float64Array.of(5), c: [null] } });
  expect(out.probabilities![0].every(Number.isFinite)).toBe(true);
});

it('respects maxLeafNodes, maxDepth and minSamplesLeaf', async () => {
  const train = table(3000, 4, 0.1);
  const small = await fitGbdt(train, { maxIter: 5, maxLeafNodes: 4 });
  for (const t of small.trees) expect(t.left.filter((l) => l < 0).length).toBeLessThanOrEqual(4);
  const shallow = await fitGbdt(train, { maxIter: 5, maxLeafNodes: null, maxDepth: 2 });
  for (const t of shallow.trees) expect(depth(t)).toBeLessThanOrEqual(2);
  expect(Math.max(...shallow.trees.map((t) => depth(t)))).toBe(2);
  // With minSamplesLeaf = 400, no leaf may hold fewer than 400 training rows.
  const big = await fitGbdt(train, { maxIter: 3, minSamplesLeaf: 400 });
  // The model's inputs: a and b as they are, then c one-hot (outputs "c=blue", "c=green", "c=red").
  const cols = big.preprocessing.outputs.map((name) =>
    name === 'a' || name === 'b'
      ? (train.columns[name] as Float64Array)
      : Float64Array.from(train.columns.c as string[], (v) => (v === name.slice(2) ? 1 : 0)),
  );
  for (const t of big.trees) {
    const counts = new Map<number, number>();
    for (let i = 0; i < train.rowCount; i++) {
      let node = 0;
      while (t.left[node] >= 0) {
        const v = cols[t.feature[node]][i];
        node = (Number.isNaN(v) ? t.missingLeft[node] === 1 : v <= t.threshold[node]) ? t.left[node] : t.right[node];
      }
      counts.set(node, (counts.get(node) ?? 0) + 1);
    }
    for (const c of counts.values()) expect(c).toBeGreaterThanOrEqual(400);
  }
});

it('stops early once the held-out loss stops improving, keeping the trees fitted so far', async () => {
  const train = table(4000, 5, 0.25);
  const model = await fitGbdt(train, { maxIter: 500, learningRate: 0.5, earlyStopping: true, nIterNoChange: 5 });
  expect(model.training.iterations).toBeLessThan(500);
  expect(model.training.converged).toBe(true);
  expect(model.training.validationRows).toBe(400);
  expect(model.trees).toHaveLength(model.training.iterations);
});

it('"auto" early stopping is off for small data and on above 10,000 rows, as in scikit-learn', async () => {
  const smallRun = await fitGbdt(table(2000, 6, 0.25), { maxIter: 200, learningRate: 0.5 });
  expect(smallRun.training.validationRows).toBe(0);
  expect(smallRun.training.iterations).toBe(200);
  const bigRun = await fitGbdt(table(12_000, 6, 0.25), { maxIter: 200, learningRate: 0.5 });
  expect(bigRun.training.validationRows).toBe(1200);
  expect(bigRun.training.iterations).toBeLessThan(200);
});

it('uses the given validation frame for early stopping instead of holding out training rows', async () => {
  const model = await trainModel('gbdt', {
    train: table(3000, 7, 0.2),
    validation: table(500, 8, 0.2),
    schema,
    params: { earlyStopping: true, maxIter: 300, learningRate: 0.5 },
    seed: 0,
  });
  expect(model.training.validationRows).toBe(500);
});

it('the same seed gives the same model; neither the thread count nor the kernel (WebAssembly or JavaScript) changes it', async () => {
  const train = table(30_000, 9, 0.1);
  const params = { maxIter: 8, earlyStopping: true };
  const previous = { threads: process.env.MLOPS_GBDT_THREADS, wasm: process.env.MLOPS_GBDT_WASM };
  try {
    process.env.MLOPS_GBDT_THREADS = '1';
    const one = JSON.stringify(await fitGbdt(train, params, 5));
    expect(JSON.stringify(await fitGbdt(train, params, 5))).toBe(one);
    process.env.MLOPS_GBDT_THREADS = '2';
    expect(JSON.stringify(await fitGbdt(train, params, 5))).toBe(one);
    process.env.MLOPS_GBDT_WASM = '0';
    expect(JSON.stringify(await fitGbdt(train, params, 5))).toBe(one);
    process.env.MLOPS_GBDT_THREADS = '1';
    expect(JSON.stringify(await fitGbdt(train, params, 5))).toBe(one);
    expect(JSON.stringify(await fitGbdt(train, params, 6))).not.toBe(one);
  } finally {
    for (const [key, value] of [
      ['MLOPS_GBDT_THREADS', previous.threads],
      ['MLOPS_GBDT_WASM', previous.wasm],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});

it('fits three or more classes with one tree per class per iteration', async () => {
  const rng = createRng(3);
  const n = 1500;
  const a = Float64Array.from({ length: n }, () => rng.next() * 3);
  const y = Array.from(a, (v) => ['low', 'mid', 'high'][Math.floor(v)]);
  const frame: Frame = { rowCount: n, columns: { a, b: new Float64Array(n), c: Array(n).fill('red'), y } };
  const model = await fitGbdt(frame, { maxIter: 10 });
  expect(model.treesPerIteration).toBe(3);
  expect(model.trees).toHaveLength(30);
  expect(model.classes).toEqual(['high', 'low', 'mid']);
  expect(accuracy(model, frame)).toBeGreaterThan(0.98);
});

it('the histogram threads start from their module on disk, with the WebAssembly kernel or the JavaScript one', () => {
  const previous = process.env.MLOPS_GBDT_WASM;
  try {
    for (const wasm of ['1', '0']) {
      process.env.MLOPS_GBDT_WASM = wasm;
      const builder = new HistogramBuilder(1000, 4, 4, 3);
      try {
        expect(builder.threads).toBe(3);
      } finally {
        builder.close();
      }
    }
  } finally {
    if (previous === undefined) delete process.env.MLOPS_GBDT_WASM;
    else process.env.MLOPS_GBDT_WASM = previous;
  }
});
