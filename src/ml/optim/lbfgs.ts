/**
 * A compact limited-memory BFGS minimiser for smooth unconstrained objectives (Nocedal & Wright, algorithms
 * 7.4 and 3.5/3.6): two-loop recursion over the last `memory` steps and a strong-Wolfe line search.
 *
 * It stops, like SciPy's L-BFGS-B as scikit-learn calls it, when the largest gradient component is at most
 * `gtol`, when an iteration lowers the objective by a relative amount of at most `ftol`, or after `maxIter`
 * iterations. Its whole state is plain JSON (`LbfgsState`), so a caller can checkpoint it after any iteration
 * and resume to exactly the same result: the arithmetic is deterministic and nothing else is remembered.
 */

/** Evaluates the objective at `x`, writing its gradient into `grad`, and returns its value. */
export type Objective = (x: Float64Array, grad: Float64Array) => number;

/** When to stop. */
export interface LbfgsOptions {
  maxIter: number;
  /** Stop when max |gradient component| ≤ gtol. */
  gtol: number;
  /** Stop when (f_prev − f) / max(|f_prev|, |f|, 1) ≤ ftol. */
  ftol: number;
  /** How many past steps approximate the inverse Hessian. */
  memory: number;
}

/** Everything needed to continue a minimisation after any completed iteration. */
export interface LbfgsState {
  x: number[];
  f: number;
  g: number[];
  /** Past steps x_{k+1} − x_k, oldest first. */
  s: number[][];
  /** Past gradient changes g_{k+1} − g_k, oldest first. */
  y: number[][];
  iteration: number;
  /** Why it stopped, once it has. */
  stopped?: 'gtol' | 'ftol' | 'maxIter' | 'lineSearch';
}

/** Optional hooks: resume from a saved state, and observe (e.g. checkpoint) each completed iteration. */
export interface LbfgsHooks {
  start?: LbfgsState;
  onIteration?: (state: LbfgsState) => void | Promise<void>;
}

export const DEFAULT_LBFGS_OPTIONS: LbfgsOptions = { maxIter: 100, gtol: 1e-4, ftol: 64 * Number.EPSILON, memory: 10 };

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LINE_SEARCH = 30;

/** Minimises `objective` from `x0` (or from `hooks.start`) and returns the final state. */
export async function minimizeLbfgs(
  objective: Objective,
  x0: Float64Array,
  options: Partial<LbfgsOptions> = {},
  hooks: LbfgsHooks = {},
): Promise<LbfgsState> {
  const opt = { ...DEFAULT_LBFGS_OPTIONS, ...options };
  const n = x0.length;
  let x: Float64Array;
  let g: Float64Array = new Float64Array(n);
  let f: number;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  let iteration = 0;
  if (hooks.start) {
    x = Float64Array.from(hooks.start.x);
    g = Float64Array.from(hooks.start.g);
    f = hooks.start.f;
    for (const s of hooks.start.s) S.push(Float64Array.from(s));
    for (const y of hooks.start.y) Y.push(Float64Array.from(y));
    iteration = hooks.start.iteration;
    if (hooks.start.stopped) return hooks.start;
  } else {
    x = Float64Array.from(x0);
    f = objective(x, g);
  }
  const snapshot = (stopped?: LbfgsState['stopped']): LbfgsState => ({
    x: Array.from(x),
    f,
    g: Array.from(g),
    s: S.map((v) => Array.from(v)),
    y: Y.map((v) => Array.from(v)),
    iteration,
    ...(stopped ? { stopped } : {}),
  });
  if (maxAbs(g) <= opt.gtol) return snapshot('gtol');

  const direction = new Float64Array(n);
  while (iteration < opt.maxIter) {
    twoLoop(g, S, Y, direction);
    let slope = dot(direction, g);
    if (!(slope < 0)) {
      // The curvature pairs no longer give a descent direction: forget them and go downhill.
      S.length = 0;
      Y.length = 0;
      for (let i = 0; i < n; i++) direction[i] = -g[i];
      slope = dot(direction, g);
    }
    const firstStep = S.length === 0 ? Math.min(1, 1 / Math.sqrt(dot(g, g))) : 1;
    const found = lineSearch(objective, x, f, g, direction, slope, firstStep);
    if (!found) return snapshot('lineSearch');
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = found.x[i] - x[i];
      y[i] = found.g[i] - g[i];
    }
    const fPrev = f;
    x = found.x;
    g = found.g;
    f = found.f;
    iteration++;
    if (dot(s, y) > 1e-10 * dot(y, y)) {
      S.push(s);
      Y.push(y);
      if (S.length > opt.memory) {
        S.shift();
        Y.shift();
      }
    }
    let stopped: LbfgsState['stopped'];
    if (maxAbs(g) <= opt.gtol) stopped = 'gtol';
    else if ((fPrev - f) / Math.max(Math.abs(fPrev), Math.abs(f), 1) <= opt.ftol) stopped = 'ftol';
    else if (iteration >= opt.maxIter) stopped = 'maxIter';
    const state = snapshot(stopped);
    if (hooks.onIteration) await hooks.onIteration(state);
    if (stopped) return state;
  }
  return snapshot('maxIter');
}

