/**
 * The monitor's assessment of a window honours each metric's direction: a lower-is-better metric
 * (rmse) breaches when it rises above its maximum, a higher-is-better one (r2, accuracy) when it falls
 * below its minimum; and the spec takes a bound only on the side a worse value crosses.
 */
import { assessWindow } from '../../../src/ml/monitor';
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
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, () => {
    const x = rand() * 10;
    return { x, y: 3 * x + (rand() - 0.5) * 2 * noise };
  });
}

let model: Predictor;
const training = rows(400, 1);

beforeAll(async () => {
  const train = rowsToFrame({ ...schema, features: ['x', 'y'] }, training);
  model = builtinPredictor(await trainModel('gbdt', { train, schema, params: { maxIter: 60, learningRate: 0.3, earlyStopping: false }, seed: 1 }));
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
    const a = await assessWindow(model, profile, labelledOff(5), { psi: 10, features: {}, performance: { metric: 'r2', min: 0 }, alsoMeasure: 'rmse' });
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
    expect(() => parsePipelineSpec(spec({ metric: 'rmse', min: 2 }))).toThrow(/for rmse, lower is better.*use \{ metric: rmse, max: \.\.\. \} instead of min/);
  });

  it('a max on accuracy is refused, saying to use min', () => {
    const refused = /for accuracy, higher is better.*use \{ metric: accuracy, min: \.\.\. \} instead of max/;
    expect(() => parsePipelineSpec(spec({ metric: 'accuracy', max: 0.8 }))).toThrow(refused);
  });

  it('a bound is required', () => {
    expect(() => parsePipelineSpec(spec({ metric: 'logLoss' }))).toThrow(/for logLoss, lower is better.*give the bound as \{ metric: logLoss, max: \.\.\. \}/);
  });
});
