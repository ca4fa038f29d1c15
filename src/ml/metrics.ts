/**
 * Evaluation metrics, defined exactly as scikit-learn 1.9 defines them, edge cases included
 * (each function's comment says how). Inputs are plain arrays; labels are strings or numbers.
 *
 * Label order: like `np.unique`, numbers sort numerically and strings by code unit; classes are
 * the sorted union of the true and predicted labels unless `labels` is given.
 * Empty inputs raise `MlopsInvalidInput` (scikit-learn raises ValueError).
 */
import { FailureType, MlopsError } from '../errors';

/** A class label. */
export type Label = string | number;

function checkLengths(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length === 0) throw new MlopsError(FailureType.InvalidInput, `${what}: no samples`);
  if (a.length !== b.length) {
    throw new MlopsError(FailureType.InvalidInput, `${what}: ${a.length} true values but ${b.length} predictions`);
  }
}

/** The distinct labels of two arrays, without copying them. */
function distinct(a: ArrayLike<Label>, b: ArrayLike<Label>): Set<Label> {
  const seen = new Set<Label>();
  for (let i = 0; i < a.length; i++) seen.add(a[i]);
  for (let i = 0; i < b.length; i++) seen.add(b[i]);
  return seen;
}

/** Sorts labels like np.unique (numbers numerically, strings by code unit). */
export function sortLabels(labels: Iterable<Label>): Label[] {
  const unique = [...new Set(labels)];
  const numeric = unique.every((l) => typeof l === 'number');
  if (!numeric && unique.some((l) => typeof l === 'number')) {
    throw new MlopsError(FailureType.InvalidInput, 'Labels mix numbers and strings; use one kind');
  }
  return numeric ? (unique as number[]).sort((a, b) => a - b) : (unique as string[]).sort();
}

/** The rows and columns of a confusion matrix for the labels that occur, in `sortLabels` order. */
function unionMatrix({ labels, matrix }: ConfusionMatrix): number[][] {
  const occurs = labels.filter((_, i) => matrix[i].some((v) => v > 0) || matrix.some((row) => row[i] > 0));
  const at = sortLabels(occurs).map((l) => labels.indexOf(l));
  return at.map((r) => at.map((c) => matrix[r][c]));
}

/** Confusion matrix: `matrix[i][j]` counts samples of true class `labels[i]` predicted as `labels[j]`. */
export interface ConfusionMatrix {
  labels: Label[];
  matrix: number[][];
}

/**
 * Confusion matrix (sklearn.metrics.confusion_matrix). Labels default to the sorted union of true
 * and predicted labels; samples whose labels are not in `labels` are ignored.
 */
export function confusionMatrix(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>, labels?: Label[]): ConfusionMatrix {
  checkLengths(yTrue, yPred, 'confusion matrix');
  const classes = labels ?? sortLabels(distinct(yTrue, yPred));
  const index = new Map<Label, number>(classes.map((l, i) => [l, i]));
  const matrix = classes.map(() => new Array<number>(classes.length).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i]);
    const p = index.get(yPred[i]);
    if (t !== undefined && p !== undefined) matrix[t][p]++;
  }
  return { labels: classes, matrix };
}

/** Fraction of exact matches (sklearn.metrics.accuracy_score). */
export function accuracy(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>): number {
  checkLengths(yTrue, yPred, 'accuracy');
  let hits = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / yTrue.length;
}

/**
 * Mean recall over the classes present in `yTrue` (sklearn.metrics.balanced_accuracy_score,
 * adjusted=False). Classes that appear only in the predictions have no recall and are left out.
 */
export function balancedAccuracy(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>): number {
  return balancedAccuracyOf(confusionMatrix(yTrue, yPred).matrix);
}

/** Balanced accuracy from the confusion matrix over the sorted union of true and predicted labels. */
function balancedAccuracyOf(matrix: number[][]): number {
  let sum = 0;
  let classes = 0;
  matrix.forEach((row, i) => {
    const support = row.reduce((s, v) => s + v, 0);
    if (support > 0) {
      sum += row[i] / support;
      classes++;
    }
  });
  return sum / classes;
}

/**
 * Unweighted mean of per-class F1 over the sorted union of true and predicted labels
 * (sklearn.metrics.f1_score, average='macro'). Per class F1 = 2·TP / (2·TP + FP + FN); a class with
 * no true and no predicted samples cannot occur in the union, and a class that was never predicted
 * correctly scores 0 (sklearn's zero_division default).
 */
export function macroF1(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>): number {
  return macroF1Of(confusionMatrix(yTrue, yPred).matrix);
}

/** Macro F1 from the confusion matrix over the sorted union of true and predicted labels. */
function macroF1Of(matrix: number[][]): number {
  const k = matrix.length;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const tp = matrix[c][c];
    let fn = 0;
    let fp = 0;
    for (let j = 0; j < k; j++) {
      if (j !== c) {
        fn += matrix[c][j];
        fp += matrix[j][c];
      }
    }
    const denom = 2 * tp + fp + fn;
    sum += denom === 0 ? 0 : (2 * tp) / denom;
  }
  return sum / k;
}

