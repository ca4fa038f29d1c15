/**
 * Turns what the evaluator has in hand (a model, the holdout frame, the training data's profile)
 * into the plain data a model card draws: ROC curves or residuals, and per-column histograms on the
 * profile's bins, binned exactly as the drift monitor bins them.
 */
import { binCounts, psiFromCounts } from '../ml/drift';
import { rocCurvesByClass } from '../ml/curves';
import { classLabels } from '../ml/evaluate';
import type { DatasetProfile, NumericColumnProfile } from '../ml/profile';
import type { Predictions, Predictor } from '../ml/predictor';
import type { Frame } from '../ml/types';
import { date, short } from './html';
import type { DriftComparison, HistogramComparison, ResidualSample, RocSeries } from './types';

/** Most residuals a card plots; larger holdouts are sampled evenly. */
export const MAX_RESIDUAL_POINTS = 2000;

/** Most categories drawn per column; the rest are summed into one bar. */
export const MAX_CATEGORY_BARS = 12;

/** A model's ROC curves (classification) or residuals (regression) on a frame holding its features and target. */
export function holdoutDiagnostics(
  model: Pick<Predictor, 'schema' | 'task' | 'classes'>,
  frame: Frame,
  p: Predictions,
): { roc?: RocSeries[]; residuals?: ResidualSample } {
  const target = frame.columns[model.schema.target];
  if (!target) throw new Error(`the holdout has no target column "${model.schema.target}"`);
  if (model.task === 'regression') return { residuals: residualSample(target as Float64Array, p.values!) };
  // As in the evaluation, rows without a label cannot be scored.
  const labels = classLabels(frame, model.schema);
  const keep: number[] = [];
  labels.forEach((l, i) => l !== null && keep.push(i));
  if (keep.length === 0) return {};
  const curves = rocCurvesByClass(
    keep.map((i) => labels[i]!),
    keep.map((i) => p.probabilities![i]!),
    [...model.classes],
  );
  const positives = new Map<string, number>();
  for (const i of keep) positives.set(String(labels[i]), (positives.get(String(labels[i])) ?? 0) + 1);
  return {
    roc: curves.map((c) => ({
      label: String(c.label),
      fpr: c.curve.fpr,
      tpr: c.curve.tpr,
      auc: c.auc,
      positives: positives.get(String(c.label)) ?? 0,
    })),
  };
}

/** Residuals of the rows with a known target, at most `max` of them, evenly spaced through the rows. */
export function residualSample(actual: ArrayLike<number>, predicted: ArrayLike<number>, max = MAX_RESIDUAL_POINTS): ResidualSample {
  const rows: number[] = [];
  for (let i = 0; i < actual.length; i++) if (Number.isFinite(actual[i]) && Number.isFinite(predicted[i])) rows.push(i);
  const take = rows.length <= max ? rows : Array.from({ length: max }, (_, k) => rows[Math.floor((k * rows.length) / max)]!);
  return { predicted: take.map((i) => predicted[i]), residual: take.map((i) => actual[i] - predicted[i]), rows: rows.length };
}

/**
 * Each column of `frame` against the same column of `profile`: numeric columns on the profile's
 * quantile bins (the outer bins open-ended, as the drift monitor bins them), categorical columns per
 * category. Columns missing on either side, or without values, are listed as skipped.
 */
export function compareWithProfile(
  profile: DatasetProfile,
  frame: Frame,
  columns: string[],
  names: { reference: string; current: string },
): DriftComparison {
  const out: DriftComparison = { ...names, columns: [], skipped: [] };
  for (const name of columns) {
    const col = profile.columns.find((c) => c.name === name);
    const values = frame.columns[name];
    let result: HistogramComparison | string;
    if (!col) result = `not in the ${names.reference} profile`;
    else if (!values) result = `not in the ${names.current}`;
    else if (col.kind === 'numeric')
      result = values instanceof Float64Array ? numericComparison(col, values) : 'categorical here but numeric in the profile';
    else
      result =
        values instanceof Float64Array
          ? 'numeric here but categorical in the profile'
          : categoricalComparison(name, col.frequencies, values);
    if (typeof result === 'string') out.skipped!.push({ column: name, reason: result });
    else out.columns.push(result);
  }
  return out;
}

function numericComparison(col: NumericColumnProfile, values: Float64Array): HistogramComparison | string {
  if (col.histogram.edges.length === 0) return 'no values in the profile';
  const current = values.filter((v) => !Number.isNaN(v)).sort();
  if (current.length === 0) return 'no values to compare';
  const counts = binCounts(col.histogram, current);
  const edges = col.histogram.edges;
  // Quantile edges of dates fall between midnights; over more than a few days the day is what matters.
  const days = col.max !== null && col.min !== null && col.max - col.min > 3 * 86_400_000;
  const fmt = col.type === 'datetime' ? (v: number) => date(v, days) : short;
  const psi = psiFromCounts(counts.reference, counts.current);
  if (counts.reference.length === 3 && (edges.length === 1 || edges[0] === edges[edges.length - 1])) {
    const v = fmt(edges[0]!);
    return { column: col.name, bins: [`< ${v}`, `= ${v}`, `> ${v}`], reference: counts.reference, current: counts.current, psi };
  }
  const last = counts.reference.length - 1;
  const bins = counts.reference.map((_, i) =>
    last === 0
      ? `${fmt(edges[0]!)} – ${fmt(edges[1]!)}`
      : i === 0
        ? `< ${fmt(edges[1]!)}`
        : i === last
          ? `≥ ${fmt(edges[i]!)}`
          : `${fmt(edges[i]!)} – ${fmt(edges[i + 1]!)}`,
  );
  // The outer bins are open-ended, so only the inner edges bound bars on both sides.
  return { column: col.name, bins, edges: edges.slice(1, -1).map(fmt), reference: counts.reference, current: counts.current, psi };
}

function categoricalComparison(
  name: string,
  frequencies: { value: string; count: number }[],
  values: (string | null)[],
): HistogramComparison | string {
  const current = new Map<string, number>();
  for (const v of values) if (v !== null) current.set(v, (current.get(v) ?? 0) + 1);
  if (current.size === 0) return 'no values to compare';
  if (frequencies.length === 0) return 'no values in the profile';
  const reference = new Map(frequencies.map((f) => [f.value, f.count]));
  const added = [...current.entries()].filter(([v]) => !reference.has(v)).sort((a, b) => b[1] - a[1]);
  const categories = [...frequencies.map((f) => f.value), ...added.map(([v]) => v)];
  const ref = categories.map((c) => reference.get(c) ?? 0);
  const cur = categories.map((c) => current.get(c) ?? 0);
  const psi = psiFromCounts(ref, cur);
  if (categories.length <= MAX_CATEGORY_BARS) return { column: name, bins: categories, reference: ref, current: cur, psi };
  const shown = MAX_CATEGORY_BARS - 1;
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  return {
    column: name,
    bins: [...categories.slice(0, shown), `${categories.length - shown} others`],
    reference: [...ref.slice(0, shown), sum(ref.slice(shown))],
    current: [...cur.slice(0, shown), sum(cur.slice(shown))],
    psi,
  };
}
