/**
 * Data drift between a reference (the training data's profile, plus a sample of its values) and
 * current data: PSI, the two-sample Kolmogorov–Smirnov test and the Wasserstein-1 distance for
 * numeric features; PSI and a chi-square test for categorical ones. Thresholds per feature turn the
 * numbers into `breached` flags. Formulas, binning and epsilon conventions: docs/drift.md.
 */
import { FailureType, MlopsError } from '../errors';
import {
  lowerBound,
  upperBound,
  type CategoricalColumnProfile,
  type DatasetProfile,
  type Histogram,
  type NumericColumnProfile,
} from './profile';
import { gcd, kolmogorovSf, ksTwoSampleExactSf } from './stats/kolmogorov';
import { chiSquareSf } from './stats/special';
import type { Column, Frame } from './types';

/** Floor applied to every bin proportion before PSI takes logarithms. */
export const PSI_EPSILON = 1e-4;

/** Largest sample size for which 'auto' uses the exact KS p-value (scipy's MAX_AUTO_N). */
export const KS_EXACT_MAX_N = 10_000;

/** Result of a two-sample Kolmogorov–Smirnov test. */
export interface KsResult {
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymp';
}

/** Result of a chi-square test of homogeneity. */
export interface ChiSquareResult {
  statistic: number;
  pValue: number;
  dof: number;
}

/** The non-NaN values, sorted ascending (a new array). */
export function finiteSorted(values: ArrayLike<number>, what = 'The data'): Float64Array {
  let n = 0;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) out[n++] = values[i];
  if (n === 0) throw new MlopsError(FailureType.InvalidInput, `${what} has no values to compare`);
  return out.subarray(0, n).sort();
}

/** Rounds half to even, like numpy.round. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The largest |F1 − F2| over the pooled values, for ascending samples. */
function ksStatisticSorted(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n1 && j < n2) {
    const x = a[i] <= b[j] ? a[i] : b[j];
    while (i < n1 && a[i] === x) i++;
    while (j < n2 && b[j] === x) j++;
    const diff = Math.abs(i / n1 - j / n2);
    if (diff > d) d = diff;
  }
  return d;
}

/**
 * Two-sample KS test, two-sided, as scipy.stats.ks_2samp. 'auto' is exact when both samples have at
 * most 10,000 values and asymptotic otherwise; 'asymp' uses the one-sample Kolmogorov distribution
 * with n = round(n1·n2 / (n1 + n2)) (scipy's kstwo.sf). The exact method reports the statistic
 * rounded to a multiple of 1/lcm(n1, n2), as scipy does. NaNs are dropped.
 */
export function ksTwoSample(
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  method: 'auto' | 'exact' | 'asymp' = 'auto',
): KsResult {
  return ksTwoSampleSorted(finiteSorted(reference, 'The reference'), finiteSorted(current, 'The current data'), method);
}

/** `ksTwoSample` for samples already sorted ascending without NaNs (saves the sort when shared). */
export function ksTwoSampleSorted(a: Float64Array, b: Float64Array, method: 'auto' | 'exact' | 'asymp' = 'auto'): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  let d = ksStatisticSorted(a, b);
  let mode = method === 'auto' ? (Math.max(n1, n2) <= KS_EXACT_MAX_N ? 'exact' : 'asymp') : method;
  const g = gcd(n1, n2);
  if (mode === 'exact' && n1 / g >= 2147483647 / (n2 / g)) mode = 'asymp';
  if (mode === 'exact') {
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    const p = ksTwoSampleExactSf(n1, n2, h);
    if (p >= 0 && p <= 1) return { statistic: h / lcm, pValue: p, method: 'exact' };
    mode = 'asymp';
    d = ksStatisticSorted(a, b);
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic: d, pValue: Math.min(1, Math.max(0, kolmogorovSf(roundHalfEven(en), d))), method: 'asymp' };
}

/**
 * First Wasserstein distance between two empirical distributions, ∫ |U(x) − V(x)| dx
 * (scipy.stats.wasserstein_distance without weights). NaNs are dropped.
 */
