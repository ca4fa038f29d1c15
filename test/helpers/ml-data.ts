/**
 * Deterministic test data for the ML core, generated the same way by scripts/reference/ml_reference.py
 * (mulberry32 uniforms, Irwin–Hall normals: only + and ×, so both languages produce identical doubles).
 */
import { createRng } from '../../src/ml/random';

/** n uniforms in [0, 1) from a seed. */
export function uniforms(seed: number, n: number): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: n }, () => rng.next());
}

/** n approximately normal values (sum of 12 uniforms − 6), scaled and shifted. */
export function normals(seed: number, n: number, mean = 0, sd = 1): Float64Array {
  const rng = createRng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 12; k++) s += rng.next();
    out[i] = (s - 6) * sd + mean;
  }
  return out;
}

/** Rounds half up to `digits` decimals (floor(x·10^d + 0.5) / 10^d, identical in Python). */
export function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.floor(x * f + 0.5) / f;
}

/** The binary classification case: labels 0/1 and tied scores in [0, 1]. */
export function binaryCase(): { yTrue: number[]; scores: number[] } {
  const u = uniforms(101, 400);
  const yTrue: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < 200; i++) {
    const y = u[2 * i] < 0.4 ? 1 : 0;
    yTrue.push(y);
    scores.push(roundTo(0.3 * y + 0.7 * u[2 * i + 1], 2));
  }
  return { yTrue, scores };
}

/** The multiclass case: three string classes and probability rows that favour the true class. */
export function multiclassCase(): { yTrue: string[]; proba: number[][]; labels: string[] } {
  const labels = ['bird', 'cat', 'dog'];
  const u = uniforms(202, 1200);
  const yTrue: string[] = [];
  const proba: number[][] = [];
  for (let i = 0; i < 300; i++) {
    const c = Math.floor(u[4 * i] * 3);
    yTrue.push(labels[c]);
    const w = [0, 1, 2].map((k) => u[4 * i + 1 + k] + (k === c ? 0.8 : 0));
    const s = w[0] + w[1] + w[2];
    proba.push(w.map((x) => x / s));
  }
  return { yTrue, proba, labels };
}

/** The regression case. */
export function regressionCase(): { yTrue: number[]; yPred: number[] } {
  const a = normals(303, 250, 10, 3);
  const noise = normals(304, 250, 0, 1);
  return { yTrue: Array.from(a), yPred: Array.from(a, (x, i) => 0.9 * x + 1 + noise[i]) };
}

/** Categorical samples: thresholds on uniforms give categories a, b, c (and d when `withNew`). */
export function categories(seed: number, n: number, cuts: number[], names: string[]): string[] {
  return Array.from(uniforms(seed, n), (x) => {
    for (let k = 0; k < cuts.length; k++) if (x < cuts[k]) return names[k];
    return names[names.length - 1];
  });
}

/** The numeric drift cases, by name: reference and current samples. */
export function driftCases(): Record<string, { reference: Float64Array; current: Float64Array }> {
  const round1 = (a: Float64Array): Float64Array => a.map((x) => roundTo(x, 1));
  return {
    exactUnequal: { reference: normals(11, 5000), current: normals(12, 4000, 0.1, 1.1) },
    asymptotic: { reference: normals(21, 20000), current: normals(22, 15000, 0.02, 1) },
    equalSizes: { reference: normals(31, 1000), current: normals(32, 1000, 0.1, 1) },
    ties: { reference: round1(normals(41, 3000)), current: round1(normals(42, 2500, 0.05, 1)) },
    small: { reference: normals(51, 30), current: normals(52, 45, 0.5, 1) },
    asymptoticSmallEffective: { reference: normals(61, 50000), current: normals(62, 60, 0.3, 1) },
  };
}

/** The categorical drift case. */
export function categoricalDriftCase(): { reference: string[]; current: string[] } {
  return {
    reference: categories(71, 3000, [0.5, 0.8], ['a', 'b', 'c']),
    current: categories(72, 2000, [0.45, 0.75, 0.97], ['a', 'b', 'c', 'd']),
  };
}