/** Two-loop recursion: writes −H·g into `out`, with H the L-BFGS inverse-Hessian approximation. */
function twoLoop(g: Float64Array, S: Float64Array[], Y: Float64Array[], out: Float64Array): void {
  const m = S.length;
  const alpha = new Float64Array(m);
  const rho = new Float64Array(m);
  out.set(g);
  for (let k = m - 1; k >= 0; k--) {
    rho[k] = 1 / dot(Y[k], S[k]);
    alpha[k] = rho[k] * dot(S[k], out);
    axpy(-alpha[k], Y[k], out);
  }
  if (m > 0) {
    const gamma = dot(S[m - 1], Y[m - 1]) / dot(Y[m - 1], Y[m - 1]);
    for (let i = 0; i < out.length; i++) out[i] *= gamma;
  }
  for (let k = 0; k < m; k++) {
    const beta = rho[k] * dot(Y[k], out);
    axpy(alpha[k] - beta, S[k], out);
  }
  for (let i = 0; i < out.length; i++) out[i] = -out[i];
}

interface Point {
  alpha: number;
  x: Float64Array;
  f: number;
  g: Float64Array;
  slope: number;
}

/** Finds a step along `p` satisfying the strong Wolfe conditions, or undefined when none is found. */
function lineSearch(
  objective: Objective,
  x0: Float64Array,
  f0: number,
  g0: Float64Array,
  p: Float64Array,
  slope0: number,
  firstStep: number,
): Point | undefined {
  const evaluate = (alpha: number): Point => {
    const x = new Float64Array(x0.length);
    for (let i = 0; i < x.length; i++) x[i] = x0[i] + alpha * p[i];
    const g = new Float64Array(x0.length);
    const f = objective(x, g);
    return { alpha, x, f, g, slope: dot(g, p) };
  };
  let prev: Point = { alpha: 0, x: x0, f: f0, g: g0, slope: slope0 };
  let alpha = firstStep;
  let best: Point | undefined;
  for (let i = 0; i < MAX_LINE_SEARCH; i++) {
    const cur = evaluate(alpha);
    if (!Number.isFinite(cur.f)) {
      alpha = (prev.alpha + alpha) / 2;
      continue;
    }
    if (cur.f < f0 && (!best || cur.f < best.f)) best = cur;
    if (cur.f > f0 + C1 * alpha * slope0 || (i > 0 && cur.f >= prev.f)) return zoom(evaluate, f0, slope0, prev, cur) ?? best;
    if (Math.abs(cur.slope) <= -C2 * slope0) return cur;
    if (cur.slope >= 0) return zoom(evaluate, f0, slope0, cur, prev) ?? best;
    prev = cur;
    alpha *= 2;
  }
  return best;
}

function zoom(evaluate: (alpha: number) => Point, f0: number, slope0: number, lo: Point, hi: Point): Point | undefined {
  let best: Point | undefined = lo.alpha > 0 && lo.f < f0 ? lo : undefined;
  for (let i = 0; i < MAX_LINE_SEARCH; i++) {
    const alpha = interpolate(lo, hi);
    const cur = evaluate(alpha);
    if (Number.isFinite(cur.f) && cur.f < f0 && (!best || cur.f < best.f)) best = cur;
    if (!Number.isFinite(cur.f) || cur.f > f0 + C1 * alpha * slope0 || cur.f >= lo.f) {
      hi = cur;
    } else {
      if (Math.abs(cur.slope) <= -C2 * slope0) return cur;
      if (cur.slope * (hi.alpha - lo.alpha) >= 0) hi = lo;
      lo = cur;
    }
    if (Math.abs(hi.alpha - lo.alpha) < 1e-16 * Math.max(1, lo.alpha)) break;
  }
  return best;
}

/** The minimiser of the cubic through two points with slopes, kept well inside the bracket (else bisection). */
function interpolate(a: Point, b: Point): number {
  const lo = Math.min(a.alpha, b.alpha);
  const hi = Math.max(a.alpha, b.alpha);
  const margin = 0.1 * (hi - lo);
  if (Number.isFinite(b.f)) {
    const d1 = a.slope + b.slope - (3 * (a.f - b.f)) / (a.alpha - b.alpha);
    const disc = d1 * d1 - a.slope * b.slope;
    if (disc >= 0) {
      const d2 = Math.sign(b.alpha - a.alpha) * Math.sqrt(disc);
      const t = b.alpha - ((b.alpha - a.alpha) * (b.slope + d2 - d1)) / (b.slope - a.slope + 2 * d2);
      if (Number.isFinite(t) && t >= lo + margin && t <= hi - margin) return t;
    }
  }
  return (lo + hi) / 2;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
