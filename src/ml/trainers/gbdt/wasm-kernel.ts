/**
 * The gbdt kernels as WebAssembly: histogram-kernel.wat, the source a reviewer reads, assembled with wabt by
 * scripts/build-wasm.mjs into wasm-kernel-bytes.ts. They compute exactly what the JavaScript kernels of
 * histograms.ts compute, in the same order, so results are bit-for-bit identical (the gbdt tests train with
 * both), and run about twice as fast. The module imports the shared memory of the training as `env.mem`.
 */
import { HISTOGRAM_KERNEL_WASM } from './wasm-kernel-bytes';

/** Signature of the exported kernel (byte addresses and counts, all i32). */
export type WasmHistogram = (
  pool: number,
  binned: number,
  F: number,
  gh: number,
  rows: number,
  start: number,
  end: number,
  useRows: number,
  f0: number,
  f1: number,
) => void;
/** Signature of the exported partition: returns where the right-hand rows begin. */
export type WasmPartition = (
  rows: number,
  scratch: number,
  column: number,
  start: number,
  end: number,
  bin: number,
  missingLeft: number,
) => number;

let bytes: Uint8Array | undefined;

/** The module's bytes (it imports a shared memory of up to 2 GiB as `env.mem`). */
export function histogramModuleBytes(): Uint8Array {
  bytes ??= Uint8Array.from(Buffer.from(HISTOGRAM_KERNEL_WASM, 'base64'));
  return bytes;
}

/** A WebAssembly memory (TypeScript's ES libraries do not declare the WebAssembly API; Node provides it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/** The few WebAssembly constructors used here. */
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** The runtime's WebAssembly API, if it has one. */
export function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

/** Instantiates the histogram kernel over a shared memory (on the training thread and each histogram thread). */
export function instantiateHistogram(bytes: Uint8Array, memory: WasmMemory): WasmHistogram {
  const api = wasmApi()!;
  const instance = new api.Instance(new api.Module(bytes), { env: { mem: memory } });
  return instance.exports.hist as WasmHistogram;
}

/** Instantiates the partition function over the same memory (on the calling thread only). */
export function instantiatePartition(bytes: Uint8Array, memory: WasmMemory): WasmPartition {
  const api = wasmApi()!;
  const instance = new api.Instance(new api.Module(bytes), { env: { mem: memory } });
  return instance.exports.partition as WasmPartition;
}