export function wasserstein(u: ArrayLike<number>, v: ArrayLike<number>): number {
  return wassersteinSorted(finiteSorted(u, 'The reference'), finiteSorted(v, 'The current data'));
}

function wassersteinSorted(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let total = 0;
  let prev = Math.min(a[0], b[0]);
  while (i < n1 || j < n2) {
    const x = j >= n2 || (i < n1 && a[i] <= b[j]) ? a[i] : b[j];
    total += Math.abs(i / n1 - j / n2) * (x - prev);
    while (i < n1 && a[i] === x) i++;
    while (j < n2 && b[j] === x) j++;
    prev = x;
  }
  return total;
}

/** PSI of two vectors of bin counts: Σ (q − p) ln(q / p) over proportions floored at `epsilon`. */
export function psiFromCounts(referenceCounts: ArrayLike<number>, currentCounts: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  let refTotal = 0;
  let curTotal = 0;
  for (let i = 0; i < referenceCounts.length; i++) {
    refTotal += referenceCounts[i];
    curTotal += currentCounts[i];
  }
  if (refTotal === 0 || curTotal === 0) throw new MlopsError(FailureType.InvalidInput, 'PSI needs at least one value on each side');
  let psi = 0;
  for (let i = 0; i < referenceCounts.length; i++) {
    const p = Math.max(referenceCounts[i] / refTotal, epsilon);
    const q = Math.max(currentCounts[i] / curTotal, epsilon);
    psi += (q - p) * Math.log(q / p);
  }
  return psi;
}

/**
 * Assigns values to the reference histogram's bins, extended to ±infinity at both ends: bin i holds
 * edges[i] ≤ x < edges[i+1] for inner edges. A reference with a single distinct value v gets three
 * bins instead: x < v, x = v, x > v. Returns the reference counts on the same bins too.
 */
export function binCounts(histogram: Histogram, currentSorted: Float64Array): { reference: number[]; current: number[] } {
  const { edges, counts } = histogram;
  if (edges.length === 0) throw new MlopsError(FailureType.InvalidInput, 'The reference histogram is empty');
  if (edges.length === 1 || edges[0] === edges[edges.length - 1]) {
    const v = edges[0];
    const below = lowerBound(currentSorted, v);
    const upto = upperBound(currentSorted, v);
    const total = counts.reduce((s, c) => s + c, 0);
    return { reference: [0, total, 0], current: [below, upto - below, currentSorted.length - upto] };
  }
  const current: number[] = [];
  let start = 0;
  for (let i = 1; i < edges.length - 1; i++) {
    const end = lowerBound(currentSorted, edges[i]);
    current.push(end - start);
    start = end;
  }
  current.push(currentSorted.length - start);
  return { reference: [...counts], current };
}

/** Numeric PSI of current values against a reference histogram (see `binCounts`). NaNs are dropped. */
export function numericPsi(histogram: Histogram, current: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  const { reference, current: cur } = binCounts(histogram, finiteSorted(current, 'The current data'));
  return psiFromCounts(reference, cur, epsilon);
}

function categoryCounts(values: ArrayLike<string | null>): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

/** Aligns two category-count maps on the union of their categories (reference order first, then new ones). */
function alignCategories(
  reference: Map<string, number>,
  current: Map<string, number>,
): { ref: number[]; cur: number[]; categories: string[] } {
  const categories = [...reference.keys()];
  for (const c of current.keys()) if (!reference.has(c)) categories.push(c);
  return { categories, ref: categories.map((c) => reference.get(c) ?? 0), cur: categories.map((c) => current.get(c) ?? 0) };
}

/** Categorical PSI over the union of categories (same formula and epsilon as numeric PSI). */
export function categoricalPsi(reference: Map<string, number>, current: Map<string, number>, epsilon = PSI_EPSILON): number {
  const { ref, cur } = alignCategories(reference, current);
  return psiFromCounts(ref, cur, epsilon);
}

