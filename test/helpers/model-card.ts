/** Small, hand-made model-card inputs: a three-class classifier with a production version, and a regressor. */
import { rocCurvesByClass } from '../../src/ml/curves';
import { profileRows } from '../../src/ml/profile';
import type { DatasetSchema, Frame } from '../../src/ml/types';
import { compareWithProfile, residualSample, type ModelCardInput } from '../../src/report';

export const schema: DatasetSchema = {
  columns: [
    { name: 'day', type: 'datetime' },
    { name: 'rain_mm', type: 'numeric' },
    { name: 'wind', type: 'numeric' },
    { name: 'weather', type: 'categorical' },
  ],
  target: 'weather',
  features: ['day', 'rain_mm', 'wind'],
  task: 'classification',
};

const CLASSES = ['fog', 'rain', 'sun'];

/** 60 deterministic rows: rain falls on rainy days, fog on calm ones. */
export function rows(): Record<string, unknown>[] {
  return Array.from({ length: 60 }, (_, i) => {
    const weather = CLASSES[i % 3]!;
    return {
      day: new Date(Date.UTC(2024, 0, 1 + i)).toISOString().slice(0, 10),
      rain_mm: weather === 'rain' ? 4 + (i % 7) : (i % 5) * 0.2,
      wind: weather === 'fog' ? 0.5 + (i % 4) * 0.1 : 2 + (i % 6),
      weather,
    };
  });
}

/** The last 15 rows as a holdout frame. */
export function holdout(): Frame {
  const r = rows().slice(45);
  return {
    rowCount: r.length,
    columns: {
      day: Float64Array.from(r, (x) => Date.parse(`${x.day as string}T00:00:00Z`)),
      rain_mm: Float64Array.from(r, (x) => x.rain_mm as number),
      wind: Float64Array.from(r, (x) => x.wind as number),
      weather: r.map((x) => x.weather as string),
    },
  };
}

/** A complete classification card input: candidate better than production v2 on accuracy. */
export async function classificationCard(change: (c: ModelCardInput) => void = () => undefined): Promise<ModelCardInput> {
  const profile = await profileRows(rows(), schema);
  const test = holdout();
  const labels = test.columns.weather as string[];
  const proba = labels.map((l, i) => CLASSES.map((c) => (c === l ? 0.6 : 0.2) + (i % 2 ? 0.05 : 0) * (c === 'sun' ? 1 : -0.5)));
  const card: ModelCardInput = {
    model: 'weather-today',
    description: 'Which weather the day brings.',
    run: { workflowId: 'weather-today-run', runId: 'r-1' },
    candidate: {
      trainer: 'gbdt',
      params: { maxIter: 50, learningRate: 0.1 },
      training: { rows: 45, iterations: 50, converged: true },
      metrics: { accuracy: 0.8667, macroF1: 0.8512, logLoss: 0.4123, rocAuc: 0.9321 },
      confusionMatrix: {
        labels: CLASSES,
        matrix: [
          [4, 1, 0],
          [0, 5, 0],
          [1, 0, 4],
        ],
      },
    },
    champion: {
      version: 2,
      metrics: { accuracy: 0.8, macroF1: 0.7925, logLoss: 0.5234, rocAuc: 0.9012 },
      confusionMatrix: {
        labels: CLASSES,
        matrix: [
          [3, 1, 1],
          [0, 5, 0],
          [1, 0, 4],
        ],
      },
    },
    policy: { thresholds: { accuracy: { min: 0.7 } }, champion: { metric: 'accuracy', margin: 0.02 } },
    verdict: { passed: true, failures: [] },
    holdoutRows: 15,
    dataset: { profile, target: 'weather', features: schema.features },
    validation: {
      ok: true,
      rowCount: 60,
      issues: [
        {
          column: 'wind',
          rule: 'range',
          severity: 'warning',
          observed: 12,
          expected: 10,
          sampleRows: [3, 9],
          message: 'wind: 2 values above the maximum 10',
        },
      ],
    },
    roc: rocCurvesByClass(labels, proba, CLASSES).map((c) => ({ label: String(c.label), fpr: c.curve.fpr, tpr: c.curve.tpr, auc: c.auc })),
    drift: compareWithProfile(profile, test, [...schema.features, schema.target], { reference: 'snapshot', current: 'holdout' }),
    artifacts: [{ name: 'candidate model', uri: 's3://mlops/blobs/sha256/ab/ab12', sha256: 'ab'.repeat(32) }],
  };
  change(card);
  return card;
}

/** A regression card input without a production version. */
export function regressionCard(): ModelCardInput {
  const actual = Array.from({ length: 40 }, (_, i) => 10 + i * 0.5);
  const predicted = actual.map((y, i) => y + ((i % 5) - 2) * 0.3);
  return {
    model: 'rain-amount',
    candidate: { trainer: 'gbdt', metrics: { rmse: 0.4243, mae: 0.36, r2: 0.9954 } },
    policy: { thresholds: { rmse: { max: 1 } } },
    verdict: { passed: true, failures: [] },
    holdoutRows: 40,
    residuals: residualSample(actual, predicted),
  };
}
