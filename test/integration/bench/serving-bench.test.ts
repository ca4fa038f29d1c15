/** The serving benchmark at a tiny size against a real MinIO, so it keeps working as serving changes. */
import { runServingBench } from '../../../src/bench/serving';
import { TestMinio } from '../../helpers/servers';

let minio: TestMinio;
beforeAll(async () => {
  minio = await TestMinio.start();
}, 10 * 60_000);
afterAll(async () => {
  await minio?.stop();
});

describe('serving benchmark', () => {
  it(
    'measures every target in every round, and logs every answered and mirrored prediction',
    async () => {
      const r = await runServingBench({ minio: minio.config('bench-serving-test'), durationS: 5, rounds: 5, warmupS: 0, connections: 2 });
      expect(r.rounds).toBe(5);
      for (const target of [r.bare, r.logOff, r.logOn, r.canary, r.shadow]) {
        expect(target.answered).toBeGreaterThan(0);
        expect(target.failed).toBe(0);
        expect(target.cpuUsPerRequest).toBeGreaterThan(0);
      }
      // A shadow predicts every request twice: it costs more CPU per request than one version, whatever the noise.
      expect(r.shadowCpuOverheadPct.median).toBeGreaterThan(0);
      for (const f of [r.throughputVsBare, r.p99Ms, r.loggingOverheadPct, r.canaryOverheadPct, r.shadowOverheadPct]) {
        expect(f.min).toBeLessThanOrEqual(f.median);
        expect(f.median).toBeLessThanOrEqual(f.max);
        expect(typeof f.met).toBe('boolean');
        expect(r.noisy.includes(Object.entries(r).find(([, v]) => v === f)![0])).toBe(f.spreadWiderThanMargin);
      }
      // Requests carry no id, so each is routed by a fresh one: about half go to the candidate.
      expect(r.canaryCandidateShare).toBeGreaterThan(0.4);
      expect(r.canaryCandidateShare).toBeLessThan(0.6);
      expect(r.secondPredictionUs).toBeGreaterThan(0);
      expect(r.secondPredictionFloorPct).toBeGreaterThan(0);
      expect(r.droppedRows).toBe(0);
      expect(r.loggedRows).toBe(r.servedRows);
    },
    5 * 60_000,
  );
});
