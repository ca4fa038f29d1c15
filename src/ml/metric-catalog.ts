/**
 * The metric catalog: every metric the evaluator computes, with its task, its direction and its range,
 * declared once (as scikit-learn's scorers carry `greater_is_better`). Thresholds, the champion margin,
 * the monitor's performance check and the guardrail read directions from here, and the spec parser
 * refuses metric names that are not in it. Pure: no Node APIs, so the spec (and workflows) may use it.
 */
import type { Task } from './types';

/** What is known about one metric. */
export interface MetricInfo {
  /** The task whose evaluation computes it. */
  task: Task;
  /** Whether a larger value is better (false for losses and errors). */
  higherIsBetter: boolean;
  /** The values the metric can take. */
  range: { min: number; max: number };
  /** One line for messages and docs. */
  description: string;
}

const UNIT = { min: 0, max: 1 };

/** Every metric the evaluator computes, by the name used in specs, reports and status. */
export const METRICS: Readonly<Record<string, MetricInfo>> = {
  accuracy: { task: 'classification', higherIsBetter: true, range: UNIT, description: 'fraction of rows predicted right' },
  balancedAccuracy: { task: 'classification', higherIsBetter: true, range: UNIT, description: 'mean recall over the classes' },
  macroF1: { task: 'classification', higherIsBetter: true, range: UNIT, description: 'unweighted mean of per-class F1' },
  rocAuc: {
    task: 'classification',
    higherIsBetter: true,
    range: UNIT,
    description: 'area under the ROC curve (macro one-vs-rest beyond two classes)',
  },
  logLoss: {
    task: 'classification',
    higherIsBetter: false,
    range: { min: 0, max: Infinity },
    description: 'mean negative log-likelihood of the true class',
  },
  rmse: { task: 'regression', higherIsBetter: false, range: { min: 0, max: Infinity }, description: 'root mean squared error' },
  mae: { task: 'regression', higherIsBetter: false, range: { min: 0, max: Infinity }, description: 'mean absolute error' },
  r2: { task: 'regression', higherIsBetter: true, range: { min: -Infinity, max: 1 }, description: 'coefficient of determination' },
};

/** The catalog's entry for a metric, or undefined when the name is unknown. */
export function metricInfo(name: string): MetricInfo | undefined {
  return Object.prototype.hasOwnProperty.call(METRICS, name) ? METRICS[name] : undefined;
}

/** Names of the metrics of a task (or of every task). */
export function metricNames(task?: Task): string[] {
  return Object.entries(METRICS)
    .filter(([, m]) => task === undefined || m.task === task)
    .map(([n]) => n);
}

/**
 * Whether a larger value of this metric is better. Unknown names count as higher-is-better, which
 * only matters for metrics a program claims about itself: spec metric names are checked at parse.
 */
export function metricHigherIsBetter(name: string): boolean {
  return metricInfo(name)?.higherIsBetter ?? true;
}

/**
 * What is wrong with a metric name used in a spec (for `task`, when known), or undefined when it is fine.
 * The message lists the known names, so a typo is fixed at once.
 */
export function metricNameProblem(name: string, task?: Task): string | undefined {
  const info = metricInfo(name);
  if (!info) return `unknown metric "${name}" (known metrics: ${metricNames(task).join(', ')})`;
  if (task && info.task !== task)
    return `"${name}" is a ${info.task} metric, but this model's task is ${task} (use one of ${metricNames(task).join(', ')})`;
  return undefined;
}

/** What is wrong with a bound on a metric (a threshold or a monitor minimum), or undefined when it can be met. */
export function metricBoundProblem(name: string, bound: number, which: 'min' | 'max'): string | undefined {
  const info = metricInfo(name);
  if (!info) return undefined;
  const { min, max } = info.range;
  if (bound < min || bound > max) {
    const range = `${Number.isFinite(min) ? min : '-∞'} to ${Number.isFinite(max) ? max : '∞'}`;
    return `${which} ${bound} is outside the values ${name} can take (${range})`;
  }
  return undefined;
}

/** "higher is better" or "lower is better", for messages. */
export function directionWords(name: string): string {
  return metricHigherIsBetter(name) ? 'higher is better' : 'lower is better';
}
