/**
 * Histogram building, the hot loop of gbdt: for a node's rows, per feature and bin, the sums of gradients
 * and hessians and the row count.
 *
 * On large inputs the features are shared out among worker threads working on the same shared memory
 * (the binned matrix, gradients, row indices and histogram slots); the calling thread takes the first share
 * and waits for the others on an `Atomics` handshake. Each feature's histogram is always summed by one
 * thread in row order, so the result is bit-for-bit the same whatever the number of threads.
 */
import { Worker } from 'node:worker_threads';
import { BINS_PER_FEATURE } from './binning';

/** Doubles per bin: sum of gradients, sum of hessians, count. */
export const SLOT = 3;
/** Doubles per feature in a histogram. */
export const FEATURE_STRIDE = BINS_PER_FEATURE * SLOT;

/**
 * Sums the rows `rows[start..end)` (or rows start..end themselves when `useRows` is 0) into the histogram at
 * `offset` in `pool`, for features f0..f1. `gh` interleaves each row's gradient and hessian.
 * It must stay free of outside references: worker threads receive it as source text.
 */
function histogramKernel(
  pool: Float64Array,
  offset: number,
  binned: Uint8Array,
  F: number,
  gh: Float64Array,
  rows: Uint32Array,
  start: number,
  end: number,
  useRows: number,
  f0: number,
  f1: number,
): void {
  const stride = 768;
  pool.fill(0, offset + f0 * stride, offset + f1 * stride);
  const first = offset + f0 * stride;
  // Two rows per step: their updates are independent, which keeps the CPU busy while one waits on memory.
  // The loop is written out twice so that neither copy tests `useRows` per row.
  let k = start;
  if (useRows === 0) {
    for (; k + 1 < end; k += 2) {
      const gi = gh[2 * k];
      const hi = gh[2 * k + 1];
      const gj = gh[2 * k + 2];
      const hj = gh[2 * k + 3];
      const ri = k * F;
      const rj = ri + F;
      for (let f = f0, o0 = first; f < f1; f++, o0 += stride) {
        let o = o0 + binned[ri + f] * 3;
        pool[o] += gi;
        pool[o + 1] += hi;
        pool[o + 2] += 1;
        o = o0 + binned[rj + f] * 3;
        pool[o] += gj;
        pool[o + 1] += hj;
        pool[o + 2] += 1;
      }
    }
  } else {
    for (; k + 1 < end; k += 2) {
      const i = rows[k];
      const j = rows[k + 1];
      const gi = gh[2 * i];
      const hi = gh[2 * i + 1];
      const gj = gh[2 * j];
      const hj = gh[2 * j + 1];
      const ri = i * F;
      const rj = j * F;
      for (let f = f0, o0 = first; f < f1; f++, o0 += stride) {
        let o = o0 + binned[ri + f] * 3;
        pool[o] += gi;
        pool[o + 1] += hi;
        pool[o + 2] += 1;
        o = o0 + binned[rj + f] * 3;
        pool[o] += gj;
        pool[o + 1] += hj;
        pool[o + 2] += 1;
      }
    }
  }
  if (k < end) {
    const i = useRows === 0 ? k : rows[k];
    const gi = gh[2 * i];
    const hi = gh[2 * i + 1];
    const ri = i * F;
    for (let f = f0, o0 = first; f < f1; f++, o0 += stride) {
      const o = o0 + binned[ri + f] * 3;
      pool[o] += gi;
      pool[o + 1] += hi;
      pool[o + 2] += 1;
    }
  }
}

