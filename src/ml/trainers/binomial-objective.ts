/**
 * The binomial logistic loss and its gradient over a large row-major design matrix, computed in fixed
 * chunks of rows that worker threads share out. Each chunk's partial sums land in their own slot and are
 * added up in chunk order, so the result is bit-for-bit the same whatever the number of threads.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startModuleThread } from '../../threads';

/** Rows per chunk: small enough to balance two threads, large enough that handing out chunks costs nothing. */
const CHUNK_ROWS = 16_384;
// Control words shared with the threads (binomial-thread.ts): task sequence, next chunk, stop flag, then
// per-worker ready and done words.
export const SEQ = 0;
export const NEXT = 1;
export const STOP = 2;
export const READY = 3;
export const DONE = 11;
const CONTROL_WORDS = 19;
const MAX_WORKERS = 7;
const START_TIMEOUT_MS = 20_000;
const TASK_TIMEOUT_MS = 300_000;

/**
 * Loss and gradient of rows start..end, written to out[o] (sum of log(1 + e^z) − y·z) and out[o+1..o+d+1]
 * (Σ r·x, then Σ r for the intercept). Four rows per step keep four independent sums in flight.
 */
export function binomialChunk(
  X: Float64Array,
  y: Int32Array,
  w: Float64Array,
  d: number,
  start: number,
  end: number,
  out: Float64Array,
  o: number,
): void {
  const b = w[d];
  let loss = 0;
  let gb = 0;
  for (let j = 0; j < d; j++) out[o + 1 + j] = 0;
  const z = [0, 0, 0, 0];
  const r = [0, 0, 0, 0];
  for (let i = start; i < end; i += 4) {
    const m = Math.min(4, end - i);
    if (m === 4) {
      const a = i * d;
      let z0 = b;
      let z1 = b;
      let z2 = b;
      let z3 = b;
      for (let j = 0; j < d; j++) {
        const wj = w[j];
        z0 += X[a + j] * wj;
        z1 += X[a + d + j] * wj;
        z2 += X[a + 2 * d + j] * wj;
        z3 += X[a + 3 * d + j] * wj;
      }
      z[0] = z0;
      z[1] = z1;
      z[2] = z2;
      z[3] = z3;
    } else {
      for (let q = 0; q < m; q++) {
        const a = (i + q) * d;
        let s = b;
        for (let j = 0; j < d; j++) s += X[a + j] * w[j];
        z[q] = s;
      }
    }
    for (let q = 0; q < m; q++) {
      const zq = z[q];
      const yq = y[i + q];
      // log(1 + e^z) − y·z and the sigmoid, from one exponential and without overflow.
      const e = Math.exp(-Math.abs(zq));
      loss += (zq > 0 ? zq : 0) + Math.log1p(e) - yq * zq;
      const rq = (zq >= 0 ? 1 / (1 + e) : e / (1 + e)) - yq;
      r[q] = rq;
      gb += rq;
    }
    const a = i * d;
    if (m === 4) {
      const r0 = r[0];
      const r1 = r[1];
      const r2 = r[2];
      const r3 = r[3];
      for (let j = 0; j < d; j++) out[o + 1 + j] += r0 * X[a + j] + r1 * X[a + d + j] + r2 * X[a + 2 * d + j] + r3 * X[a + 3 * d + j];
    } else {
      for (let q = 0; q < m; q++) for (let j = 0; j < d; j++) out[o + 1 + j] += r[q] * X[a + q * d + j];
    }
  }
  out[o] = loss;
  out[o + 1 + d] = gb;
}

/** What each objective thread is given: the control words and the shared matrix, labels, weights and partial sums. */
export interface ObjectiveThreadData {
  ctrl: Int32Array;
  X: Float64Array;
  y: Int32Array;
  w: Float64Array;
  d: number;
  n: number;
  chunkRows: number;
  partials: Float64Array;
  slot: number;
}

/** The objective threads' module (binomial-thread.ts, or its compiled .js). */
const THREAD_FILE = join(__dirname, 'binomial-thread');

/** How many threads for an `n × d` matrix: one below a million cells, else up to the cores available. */
export function objectiveThreads(n: number, d: number): number {
  const forced = Number(process.env.MLOPS_LR_THREADS);
  if (Number.isInteger(forced) && forced >= 1) return Math.min(forced, MAX_WORKERS + 1);
  return n * d < 1_000_000 ? 1 : Math.min(availableParallelism(), MAX_WORKERS + 1);
}

