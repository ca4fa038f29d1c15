/** gbdt's native categorical features: set splits, a byte per row, unseen categories, and old models that still predict. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rocAuc } from '../../../../src/ml/metrics';
import { loadPredictor, modelFlavor } from '../../../../src/ml/predictor';
import { fitTransform } from '../../../../src/ml/preprocess';
import { createRng } from '../../../../src/ml/random';
import { binRows, fitBinner } from '../../../../src/ml/trainers/gbdt/binning';
import {
  MODEL_FORMAT,
  MODEL_FORMAT_CATEGORIES,
  parseModel,
  predict,
  predictRows,
  trainModel,
  type GbdtModel,
} from '../../../../src/ml/trainers';
import type { DatasetSchema, Frame } from '../../../../src/ml/types';

const CATEGORIES = 300;

/** A 300-category feature whose categories each have their own chance of "yes" (0.1 or 0.9), plus a noise column. */
function airports(n: number, seed: number, rates: Float64Array): { frame: Frame; truth: Float64Array } {
  const rng = createRng(seed);
  const cat: (string | null)[] = [];
  const noise = new Float64Array(n);
  const y: string[] = [];
  const truth = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(CATEGORIES);
    cat.push(`airport-${c}`);
    noise[i] = rng.next();
    truth[i] = rates[c];
    y.push(rng.next() < rates[c] ? 'yes' : 'no');
  }
  return { frame: { rowCount: n, columns: { cat, noise, y } }, truth };
}

const schema: DatasetSchema = {
  columns: [
    { name: 'cat', type: 'categorical' },
    { name: 'noise', type: 'numeric' },
    { name: 'y', type: 'categorical' },
  ],
  target: 'y',
  features: ['cat', 'noise'],
  task: 'classification',
};

function yesScores(model: GbdtModel, frame: Frame): number[] {
  return predict(model, frame).probabilities!.map((p) => p[model.classes.indexOf('yes')]);
}

const SMALL = { maxIter: 10, maxLeafNodes: 4, learningRate: 0.3, earlyStopping: false };

it('learns a target that depends on which of 300 categories a row has, which the same categories coded as numbers cannot', async () => {
  const rng = createRng(5);
  const rates = Float64Array.from({ length: CATEGORIES }, () => (rng.next() < 0.5 ? 0.1 : 0.9));
  const train = airports(60_000, 1, rates).frame;
  const { frame: test, truth } = airports(20_000, 2, rates);
  const native = (await trainModel('gbdt', { train, schema, params: SMALL, seed: 0 })) as GbdtModel;
  const labels = test.columns.y as string[];
  const best = rocAuc(labels, truth, 'yes');
  const ours = rocAuc(labels, yesScores(native, test), 'yes');
  // 254 categories keep codes of their own (a byte per row); the 46 least frequent share "other".
  expect(ours).toBeGreaterThan(best - 0.015);

  // The same categories as arbitrary numbers: a tree needs a split per run of codes, and a few small trees cannot.
  const codes = (f: Frame): Frame => ({
    ...f,
    columns: { ...f.columns, cat: Float64Array.from(f.columns.cat as string[], (c) => Number(c.slice(8))) },
  });
  const numericSchema: DatasetSchema = {
    ...schema,
    columns: schema.columns.map((c) => (c.name === 'cat' ? { name: 'cat', type: 'numeric' } : c)),
  };
  const numeric = (await trainModel('gbdt', { train: codes(train), schema: numericSchema, params: SMALL, seed: 0 })) as GbdtModel;
  const numericAuc = rocAuc(labels, yesScores(numeric, codes(test)), 'yes');
  expect(numericAuc).toBeLessThan(best - 0.1);
  expect(native.format).toBe(MODEL_FORMAT_CATEGORIES);
  expect(native.trees.some((t) => t.categories?.some((c) => c !== null && c.length > 10))).toBe(true);
});

it('a categorical feature costs one byte per row in the binned matrix, however many categories it has', () => {
  const { frame } = airports(10_000, 3, new Float64Array(CATEGORIES).fill(0.5));
  const options = {
    standardize: false,
    numericImpute: 'none' as const,
    categoricalImpute: 'missing-token' as const,
    categoricalEncoding: 'codes' as const,
    maxCategories: 254,
  };
  const { preprocessing, design } = fitTransform(frame, schema, options);
  expect(design.names).toEqual(['cat', 'noise']);
  const categories = preprocessing.features[0].type === 'categorical' ? preprocessing.features[0].categories : [];
  // A byte holds 254 categories, "other" (the rest) and missing.
  expect(categories).toHaveLength(254);
  const binner = fitBinner(design.columns, 255, createRng(0), Int32Array.of(categories.length + 1, 0));
  const binned = binRows(binner, design.columns);
  expect(binned.byteLength).toBe(frame.rowCount * 2);
  // Each row's byte for the feature is its category's code, or 254 for "other".
  const values = frame.columns.cat as string[];
  const code = new Map(categories.map((c, k) => [c, k]));
  const wrong = values.filter((v, i) => binned[2 * i] !== (code.get(v) ?? 254));
  expect(wrong).toEqual([]);
});

