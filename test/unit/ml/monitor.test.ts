/**
 * The monitor's assessment of a window honours each metric's direction: a lower-is-better metric
 * (rmse) breaches when it rises above its maximum, a higher-is-better one (r2, accuracy) when it falls
 * below its minimum; and the spec takes a bound only on the side a worse value crosses.
 */
import { windowStart } from '../../../src/contracts';
import { assessWindow, VersionRows } from '../../../src/ml/monitor';
import { builtinPredictor, type Predictor } from '../../../src/ml/predictor';
import { profileRows } from '../../../src/ml/profile';
import { rowsToFrame, trainModel } from '../../../src/ml/trainers';
import type { DatasetSchema } from '../../../src/ml/types';
import { parsePipelineSpec } from '../../../src/spec/pipeline';

const schema: DatasetSchema = {
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'y', type: 'numeric' },
  ],
  target: 'y',
  features: ['x'],
  task: 'regression',
};

/** y = 3x + small noise, deterministic. */
function rows(n: number, seed: number, noise = 0.1): Record<string, unknown>[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => {
    const x = rand() * 10;
    return { x, y: 3 * x + (rand() - 0.5) * 2 * noise };
  });
}

let model: Predictor;
const training = rows(400, 1);

beforeAll(async () => {
  const train = rowsToFrame({ ...schema, features: ['x', 'y'] }, training);
  model = builtinPredictor(
    await trainModel('gbdt', { train, schema, params: { maxIter: 60, learningRate: 0.3, earlyStopping: false }, seed: 1 }),
  );
});

async function assess(window: Record<string, unknown>[], performance: { metric: string; min?: number; max?: number }) {
  const profile = await profileRows(training, schema);
  return assessWindow(model, profile, window, { psi: 10, features: {}, performance });
}

/** Live labels `offset` away from the truth: the model's rmse on them is about `offset`. */
const labelledOff = (offset: number) => rows(200, 7).map((r) => ({ ...r, y: (r.y as number) + offset }));

describe('the monitor judges live performance in the direction of the metric', () => {
  it('an rmse above its maximum is a breach, and one below it is not', async () => {
    const bad = await assess(labelledOff(5), { metric: 'rmse', max: 2 });
    expect(bad.performance).toMatchObject({ metric: 'rmse', labelled: 200, breached: true, higherIsBetter: false, max: 2 });
    expect(bad.performance!.value).toBeGreaterThan(4);

    const good = await assess(labelledOff(0), { metric: 'rmse', max: 2 });
    expect(good.performance!.value).toBeLessThan(2);
    expect(good.performance).toMatchObject({ breached: false, higherIsBetter: false });
  });

  it('an r2 below its minimum is a breach, and one above it is not', async () => {
    const bad = await assess(labelledOff(15), { metric: 'r2', min: 0.5 });
    expect(bad.performance!.value).toBeLessThan(0.5);
    expect(bad.performance).toMatchObject({ breached: true, higherIsBetter: true, min: 0.5 });
    const good = await assess(labelledOff(0), { metric: 'r2', min: 0.5 });
    expect(good.performance).toMatchObject({ breached: false, higherIsBetter: true });
  });

  it("a metric measured without a bound (the guardrail's) is reported with its direction and never breaches", async () => {
    const a = await assess(labelledOff(50), { metric: 'mae' });
    expect(a.performance).toMatchObject({ metric: 'mae', breached: false, higherIsBetter: false });
    expect(a.performance!.value).toBeGreaterThan(40);
  });

  it("the guardrail's other metric is measured on the same rows", async () => {
    const profile = await profileRows(training, schema);
    const a = await assessWindow(model, profile, labelledOff(5), {
      psi: 10,
      features: {},
      performance: { metric: 'r2', min: 0 },
      alsoMeasure: 'rmse',
    });
    expect(a.also).toMatchObject({ metric: 'rmse', higherIsBetter: false });
    expect(a.also!.value).toBeGreaterThan(4);
  });
});

