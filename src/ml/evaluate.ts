/**
 * The evaluator: holdout metrics of a model, and the judgement of a candidate against the
 * validation policy (metric thresholds, and the champion comparison with its margin). Its verdict is
 * what deploy requires, in the manner of TFX's Evaluator "blessing". Every number it judges is one it
 * measured through the model seam; what a training program says about itself is only compared with it.
 */
import { FailureType, MlopsError } from '../errors';
import { classificationMetrics, regressionMetrics, type ConfusionMatrix } from './metrics';
import { claimedMetrics } from './external/model';
import { metricHigherIsBetter, metricInfo } from './metric-catalog';
import type { Predictions, Predictor } from './predictor';
import type { DatasetSchema, Frame } from './types';

/** Metric name to value; only defined metrics appear. */
export type MetricValues = Record<string, number>;

/** A model's holdout evaluation. */
export interface Evaluation {
  metrics: MetricValues;
  rows: number;
  confusionMatrix?: ConfusionMatrix;
}

/** Whether a larger value of this metric is better (the metric catalog decides; kept here for its callers). */
export function higherIsBetter(metric: string): boolean {
  return metricHigherIsBetter(metric);
}

/**
 * The target of a classification frame as class labels, the way the trainers name classes: text stays
 * text, booleans become "true"/"false" and numbers their decimal text ("0", "1"); missing is null.
 */
export function classLabels(frame: Frame, schema: Pick<DatasetSchema, 'target' | 'columns'>): (string | null)[] {
  const target = frame.columns[schema.target];
  if (!target) throw new Error(`the holdout has no target column "${schema.target}"`);
  if (!(target instanceof Float64Array)) return target;
  const boolean = schema.columns.find((c) => c.name === schema.target)?.type === 'boolean';
  return Array.from(target, (v) => (Number.isNaN(v) ? null : boolean ? String(v === 1) : String(v)));
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
  const labels = classLabels(frame, model.schema);
  const keep: number[] = [];
  labels.forEach((l, i) => l !== null && keep.push(i));
  unknownLabels(model, new Set(keep.map((i) => labels[i]!)));
  const m = classificationMetrics(
    keep.map((i) => labels[i]!),
    keep.map((i) => p.probabilities![i]!),
    [...model.classes],
  );
  return {
    metrics: defined({
      accuracy: m.accuracy,
      balancedAccuracy: m.balancedAccuracy,
      macroF1: m.macroF1,
      logLoss: m.logLoss,
      rocAuc: m.rocAuc,
    }),
    rows: keep.length,
    confusionMatrix: m.confusionMatrix,
  };
}

/**
 * Refuses holdout labels the model has no class for, saying how labels are named: a model trained elsewhere
 * that calls a boolean target's classes "True"/"False" would otherwise score as if it were always wrong.
 */
function unknownLabels(model: Pick<Predictor, 'schema' | 'classes'>, seen: Set<string>): void {
  const unknown = [...seen].filter((l) => !model.classes.includes(l)).sort();
  if (unknown.length === 0) return;
  const type = model.schema.columns.find((c) => c.name === model.schema.target)?.type;
  const naming =
    type === 'boolean'
      ? 'A true/false target is labelled "true" and "false"; name the classes so.'
      : type === 'numeric'
        ? 'A numeric target is labelled by its decimal text ("0", "1", "2.5"); name the classes so.'
        : 'Retrain on data that has every class, or drop those rows.';
  const shown = unknown
    .slice(0, 10)
    .map((l) => JSON.stringify(l))
    .join(', ');
  const classes = model.classes.map((c) => JSON.stringify(c)).join(', ');
  throw new MlopsError(
    FailureType.InvalidInput,
    `The holdout's "${model.schema.target}" has label(s) ${shown} that the model has no class for (its classes: ${classes}). ${naming}`,
    { unknown: unknown.slice(0, 10), classes: [...model.classes] },
  );
}

