import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { namespacedActivities } from '../../../src/contracts/activity-names';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTimeSkipping } from '../../helpers/servers';
import { fakeStages, ref, testSpec } from '../../helpers/fake-stages';
import {
  type CheckModelInput,
  checkNowSignal,
  deployedSignal,
  type MonitorStatus,
  monitorStatusQuery,
  pauseSignal,
  pipelineStatusQuery,
  resumeSignal,
  modelMonitorWorkflow,
} from '../../../src/contracts';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
}, 10 * 60_000);
afterAll(async () => env?.teardown());

const monitorSpec = testSpec({
  approval: { required: false },
  monitor: { interval: '1h', source: 's3://test/batches/', minRows: 10, cooldown: '3h', drift: { psi: 0.2 } },
});

/** A monitor over fake stages whose checks drift whenever `drifting` says so. */
async function withMonitor(
  drifting: (n: number) => boolean,
  body: (
    h: ReturnType<TestWorkflowEnvironment['client']['workflow']['getHandle']>,
    checks: CheckModelInput[],
    stages: ReturnType<typeof fakeStages>,
  ) => Promise<void>,
) {
  const stages = fakeStages();
  const checks: CheckModelInput[] = [];
  const taskQueue = `monitor-${Math.random().toString(36).slice(2)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../../src/workflows'),
    activities: namespacedActivities({
      ...stages.activities,
      async checkModel(input: CheckModelInput) {
        checks.push(input);
        const drift = drifting(checks.length);
        return {
          at: input.until,
          version: input.version,
          rows: 50,
          window: { from: input.since, to: input.until },
          sources: ['s3://test/batches/b1.csv'],
          drift: { temp_max: { psi: drift ? 0.6 : 0.01, breached: drift } },
          breachedFeatures: drift ? ['temp_max'] : [],
        };
      },
    }),
  });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(modelMonitorWorkflow, {
      taskQueue,
      workflowId: `monitor-toy-${Date.now()}-${Math.random()}`,
      args: [{ spec: monitorSpec, alias: 'production', version: 1, trainingTaskQueue: taskQueue }],
    });
    try {
      await body(env.client.workflow.getHandle(handle.workflowId), checks, stages);
    } finally {
      // A monitor left running would hold the test server's clock for the next test.
      await handle.terminate('test done');
      await env.client.workflow
        .getHandle('retrain-toy')
        .terminate('test done')
        .catch(() => undefined);
    }
  });
  return stages;
}

/** The status once `n` checks are recorded (activities finish in real time after the skipped timer fires). */
async function settled(h: { query: (q: typeof monitorStatusQuery) => Promise<MonitorStatus> }, n: number): Promise<MonitorStatus> {
  for (let i = 0; i < 50; i++) {
    const s = await h.query(monitorStatusQuery);
    if (s.checks.length >= n) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  return h.query(monitorStatusQuery);
}

const status = (h: { query: (q: typeof monitorStatusQuery) => Promise<MonitorStatus> }) => h.query(monitorStatusQuery);

describe('the model monitor (time-skipping)', () => {
  it('checks once per interval and does nothing while there is no drift', async () => {
    await withMonitor(
      () => false,
      async (h) => {
        await env.sleep('185m');
        const s = await settled(h, 3);
        expect(s.checks.length).toBe(3);
        expect(s.checks.every((c) => c.action === 'none')).toBe(true);
        expect(s.retrainCount).toBe(0);
      },
    );
  });

  it('drift starts one retraining run (trigger drift, with the new data), then the cooldown holds', async () => {
    const stages = await withMonitor(
      () => true,
      async (h) => {
        await env.sleep('61m');
        await env.sleep('61m');
        const s = await settled(h, 2);
        expect(s.checks.map((c) => c.action)).toEqual(['retrain-started', 'retrain-skipped-cooldown']);
        expect(s.checks[0]!.retrainWorkflowId).toBe('retrain-toy');
        const retrain = env.client.workflow.getHandle('retrain-toy');
        for (let i = 0; i < 50 && (await retrain.describe()).status.name === 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 100));
        expect((await retrain.describe()).status.name).toBe('COMPLETED');
      },
    );
    const deployed = stages.deployed[0] as { trigger: string; requestedBy: string };
    expect(deployed).toMatchObject({ trigger: 'drift', requestedBy: 'monitor-toy' });
  });

  it('pause stops the checks, resume brings them back, and checkNow runs one at once', async () => {
    await withMonitor(
      () => false,
      async (h, checks) => {
        await h.signal(pauseSignal, { by: 'alice', reason: 'maintenance' });
        await env.sleep('2h');
        expect(checks.length).toBe(0);
        expect((await status(h)).paused).toBe(true);
        await h.signal(checkNowSignal);
        for (let i = 0; i < 50 && checks.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
        expect(checks.length).toBe(1);
        await h.signal(resumeSignal, {});
        await env.sleep('61m');
        expect((await settled(h, 2)).checks.length).toBe(2);
      },
    );
  });
});

describe('the monitor follows what was deployed (time-skipping)', () => {
  it(
    "judges by a deploy's spec from then on (interval, cooldown, the retrain's spec); " +
      'a spec that cannot be read is reported and the one before kept',
    async () => {
      const specB = testSpec({
        approval: { required: false },
        monitor: { interval: '30m', source: 's3://test/batches/', minRows: 10, cooldown: '1m', drift: { psi: 0.2 } },
      });
      const stages = await withMonitor(
        () => true,
        async (h, checks, stages) => {
          stages.specs.set(ref('spec-b').uri, specB);
          await env.sleep('61m');
          expect((await settled(h, 1)).checks.map((c) => c.action)).toEqual(['retrain-started']);
          const retrain = env.client.workflow.getHandle('retrain-toy');
          for (let i = 0; i < 50 && (await retrain.describe()).status.name === 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 100));

          // Run B deploys v2 with its spec: a 30 min interval and a 1 min cooldown, where the monitor started with 1 h and 3 h.
          await h.signal(deployedSignal, {
            version: 2,
            previousVersion: 1,
            at: new Date().toISOString(),
            workflowId: 'run-b',
            spec: ref('spec-b'),
          });
          let s = await status(h);
          for (let i = 0; i < 50 && s.spec?.version !== 2; i++) s = await new Promise((r) => setTimeout(r, 100)).then(() => status(h));
          expect(s).toMatchObject({
            version: 2,
            intervalMs: 30 * 60_000,
            spec: { workflowId: 'run-b', version: 2, sha256: ref('spec-b').sha256 },
          });
          await env.sleep('31m');
          // Within the 3 h cooldown of the spec it started with, but past B's 1 min: a second retrain, running B's spec.
          expect((await settled(h, 2)).checks.map((c) => c.action)).toEqual(['retrain-started', 'retrain-started']);
          expect(checks).toHaveLength(2);

          // v3's spec cannot be read: said so, and B's stays.
          await h.signal(deployedSignal, {
            version: 3,
            previousVersion: 2,
            at: new Date().toISOString(),
            workflowId: 'run-c',
            spec: ref('gone'),
          });
          s = await status(h);
          for (let i = 0; i < 50 && !s.specProblem; i++) s = await new Promise((r) => setTimeout(r, 100)).then(() => status(h));
          expect(s.specProblem).toMatch(/the spec of v3 \(run run-c\) could not be read: s3:\/\/test\/gone does not exist/);
          expect(s).toMatchObject({ version: 3, intervalMs: 30 * 60_000, spec: { workflowId: 'run-b', version: 2 } });
        },
      );
      const retrainSpecs = (stages.deployed as { spec?: { monitor?: { cooldown: number } } }[]).map((d) => d.spec?.monitor?.cooldown);
      expect(retrainSpecs.at(-1)).toBe(60_000);
    },
  );
});

describe('the guardrail (time-skipping)', () => {
  it('a new version doing worse on live labels than the previous one by more than the margin is rolled back, with the reason', async () => {
    const spec = testSpec({
      approval: { required: false },
      monitor: {
        interval: '1h',
        source: 's3://test/batches/',
        minRows: 10,
        guardrail: { metric: 'accuracy', margin: 0.05, watch: '1d', minLabelled: 20 },
      },
    });
    const rollbacks: unknown[] = [];
    const taskQueue = `guardrail-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../../src/workflows'),
      activities: namespacedActivities({
        async checkModel(input: CheckModelInput) {
          // v1 answered 90% right on live traffic; v2 only 70%.
          const value = input.version === 1 ? 0.9 : 0.7;
          return {
            at: input.until,
            version: input.version,
            rows: 40,
            window: { to: input.until },
            drift: {},
            breachedFeatures: [],
            performance: { metric: 'accuracy', value, labelled: 40, breached: false },
          };
        },
        async rollbackModel(input: unknown) {
          rollbacks.push(input);
          return { changed: true };
        },
      }),
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(modelMonitorWorkflow, {
        taskQueue,
        workflowId: `guardrail-${Date.now()}`,
        args: [{ spec, alias: 'production', version: 1, trainingTaskQueue: taskQueue }],
      });
      try {
        await env.sleep('61m');
        await settled(handle, 1);
        await handle.signal('deployed', {
          version: 2,
          previousVersion: 1,
          at: new Date(await env.currentTimeMs()).toISOString(),
          workflowId: 'retrain-toy',
        });
        await env.sleep('61m');
        const s = await settled(handle, 2);
        expect(s.checks[1]).toMatchObject({ version: 2, action: 'rolled-back', rollback: { from: 2, to: 1 } });
        expect(s.checks[1]!.rollback!.reason).toMatch(/live accuracy of v2 is 0\.700, below v1's 0\.900 by more than 0\.05/);
        expect(s.version).toBe(1);
        expect(rollbacks).toEqual([expect.objectContaining({ model: 'toy', alias: 'production', from: 2, to: 1 })]);
      } finally {
        await handle.terminate('test done');
      }
    });
  });
});