describe("the spec's monitor.performance takes a bound on the side a worse value crosses", () => {
  const spec = (performance: unknown) => ({
    model: 'toy',
    dataset: { source: 's3://bucket/data.csv', target: 'y' },
    trainer: { name: 'gbdt' },
    monitor: { performance },
  });

  it('rmse takes a max and r2 a min', () => {
    expect(parsePipelineSpec(spec({ metric: 'rmse', max: 2 })).monitor!.performance).toEqual({ metric: 'rmse', max: 2 });
    expect(parsePipelineSpec(spec({ metric: 'r2', min: 0.5 })).monitor!.performance).toEqual({ metric: 'r2', min: 0.5 });
  });

  it('a min on rmse is refused, saying to use max', () => {
    expect(() => parsePipelineSpec(spec({ metric: 'rmse', min: 2 }))).toThrow(
      /for rmse, lower is better.*use \{ metric: rmse, max: \.\.\. \} instead of min/,
    );
  });

  it('a max on accuracy is refused, saying to use min', () => {
    const refused = /for accuracy, higher is better.*use \{ metric: accuracy, min: \.\.\. \} instead of max/;
    expect(() => parsePipelineSpec(spec({ metric: 'accuracy', max: 0.8 }))).toThrow(refused);
  });

  it('a bound is required', () => {
    expect(() => parsePipelineSpec(spec({ metric: 'logLoss' }))).toThrow(
      /for logLoss, lower is better.*give the bound as \{ metric: logLoss, max: \.\.\. \}/,
    );
  });
});

describe("the spec's Wasserstein and chi-square limits flag drift the PSI limit lets through", () => {
  const shifted = (by: number) => rows(400, 3).map((r) => ({ ...r, x: (r.x as number) + by }));
  const trainingX = Float64Array.from(training, (r) => r.x as number);

  it('a feature moved by about 1 in its own units breaches a Wasserstein limit of 0.5, not one of 2, and the check records the distance', async () => {
    const profile = await profileRows(training, schema);
    const tight = await assessWindow(model, profile, shifted(1), { psi: 10, features: { x: { wasserstein: 0.5 } } }, { x: trainingX });
    expect(tight.breachedFeatures).toEqual(['x']);
    expect(tight.drift.x!.wasserstein).toBeGreaterThan(0.8);
    expect(tight.drift.x!.wasserstein).toBeLessThan(1.2);
    const loose = await assessWindow(model, profile, shifted(1), { psi: 10, features: { x: { wasserstein: 2 } } }, { x: trainingX });
    expect(loose.breachedFeatures).toEqual([]);
  });

  it('a category whose share changed breaches a chi-square p-value limit, and an unchanged mix does not', async () => {
    const catSchema: DatasetSchema = {
      columns: [
        { name: 'c', type: 'categorical' },
        { name: 'y', type: 'categorical' },
      ],
      target: 'y',
      features: ['c'],
      task: 'classification',
    };
    const mix = (aShare: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ c: i < aShare * n ? 'a' : 'b', y: i % 2 ? 'yes' : 'no' }));
    const train = mix(0.5, 400);
    const catModel = builtinPredictor(
      await trainModel('logistic-regression', {
        train: rowsToFrame({ ...catSchema, features: ['c', 'y'] }, train),
        schema: catSchema,
        params: {},
        seed: 1,
      }),
    );
    const profile = await profileRows(train, catSchema);
    const limits = { psi: 10, chiSquarePValue: 0.01, features: {} };
    const moved = await assessWindow(catModel, profile, mix(0.7, 400), limits);
    expect(moved.drift.c!.chiSquarePValue).toBeLessThan(0.01);
    expect(moved.breachedFeatures).toEqual(['c']);
    const same = await assessWindow(catModel, profile, mix(0.5, 400), limits);
    expect(same.drift.c!.chiSquarePValue).toBeGreaterThan(0.5);
    expect(same.breachedFeatures).toEqual([]);
  });

  it('the spec takes chiSquarePValue for every feature and wasserstein per feature, and refuses an empty override', () => {
    const base = { model: 'm', dataset: { source: 'data.csv', target: 'y' }, trainer: { name: 'logistic-regression' } };
    const spec = parsePipelineSpec({ ...base, monitor: { drift: { chiSquarePValue: 0.001, features: { x: { wasserstein: 2.5 } } } } });
    expect(spec.monitor!.drift).toMatchObject({ psi: 0.2, chiSquarePValue: 0.001, features: { x: { wasserstein: 2.5 } } });
    expect(() => parsePipelineSpec({ ...base, monitor: { drift: { features: { x: {} } } } })).toThrow(
      /features\.x.*give psi, wasserstein or both/,
    );
  });
});