/** Allocates a Float64Array in shared memory when threads will read it. */
export function allocateMatrix(length: number, threads: number): Float64Array {
  return new Float64Array(threads > 1 ? new SharedArrayBuffer(8 * length) : new ArrayBuffer(8 * length));
}

/** Mean binomial log-loss plus the L2 penalty ‖w‖²/(2·C·n), as an L-BFGS objective; `close` stops its threads. */
export class BinomialObjective {
  private readonly y: Int32Array;
  private readonly w: Float64Array;
  private readonly partials: Float64Array;
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
  private readonly workers: Worker[] = [];
  private readonly chunks: number;
  private seq = 0;

  /** `X` is row-major `n × d`; with `threads` > 1 it must be in shared memory (see `allocateMatrix`). */
  constructor(
    private readonly X: Float64Array,
    y: Int32Array,
    private readonly d: number,
    private readonly C: number,
    threads: number,
  ) {
    const n = y.length;
    const shared = threads > 1 && X.buffer instanceof SharedArrayBuffer;
    const alloc = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.y = new Int32Array(alloc(4 * n));
    this.y.set(y);
    this.w = new Float64Array(alloc(8 * (d + 1)));
    this.chunks = Math.ceil(n / CHUNK_ROWS);
    this.partials = new Float64Array(alloc(8 * this.chunks * (d + 2)));
    if (!shared) return;
    for (let t = 1; t < threads; t++) {
      const workerData: ObjectiveThreadData = {
        ctrl: this.ctrl,
        X,
        y: this.y,
        w: this.w,
        d,
        n,
        chunkRows: CHUNK_ROWS,
        partials: this.partials,
        slot: t - 1,
      };
      const worker = startModuleThread(THREAD_FILE, { workerData, name: 'logistic-objective' });
      worker.unref();
      this.workers.push(worker);
    }
    // Without every worker ready (an unusual runtime, no memory for a thread), this thread does all the work.
    const ready = this.workers.every((_, k) => {
      Atomics.wait(this.ctrl, READY + k, 0, START_TIMEOUT_MS);
      return Atomics.load(this.ctrl, READY + k) === 1;
    });
    if (!ready) this.close();
  }

  /** The objective at `w`, its gradient written to `grad`. */
  readonly evaluate = (w: Float64Array, grad: Float64Array): number => {
    const { d, chunks, partials, ctrl } = this;
    const n = this.y.length;
    this.w.set(w);
    Atomics.store(ctrl, NEXT, 0);
    const seq = ++this.seq;
    if (this.workers.length > 0) {
      Atomics.store(ctrl, SEQ, seq);
      Atomics.notify(ctrl, SEQ);
    }
    for (;;) {
      const c = Atomics.add(ctrl, NEXT, 1);
      if (c >= chunks) break;
      binomialChunk(this.X, this.y, this.w, d, c * CHUNK_ROWS, Math.min(n, (c + 1) * CHUNK_ROWS), partials, c * (d + 2));
    }
    for (let k = 0; k < this.workers.length; k++) {
      let done: number;
      while ((done = Atomics.load(ctrl, DONE + k)) !== seq) {
        if (Atomics.wait(ctrl, DONE + k, done, TASK_TIMEOUT_MS) === 'timed-out')
          throw new Error('A logistic-regression worker thread stopped responding.');
      }
    }
    let loss = 0;
    grad.fill(0);
    for (let c = 0; c < chunks; c++) {
      const o = c * (d + 2);
      loss += partials[o];
      for (let j = 0; j <= d; j++) grad[j] += partials[o + 1 + j];
    }
    const alpha = 1 / (this.C * n);
    let penalty = 0;
    for (let j = 0; j <= d; j++) grad[j] /= n;
    for (let j = 0; j < d; j++) {
      penalty += w[j] * w[j];
      grad[j] += alpha * w[j];
    }
    return loss / n + 0.5 * alpha * penalty;
  };

  /** How many threads evaluate the objective (this one included). */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Stops the worker threads. */
  close(): void {
    if (this.workers.length === 0) return;
    Atomics.store(this.ctrl, STOP, 1);
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
    for (const worker of this.workers) void worker.terminate();
    this.workers.length = 0;
  }
}
