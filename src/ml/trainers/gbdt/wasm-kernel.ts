/**
 * The histogram kernel as a tiny WebAssembly module, assembled here byte by byte (no toolchain needed).
 * It computes exactly what `histogramKernel` in histograms.ts computes, in the same order, so results are
 * bit-for-bit identical, but runs about twice as fast: no bounds checks, tighter code.
 *
 * In WebAssembly text format, with all addresses in bytes into the imported memory `env.mem`:
 *
 *   (func (export "hist") (param $pool $binned $F $gh $rows $start $end $useRows $f0 $f1 i32)
 *     (local $k $i $rowp $f $o $base i32) (local $g $h f64)
 *     k = start
 *     block  loop
 *       br_if 1 (k >= end)                               ;; unsigned
 *       i = useRows ? load32(rows + 4k) : k              ;; select
 *       g = f64.load(gh + 16i)   h = f64.load offset=8 (gh + 16i)
 *       rowp = binned + i·F + f0   base = pool + f0·6144   f = f0
 *       loop
 *         o = base + 24·load8_u(rowp)
 *         [o] += g   [o+8] += h   [o+16] += 1.0
 *         rowp += 1   base += 6144   f += 1
 *         br_if 0 (f < f1)
 *       end
 *       k += 1   br 0
 *     end  end)
 *
 * The caller zeroes the histogram range first (6144 bytes = 256 bins × 3 doubles per feature).
 *
 * A second function partitions a node's rows by one split, branch-free, as the grower's JavaScript does:
 *
 *   (func (export "partition") (param $rows $scratch $column $start $end $bin $missingLeft i32) (result i32)
 *     (local $k $nl $nr $i $v $left i32)
 *     nl = start   k = start   nr = 0
 *     block  loop
 *       br_if 1 (k >= end)
 *       i = load32(rows + 4k)   v = load8_u(column + i)
 *       left = (v <= bin) | ((v == 255) & missingLeft)
 *       store32(rows + 4nl, i)   store32(scratch + 4nr, i)
 *       nl += left   nr += left ^ 1   k += 1   br 0
 *     end  end
 *     nl)                                                 ;; the caller appends scratch[0..nr) after nl
 */

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

const I32 = 0x7f;
const LE_U = [0x4d];
const EQ = [0x46];
const AND = [0x71];
const OR = [0x72];
const XOR = [0x73];
const store32 = [0x36, 2, 0];
const F64 = 0x7c;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string): number[] => vec([...Buffer.from(s, 'utf8')].map((b) => [b]));

