/**
 * ROC curves, defined as scikit-learn 1.9's `roc_curve` defines them, for the model card's charts.
 *
 * - Scores are ranked in descending order; tied scores form one point (one threshold).
 * - `dropIntermediate` (default true, as sklearn) removes points that lie on a straight
 *   horizontal or vertical segment between their neighbours; they do not change the curve's shape
 *   or area.
 * - A point (0, 0) with threshold +Infinity is prepended, so the curve starts where no sample is
 *   predicted positive.
 * - With no negative samples the false positive rates are NaN, with no positives the true positive
 *   rates are (sklearn warns and returns nan).
 * - Scores must be finite numbers (sklearn raises on NaN and infinity).
 */
import { FailureType, MlopsError } from '../errors';
import { scoresBySide, type Label } from './metrics';

/** Points of a ROC curve, by decreasing threshold; `thresholds[0]` is +Infinity. */
export interface RocCurve {
  fpr: number[];
  tpr: number[];
  thresholds: number[];
}

/** Options of `rocCurve`. */
export interface RocOptions {
  /** Drop points on straight segments between their neighbours (default true, as sklearn). */
  dropIntermediate?: boolean;
}

/** ROC curve of scores against one positive class (sklearn.metrics.roc_curve with `pos_label`). */
export function rocCurve(yTrue: ArrayLike<Label>, scores: ArrayLike<number>, positive: Label, options: RocOptions = {}): RocCurve {
  if (yTrue.length === 0) throw new MlopsError(FailureType.InvalidInput, 'ROC curve: no samples');
  if (yTrue.length !== scores.length)
    throw new MlopsError(FailureType.InvalidInput, `ROC curve: ${yTrue.length} true values but ${scores.length} scores`);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new MlopsError(FailureType.InvalidInput, `ROC curve: score ${i} is not a finite number`);
  }
  let { fps, tps, thresholds } = cumulativeCounts(yTrue, scores, positive);
  if ((options.dropIntermediate ?? true) && fps.length > 2) {
    const keep = cornerIndices(fps, tps);
    fps = keep.map((i) => fps[i]!);
    tps = keep.map((i) => tps[i]!);
    thresholds = keep.map((i) => thresholds[i]!);
  }
  fps.unshift(0);
  tps.unshift(0);
  thresholds.unshift(Infinity);
  const negatives = fps[fps.length - 1]!;
  const positives = tps[tps.length - 1]!;
  return {
    fpr: fps.map((f) => (negatives > 0 ? f / negatives : NaN)),
    tpr: tps.map((t) => (positives > 0 ? t / positives : NaN)),
    thresholds,
  };
}

/** False and true positives counted down to each distinct score, highest score first (sklearn's _binary_clf_curve). */
function cumulativeCounts(
  yTrue: ArrayLike<Label>,
  scores: ArrayLike<number>,
  positive: Label,
): { fps: number[]; tps: number[]; thresholds: number[] } {
  // Positives and negatives sorted apart (typed sorts), then walked down together, highest score first.
  const { pos, neg } = scoresBySide((i) => yTrue[i] === positive, scores);
  const fps: number[] = [];
  const tps: number[] = [];
  const thresholds: number[] = [];
  let a = pos.length - 1;
  let b = neg.length - 1;
  let tp = 0;
  let fp = 0;
  while (a >= 0 || b >= 0) {
    const v = a < 0 ? neg[b] : b < 0 ? pos[a] : Math.max(pos[a], neg[b]);
    // NaN sorts last, so it comes first here; it equals nothing, so NaN scores make one step of their own.
    const same = Number.isNaN(v) ? (x: number) => Number.isNaN(x) : (x: number) => x === v;
    while (a >= 0 && same(pos[a])) (tp++, a--);
    while (b >= 0 && same(neg[b])) (fp++, b--);
    tps.push(tp);
    fps.push(fp);
    thresholds.push(v);
  }
  return { fps, tps, thresholds };
}

/** Indices of the first point, the last, and every point where the curve changes direction. */
function cornerIndices(fps: number[], tps: number[]): number[] {
  const keep = [0];
  for (let i = 1; i < fps.length - 1; i++) {
    const bendsFp = fps[i - 1]! - 2 * fps[i]! + fps[i + 1]! !== 0;
    const bendsTp = tps[i - 1]! - 2 * tps[i]! + tps[i + 1]! !== 0;
    if (bendsFp || bendsTp) keep.push(i);
  }
  keep.push(fps.length - 1);
  return keep;
}

/** Area under a curve by the trapezoidal rule (sklearn.metrics.auc), for x sorted either way. */
export function trapezoidArea(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new MlopsError(FailureType.InvalidInput, `area: ${x.length} x values but ${y.length} y values`);
  if (x.length < 2) throw new MlopsError(FailureType.InvalidInput, 'area: at least 2 points are needed');
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return Math.abs(area);
}

/** One class's curve against the rest, with its area (NaN when the class or the rest is absent). */
export interface ClassRocCurve {
  label: Label;
  curve: RocCurve;
  auc: number;
}

/**
 * ROC curves of class probabilities (column j of `proba` is the probability of `labels[j]`): for two
 * classes the one curve of `labels[1]`, the positive class of roc_auc_score; for more, one curve per
 * class against the rest (multi_class='ovr').
 */
export function rocCurvesByClass(
  yTrue: ArrayLike<Label>,
  proba: ArrayLike<ArrayLike<number>>,
  labels: Label[],
  options: RocOptions = {},
): ClassRocCurve[] {
  const columns = labels.length === 2 ? [1] : labels.map((_, j) => j);
  return columns.map((j) => {
    const curve = rocCurve(
      yTrue,
      Array.from(proba, (row) => row[j]!),
      labels[j]!,
      options,
    );
    const defined = curve.fpr.every(Number.isFinite) && curve.tpr.every(Number.isFinite);
    return { label: labels[j]!, curve, auc: defined ? trapezoidArea(curve.fpr, curve.tpr) : NaN };
  });
}
