import { batchingPredictor } from '../../../src/serving/batcher';
import type { Predictions, Predictor } from '../../../src/ml/predictor';
import type { Frame } from '../../../src/ml/types';

/** A predictor that labels each row by its x (x < 0 fails the whole call) and records the sizes of its calls. */
function recordingPredictor(): Predictor & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    flavor: 'onnx',
    schema: {
      columns: [
        { name: 'x', type: 'numeric' },
        { name: 'c', type: 'categorical' },
        { name: 'y', type: 'categorical' },
      ],
      target: 'y',
      features: ['x', 'c'],
      task: 'classification',
    },
    task: 'classification',
    classes: ['a', 'b'],
    description: 'test',
    async predict(frame: Frame): Promise<Predictions> {
      calls.push(frame.rowCount);
      const x = frame.columns.x as Float64Array;
      const c = frame.columns.c as (string | null)[];
      if (x.some((v) => v < 0)) throw new Error('negative x');
      return { labels: Array.from(x, (v, i) => `${v}:${c[i]}`), probabilities: Array.from(x, (v) => [v, 1 - v]) };
    },
    release: async () => undefined,
  };
}

const frame = (...xs: number[]): Frame => ({ rowCount: xs.length, columns: { x: Float64Array.from(xs), c: xs.map((x) => `c${x}`) } });

describe('dynamic batching of small requests', () => {
  it('requests made together share one prediction call, and each gets the predictions of its own rows', async () => {
    const inner = recordingPredictor();
    const batched = batchingPredictor(inner);
    const answers = await Promise.all([batched.predict(frame(1)), batched.predict(frame(2, 3)), batched.predict(frame(4))]);
    expect(inner.calls).toEqual([4]);
    expect(answers.map((a) => a.labels)).toEqual([['1:c1'], ['2:c2', '3:c3'], ['4:c4']]);
    expect(answers[1]!.probabilities).toEqual([
      [2, -1],
      [3, -2],
    ]);
  });

  it('requests arriving while a batch runs make the next batch together', async () => {
    const inner = recordingPredictor();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const predict = inner.predict;
    // The first call holds until the gate opens, like a long ONNX run.
    inner.predict = async (f) => (inner.calls.length === 0 ? gate.then(() => predict(f)) : predict(f));
    const batched = batchingPredictor(inner);
    const first = batched.predict(frame(1));
    await new Promise((r) => setImmediate(r));
    const later = [batched.predict(frame(2)), batched.predict(frame(3))];
    await new Promise((r) => setImmediate(r));
    later.push(batched.predict(frame(5)));
    await new Promise((r) => setImmediate(r));
    expect(inner.calls).toEqual([]);
    open();
    const answers = await Promise.all([first, ...later]);
    expect(inner.calls).toEqual([1, 3]);
    expect(answers.map((a) => a.labels)).toEqual([['1:c1'], ['2:c2'], ['3:c3'], ['5:c5']]);
  });

  it("one request's failing rows fail only that request: the batch is retried request by request", async () => {
    const inner = recordingPredictor();
    const batched = batchingPredictor(inner);
    const results = await Promise.allSettled([batched.predict(frame(1)), batched.predict(frame(-1)), batched.predict(frame(2))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseFulfilledResult<Predictions>).value.labels).toEqual(['2:c2']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/negative x/);
  });

  it('a large request is predicted on its own, without waiting', async () => {
    const inner = recordingPredictor();
    const batched = batchingPredictor(inner);
    const big = frame(...Array.from({ length: 100 }, (_, i) => i));
    const [a, b] = await Promise.all([batched.predict(big), batched.predict(frame(7))]);
    expect(a.labels).toHaveLength(100);
    expect(b.labels).toEqual(['7:c7']);
    expect(inner.calls.sort((x, y) => x - y)).toEqual([1, 100]);
  });
});