function defined(m: Record<string, number | null>): MetricValues {
  return Object.fromEntries(Object.entries(m).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
}

/** The validation policy (as in the pipeline spec). */
export interface ValidationPolicy {
  thresholds: Record<string, { min?: number; max?: number }>;
  champion?: { metric: string; margin: number };
  /** How a training program's own claims are held against our measurement (default: tolerance 0.05, warn). */
  claims?: { tolerance: number; onMismatch: 'warn' | 'fail' };
}

function fixed(v: number): string {
  return v.toFixed(4);
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
    const better = higherIsBetter(metric) ? 'higher' : 'lower';
    if (t.min !== undefined && v < t.min) failures.push(`${metric} ${fixed(v)} is below the minimum ${t.min} (${better} is better)`);
    if (t.max !== undefined && v > t.max) failures.push(`${metric} ${fixed(v)} is above the maximum ${t.max} (${better} is better)`);
  }
  if (policy.champion && champion) {
    const { metric, margin } = policy.champion;
    const c = candidate[metric];
    const p = champion[metric];
    if (c === undefined || p === undefined) {
      failures.push(`champion comparison: ${metric} is missing for the ${c === undefined ? 'candidate' : 'production version'}`);
    } else {
      const worseBy = higherIsBetter(metric) ? p - c : c - p;
      const side = higherIsBetter(metric) ? 'lower' : 'higher';
      if (worseBy > margin) {
        const better = side === 'lower' ? 'higher' : 'lower';
        const how = `${side} by ${fixed(worseBy)}; ${better} is better`;
        failures.push(`${metric} ${fixed(c)} is worse than production's ${fixed(p)} (${how}), more than the allowed margin ${margin}`);
      }
    }
  }
  return failures;
}

/** Default claims policy: a claim more than 0.05 away from our measurement is reported, not failed. */
export const DEFAULT_CLAIMS_POLICY = { tolerance: 0.05, onMismatch: 'warn' } as const;

/** One metric a training program claimed, against what we measured on the sealed holdout. */
export interface ClaimCheck {
  metric: string;
  claimed: number;
  measured: number;
  /** |claimed − measured|, relative to the measurement for unbounded metrics (rmse, mae, logLoss). */
  difference: number;
  /** Whether the difference is beyond the tolerance. */
  mismatch: boolean;
  /** One plain sentence, e.g. "the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35". */
  message: string;
}

/**
 * Holds each claimed metric we also measured against our measurement. Metrics in [0, 1] (accuracy,
 * rocAuc, ...) and r2 are compared by absolute difference; errors and losses, whose scale depends on
 * the data, by difference relative to our measurement.
 */
export function compareClaims(
  claimed: Record<string, unknown>,
  measured: MetricValues,
  rows: number,
  tolerance: number = DEFAULT_CLAIMS_POLICY.tolerance,
): ClaimCheck[] {
  const claims = claimedMetrics(claimed);
  const out: ClaimCheck[] = [];
  for (const [metric, c] of Object.entries(claims)) {
    const m = measured[metric];
    if (m === undefined) continue;
    const unbounded = metricInfo(metric)?.range.max === Infinity;
    const difference = unbounded ? Math.abs(c - m) / Math.max(Math.abs(m), 1e-12) : Math.abs(c - m);
    const mismatch = difference > tolerance;
    const how = unbounded ? `${(difference * 100).toFixed(1)}% apart` : `${fixed(difference)} apart`;
    const beyond = mismatch ? ` (${how}, more than the tolerance ${tolerance})` : '';
    out.push({
      metric,
      claimed: c,
      measured: m,
      difference,
      mismatch,
      message: `the program claimed ${metric} ${short(c)}; measured on ${rows} sealed holdout rows: ${short(m)}${beyond}`,
    });
  }
  return out;
}

function short(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : String(Number(v.toPrecision(4)));
}
