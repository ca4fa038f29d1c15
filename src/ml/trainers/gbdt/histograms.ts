/**
 * Histogram building, the hot loop of gbdt: for a node's rows, per feature and bin, the sums of gradients
 * and hessians and the row count.
 *
 * On large inputs the features are shared out among worker threads working on the same shared memory
 * (the binned matrix, gradients, row indices and histogram slots); the calling thread takes the first share
 * and waits for the others on an `Atomics` handshake. Each feature's histogram is always summed by one
 * thread in row order, so the result is bit-for-bit the same whatever the number of threads.
 *
 * All of it lives in one WebAssembly memory when it fits (under 2 GiB), and the WebAssembly kernel of
 * wasm-kernel.ts does the summing; otherwise, or with MLOPS_GBDT_WASM=0, the JavaScript kernel below does,
 * with the same result.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startModuleThread } from '../../../threads';
import { BINS_PER_FEATURE } from './binning';
import {
  histogramModuleBytes,
  instantiateHistogram,
  instantiatePartition,
  wasmApi,
  type WasmMemory,
  type WasmPartition,
} from './wasm-kernel';

/** Doubles per bin: sum of gradients, sum of hessians, count. */
export const SLOT = 3;
/** Doubles per feature in a histogram. */
export const FEATURE_STRIDE = BINS_PER_FEATURE * SLOT;

/**
 * Sums the rows `rows[start..end)` (or rows start..end themselves when `useRows` is 0) into the histogram at
 * `offset` in `pool`, for features f0..f1. `gh` interleaves each row's gradient and hessian.
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
  const stride = FEATURE_STRIDE;
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

// Control words shared with the workers (histogram-thread.ts).
export const SEQ = 0; // bumped by the caller for each task
export const DONE = 1; // first of one "done" word per worker: the last SEQ it finished
export const TASK = 8; // offset, start, end, useRows (-1 offset asks workers to exit)
export const READY = 12; // one word per worker: 1 once it is set up
export const FAILED = 19; // set by a worker whose task threw
const CONTROL_WORDS = 20;
const MAX_WORKERS = 7;
/** A worker that has not started within this long is given up on (training goes on without it). */
const START_TIMEOUT_MS = 20_000;
/** A histogram that takes longer than this on a worker means the worker is gone. */
const TASK_TIMEOUT_MS = 300_000;

/** Where each buffer starts in the WebAssembly memory, in bytes. */
interface WasmLayout {
  binned: number;
  columns: number;
  gh: number;
  rows: number;
  scratch: number;
  pool: number;
  poolLength: number;
}

/** What each histogram thread is given: the control words, its share of the features and the shared buffers. */
export interface WorkerData {
  ctrl: Int32Array;
  F: number;
  f0: number;
  f1: number;
  slot: number;
  wasm?: { bytes: Uint8Array; memory: WasmMemory; layout: WasmLayout };
  js?: { pool: Float64Array; binned: Uint8Array; gh: Float64Array; rows: Uint32Array };
}

/**
 * Returns a function that fills features f0..f1 of the histogram at `offset` (an index into the pool):
 * the same code runs on the calling thread and in each histogram thread.
 */
export function makeRunner(d: WorkerData) {
  if (d.wasm) {
    const { bytes, memory, layout } = d.wasm;
    const hist = instantiateHistogram(bytes, memory);
    const pool = new Float64Array(memory.buffer, layout.pool, layout.poolLength);
    return (offset: number, start: number, end: number, useRows: number) => {
      pool.fill(0, offset + d.f0 * FEATURE_STRIDE, offset + d.f1 * FEATURE_STRIDE);
      hist(layout.pool + offset * 8, layout.binned, d.F, layout.gh, layout.rows, start, end, useRows, d.f0, d.f1);
    };
  }
  const { pool, binned, gh, rows } = d.js!;
  return (offset: number, start: number, end: number, useRows: number) =>
    histogramKernel(pool, offset, binned, d.F, gh, rows, start, end, useRows, d.f0, d.f1);
}

/** The histogram threads' module (histogram-thread.ts, or its compiled .js). */
const THREAD_FILE = join(__dirname, 'histogram-thread');

