/** The gbdt WebAssembly kernels: assembled from their readable source, and equal to the JavaScript kernels bit for bit. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createRng } from '../../../../src/ml/random';
import { HistogramBuilder } from '../../../../src/ml/trainers/gbdt/histograms';

const ROOT = join(__dirname, '..', '..', '..', '..');

it('the module the package carries is what histogram-kernel.wat assembles to', () => {
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-wasm.mjs'), '--check'], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
});

/** A builder with the WebAssembly kernels (wasm '1') or the JavaScript ones ('0'), filled with the same random rows. */
function filled(wasm: '0' | '1', n: number, F: number): HistogramBuilder {
  const previous = process.env.MLOPS_GBDT_WASM;
  process.env.MLOPS_GBDT_WASM = wasm;
  try {
    const builder = new HistogramBuilder(n, F, 2, 1);
    const rng = createRng(11);
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < F; f++) {
        const bin = rng.next() < 0.05 ? 255 : rng.int(200);
        builder.binned[i * F + f] = bin;
        builder.columns[f * n + i] = bin;
      }
      builder.gh[2 * i] = rng.next() * 2 - 1;
      builder.gh[2 * i + 1] = rng.next();
    }
    builder.rows.set(Uint32Array.from({ length: n }, (_, i) => (i * 7919) % n));
    return builder;
  } finally {
    if (previous === undefined) delete process.env.MLOPS_GBDT_WASM;
    else process.env.MLOPS_GBDT_WASM = previous;
  }
}

const bits = (a: Float64Array) => new BigUint64Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

it('the WebAssembly histogram and partition give what the JavaScript ones give, bit for bit', () => {
  const n = 5003;
  const F = 5;
  const wasm = filled('1', n, F);
  const js = filled('0', n, F);
  const kind = (b: HistogramBuilder) => Object.prototype.toString.call(b.pool.buffer);
  try {
    // The WebAssembly kernels work in the module's (shared) memory; the JavaScript ones, single-threaded, in plain buffers.
    expect([kind(wasm), kind(js)]).toEqual(['[object SharedArrayBuffer]', '[object ArrayBuffer]']);
    for (const b of [wasm, js]) {
      b.build(0, 0, n, true);
      b.build(b.pool.length / 2, 100, 4100, false);
    }
    expect(bits(wasm.pool)).toEqual(bits(js.pool));
    expect(wasm.pool.some((v) => v !== 0)).toBe(true);
    for (const [feature, bin, missingLeft] of [
      [0, 80, true],
      [3, 150, false],
    ] as const) {
      const split = [wasm, js].map((b) => b.partition(200, 4800, feature, bin, missingLeft));
      expect(split[0]).toBe(split[1]);
      expect(Array.from(wasm.rows)).toEqual(Array.from(js.rows));
    }
  } finally {
    wasm.close();
    js.close();
  }
});
