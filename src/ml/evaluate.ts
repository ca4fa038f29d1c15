/**
 * The evaluator: holdout metrics of a model, and the judgement of a candidate against the
 * validation policy (metric thresholds, and the champion comparison with its margin).
 * Its verdict is what deploy requires, in the manner of TFX's Evaluator "blessing".
 */
import { classificationMetrics, regressionMetrics, type ConfusionMatrix } from './metrics';
import type { Predictions, Predictor } from './predictor';
import type { Frame } from './types';

/** Metric name to value; only defined metrics appear. */
export type MetricValues = Record<string, number>;

/** A model's holdout evaluation. */
export interface Evaluation {
  metrics: MetricValues;
  rows: number;
  confusionMatrix?: ConfusionMatrix;
}

/** Metrics where smaller is better; every other metric is better when larger. */
const LOWER_IS_BETTER = new Set(['logLoss', 'rmse', 'mae']);

/** Whether a larger value of this metric is better. */
export function higherIsBetter(metric: string): boolean {
  return !LOWER_IS_BETTER.has(metric);
}

/** Evaluates a model, through the model seam, on a frame holding its features and the target. */
export async function evaluateModel(model: Predictor, frame: Frame): Promise<Evaluation> {
  return evaluatePredictions(model, frame, await model.predict(frame));
}

/** Metrics of predictions already made for the rows of `frame` (which holds the target). */
export function evaluatePredictions(model: Pick<Predictor, 'schema' | 'task' | 'classes'>, frame: Frame, p: Predictions): Evaluation {
  const target = frame.columns[model.schema.target];
  if (!target) throw new Error(`the holdout has no target column "${model.schema.target}"`);
  if (model.task === 'regression') {
    const m = regressionMetrics(target as Float64Array, p.values!);
    return { metrics: defined({ rmse: m.rmse, mae: m.mae, r2: m.r2 }), rows: frame.rowCount };
  }
  // Rows whose label is missing cannot be scored.
  const labels = target as (string | null)[];
  const keep = labels.flatMap((l, i) => (l === null ? [] : [i]));
  const m = classificationMetrics(keep.map((i) => labels[i]!), keep.map((i) => p.probabilities![i]!), [...model.classes]);
  return {
    metrics: defined({ accuracy: m.accuracy, balancedAccuracy: m.balancedAccuracy, macroF1: m.macroF1, logLoss: m.logLoss, rocAuc: m.rocAuc }),
    rows: keep.length,
    confusionMatrix: m.confusionMatrix,
  };
}

function defined(m: Record<string, number | null>): MetricValues {
  return Object.fromEntries(Object.entries(m).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
}

/** The validation policy (as in the pipeline spec). */
export interface ValidationPolicy {
  thresholds: Record<string, { min?: number; max?: number }>;
  champion?: { metric: string; margin: number };
}

/** Every way the candidate fails the policy, one sentence each; empty when it passes. */
export function judgeCandidate(candidate: MetricValues, champion: MetricValues | undefined, policy: ValidationPolicy): string[] {
  const failures: string[] = [];
  for (const [metric, t] of Object.entries(policy.thresholds)) {
    const v = candidate[metric];
    if (v === undefined) {
      failures.push(`${metric}: not computed for this model (available: ${Object.keys(candidate).join(', ')})`);
      continue;
    }
    if (t.min !== undefined && v < t.min) failures.push(`${metric} ${v.toFixed(4)} is below the minimum ${t.min}`);
    if (t.max !== undefined && v > t.max) failures.push(`${metric} ${v.toFixed(4)} is above the maximum ${t.max}`);
  }
  if (policy.champion && champion) {
    const { metric, margin } = policy.champion;
    const c = candidate[metric];
    const p = champion[metric];
    if (c === undefined || p === undefined) {
      failures.push(`champion comparison: ${metric} is missing for the ${c === undefined ? 'candidate' : 'production version'}`);
    } else {
      const worseBy = higherIsBetter(metric) ? p - c : c - p;
      if (worseBy > margin) failures.push(`${metric} ${c.toFixed(4)} is worse than production's ${p.toFixed(4)} by ${worseBy.toFixed(4)}, more than the allowed margin ${margin}`);
    }
  }
  return failures;
}