/** Runs a guardrail monitor whose checks report `value(version)` of `metric` with its direction; returns the checks and rollbacks. */
async function guardrailRun(
  metric: string,
  higherIsBetter: boolean,
  value: (version: number) => number,
  performanceMetric?: { metric: string; min: number },
) {
  const guardrail = { metric, margin: 0.05, watch: '1d', minLabelled: 20 };
  const performance = performanceMetric ? { performance: performanceMetric } : {};
  const monitor = { interval: '1h', source: 's3://test/batches/', minRows: 10, retrain: false, guardrail, ...performance };
  const spec = testSpec({ approval: { required: false }, monitor });
  const rollbacks: { from: number; to: number; reason: string }[] = [];
  const taskQueue = `guardrail-${Math.random().toString(36).slice(2)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../../src/workflows'),
    activities: namespacedActivities({
      async checkModel(input: CheckModelInput) {
        const live = { metric, value: value(input.version), higherIsBetter };
        // With a performance section on another metric, the guardrail's metric comes beside it as `also`.
        const bounded = performanceMetric && {
          metric: performanceMetric.metric,
          value: 0.9,
          labelled: 40,
          breached: false,
          higherIsBetter: true,
        };
        const measured = bounded ? { performance: bounded, also: live } : { performance: { ...live, labelled: 40, breached: false } };
        return {
          at: input.until,
          version: input.version,
          rows: 40,
          window: { to: input.until },
          drift: {},
          breachedFeatures: [],
          ...measured,
        };
      },
      async rollbackModel(input: { from: number; to: number; reason: string }) {
        rollbacks.push(input);
        return { changed: true };
      },
    }),
  });
  let s: MonitorStatus | undefined;
  await worker.runUntil(async () => {
    const args = [{ spec, alias: 'production', version: 1, trainingTaskQueue: taskQueue }];
    const handle = await env.client.workflow.start(modelMonitorWorkflow, {
      taskQueue,
      workflowId: `guardrail-${metric}-${Date.now()}`,
      args,
    });
    try {
      await env.sleep('61m');
      await settled(handle, 1);
      await handle.signal('deployed', {
        version: 2,
        previousVersion: 1,
        at: new Date(await env.currentTimeMs()).toISOString(),
        workflowId: 'retrain-toy',
      });
      await env.sleep('61m');
      s = await settled(handle, 2);
    } finally {
      await handle.terminate('test done');
    }
  });
  return { status: s!, rollbacks };
}

describe('the guardrail honours the direction of its metric (time-skipping)', () => {
  it('an rmse guardrail rolls back a new version whose live rmse is higher than the previous one', async () => {
    const { status: s, rollbacks } = await guardrailRun('rmse', false, (v) => (v === 1 ? 1.2 : 2.5));
    expect(s.checks[1]).toMatchObject({ version: 2, action: 'rolled-back', rollback: { from: 2, to: 1 } });
    expect(s.checks[1]!.rollback!.reason).toMatch(/live rmse of v2 is 2\.500, above v1's 1\.200 by more than 0\.05 \(lower is better\)/);
    expect(s.version).toBe(1);
    expect(rollbacks).toHaveLength(1);
  });

  it('an rmse guardrail beside an r2 performance bound judges the new version on rmse, measured on the same rows', async () => {
    const { status: s, rollbacks } = await guardrailRun('rmse', false, (v) => (v === 1 ? 1.2 : 2.5), { metric: 'r2', min: 0.5 });
    expect(s.checks[1]).toMatchObject({ version: 2, action: 'rolled-back', rollback: { from: 2, to: 1 } });
    expect(s.checks[1]!.rollback!.reason).toMatch(/live rmse of v2 is 2\.500, above v1's 1\.200/);
    expect(rollbacks).toHaveLength(1);
  });

  it('an rmse guardrail keeps a new version whose live rmse is lower', async () => {
    const { status: s, rollbacks } = await guardrailRun('rmse', false, (v) => (v === 1 ? 2.5 : 1.2));
    expect(s.checks[1]).toMatchObject({ version: 2, action: 'none' });
    expect(s.version).toBe(2);
    expect(rollbacks).toEqual([]);
  });
});

describe('live performance (time-skipping)', () => {
  it("a live rmse above its maximum starts retraining, and the run's reason says it is above the maximum", async () => {
    const monitor = { interval: '1h', source: 's3://test/batches/', minRows: 10, performance: { metric: 'rmse', max: 3.5 } };
    const spec = testSpec({ approval: { required: false }, monitor });
    const stages = fakeStages();
    const taskQueue = `performance-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../../src/workflows'),
      activities: namespacedActivities({
        ...stages.activities,
        async checkModel(input: CheckModelInput) {
          const performance = { metric: 'rmse', value: 4.12, labelled: 50, breached: true, higherIsBetter: false, max: 3.5 };
          const window = { from: input.since, to: input.until };
          return { at: input.until, version: input.version, rows: 50, window, drift: {}, breachedFeatures: [], performance };
        },
      }),
    });
    await worker.runUntil(async () => {
      const args = [{ spec, alias: 'production', version: 1, trainingTaskQueue: taskQueue }];
      const handle = await env.client.workflow.start(modelMonitorWorkflow, { taskQueue, workflowId: `performance-${Date.now()}`, args });
      try {
        await env.sleep('61m');
        const s = await settled(handle, 1);
        expect(s.checks[0]).toMatchObject({ action: 'retrain-started', retrainWorkflowId: 'retrain-toy' });
        const retrain = await env.client.workflow.getHandle('retrain-toy').query(pipelineStatusQuery);
        expect(retrain.reason).toBe('drift on 50 new rows: rmse 4.120 above the maximum 3.5');
      } finally {
        await handle.terminate('test done');
        await env.client.workflow
          .getHandle('retrain-toy')
          .terminate('test done')
          .catch(() => undefined);
      }
    });
  });
});