/**
 * Mean negative log-likelihood of the true class (sklearn.metrics.log_loss). `proba[i][j]` is the
 * predicted probability of `labels[j]` for sample i; for two classes a plain array of the
 * probability of `labels[1]` is accepted. Probabilities are clipped to [ε, 1 − ε] with ε the float64
 * machine epsilon (2.22e-16), and rows are not renormalised (sklearn ≥ 1.5 only warns when they do
 * not sum to 1). Probabilities outside [0, 1] and true labels not in `labels` raise.
 */
export function logLoss(yTrue: ArrayLike<Label>, proba: ArrayLike<number> | ArrayLike<ArrayLike<number>>, labels: Label[]): number {
  checkLengths(yTrue, proba, 'log loss');
  const index = new Map<Label, number>(labels.map((l, i) => [l, i]));
  const eps = Number.EPSILON;
  let total = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const c = index.get(yTrue[i]);
    if (c === undefined)
      throw new MlopsError(FailureType.InvalidInput, `log loss: true label ${JSON.stringify(yTrue[i])} is not one of the labels`);
    const row = proba[i];
    let p: number;
    if (typeof row === 'number') {
      if (labels.length !== 2) throw new MlopsError(FailureType.InvalidInput, 'log loss: a 1-D probability array needs exactly two labels');
      checkProbability(row);
      p = c === 1 ? row : 1 - row;
    } else {
      if (row.length !== labels.length) {
        throw new MlopsError(FailureType.InvalidInput, `log loss: row ${i} has ${row.length} probabilities for ${labels.length} labels`);
      }
      for (let j = 0; j < row.length; j++) checkProbability(row[j]);
      p = row[c];
    }
    total -= Math.log(Math.min(Math.max(p, eps), 1 - eps));
  }
  return total / yTrue.length;
}

function checkProbability(p: number): void {
  if (!(p >= 0 && p <= 1)) throw new MlopsError(FailureType.InvalidInput, `log loss: probability ${p} is outside [0, 1]`);
}

/**
 * Area under the ROC curve for a binary problem (sklearn.metrics.roc_auc_score). `positive` is the
 * positive class (default: the larger of the two labels, as sklearn). Tied scores count one half,
 * which equals sklearn's trapezoidal area over the ROC curve with ties collapsed into one point.
 * When `yTrue` has only one class the AUC is undefined: NaN (sklearn warns and returns nan).
 */
export function rocAuc(yTrue: ArrayLike<Label>, scores: ArrayLike<number>, positive?: Label): number {
  checkLengths(yTrue, scores, 'ROC AUC');
  const classes = sortLabels(Array.from(yTrue));
  if (classes.length > 2) throw new MlopsError(FailureType.InvalidInput, 'ROC AUC: more than two classes; use rocAucOvr');
  const pos = positive ?? classes[classes.length - 1];
  const isPositive = Array.from(yTrue, (y) => y === pos);
  return binaryAuc(isPositive, scores);
}

/**
 * The scores of the positive and of the negative samples, each sorted ascending. Two typed-array sorts cost a
 * fraction of sorting row indices with a comparator, which at millions of holdout rows held the event loop
 * (and the validate stage's heartbeat) for seconds.
 */
export function scoresBySide(isPositive: (i: number) => boolean, scores: ArrayLike<number>): { pos: Float64Array; neg: Float64Array } {
  const n = scores.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) if (isPositive(i)) nPos++;
  const pos = new Float64Array(nPos);
  const neg = new Float64Array(n - nPos);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (isPositive(i)) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  return { pos: pos.sort(), neg: neg.sort() };
}

/**
 * Mann–Whitney form of the AUC with average ranks for ties: each positive counts the negatives scored below it,
 * and half of those scored the same. The sums are of halves, exact in doubles, so this is the rank-sum formula's
 * number to the last bit.
 */
function binaryAuc(isPositive: boolean[], scores: ArrayLike<number>): number {
  const { pos, neg } = scoresBySide((i) => isPositive[i], scores);
  const nPos = pos.length;
  const nNeg = neg.length;
  if (nPos === 0 || nNeg === 0) return NaN;
  let numerator = 0;
  for (let i = 0, below = 0; i < nPos;) {
    const s = pos[i];
    let end = i + 1;
    while (end < nPos && pos[end] === s) end++;
    while (below < nNeg && neg[below] < s) below++;
    let tied = below;
    while (tied < nNeg && neg[tied] === s) tied++;
    numerator += (end - i) * (below + (tied - below) / 2);
    i = end;
  }
  return numerator / (nPos * nNeg);
}