/** How many threads to use for `rows × features` inputs: 1 below ~1M cells, else up to the cores available. */
export function histogramThreads(rows: number, features: number): number {
  const forced = Number(process.env.MLOPS_GBDT_THREADS);
  if (Number.isInteger(forced) && forced >= 1) return Math.min(forced, MAX_WORKERS + 1, Math.max(1, features));
  if (rows * features < 1_000_000) return 1;
  return Math.max(1, Math.min(availableParallelism(), MAX_WORKERS + 1, features));
}

/**
 * The JavaScript partition, branch-free: which side a row goes is a coin toss to the CPU, and mispredicted
 * branches cost more than writing every row to both places. bin ≤ 254, so the missing bin (255) is never ≤ bin.
 */
function partitionRows(
  rows: Uint32Array,
  scratch: Uint32Array,
  columns: Uint8Array,
  offset: number,
  start: number,
  end: number,
  bin: number,
  missingLeft: number,
): number {
  let nl = start;
  let nr = 0;
  for (let k = start; k < end; k++) {
    const i = rows[k];
    const v = columns[offset + i];
    const left = (1 - ((bin - v) >>> 31)) | (((v + 1) >>> 8) & missingLeft);
    rows[nl] = i;
    scratch[nr] = i;
    nl += left;
    nr += 1 - left;
  }
  return nl;
}

/** Largest memory for the WebAssembly kernel: offsets must stay below 2^31. */
const WASM_MEMORY_LIMIT = 2 ** 31 - 2 ** 16;
const PAGE = 65_536;
const align8 = (n: number) => Math.ceil(n / 8) * 8;

/**
 * Owns the training buffers (binned matrix, gradients, row indices, histogram slots) and builds
 * histograms into its slots, on one or more threads.
 */
export class HistogramBuilder {
  /** Row-major binned inputs (`rowCount × F`); the caller fills it before the first build. */
  readonly binned: Uint8Array;
  /** The same, column-major (`F × rowCount`), for partitioning; the caller fills it too. */
  readonly columns: Uint8Array;
  /** Room for the right-hand rows while a node is partitioned. */
  private readonly scratch: Uint32Array;
  private readonly wasmPartition?: WasmPartition;
  private readonly layout?: WasmLayout;
  /** Interleaved gradient and hessian per row; the caller fills it before building. */
  readonly gh: Float64Array;
  /** Row indices grouped by node; the caller partitions it. */
  readonly rows: Uint32Array;
  readonly pool: Float64Array;
  private readonly free: number[] = [];
  private readonly ctrl: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly run: (offset: number, start: number, end: number, useRows: number) => void;
  private seq = 0;