describe('a failed check (time-skipping)', () => {
  it('is recorded with its reason, and the monitor checks again at the next interval', async () => {
    const attempts: CheckModelInput[] = [];
    const taskQueue = `failing-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../../src/workflows'),
      activities: namespacedActivities({
        async checkModel(input: CheckModelInput) {
          attempts.push(input);
          if (attempts.length === 1) {
            throw ApplicationFailure.nonRetryable(
              'toy v1 (production) cannot be loaded for the check: Not servable: retrain it',
              'MlopsInvalidInput',
            );
          }
          return {
            at: input.until,
            version: input.version,
            rows: 50,
            window: { from: input.since, to: input.until },
            drift: {},
            breachedFeatures: [],
          };
        },
      }),
    });
    await worker.runUntil(async () => {
      const args = [{ spec: monitorSpec, alias: 'production', version: 1, trainingTaskQueue: taskQueue }];
      const handle = await env.client.workflow.start(modelMonitorWorkflow, { taskQueue, workflowId: `failing-${Date.now()}`, args });
      try {
        await env.sleep('61m');
        const first = await settled(handle, 1);
        expect(first.checks[0]).toMatchObject({ action: 'check-failed', version: 1, failure: { type: 'MlopsInvalidInput' } });
        expect(first.checks[0]!.failure!.message).toMatch(/Not servable/);
        expect(first.failingChecks).toBe(1);
        expect((await handle.describe()).status.name).toBe('RUNNING');

        await env.sleep('61m');
        const second = await settled(handle, 2);
        expect(second.checks[1]).toMatchObject({ action: 'none', rows: 50 });
        // The failed check consumed nothing: the next one is asked for the data since the same point (here, since deploy:
        // no check has succeeded yet), and the failed one is recorded reading the latest window, never further back.
        expect(attempts.map((a) => a.since)).toEqual([undefined, undefined]);
        const failed = first.checks[0]!.window;
        expect(Date.parse(failed.to) - Date.parse(failed.from!)).toBe(7 * 24 * 3600_000);
        expect(second.failingChecks).toBe(0);
      } finally {
        await handle.terminate('test done');
      }
    });
  });
});