describe("a check reads no further back than the spec's monitor.window", () => {
  const day = 24 * 3600 * 1000;
  const until = '2026-11-29T12:00:00.000Z';

  it('starts where the previous check ended when that is within the window', () => {
    expect(windowStart('2026-11-29T11:00:00.000Z', until, 7 * day)).toBe('2026-11-29T11:00:00.000Z');
  });

  it('a monitor that could not check for longer than the window reads only the latest window', () => {
    expect(windowStart('2026-11-01T00:00:00.000Z', until, 7 * day)).toBe('2026-11-22T12:00:00.000Z');
  });

  it('a first check with no previous one reads the latest window, not everything ever logged', () => {
    expect(windowStart(undefined, until, 30 * day)).toBe('2026-10-30T12:00:00.000Z');
  });

  it("the example spec's window: 30d is parsed as thirty days", () => {
    const spec = parsePipelineSpec({
      model: 'm',
      dataset: { source: 'data.csv', target: 'y' },
      trainer: { name: 'logistic-regression' },
      monitor: { window: '30d' },
    });
    expect(spec.monitor!.window).toBe(30 * day);
  });
});

describe('the version judged, on its own rows', () => {
  const at = '2026-11-29T10:00:00.000Z';
  /** A logged prediction: outside a rollout (no rollout id) or inside one, answered by `version`. */
  const logged = (version: number, x: number, rolloutId?: string) => ({
    version,
    at,
    features: { x },
    ...(rolloutId ? { rolloutId, role: version === 2 ? 'champion' : 'candidate' } : {}),
  });

  it("a canary candidate's rows are left out of the champion's and counted by version", () => {
    const judged = new VersionRows(2);
    const records = [
      logged(2, 1, 'rollout-m-v3'),
      logged(3, 2, 'rollout-m-v3'),
      logged(2, 3, 'rollout-m-v3'),
      logged(3, 4, 'rollout-m-v3'),
    ];
    const kept = records.filter((r) => judged.keep(r));
    expect(kept.map((r) => r.features.x)).toEqual([1, 3]);
    expect(judged.leftOut()).toEqual({ '3': 2 });
  });

  it('once promoted, the candidate is judged without the rows the champion answered in the rollout', () => {
    const judged = new VersionRows(3);
    const records = [logged(2, 1, 'rollout-m-v3'), logged(3, 2, 'rollout-m-v3'), logged(3, 3), logged(4, 4, 'rollout-m-v4')];
    expect(records.filter((r) => judged.keep(r)).map((r) => r.features.x)).toEqual([2, 3]);
    expect(judged.leftOut()).toEqual({ '2': 1, '4': 1 });
  });

  it('without a rollout every row counts, as before rollouts existed, and nothing is reported left out', () => {
    const judged = new VersionRows(2);
    // The version before a direct deploy can answer until the model server switches: kept, as it always was.
    const records = [logged(1, 1), logged(2, 2), logged(2, 3)];
    expect(records.filter((r) => judged.keep(r))).toHaveLength(3);
    expect(judged.leftOut()).toBeUndefined();
  });

  it("the champion's live performance is measured on its rows only, not on the candidate's", async () => {
    const champion = rows(400, 9).map((r) => ({ ...r, version: 2, rolloutId: 'rollout-m-v3' }));
    // Rows the candidate answered (say, the customers a canary routes to it), far outside the champion's training range.
    const candidate = rows(40, 10).map((r) => {
      const x = (r.x as number) + 100;
      return { x, y: 3 * x, version: 3, rolloutId: 'rollout-m-v3' };
    });
    const judged = new VersionRows(2);
    const window = [...champion, ...candidate].filter((r) => judged.keep(r));
    const limits = { psi: 0.2, features: {}, performance: { metric: 'rmse', max: 1 } };
    const profile = await profileRows(training, schema);
    const own = await assessWindow(model, profile, window, limits);
    const mixed = await assessWindow(model, profile, [...champion, ...candidate], limits);
    expect(own).toMatchObject({ rows: 400, breachedFeatures: [], performance: { labelled: 400, breached: false } });
    expect(judged.leftOut()).toEqual({ '3': 40 });
    // The same window judged as a whole (before this change) would have blamed the champion.
    expect(mixed.performance).toMatchObject({ labelled: 440, breached: true });
    expect(mixed.breachedFeatures).toEqual(['x']);
  });
});
