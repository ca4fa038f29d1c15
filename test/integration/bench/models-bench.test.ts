/** @jest-environment ./test/helpers/onnx-environment.js */
/** The models benchmark at a tiny size against a real MinIO and the pinned Python, so it keeps working as serving changes. */
import { runModelsBench } from '../../../src/bench/models';
import { TestMinio } from '../../helpers/servers';

let minio: TestMinio;
beforeAll(async () => {
  minio = await TestMinio.start();
}, 10 * 60_000);
afterAll(async () => {
  await minio?.stop();
});

describe('models benchmark', () => {
  it('serves ONNX and built-in models against a bare handler and scores a holdout the way Python onnxruntime does', async () => {
    const r = await runModelsBench({
      minio: minio.config('bench-models-test'),
      scoringRows: 5000,
      scoringRepeats: 1,
      durationS: 1,
      warmupS: 0,
      rounds: 1,
      connections: 2,
      trees: 5,
    });
    expect(r.scoringRows).toBe(5000);
    expect(r.scoringLabelMismatches).toBe(0);
    expect(r.scoringMaxProbabilityDiff).toBeLessThan(1e-5);
    expect(r.onnxScoringS).toBeGreaterThan(0);
    expect(r.pythonScoringS).toBeGreaterThan(0);
    expect(r.onnxScoringVsPython).toBeCloseTo(r.onnxScoringS / r.pythonScoringS, 10);
    for (const phase of [r.bare, r.onnx, r.builtin]) {
      expect(phase.answered).toBeGreaterThan(0);
      expect(phase.failed).toBe(0);
    }
    expect(r.onnxServingVsBare).toBeCloseTo(r.onnx.rps / r.bare.rps, 10);
    expect(r.builtinServingVsBare).toBeCloseTo(r.builtin.rps / r.bare.rps, 10);
    // Every answered prediction went to the log; none was dropped.
    expect(r.onnxServedRows).toBeGreaterThanOrEqual(r.onnx.answered);
    expect(r.onnxDroppedRows).toBe(0);
    expect(r.builtinDroppedRows).toBe(0);
  });
});