// Control words shared with the workers.
const SEQ = 0; // bumped by the caller for each task
const DONE = 1; // first of one "done" word per worker: the last SEQ it finished
const TASK = 8; // offset, start, end, useRows (-1 offset asks workers to exit)
const MAX_WORKERS = 7;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const kernel = ${histogramKernel.toString()};
const { ctrl, pool, binned, F, gh, rows, f0, f1, slot } = workerData;
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, ${SEQ}, seen);
  seen = Atomics.load(ctrl, ${SEQ});
  const offset = ctrl[${TASK}];
  if (offset < 0) break;
  kernel(pool, offset, binned, F, gh, rows, ctrl[${TASK} + 1], ctrl[${TASK} + 2], ctrl[${TASK} + 3], f0, f1);
  Atomics.store(ctrl, ${DONE} + slot, seen);
  Atomics.notify(ctrl, ${DONE} + slot);
}
`;

/** How many threads to use for `rows × features` inputs: 1 below ~1M cells, else up to the cores available. */
export function histogramThreads(rows: number, features: number): number {
  const forced = Number(process.env.MLOPS_GBDT_THREADS);
  if (Number.isInteger(forced) && forced >= 1) return Math.min(forced, MAX_WORKERS + 1, Math.max(1, features));
  if (rows * features < 1_000_000) return 1;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cores: number = require('node:os').availableParallelism();
  return Math.max(1, Math.min(cores, MAX_WORKERS + 1, features));
}

/** Builds histograms into slots of a shared pool, on one or more threads. */
export class HistogramBuilder {
  /** Interleaved gradient and hessian per row; the caller fills it before building. */
  readonly gh: Float64Array;
  /** Row indices grouped by node; the caller partitions it. */
  readonly rows: Uint32Array;
  readonly pool: Float64Array;
  private readonly free: number[] = [];
  private readonly ctrl: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly ranges: [number, number][];
  private seq = 0;

  constructor(
    private readonly binned: Uint8Array,
    private readonly rowCount: number,
    private readonly F: number,
    slots: number,
    threads: number,
  ) {
    const shared = (bytes: number) => (threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.gh = new Float64Array(shared(16 * rowCount));
    this.rows = new Uint32Array(shared(4 * rowCount));
    this.pool = new Float64Array(shared(8 * slots * F * FEATURE_STRIDE));
    for (let s = slots - 1; s >= 0; s--) this.free.push(s * F * FEATURE_STRIDE);
    this.ctrl = new Int32Array(shared(4 * (TASK + 4)));
    this.ranges = [];
    for (let t = 0; t < threads; t++) this.ranges.push([Math.floor((t * F) / threads), Math.floor(((t + 1) * F) / threads)]);
    if (threads > 1 && !(binned.buffer instanceof SharedArrayBuffer)) throw new Error('threaded histograms need the binned matrix in shared memory');
    for (let t = 1; t < threads; t++) {
      const [f0, f1] = this.ranges[t];
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { ctrl: this.ctrl, pool: this.pool, binned, F, gh: this.gh, rows: this.rows, f0, f1, slot: t - 1 },
      });
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Takes a free histogram slot (its offset in `pool`), or undefined when all are in use. */
  take(): number | undefined {
    return this.free.pop();
  }

  release(offset: number): void {
    this.free.push(offset);
  }

  /** Fills the slot at `offset` from rows[start..end), or from every row when `all` is set. */
  build(offset: number, start: number, end: number, all: boolean): void {
    const useRows = all ? 0 : 1;
    if (this.workers.length === 0) {
      histogramKernel(this.pool, offset, this.binned, this.F, this.gh, this.rows, start, end, useRows, 0, this.F);
      return;
    }
    const ctrl = this.ctrl;
    ctrl[TASK] = offset;
    ctrl[TASK + 1] = start;
    ctrl[TASK + 2] = end;
    ctrl[TASK + 3] = useRows;
    const seq = ++this.seq;
    Atomics.store(ctrl, SEQ, seq);
    Atomics.notify(ctrl, SEQ);
    const [f0, f1] = this.ranges[0];
    histogramKernel(this.pool, offset, this.binned, this.F, this.gh, this.rows, start, end, useRows, f0, f1);
    for (let w = 0; w < this.workers.length; w++) {
      let done: number;
      while ((done = Atomics.load(ctrl, DONE + w)) !== seq) Atomics.wait(ctrl, DONE + w, done);
    }
  }

  /** Stops the worker threads. */
  close(): void {
    if (this.workers.length === 0) return;
    this.ctrl[TASK] = -1;
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }
}

/** A Uint8Array of `length` bytes, in shared memory when threads will read it. */
export function allocateBinned(length: number, threads: number): Uint8Array {
  return new Uint8Array(threads > 1 ? new SharedArrayBuffer(length) : new ArrayBuffer(length));
}