  constructor(rowCount: number, F: number, slots: number, threads: number) {
    const poolLength = slots * F * FEATURE_STRIDE;
    const layout: WasmLayout = { binned: 0, columns: rowCount * F, gh: align8(2 * rowCount * F), rows: 0, scratch: 0, pool: 0, poolLength };
    layout.rows = layout.gh + 16 * rowCount;
    layout.scratch = layout.rows + 4 * rowCount;
    layout.pool = align8(layout.scratch + 4 * rowCount);
    const bytes = layout.pool + 8 * poolLength;
    const api = process.env.MLOPS_GBDT_WASM === '0' || bytes > WASM_MEMORY_LIMIT ? undefined : wasmApi();
    let wasm: WorkerData['wasm'];
    let js: WorkerData['js'];
    if (api) {
      const pages = Math.max(1, Math.ceil(bytes / PAGE));
      const memory = new api.Memory({ initial: pages, maximum: pages, shared: true });
      const buffer = memory.buffer;
      this.binned = new Uint8Array(buffer, layout.binned, rowCount * F);
      this.columns = new Uint8Array(buffer, layout.columns, rowCount * F);
      this.gh = new Float64Array(buffer, layout.gh, 2 * rowCount);
      this.rows = new Uint32Array(buffer, layout.rows, rowCount);
      this.scratch = new Uint32Array(buffer, layout.scratch, rowCount);
      this.pool = new Float64Array(buffer, layout.pool, poolLength);
      wasm = { bytes: histogramModuleBytes(), memory, layout };
      this.wasmPartition = instantiatePartition(wasm.bytes, memory);
      this.layout = layout;
    } else {
      const shared = (n: number) => (threads > 1 ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
      this.binned = new Uint8Array(shared(rowCount * F));
      this.columns = new Uint8Array(rowCount * F);
      this.scratch = new Uint32Array(rowCount);
      this.gh = new Float64Array(shared(16 * rowCount));
      this.rows = new Uint32Array(shared(4 * rowCount));
      this.pool = new Float64Array(shared(8 * poolLength));
      js = { pool: this.pool, binned: this.binned, gh: this.gh, rows: this.rows };
    }
    for (let s = slots - 1; s >= 0; s--) this.free.push(s * F * FEATURE_STRIDE);
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
    const range = (t: number): [number, number] => [Math.floor((t * F) / threads), Math.floor(((t + 1) * F) / threads)];
    for (let t = 1; t < threads; t++) {
      const [w0, w1] = range(t);
      const workerData: WorkerData = { ctrl: this.ctrl, F, f0: w0, f1: w1, slot: t - 1, wasm, js };
      const worker = startModuleThread(THREAD_FILE, { workerData, name: 'gbdt-histograms' });
      worker.unref();
      this.workers.push(worker);
    }
    // A worker that cannot start (an unusual runtime, no memory for its heap) must not leave the training
    // waiting forever: without every worker ready, this thread does all the work itself.
    const ready = this.workers.every((_, w) => {
      Atomics.wait(this.ctrl, READY + w, 0, START_TIMEOUT_MS);
      return Atomics.load(this.ctrl, READY + w) === 1;
    });
    if (!ready) this.close();
    const [f0, f1] = this.workers.length > 0 ? range(0) : [0, F];
    this.run = makeRunner({ ctrl: this.ctrl, F, f0, f1, slot: -1, wasm, js });
  }

  /** How many threads build histograms (this one included). */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Partitions rows[start..end) by "bin of feature ≤ bin" (missing values by `missingLeft`), keeping the
   * order within each side, and returns where the right-hand rows begin.
   */
  partition(start: number, end: number, feature: number, bin: number, missingLeft: boolean): number {
    const n = this.rows.length;
    let nl: number;
    if (this.wasmPartition && this.layout) {
      const { rows, scratch, columns } = this.layout;
      nl = this.wasmPartition(rows, scratch, columns + feature * n, start, end, bin, missingLeft ? 1 : 0);
    } else {
      nl = partitionRows(this.rows, this.scratch, this.columns, feature * n, start, end, bin, missingLeft ? 1 : 0);
    }
    this.rows.set(this.scratch.subarray(0, end - nl), nl);
    return nl;
  }

  /**
   * Partitions rows[start..end) by a categorical split: a row goes left when `left[bin]` is 1 (the flags
   * cover every bin, the missing one included). Keeps the order within each side, returns where the right begins.
   */
  partitionByBins(start: number, end: number, feature: number, left: Uint8Array): number {
    const n = this.rows.length;
    const { rows, scratch, columns } = this;
    const offset = feature * n;
    let nl = start;
    let nr = 0;
    for (let k = start; k < end; k++) {
      const i = rows[k];
      const l = left[columns[offset + i]];
      rows[nl] = i;
      scratch[nr] = i;
      nl += l;
      nr += 1 - l;
    }
    rows.set(scratch.subarray(0, end - nl), nl);
    return nl;
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
      this.run(offset, start, end, useRows);
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
    this.run(offset, start, end, useRows);
    for (let w = 0; w < this.workers.length; w++) {
      let done: number;
      while ((done = Atomics.load(ctrl, DONE + w)) !== seq) {
        if (Atomics.wait(ctrl, DONE + w, done, TASK_TIMEOUT_MS) === 'timed-out')
          throw new Error('A gbdt histogram worker thread stopped responding.');
      }
    }
    if (Atomics.load(ctrl, FAILED) !== 0) throw new Error('A gbdt histogram worker thread failed.');
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