describe('categories that are rare, never seen, or missing', () => {
  /** 'common-*' categories decide y (half yes, half no); rare ones (under 10 rows each) are always "yes". */
  function table(n: number, seed: number): Frame {
    const rng = createRng(seed);
    const cat: (string | null)[] = [];
    const y: string[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 50 === 0) {
        cat.push(`rare-${i}`);
        y.push('yes');
      } else {
        const c = rng.int(20);
        cat.push(`common-${c}`);
        y.push(c < 10 ? 'no' : 'yes');
      }
    }
    return { rowCount: n, columns: { cat, y } };
  }
  const catSchema: DatasetSchema = {
    columns: [schema.columns[0], schema.columns[2]],
    target: 'y',
    features: ['cat'],
    task: 'classification',
  };
  let model: GbdtModel;
  beforeAll(async () => {
    model = (await trainModel('gbdt', {
      train: table(10_000, 1),
      schema: catSchema,
      params: { maxIter: 20, earlyStopping: false },
      seed: 0,
    })) as GbdtModel;
  });

  it('rare categories share the "other" code, and a category never seen in training is predicted as they are', () => {
    const categories = model.preprocessing.features[0].type === 'categorical' ? model.preprocessing.features[0].categories : [];
    expect(categories.every((c) => c.startsWith('common-'))).toBe(true);
    const p = predictRows(model, [{ cat: 'rare-100' }, { cat: 'never-seen' }, { cat: 'common-3' }, { cat: 'common-13' }]);
    expect(p.labels).toEqual(['yes', 'yes', 'no', 'yes']);
    expect(p.probabilities![1]).toEqual(p.probabilities![0]);
  });

  it('a missing category, never seen in training, goes with the larger side at each split instead of failing', () => {
    const p = predictRows(model, [{ cat: null }, {}]);
    expect(p.probabilities![0]).toEqual(p.probabilities![1]);
    expect(p.probabilities![0].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('a training cancelled midway resumes from its checkpoint (set splits stored as JSON) and ends with the same model', async () => {
    const input = { train: table(10_000, 4), schema: catSchema, params: { maxIter: 12, earlyStopping: true, nIterNoChange: 50 }, seed: 2 };
    const uninterrupted = await trainModel('gbdt', input);
    let saved: string | undefined;
    const controller = new AbortController();
    const store = {
      load: async () => undefined,
      save: async (state: unknown) => {
        saved = JSON.stringify(state);
        controller.abort(new Error('worker killed'));
      },
    };
    await expect(
      trainModel('gbdt', { ...input, checkpoint: store, checkpointEvery: { iterations: 5 }, signal: controller.signal }),
    ).rejects.toThrow('worker killed');
    expect(JSON.parse(saved!).iteration).toBe(5);
    const resumed = await trainModel('gbdt', { ...input, checkpoint: { load: async () => JSON.parse(saved!), save: async () => {} } });
    expect(JSON.stringify(resumed)).toBe(JSON.stringify(uninterrupted));
  });

  it('is served through the Predictor seam as any built-in model, predicting what predict() does', async () => {
    const document = JSON.parse(JSON.stringify(model));
    expect(modelFlavor(document)).toBe('builtin');
    const predictor = await loadPredictor(document, async () => {
      throw new Error('a built-in model needs no files');
    });
    const frame = table(500, 12);
    expect(await predictor.predict(frame)).toEqual(predict(model, frame));
  });

  it('survives a round trip through JSON, predicting identically', () => {
    const copy = parseModel(JSON.parse(JSON.stringify(model)));
    const frame = table(2_000, 9);
    expect(predict(copy, frame)).toEqual(predict(model, frame));
  });
});

it('a model document written before native categories (one-hot, format 1) still loads and predicts exactly as it did', () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../fixtures/gbdt-model-v1.json'), 'utf8'));
  const model = parseModel(fixture.model);
  expect(model.format).toBe(MODEL_FORMAT);
  expect(model.preprocessing.options.categoricalEncoding).toBeUndefined();
  const p = predictRows(model, fixture.rows);
  expect(p.labels).toEqual(fixture.labels);
  expect(p.probabilities).toEqual(fixture.probabilities);
});
