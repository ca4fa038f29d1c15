/**
 * A monitor over months: after 100 checks its run continues as new, and what it learned (recent checks, retrain count,
 * the version it watches) carries into the next run. With MLOPS_RECORD_HISTORIES=1 this test records the replay
 * fixtures of a monitor that retrained, failed a check, rolled back a version, was paused, and continued as new.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import {
  type CheckModelInput,
  checkNowSignal,
  deployedSignal,
  modelMonitorWorkflow,
  type MonitorStatus,
  monitorStatusQuery,
  pauseSignal,
  resumeSignal,
} from '../../../src/contracts';
import { namespacedActivities } from '../../../src/contracts/activity-names';
import { recordHistory } from '../../helpers/histories';
import { fakeStages, testSpec } from '../../helpers/fake-stages';
import { startTimeSkipping } from '../../helpers/servers';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
}, 10 * 60_000);
afterAll(async () => env?.teardown());

const spec = testSpec({
  approval: { required: false },
  monitor: {
    interval: '1h',
    source: 's3://test/batches/',
    minRows: 10,
    cooldown: '3h',
    drift: { psi: 0.2 },
    guardrail: { metric: 'accuracy', margin: 0.05, watch: '7d', minLabelled: 20 },
  },
});

/** Polls `check` every 100 ms for up to `seconds`. */
async function until(check: () => Promise<boolean>, seconds = 120): Promise<void> {
  for (let i = 0; i < seconds * 10 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
}

describe('a monitor that runs for months (time-skipping)', () => {
  it(
    'continues as new after 100 checks, carrying its recent checks, retrain count and watched version into the next run',
    async () => {
      const stages = fakeStages();
      const calls: CheckModelInput[] = [];
      const taskQueue = `monitor-months-${Math.random().toString(36).slice(2)}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowsPath: require.resolve('../../../src/workflows'),
        activities: namespacedActivities({
          ...stages.activities,
          async checkModel(input: CheckModelInput) {
            calls.push(input);
            // The third check cannot load the model; v2 answers worse on live labels than v1.
            if (calls.length === 3) throw ApplicationFailure.nonRetryable('toy v2 cannot be loaded for the check', 'MlopsInvalidInput');
            const drift = calls.length === 1;
            return {
              at: input.until,
              version: input.version,
              rows: 50,
              window: { from: input.since, to: input.until },
              sources: [`s3://test/batches/b${calls.length}.csv`],
              drift: { x: { psi: drift ? 0.6 : 0.01, breached: drift } },
              breachedFeatures: drift ? ['x'] : [],
              performance: { metric: 'accuracy', value: input.version === 1 ? 0.9 : 0.7, labelled: 40, breached: false },
            };
          },
          async rollbackModel() {
            return { changed: true };
          },
        }),
      });
      const workflowId = `monitor-toy-months-${Date.now()}`;
      await worker.runUntil(async () => {
        const first = await env.client.workflow.start(modelMonitorWorkflow, {
          taskQueue,
          workflowId,
          args: [{ spec, alias: 'production', version: 1, trainingTaskQueue: taskQueue }],
        });
        const latest = env.client.workflow.getHandle(workflowId);
        const checks = async (n: number) => until(async () => (await latest.query(monitorStatusQuery)).checks.length >= n);
        try {
          await env.sleep('61m');
          await checks(1);
          await env.sleep('61m');
          await checks(2);
          await latest.signal(deployedSignal, {
            version: 2,
            previousVersion: 1,
            at: new Date(await env.currentTimeMs()).toISOString(),
            workflowId: 'retrain-toy',
          });
          await env.sleep('61m');
          await checks(3);
          await env.sleep('61m');
          await checks(4);
          await latest.signal(pauseSignal, { by: 'alice', reason: 'maintenance' });
          await latest.signal(checkNowSignal);
          await checks(5);
          await latest.signal(resumeSignal);
          const before: MonitorStatus = await latest.query(monitorStatusQuery);
          expect(before.checks.map((c) => c.action)).toEqual(['retrain-started', 'none', 'check-failed', 'rolled-back', 'none']);

          // The remaining checks of the first run, an hour apart, and a few of the next run's.
          await env.sleep('100h');
          await until(async () => (await latest.describe()).runId !== first.firstExecutionRunId, 300);
          const firstRun = env.client.workflow.getHandle(workflowId, first.firstExecutionRunId);
          expect((await firstRun.describe()).status.name).toBe('CONTINUED_AS_NEW');
          const scheduled = (await firstRun.fetchHistory()).events!.flatMap((e) =>
            e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name] : [],
          );
          expect(scheduled.filter((name) => name === 'mlops.checkModel')).toHaveLength(100);

          await until(async () => calls.length > 100 && (await latest.query(monitorStatusQuery)).checks.at(-1)?.at === calls.at(-1)!.until);
          const carried = await latest.query(monitorStatusQuery);
          expect(carried).toMatchObject({ version: 1, paused: false, retrainCount: 1, failingChecks: 0 });
          // The status keeps the last 20 checks across runs; the new run's first check reads from where the old run's last ended.
          expect(carried.checks).toHaveLength(20);
          expect(carried.checks.at(-1)!.at).toBe(calls.at(-1)!.until);
          expect(calls[100]!.since).toBe(calls[99]!.until);

          await recordHistory(env.client, workflowId, 'monitor-continued-as-new', first.firstExecutionRunId);
          await recordHistory(env.client, workflowId, 'monitor-after-continue-as-new');
        } finally {
          await latest.terminate('test done').catch(() => undefined);
          await env.client.workflow
            .getHandle('retrain-toy')
            .terminate('test done')
            .catch(() => undefined);
        }
      });
      expect(stages.deployed).toHaveLength(1);
    },
    15 * 60_000,
  );
});