// Parameters 0..9 as in the signature; locals 10..17.
const [POOL, BINNED, FEATURES, GH, ROWS, START, END, USE_ROWS, F0, F1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const [K, I, ROWP, F, O, BASE, G, H] = [10, 11, 12, 13, 14, 15, 16, 17];

const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const i32 = (n: number) => [0x41, ...sleb(n)];
const ADD = [0x6a];
const MUL = [0x6c];
const SHL = [0x74];
const LT_U = [0x49];
const GE_U = [0x4f];
const SELECT = [0x1b];
const F64_ADD = [0xa0];
const load8u = [0x2d, 0, 0];
const load32 = [0x28, 2, 0];
const f64Load = (offset: number) => [0x2b, 3, ...uleb(offset)];
const f64Store = (offset: number) => [0x39, 3, ...uleb(offset)];
const f64One = [0x44, ...new Uint8Array(Float64Array.of(1).buffer)];
/** [o + offset] += value */
const accumulate = (offset: number, value: number[]) => [
  ...get(O),
  ...get(O),
  ...f64Load(offset),
  ...value,
  ...F64_ADD,
  ...f64Store(offset),
];
const FEATURE_BYTES = 6144;

const BODY = [
  ...get(START), ...set(K),
  0x02, 0x40, // block
  0x03, 0x40, // loop over rows
  ...get(K), ...get(END), ...GE_U, 0x0d, 1,
  ...get(ROWS), ...get(K), ...i32(2), ...SHL, ...ADD, ...load32, ...get(K), ...get(USE_ROWS), ...SELECT, ...set(I),
  ...get(GH), ...get(I), ...i32(4), ...SHL, ...ADD, ...tee(O), ...f64Load(0), ...set(G), ...get(O), ...f64Load(8), ...set(H),
  ...get(BINNED), ...get(I), ...get(FEATURES), ...MUL, ...ADD, ...get(F0), ...ADD, ...set(ROWP),
  ...get(POOL), ...get(F0), ...i32(FEATURE_BYTES), ...MUL, ...ADD, ...set(BASE),
  ...get(F0), ...set(F),
  0x03, 0x40, // loop over features
  ...get(BASE), ...get(ROWP), ...load8u, ...i32(24), ...MUL, ...ADD, ...set(O),
  ...accumulate(0, get(G)), ...accumulate(8, get(H)), ...accumulate(16, f64One),
  ...get(ROWP), ...i32(1), ...ADD, ...set(ROWP),
  ...get(BASE), ...i32(FEATURE_BYTES), ...ADD, ...set(BASE),
  ...get(F), ...i32(1), ...ADD, ...tee(F), ...get(F1), ...LT_U, 0x0d, 0,
  0x0b, // end features
  ...get(K), ...i32(1), ...ADD, ...set(K),
  0x0c, 0, // next row
  0x0b, 0x0b, // end loop, end block
  0x0b, // end function
]; // prettier-ignore

// Partition: parameters 0..6, locals 7..12.
const [P_ROWS, P_SCRATCH, P_COLUMN, P_START, P_END, P_BIN, P_MISSING_LEFT] = [0, 1, 2, 3, 4, 5, 6];
const [P_K, P_NL, P_NR, P_I, P_V, P_LEFT] = [7, 8, 9, 10, 11, 12];
const PARTITION_BODY = [
  ...get(P_START), ...set(P_NL), ...get(P_START), ...set(P_K), ...i32(0), ...set(P_NR),
  0x02, 0x40, 0x03, 0x40,
  ...get(P_K), ...get(P_END), ...GE_U, 0x0d, 1,
  ...get(P_ROWS), ...get(P_K), ...i32(2), ...SHL, ...ADD, ...load32, ...set(P_I),
  ...get(P_COLUMN), ...get(P_I), ...ADD, ...load8u, ...set(P_V),
  ...get(P_V), ...get(P_BIN), ...LE_U, ...get(P_V), ...i32(255), ...EQ, ...get(P_MISSING_LEFT), ...AND, ...OR, ...set(P_LEFT),
  ...get(P_ROWS), ...get(P_NL), ...i32(2), ...SHL, ...ADD, ...get(P_I), ...store32,
  ...get(P_SCRATCH), ...get(P_NR), ...i32(2), ...SHL, ...ADD, ...get(P_I), ...store32,
  ...get(P_NL), ...get(P_LEFT), ...ADD, ...set(P_NL),
  ...get(P_NR), ...get(P_LEFT), ...i32(1), ...XOR, ...ADD, ...set(P_NR),
  ...get(P_K), ...i32(1), ...ADD, ...set(P_K),
  0x0c, 0,
  0x0b, 0x0b,
  ...get(P_NL),
  0x0b,
]; // prettier-ignore

/** The module's bytes, importing a shared memory of exactly `pages` 64 KiB pages as `env.mem`. */
export function histogramModuleBytes(pages: number): Uint8Array {
  const locals = vec([
    [...uleb(6), I32],
    [...uleb(2), F64],
  ]);
  const code = [...locals, ...BODY];
  const partition = [...vec([[...uleb(6), I32]]), ...PARTITION_BODY];
  const i32s = (n: number) => vec(Array.from({ length: n }, () => [I32]));
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...i32s(10), 0], [0x60, ...i32s(7), ...i32s(1)]])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, 0x03, ...uleb(pages), ...uleb(pages)]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...name('hist'), 0x00, 0], [...name('partition'), 0x00, 1]])),
    ...section(10, vec([[...uleb(code.length), ...code], [...uleb(partition.length), ...partition]])),
  ]); // prettier-ignore
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

/**
 * Instantiates the kernel over a shared memory. Worker threads receive this function as source text,
 * so it refers to nothing but globals.
 */
export function instantiateHistogram(bytes: Uint8Array, memory: WasmMemory): WasmHistogram {
  const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const instance = new api.Instance(new api.Module(bytes), { env: { mem: memory } });
  return instance.exports.hist as WasmHistogram;
}

/** Instantiates the partition function over the same memory (on the calling thread only). */
export function instantiatePartition(bytes: Uint8Array, memory: WasmMemory): WasmPartition {
  const api = wasmApi()!;
  const instance = new api.Instance(new api.Module(bytes), { env: { mem: memory } });
  return instance.exports.partition as WasmPartition;
}
