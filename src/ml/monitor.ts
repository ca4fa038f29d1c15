/**
 * Assessing a window of new data against a production model: feature drift against the training
 * profile (and a sample of training values, for KS), and live performance where labels are known.
 */
import type { DatasetProfile } from './profile';
import { driftReport, referenceFromProfile } from './drift';
import { evaluateModel, higherIsBetter } from './evaluate';
import type { Predictor } from './predictor';
import { rowsToFrame } from './trainers';
import { toCategory, toNumeric } from './values';

/** Limits of a monitor (as in the pipeline spec's monitor section). */
export interface MonitorThresholds {
  psi: number;
  ksPValue?: number;
  /** Chi-square p-value below which a categorical feature has drifted. */
  chiSquarePValue?: number;
  /** Per-feature PSI and Wasserstein limits (Wasserstein is in the feature's own units). */
  features: Record<string, { psi?: number; wasserstein?: number }>;
  /**
   * Live performance on the labelled rows: breached below `min` for a higher-is-better metric, above `max`
   * for a lower-is-better one (rmse, mae, logLoss). With neither bound it is measured but never breached
   * (the guardrail's metric). A bound on the wrong side is never crossed by getting worse, so it is refused.
   */
  performance?: LivePerformanceLimit;
  /** Another metric to measure on the same labelled rows (the guardrail's, when it is not `performance`'s). */
  alsoMeasure?: string;
}

/** A live performance metric and its bound (the spec's `monitor.performance`). */
export interface LivePerformanceLimit {
  metric: string;
  min?: number;
  max?: number;
}

/** A metric measured on the labelled rows of a window, with its direction and bound. */
export interface LivePerformance {
  metric: string;
  value: number;
  labelled: number;
  breached: boolean;
  /** Whether a larger value is better (false for rmse, mae, logLoss). */
  higherIsBetter: boolean;
  min?: number;
  max?: number;
}

/** What one assessment found. */
export interface WindowAssessment {
  rows: number;
  drift: Record<string, { psi: number; ksPValue?: number; wasserstein?: number; chiSquarePValue?: number; breached: boolean }>;
  breachedFeatures: string[];
  performance?: LivePerformance;
  /** `alsoMeasure`'s value on the same rows. */
  also?: { metric: string; value: number; higherIsBetter: boolean };
}

/**
 * Assesses rows (feature values, plus the target where a label is known) against the model's training
 * profile. Datetime features are left out of drift: time always moves forward.
 */
export async function assessWindow(
  model: Predictor,
  profile: DatasetProfile,
  rows: Record<string, unknown>[],
  limits: MonitorThresholds,
  referenceValues: Record<string, ArrayLike<number>> = {},
): Promise<WindowAssessment> {
  const schema = model.schema;
  const features = schema.features.filter((f) => schema.columns.find((c) => c.name === f)?.type !== 'datetime');
  const out: WindowAssessment = { rows: rows.length, drift: {}, breachedFeatures: [] };
  if (rows.length === 0) return out;
  const frame = rowsToFrame(
    { ...schema, features },
    rows.map((r) => pick(r, features)),
  );
  const report = driftReport(referenceFromProfile(profile, features, referenceValues), frame, {
    thresholds: { psi: limits.psi, ksPValue: limits.ksPValue, chiSquarePValue: limits.chiSquarePValue },
    perFeature: limits.features,
  });
  for (const f of report.features) {
    out.drift[f.feature] = {
      psi: f.psi,
      ksPValue: f.ks?.pValue,
      wasserstein: f.wasserstein,
      chiSquarePValue: f.chiSquare?.pValue,
      breached: f.breached,
    };
    if (f.breached) out.breachedFeatures.push(f.feature);
  }
  if (limits.performance) {
    const labelled = rows.filter((r) => r[schema.target] !== undefined && r[schema.target] !== null && r[schema.target] !== '');
    if (labelled.length > 0) {
      const frame = rowsToFrame(schema, labelled);
      frame.columns[schema.target] =
        schema.task === 'classification'
          ? labelled.map((r) => toCategory(r[schema.target]))
          : Float64Array.from(labelled, (r) => toNumeric(r[schema.target]) ?? NaN);
      const evaluation = await evaluateModel(model, frame);
      const { metric, min, max } = limits.performance;
      const value = evaluation.metrics[metric];
      if (value !== undefined) {
        const breached = performanceBreached(metric, value, limits.performance);
        out.performance = { metric, value, labelled: labelled.length, breached, higherIsBetter: higherIsBetter(metric), min, max };
      }
      const also = limits.alsoMeasure;
      const alsoValue = also === undefined ? undefined : evaluation.metrics[also];
      if (also !== undefined && alsoValue !== undefined)
        out.also = { metric: also, value: alsoValue, higherIsBetter: higherIsBetter(also) };
    }
  }
  return out;
}

/**
 * Whether a live value crosses its bound in the direction of getting worse: below `min` for a
 * higher-is-better metric, above `max` for a lower-is-better one.
 */
export function performanceBreached(metric: string, value: number, limit: Pick<LivePerformanceLimit, 'min' | 'max'>): boolean {
  return higherIsBetter(metric) ? limit.min !== undefined && value < limit.min : limit.max !== undefined && value > limit.max;
}

/**
 * Keeps the rows the judged version answered and counts, by version, the rows it did not answer during a rollout:
 * in a canary the candidate answers part of the traffic, and its rows must not count as the champion's (nor, once
 * promoted, the champion's last rows as the candidate's). A version is judged on its own rows only. Rows logged
 * outside a rollout (no rollout id) are all kept, as before rollouts existed.
 */
export class VersionRows {
  private readonly others = new Map<number, number>();

  constructor(readonly version: number) {}

  /** Whether a record counts for the judged version; one another version answered in a rollout is counted and left out. */
  keep(record: { version?: number; rolloutId?: string }): boolean {
    if (record.rolloutId === undefined || record.version === undefined || record.version === this.version) return true;
    this.others.set(record.version, (this.others.get(record.version) ?? 0) + 1);
    return false;
  }

  /** The rows left out, by version (ascending), or undefined when every row was the judged version's. */
  leftOut(): Record<string, number> | undefined {
    if (this.others.size === 0) return undefined;
    return Object.fromEntries([...this.others.entries()].sort((a, b) => a[0] - b[0]).map(([v, n]) => [String(v), n]));
  }
}

function pick(row: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = row[k];
  return out;
}