/**
 * Chi-square test of homogeneity on the 2 × K table of reference and current counts over the union
 * of categories (scipy.stats.chi2_contingency with correction=False): statistic Σ (O − E)² / E with
 * E = row total · column total / N, K − 1 degrees of freedom. One category: statistic 0, p-value 1.
 */
export function chiSquareTest(reference: Map<string, number>, current: Map<string, number>): ChiSquareResult {
  const { ref, cur } = alignCategories(reference, current);
  const refTotal = ref.reduce((s, c) => s + c, 0);
  const curTotal = cur.reduce((s, c) => s + c, 0);
  if (refTotal === 0 || curTotal === 0) throw new MlopsError(FailureType.InvalidInput, 'A chi-square test needs values on both sides');
  const dof = ref.length - 1;
  if (dof === 0) return { statistic: 0, pValue: 1, dof };
  const total = refTotal + curTotal;
  let statistic = 0;
  for (let c = 0; c < ref.length; c++) {
    const column = ref[c] + cur[c];
    const eRef = (refTotal * column) / total;
    const eCur = (curTotal * column) / total;
    statistic += (ref[c] - eRef) ** 2 / eRef + (cur[c] - eCur) ** 2 / eCur;
  }
  return { statistic, pValue: chiSquareSf(statistic, dof), dof };
}

/** What a numeric feature is compared against. */
export interface NumericDriftReference {
  name: string;
  kind: 'numeric';
  /** Quantile histogram of the reference (from its profile). */
  histogram: Histogram;
  /** Reference values (or a sample) for KS and Wasserstein; without them only PSI is computed. */
  values?: ArrayLike<number>;
}

/** What a categorical feature is compared against. */
export interface CategoricalDriftReference {
  name: string;
  kind: 'categorical';
  frequencies: { value: string; count: number }[];
}

export type DriftReference = NumericDriftReference | CategoricalDriftReference;

/** Limits beyond which a feature counts as drifted; unset limits are not checked. */
export interface DriftThresholds {
  /** PSI above this breaches (default 0.2, the usual "significant shift" rule of thumb). */
  psi?: number;
  /** A KS p-value below this breaches. */
  ksPValue?: number;
  /** A KS statistic above this breaches. */
  ksStatistic?: number;
  /** A Wasserstein distance above this breaches (in the feature's units). */
  wasserstein?: number;
  /** A chi-square p-value below this breaches. */
  chiSquarePValue?: number;
}

/** Thresholds for all features, with per-feature overrides. */
export interface DriftOptions {
  thresholds?: DriftThresholds;
  perFeature?: Record<string, DriftThresholds>;
  /** KS p-value method (default 'auto', as scipy). */
  ksMethod?: 'auto' | 'exact' | 'asymp';
}

/** Drift of one feature. */
export interface FeatureDrift {
  feature: string;
  kind: 'numeric' | 'categorical';
  psi: number;
  ks?: KsResult;
  wasserstein?: number;
  chiSquare?: ChiSquareResult;
  breached: boolean;
  /** Human-readable reasons, e.g. "psi 0.31 > 0.2". */
  breaches: string[];
}

/** Drift of every feature. */
export interface DriftReport {
  breached: boolean;
  currentRows: number;
  features: FeatureDrift[];
}

/** Drift references from a training profile, with optional reference value samples for KS/Wasserstein. */
export function referenceFromProfile(
  profile: DatasetProfile,
  features: string[],
  samples: Record<string, ArrayLike<number>> = {},
): DriftReference[] {
  return features.map((name) => {
    const col = profile.columns.find((c) => c.name === name);
    if (!col) throw new MlopsError(FailureType.InvalidInput, `The reference profile has no column "${name}"`);
    if (col.kind === 'categorical') {
      return { name, kind: 'categorical', frequencies: (col as CategoricalColumnProfile).frequencies };
    }
    return { name, kind: 'numeric', histogram: (col as NumericColumnProfile).histogram, values: samples[name] };
  });
}

