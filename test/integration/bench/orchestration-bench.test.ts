/** The orchestration benchmark at a tiny size against real servers, so it keeps working as the workflow changes. */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MEASURED_STAGES, runOrchestrationBench } from '../../../src/bench/orchestration';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { testConfig } from '../../helpers/worker';

let env: TestWorkflowEnvironment;
let minio: TestMinio;
beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
}, 10 * 60_000);
afterAll(async () => {
  await env?.teardown();
  await minio?.stop();
});

describe('orchestration benchmark', () => {
  it(
    'times every stage of no-op runs, of the bare reference and of the runs that add one cost each, from their histories, and counts concurrent runs that deployed',
    async () => {
      const r = await runOrchestrationBench({ config: testConfig(env, minio, 'mlops-bench-test'), runs: 3, warmupRuns: 1, concurrent: 5 });
      expect(r.runs).toBe(3);
      expect(Object.keys(r.perStageP50Ms).sort()).toEqual([...MEASURED_STAGES].sort());
      expect(r.stageOverheadP50Ms).toBeGreaterThan(0);
      expect(r.stageOverheadP95Ms).toBeGreaterThanOrEqual(r.stageOverheadP50Ms);
      expect(r.activityOwnP50Ms).toBeLessThan(r.stageOverheadP50Ms);
      // A run's overhead holds its stages' and the closing workflow task.
      expect(r.runOverheadP50Ms).toBeGreaterThan(r.stageOverheadP50Ms);
      // The bare reference ran as many times, and its runs carry less than the pipeline's.
      expect(r.bareStageOverheadP50Ms).toBeGreaterThan(0);
      expect(r.stageOverheadVsBare).toBeCloseTo(r.stageOverheadP50Ms / r.bareStageOverheadP50Ms, 2);
      expect(r.bareHistoryBytes).toBeLessThan(r.historyBytes);
      expect(r.bareHistoryEvents).toBeGreaterThan(0);
      // What the extra cost is made of: each part measured by its own kind of run, the payloads a run carries.
      for (const part of [r.extraInterceptorsMs, r.extraActivityOptionsMs, r.extraPatchMarkersMs, r.extraPayloadsMs, r.extraWorkflowCodeMs])
        expect(Number.isFinite(part)).toBe(true);
      expect(r.extraMs).toBeCloseTo(r.pipelineStageMs - r.bareStageMs, 1);
      expect(r.extraNoiseMs).toBeGreaterThanOrEqual(0);
      expect(r.patchMarkers).toBe(1);
      expect(r.runInputBytes).toBeGreaterThan(200);
      expect(r.activityInputBytes).toBeGreaterThan(r.runInputBytes);
      expect(r.activityResultBytes).toBeGreaterThan(0);
      expect(r.concurrentStarted).toBe(5);
      expect(r.concurrentRuns).toBe(5);
      expect(r.concurrentFailed).toBe(0);
    },
    10 * 60_000,
  );
});
