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

/** The metric a reader should look at first, and why it suits the data. */
export interface HeadlineMetric {
  metric: string;
  /** One sentence: why this metric, in terms of the data. */
  why: string;
}

/**
 * A class is rare when it has less than this share of its even share of the rows (1/k for k classes):
 * below it, accuracy mostly reflects the common classes.
 */
export const IMBALANCE_RATIO = 0.5;

/**
 * The headline metric for a task and its class counts: accuracy when the classes are about even,
 * balanced accuracy (the mean of per-class recall, so each class counts the same) when one is rare,
 * and rmse (in the target's units) for regression.
 */
export function headlineMetric(task: Task, classCounts?: Record<string, number>): HeadlineMetric {
  if (task === 'regression') return { metric: 'rmse', why: "The rmse is in the target's own units: the typical size of an error." };
  const counts = Object.entries(classCounts ?? {}).filter(([, n]) => n > 0);
  const total = counts.reduce((s, [, n]) => s + n, 0);
  if (counts.length < 2 || total === 0) return { metric: 'accuracy', why: 'There are no class counts to judge balance by.' };
  counts.sort((a, b) => b[1] - a[1]);
  const [common, commonN] = counts[0]!;
  const [rare, rareN] = counts[counts.length - 1]!;
  const share = (n: number) => `${((100 * n) / total).toFixed(n / total < 0.1 ? 1 : 0)} %`;
  if (rareN / total >= IMBALANCE_RATIO / counts.length) {
    return { metric: 'accuracy', why: `The ${counts.length} classes are about even (from ${share(rareN)} to ${share(commonN)} of rows).` };
  }
  return {
    metric: 'balancedAccuracy',
    why:
      `The classes are imbalanced (${common} is ${share(commonN)} of rows, ${rare} ${share(rareN)}), so accuracy mostly reflects ` +
      'the common classes; balanced accuracy is the mean of per-class recall, so each class counts the same.',
  };
}