function round(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

/** Numeric drift statistics of one feature (values sorted once, shared by all statistics). */
export function numericDrift(
  reference: NumericDriftReference,
  current: ArrayLike<number>,
  method: 'auto' | 'exact' | 'asymp' = 'auto',
): Omit<FeatureDrift, 'breached' | 'breaches'> {
  const cur = finiteSorted(current, `Current data of "${reference.name}"`);
  const bins = binCounts(reference.histogram, cur);
  const out: Omit<FeatureDrift, 'breached' | 'breaches'> = {
    feature: reference.name,
    kind: 'numeric',
    psi: psiFromCounts(bins.reference, bins.current),
  };
  if (reference.values && reference.values.length > 0) {
    const ref = finiteSorted(reference.values, `Reference values of "${reference.name}"`);
    out.ks = ksTwoSampleSorted(ref, cur, method);
    out.wasserstein = wassersteinSorted(ref, cur);
  }
  return out;
}

/** Categorical drift statistics of one feature. */
export function categoricalDrift(
  reference: CategoricalDriftReference,
  current: ArrayLike<string | null>,
): Omit<FeatureDrift, 'breached' | 'breaches'> {
  const ref = new Map(reference.frequencies.map((f) => [f.value, f.count]));
  const cur = categoryCounts(current);
  return { feature: reference.name, kind: 'categorical', psi: categoricalPsi(ref, cur), chiSquare: chiSquareTest(ref, cur) };
}

function checkThresholds(stats: Omit<FeatureDrift, 'breached' | 'breaches'>, t: DriftThresholds): string[] {
  const reasons: string[] = [];
  const psiLimit = t.psi ?? 0.2;
  if (stats.psi > psiLimit) reasons.push(`psi ${round(stats.psi)} > ${psiLimit}`);
  if (stats.ks && t.ksPValue !== undefined && stats.ks.pValue < t.ksPValue)
    reasons.push(`ks p-value ${round(stats.ks.pValue)} < ${t.ksPValue}`);
  if (stats.ks && t.ksStatistic !== undefined && stats.ks.statistic > t.ksStatistic)
    reasons.push(`ks statistic ${round(stats.ks.statistic)} > ${t.ksStatistic}`);
  if (stats.wasserstein !== undefined && t.wasserstein !== undefined && stats.wasserstein > t.wasserstein) {
    reasons.push(`wasserstein ${round(stats.wasserstein)} > ${t.wasserstein}`);
  }
  if (stats.chiSquare && t.chiSquarePValue !== undefined && stats.chiSquare.pValue < t.chiSquarePValue) {
    reasons.push(`chi-square p-value ${round(stats.chiSquare.pValue)} < ${t.chiSquarePValue}`);
  }
  return reasons;
}

/** Compares current data (a Frame holding the reference's features) with the reference, feature by feature. */
export function driftReport(references: DriftReference[], current: Frame, options: DriftOptions = {}): DriftReport {
  const features = references.map((ref): FeatureDrift => {
    const column: Column | undefined = current.columns[ref.name];
    if (!column) throw new MlopsError(FailureType.InvalidInput, `The current data has no column "${ref.name}"`);
    let stats: Omit<FeatureDrift, 'breached' | 'breaches'>;
    if (ref.kind === 'numeric') {
      if (!(column instanceof Float64Array))
        throw new MlopsError(
          FailureType.InvalidInput,
          `Column "${ref.name}" is categorical in the current data but numeric in the reference`,
        );
      stats = numericDrift(ref, column, options.ksMethod);
    } else {
      if (column instanceof Float64Array)
        throw new MlopsError(
          FailureType.InvalidInput,
          `Column "${ref.name}" is numeric in the current data but categorical in the reference`,
        );
      stats = categoricalDrift(ref, column);
    }
    const thresholds = { ...options.thresholds, ...options.perFeature?.[ref.name] };
    const breaches = checkThresholds(stats, thresholds);
    return { ...stats, breached: breaches.length > 0, breaches };
  });
  return { breached: features.some((f) => f.breached), currentRows: current.rowCount, features };
}
