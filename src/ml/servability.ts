/**
 * The servability check's judgement (after TFX's InfraValidator): are a model's predictions well formed
 * (one per row, finite, probabilities that sum to one over its classes), and does the model, run as the
 * server runs it, agree with what the program that trained it predicted for the same rows? Pure: the
 * stage (src/activities/servability.ts) loads the model and the rows, this module only compares.
 */
import { FailureType, MlopsError } from '../errors';
import type { Predictions } from './predictor';
import type { Task } from './types';

/** Probabilities may differ from the program's own by this much (absolute). */
export const PROBABILITY_TOLERANCE = 1e-4;
/** Regression values may differ from the program's own by this much, relative to their size. */
export const VALUE_TOLERANCE = 1e-4;
/** How far a row's probabilities may sum from 1 (float32 outputs summed over many classes). */
export const SUM_TOLERANCE = 1e-3;

/** What the program predicted for one of its check rows (a line of check_predictions.jsonl). */
export interface CheckPrediction {
  label?: string;
  probabilities?: number[];
  value?: number;
}

/** One row where our run of the model and the program disagree. */
export interface Disagreement {
  /** The row's position in the check rows (0-based). */
  row: number;
  /** What the stored model predicts for it, run as the server runs it. */
  ours: CheckPrediction;
  /** What the program that trained it said. */
  theirs: CheckPrediction;
  /** Why they disagree, e.g. "labels differ" or "probability of "Adelie" differs by 0.0312". */
  why: string;
}

/** Every way predictions for `rows` rows are malformed, one sentence each (at most a few examples per kind). */
export function predictionProblems(task: Task, classes: readonly string[], p: Predictions, rows: number): string[] {
  const problems: string[] = [];
  const examples = (what: string, bad: number[]) =>
    bad.length && problems.push(`${what} in ${bad.length} row(s), e.g. row${bad.length > 1 ? 's' : ''} ${bad.slice(0, 5).join(', ')}`);
  if (task === 'regression') {
    if (!p.values || p.values.length !== rows) return [`expected ${rows} predicted values, got ${p.values?.length ?? 'none'}`];
    examples(
      'a value that is not a finite number',
      indices(rows, (i) => !Number.isFinite(p.values![i])),
    );
    return problems;
  }
  if (!p.probabilities || p.probabilities.length !== rows)
    return [`expected probabilities for ${rows} rows, got ${p.probabilities?.length ?? 'none'}`];
  if (!p.labels || p.labels.length !== rows) problems.push(`expected ${rows} predicted labels, got ${p.labels?.length ?? 'none'}`);
  const probs = p.probabilities;
  examples(
    `a number of probabilities other than ${classes.length} (one per class)`,
    indices(rows, (i) => probs[i]?.length !== classes.length),
  );
  const outside = (v: number) => !Number.isFinite(v) || v < -SUM_TOLERANCE || v > 1 + SUM_TOLERANCE;
  examples(
    'a probability that is not a finite number in [0, 1]',
    indices(rows, (i) => (probs[i] ?? []).some(outside)),
  );
  const sum = (i: number) => (probs[i] ?? []).reduce((s, v) => s + v, 0);
  examples(
    `probabilities that do not sum to 1 (within ${SUM_TOLERANCE})`,
    indices(rows, (i) => Math.abs(sum(i) - 1) > SUM_TOLERANCE),
  );
  if (p.labels)
    examples(
      `a label that is not one of the classes (${classes.join(', ')})`,
      indices(rows, (i) => !classes.includes(p.labels![i]!)),
    );
  return problems;
}

function indices(n: number, bad: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (bad(i)) out.push(i);
  return out;
}

/** Parses check_predictions.jsonl; a malformed line fails naming it, since the program broke the contract. */
export function parseCheckPredictions(text: string, task: Task, classes: readonly string[]): CheckPrediction[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw badCheck(i, 'is not JSON');
    }
    const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    if (task === 'regression') {
      if (typeof o.value !== 'number') throw badCheck(i, 'needs {"value": <number>}');
      return { value: o.value };
    }
    const probabilities = o.probabilities;
    if (!Array.isArray(probabilities) || probabilities.some((p) => typeof p !== 'number') || probabilities.length !== classes.length) {
      throw badCheck(i, `needs "probabilities": ${classes.length} numbers, one per class in signature.json's "classes" order`);
    }
    if (o.label !== undefined && !['string', 'number', 'boolean'].includes(typeof o.label))
      throw badCheck(i, 'has a "label" that is not a class');
    return { label: o.label === undefined ? undefined : String(o.label), probabilities: probabilities as number[] };
  });
}

function badCheck(line: number, what: string): MlopsError {
  return new MlopsError(FailureType.InvalidInput, `check_predictions.jsonl line ${line + 1} ${what} (see docs/external-trainers.md).`, {
    line: line + 1,
  });
}

/**
 * Compares our predictions for the check rows with the program's: labels identical (when the program
 * gave one), each probability within PROBABILITY_TOLERANCE, values within VALUE_TOLERANCE relative.
 */
export function compareWithCheck(
  task: Task,
  classes: readonly string[],
  ours: Predictions,
  theirs: CheckPrediction[],
): { disagreements: Disagreement[]; problems: string[] } {
  const n = task === 'regression' ? (ours.values?.length ?? 0) : (ours.probabilities?.length ?? 0);
  if (n !== theirs.length)
    return { disagreements: [], problems: [`the program predicted ${theirs.length} check rows, but there are ${n}`] };
  const disagreements: Disagreement[] = [];
  for (let i = 0; i < n; i++) {
    const t = theirs[i]!;
    if (task === 'regression') {
      const a = ours.values![i]!;
      const b = t.value!;
      const allowed = VALUE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b), 1e-12);
      const why = `values differ by ${relative(a, b)} (relative), more than ${VALUE_TOLERANCE}`;
      if (!(Math.abs(a - b) <= allowed)) disagreements.push({ row: i, ours: { value: a }, theirs: t, why });
      continue;
    }
    const mine: CheckPrediction = { label: ours.labels?.[i], probabilities: ours.probabilities![i] };
    if (t.label !== undefined && mine.label !== t.label) {
      disagreements.push({ row: i, ours: mine, theirs: t, why: `labels differ: "${mine.label}" against "${t.label}"` });
      continue;
    }
    let worst = -1;
    let by = 0;
    classes.forEach((_, k) => {
      const d = Math.abs(mine.probabilities![k]! - t.probabilities![k]!);
      const gap = Number.isNaN(d) ? Infinity : d;
      if (gap > by) [worst, by] = [k, gap];
    });
    if (worst >= 0 && by > PROBABILITY_TOLERANCE) {
      const amount = Number.isFinite(by) ? by.toPrecision(3) : 'an undefined amount (NaN)';
      disagreements.push({
        row: i,
        ours: mine,
        theirs: t,
        why: `probability of "${classes[worst]}" differs by ${amount}, more than ${PROBABILITY_TOLERANCE}`,
      });
    }
  }
  return { disagreements, problems: [] };
}

function relative(a: number, b: number): string {
  return (Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12)).toPrecision(3);
}