/**
 * Macro-averaged one-vs-rest ROC AUC for multiclass probabilities (sklearn roc_auc_score with
 * multi_class='ovr', average='macro'): the unweighted mean of the binary AUC of each class against
 * the rest, using column j of `proba` (the probability of `labels[j]`). As in sklearn, rows must sum
 * to 1 (within 1e-5 relative, np.allclose's default tolerance); a class absent from `yTrue` makes its
 * AUC, and so the mean, NaN.
 */
export function rocAucOvr(yTrue: ArrayLike<Label>, proba: ArrayLike<ArrayLike<number>>, labels: Label[]): number {
  checkLengths(yTrue, proba, 'ROC AUC');
  for (let i = 0; i < proba.length; i++) {
    let s = 0;
    for (let j = 0; j < proba[i].length; j++) s += proba[i][j];
    if (Math.abs(s - 1) > 1e-8 + 1e-5) {
      throw new MlopsError(FailureType.InvalidInput, `ROC AUC: probabilities of row ${i} sum to ${s}, not 1`);
    }
  }
  if (labels.length === 2)
    return rocAuc(
      yTrue,
      Array.from(proba, (r) => r[1]),
      labels[1],
    );
  let sum = 0;
  labels.forEach((label, j) => {
    sum += binaryAuc(
      Array.from(yTrue, (y) => y === label),
      Array.from(proba, (r) => r[j]),
    );
  });
  return sum / labels.length;
}

function checkNumeric(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, what: string): void {
  checkLengths(yTrue, yPred, what);
  for (let i = 0; i < yTrue.length; i++) {
    if (!Number.isFinite(yTrue[i]) || !Number.isFinite(yPred[i])) {
      throw new MlopsError(FailureType.InvalidInput, `${what}: value ${i} is not a finite number`);
    }
  }
}

/** Root mean squared error (sklearn.metrics.root_mean_squared_error). */
export function rmse(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkNumeric(yTrue, yPred, 'RMSE');
  let s = 0;
  for (let i = 0; i < yTrue.length; i++) s += (yTrue[i] - yPred[i]) ** 2;
  return Math.sqrt(s / yTrue.length);
}

/** Mean absolute error (sklearn.metrics.mean_absolute_error). */
export function mae(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkNumeric(yTrue, yPred, 'MAE');
  let s = 0;
  for (let i = 0; i < yTrue.length; i++) s += Math.abs(yTrue[i] - yPred[i]);
  return s / yTrue.length;
}

/**
 * Coefficient of determination 1 − SS_res / SS_tot (sklearn.metrics.r2_score, force_finite=True).
 * Fewer than two samples: NaN (sklearn warns and returns nan). Constant `yTrue` (SS_tot = 0): 1 when
 * the predictions are perfect, else 0, instead of ±infinity.
 */
export function r2(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkNumeric(yTrue, yPred, 'R²');
  const n = yTrue.length;
  if (n < 2) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i];
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    ssRes += (yTrue[i] - yPred[i]) ** 2;
    ssTot += (yTrue[i] - mean) ** 2;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

/** The classification metrics an evaluation reports. */
export interface ClassificationMetrics {
  accuracy: number;
  balancedAccuracy: number;
  macroF1: number;
  logLoss: number;
  /** Binary AUC, or macro one-vs-rest AUC for more classes; null when undefined (one class present). */
  rocAuc: number | null;
  confusionMatrix: ConfusionMatrix;
}

/** Every classification metric from true labels and predicted probabilities (columns in `labels` order). */
export function classificationMetrics(
  yTrue: ArrayLike<Label>,
  proba: ArrayLike<ArrayLike<number>>,
  labels: Label[],
): ClassificationMetrics {
  checkLengths(yTrue, proba, 'classification metrics');
  const yPred = Array.from(proba, (row) => {
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
    return labels[best];
  });
  const auc =
    labels.length === 2
      ? rocAuc(
          yTrue,
          Array.from(proba, (r) => r[1]),
          labels[1],
        )
      : rocAucOvr(yTrue, proba, labels);
  // One pass over the rows counts the confusion matrix; the union-of-labels matrix the balanced accuracy and
  // macro F1 are defined on is read from it (every true label is one of `labels`, or the log loss refuses it).
  const full = confusionMatrix(yTrue, yPred, labels);
  const counted = full.matrix.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  const union = counted === yTrue.length ? unionMatrix(full) : confusionMatrix(yTrue, yPred).matrix;
  return {
    accuracy: accuracy(yTrue, yPred),
    balancedAccuracy: balancedAccuracyOf(union),
    macroF1: macroF1Of(union),
    logLoss: logLoss(yTrue, proba, labels),
    rocAuc: Number.isNaN(auc) ? null : auc,
    confusionMatrix: full,
  };
}

/** The regression metrics an evaluation reports (R² null when undefined). */
export interface RegressionMetrics {
  rmse: number;
  mae: number;
  r2: number | null;
}

/** Every regression metric. */
export function regressionMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): RegressionMetrics {
  const r = r2(yTrue, yPred);
  return { rmse: rmse(yTrue, yPred), mae: mae(yTrue, yPred), r2: Number.isNaN(r) ? null : r };
}
