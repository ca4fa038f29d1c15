/**
 * The rollout workflow's decisions on Temporal's time-skipping test server, its activities standing in for the
 * registry and the prediction log (the rollout on real servers with real traffic is test/integration/serving/rollout.test.ts):
 * steps, rollback, pause and resume, promote-now and abort as signals and through the Update, late labels waited for
 * on durable timers, and steps that need a person.
 */
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { namespacedActivities } from '../../../src/contracts/activity-names';
import {
  abortSignal,
  approveSignal,
  pipelineStatusQuery,
  type PipelineRunResult,
  type PipelineRunStatus,
  pauseSignal,
  promoteSignal,
  resumeSignal,
  rolloutControlUpdate,
  rolloutPolicyOf,
  rolloutStatusQuery,
  type AssessRolloutInput,
  type AssessRolloutResult,
  type BeginRolloutInput,
  type PromoteInput,
  type RolloutRunResult,
  type RolloutRunStatus,
  type RolloutState,
  type SetRolloutStepInput,
  type StepVerdict,
} from '../../../src/contracts';
import { startTimeSkipping } from '../../helpers/servers';
import { fakeStages, ref, testSpec } from '../../helpers/fake-stages';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
}, 10 * 60_000);
afterAll(async () => env?.teardown());

/** What the stand-in registry saw. */
interface Seen {
  writes: RolloutState[];
  assessed: AssessRolloutInput[];
  promoted: PromoteInput[];
}

/** The evidence's verdict for one check, from the step (0 for the first) and the step's elapsed time. */
type Judge = (input: AssessRolloutInput, step: number) => StepVerdict['decision'];

function fakeActivities(judge: Judge, opts: { promoteConflict?: boolean } = {}) {
  const seen: Seen = { writes: [], assessed: [], promoted: [] };
  let seq = 0;
  const put = (change: SetRolloutStepInput): RolloutState => {
    const { expectedSeq, share, ...rest } = change;
    if (expectedSeq !== seq) throw new Error(`seq ${seq}, expected ${expectedSeq}`);
    const state: RolloutState = { ...rest, candidateShare: share, seq: ++seq, updatedAt: new Date().toISOString() };
    seen.writes.push(state);
    return state;
  };
  const evidence = (v: number) => ({ version: v, requests: 100, errors: 0, errorRate: 0, labelled: 50 });
  return {
    seen,
    activities: namespacedActivities({
      async beginRollout({ alias: _alias, ...input }: BeginRolloutInput) {
        return put({ ...input, step: 0, status: 'running', expectedSeq: seq });
      },
      async setRolloutStep(input: SetRolloutStepInput) {
        return put(input);
      },
      async assessRolloutStep(input: AssessRolloutInput): Promise<AssessRolloutResult> {
        seen.assessed.push(input);
        const decision = judge(input, new Set(seen.assessed.map((a) => a.since)).size - 1);
        return {
          until: new Date().toISOString(),
          evidence: { metric: 'accuracy', champion: evidence(input.champion), candidate: evidence(input.candidate), sameRequests: false },
          verdict: { decision, reasons: [`scripted ${decision}`] },
        };
      },
      async promoteVersion(input: PromoteInput) {
        seen.promoted.push(input);
        return opts.promoteConflict
          ? { moved: false, expected: input.expectedVersion, current: 9 }
          : { moved: true, version: input.version, previousVersion: input.expectedVersion, changed: true };
      },
    }),
  };
}

const canary = (rollout: Record<string, unknown> = {}, more: Record<string, unknown> = {}) =>
  rolloutPolicyOf(
    testSpec({
      approval: { approvers: ['alice', 'bob'] },
      validation: { champion: { metric: 'accuracy' } },
      deploy: { strategy: 'canary', rollout: { evidence: { checkEvery: '1m', maxWait: '10m' }, ...rollout } },
      ...more,
    }),
  )!;

type Handle = ReturnType<TestWorkflowEnvironment['client']['workflow']['getHandle']>;

async function withRollout(
  judge: Judge,
  policy: ReturnType<typeof canary>,
  body: (h: Handle, seen: Seen) => Promise<void>,
  opts: { promoteConflict?: boolean } = {},
): Promise<Seen> {
  const { seen, activities } = fakeActivities(judge, opts);
  const taskQueue = `rollout-${Math.random().toString(36).slice(2)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../../src/workflows'),
    activities,
  });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('rolloutRun', {
      taskQueue,
      workflowId: `rollout-toy-v2-${Math.random().toString(36).slice(2)}`,
      args: [{ model: 'toy', alias: 'production', champion: 1, candidate: 2, policy, requestedBy: 'carol', runWorkflowId: 'run-1' }],
    });
    try {
      await body(env.client.workflow.getHandle(handle.workflowId), seen);
    } finally {
      await handle.terminate('test done').catch(() => undefined);
    }
  });
  return seen;
}

const result = (h: Handle) => h.result() as Promise<RolloutRunResult>;
const status = (h: Handle) => h.query(rolloutStatusQuery) as Promise<RolloutRunStatus>;

/** Waits (in real time) until the status satisfies `ok`. */
async function until(h: Handle, ok: (s: RolloutRunStatus) => boolean): Promise<RolloutRunStatus> {
  for (let i = 0; i < 100; i++) {
    const s = await status(h);
    if (ok(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`status never matched: ${JSON.stringify(await status(h))}`);
}

describe('a canary rollout (time-skipping)', () => {
  it('a candidate no worse than the champion goes 10 %, 50 %, then the alias moves to it by compare-and-swap', async () => {
    const seen = await withRollout(
      (i) => (i.elapsedMs >= 120_000 ? 'pass' : 'wait'),
      canary(),
      async (h) => {
        const r = await result(h);
        expect(r.outcome).toBe('promoted');
        const s = await status(h);
        expect(s.decisions.map((d) => [d.action, d.share])).toEqual([
          ['started', 0.1],
          ['next-step', 0.1],
          ['next-step', 0.5],
          ['promoted', 1],
        ]);
        expect(s.decisions[1]!.evidence?.candidate.version).toBe(2);
      },
    );
    expect(seen.writes.map((w) => [w.seq, w.step, w.candidateShare, w.status])).toEqual([
      [1, 0, 0.1, 'running'],
      [2, 1, 0.5, 'running'],
      [3, 2, 1, 'finished'],
    ]);
    // Each step judged only its own predictions, checked every minute.
    expect(new Set(seen.assessed.map((a) => a.since)).size).toBe(2);
    const elapsed = seen.assessed.filter((a) => a.since === seen.assessed[0]!.since).map((a) => Math.round(a.elapsedMs / 1000));
    expect(elapsed).toEqual([60, 120]);
    expect(seen.promoted).toEqual([expect.objectContaining({ alias: 'production', expectedVersion: 1, version: 2 })]);
  });

  it('a candidate that does worse is rolled back at its step, and the alias is never moved', async () => {
    const seen = await withRollout(
      (i, step) => (i.elapsedMs < 60_000 ? 'wait' : step === 1 ? 'fail' : 'pass'),
      canary(),
      async (h) => {
        const r = await result(h);
        expect(r.outcome).toBe('rolled-back');
        expect(r.reason).toMatch(/^the candidate did worse: scripted fail/);
        expect(r.step).toBe(1);
      },
    );
    expect(seen.promoted).toEqual([]);
    expect(seen.writes.at(-1)).toMatchObject({ candidateShare: 0, status: 'finished', reason: expect.stringMatching(/^rolled-back: /) });
  });

  it('pause holds the step (nothing judged, the share kept), resume goes on; both are recorded', async () => {
    await withRollout(
      (i) => (i.elapsedMs >= 120_000 ? 'pass' : 'wait'),
      canary(),
      async (h, seen) => {
        await until(h, (s) => s.registry !== undefined);
        await h.signal(pauseSignal, { by: 'dave', reason: 'incident' });
        await until(h, (s) => s.state === 'paused');
        const judged = seen.assessed.length;
        await env.sleep('30m');
        expect(seen.assessed.length).toBe(judged);
        expect(seen.writes.at(-1)).toMatchObject({ status: 'paused', candidateShare: 0.1 });
        await h.signal(resumeSignal, { by: 'dave' });
        expect((await result(h)).outcome).toBe('promoted');
        const s = await status(h);
        expect(s.decisions.filter((d) => d.action === 'paused' || d.action === 'resumed').map((d) => [d.action, d.by])).toEqual([
          ['paused', 'dave'],
          ['resumed', 'dave'],
        ]);
        // The paused half hour did not count towards the step: it was still judged at 1 and 2 minutes of running time.
        const elapsed = seen.assessed.filter((a) => a.since === seen.assessed[0]!.since).map((a) => Math.round(a.elapsedMs / 1000));
        expect(elapsed).toEqual([60, 120]);
      },
    );
  });

  it('abort as a signal rolls back at once', async () => {
    const seen = await withRollout(
      () => 'wait',
      canary(),
      async (h) => {
        await until(h, (s) => s.registry !== undefined);
        await h.signal(abortSignal, { by: 'erin', reason: 'customer complaints' });
        const r = await result(h);
        expect(r).toMatchObject({ outcome: 'rolled-back', reason: 'customer complaints', step: 0 });
        expect((await status(h)).decisions.at(-1)).toMatchObject({ action: 'rolled-back', by: 'erin' });
      },
    );
    expect(seen.promoted).toEqual([]);
  });

  it('promote-now through the Update: refused for the requester and for someone not allowed, taken from an approver', async () => {
    const seen = await withRollout(
      () => 'wait',
      canary({ approveBefore: [1] }, { approval: { approvers: ['alice', 'bob', 'carol'] } }),
      async (h) => {
        await until(h, (s) => s.registry !== undefined);
        expect(await h.executeUpdate(rolloutControlUpdate, { args: [{ action: 'promote', by: 'mallory' }] })).toMatchObject({
          accepted: false,
          reason: 'mallory is not an allowed approver (allowed: alice, bob, carol), and this rollout asks one',
        });
        expect(await h.executeUpdate(rolloutControlUpdate, { args: [{ action: 'promote', by: 'carol' }] })).toMatchObject({
          accepted: false,
          reason: 'carol requested the run and cannot promote its candidate (no self-approval)',
        });
        expect(
          await h.executeUpdate(rolloutControlUpdate, { args: [{ action: 'promote', by: 'bob', reason: 'urgent fix' }] }),
        ).toMatchObject({
          accepted: true,
        });
        const r = await result(h);
        expect(r).toMatchObject({ outcome: 'promoted', reason: 'urgent fix' });
      },
    );
    expect(seen.promoted[0]).toMatchObject({ by: 'bob' });
    // No step was judged past the first, and no approval was asked: the approver's promote-now is the approval.
    expect(seen.writes.map((w) => w.candidateShare)).toEqual([0.1, 1]);
  });

  it('promote-now as a signal, with no person required by the spec, skips the remaining steps', async () => {
    const seen = await withRollout(
      () => 'wait',
      canary({}, { approval: {} }),
      async (h) => {
        await until(h, (s) => s.registry !== undefined);
        await h.signal(promoteSignal, { by: 'frank' });
        expect((await result(h)).outcome).toBe('promoted');
      },
    );
    expect(seen.promoted[0]).toMatchObject({ by: 'frank' });
  });

  it('a step that needs a person waits for an allowed approver; the requester cannot approve', async () => {
    await withRollout(
      (i) => (i.elapsedMs >= 60_000 ? 'pass' : 'wait'),
      canary({ approveBefore: [1] }, { approval: { approvers: ['alice', 'carol'] } }),
      async (h, seen) => {
        await env.sleep('3m');
        const asking = await until(h, (s) => s.state === 'awaiting-approval');
        expect(asking.decisions.at(-1)).toMatchObject({ action: 'approval-asked' });
        await h.signal(approveSignal, { approver: 'carol' });
        const refused = await until(h, (s) => (s.approval?.refused.length ?? 0) > 0);
        expect(refused.approval!.refused[0]!.reason).toBe('carol requested this run and cannot approve it (no self-approval)');
        expect(seen.promoted).toEqual([]);
        await h.signal(approveSignal, { approver: 'alice' });
        expect((await result(h)).outcome).toBe('promoted');
      },
    );
  });

  it('late labels: the step waits on timers up to the bound, then does what onExpiry says (ask: a person decides)', async () => {
    await withRollout(
      (i) => (i.elapsedMs >= 2 * 86_400_000 ? 'expired' : 'wait'),
      canary({ evidence: { checkEvery: '1h', maxWait: '1h' }, lateLabels: { bound: '2d', onExpiry: 'ask' } }),
      async (h, seen) => {
        await env.sleep('49h');
        const asking = await until(h, (s) => s.state === 'awaiting-approval');
        // Checked every hour for two days, then asked.
        expect(seen.assessed.length).toBe(48);
        expect(asking.decisions.at(-1)!.reason).toMatch(/lateLabels\.onExpiry is ask/);
        await h.signal(approveSignal, { approver: 'bob' });
        await until(h, (s) => s.step === 1);
        await h.signal(abortSignal, { by: 'bob' });
        expect((await result(h)).outcome).toBe('rolled-back');
      },
    );
  });

  it('late labels with onExpiry rollback roll back when the bound passes', async () => {
    await withRollout(
      (i) => (i.elapsedMs >= 3 * 3_600_000 ? 'expired' : 'wait'),
      canary({ evidence: { checkEvery: '1h', maxWait: '1h' }, lateLabels: { bound: '3h', onExpiry: 'rollback' } }),
      async (h) => {
        const r = await result(h);
        expect(r.outcome).toBe('rolled-back');
        expect(r.reason).toMatch(/lateLabels\.onExpiry is rollback/);
      },
    );
  });

  it('a promotion the alias moved away from is refused: the candidate is not promoted over a champion it was not compared with', async () => {
    await withRollout(
      (i) => (i.elapsedMs >= 60_000 ? 'pass' : 'wait'),
      canary(),
      async (h) => {
        const r = await result(h);
        expect(r.outcome).toBe('failed');
        expect(r.reason).toMatch(/^production now points at v9, not the champion v1 this candidate was compared with/);
      },
      { promoteConflict: true },
    );
  });
});

describe('pipelineRun with a canary strategy (time-skipping)', () => {
  /** A whole run over stand-in stages whose validation compared the candidate with production v1. */
  async function run(judge: Judge, opts: { champion?: boolean } = {}) {
    const stages = fakeStages();
    const rollout = fakeActivities(judge);
    const taskQueue = `run-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../../src/workflows'),
      activities: {
        ...namespacedActivities({
          ...stages.activities,
          async evaluateCandidate() {
            return {
              passed: true,
              metrics: { accuracy: 0.9 },
              failures: [],
              report: ref('eval'),
              ...(opts.champion === false ? {} : { champion: { version: 1, metrics: { accuracy: 0.85 } } }),
            };
          },
          async deployCandidate(input: unknown) {
            stages.deployed.push(input);
            return { version: 2, spec: ref('spec'), ...(opts.champion === false ? {} : { previousVersion: 1 }) };
          },
          async registerCandidate(input: unknown) {
            stages.deployed.push(input);
            return { version: 2, spec: ref('spec') };
          },
        }),
        ...rollout.activities,
      },
    });
    const spec = testSpec({
      approval: {},
      validation: { champion: { metric: 'accuracy' } },
      deploy: { strategy: 'canary', rollout: { evidence: { checkEvery: '1m', maxWait: '10m' } } },
      monitor: { interval: '1h' },
    });
    const workflowId = `run-toy-${Math.random().toString(36).slice(2)}`;
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('pipelineRun', {
        taskQueue,
        workflowId,
        args: [{ spec, requestedBy: 'carol', trigger: 'manual', trainingTaskQueue: taskQueue }],
      });
      try {
        const r = (await handle.result()) as PipelineRunResult;
        return { result: r, status: (await handle.query(pipelineStatusQuery)) as PipelineRunStatus };
      } finally {
        await env.client.workflow
          .getHandle('monitor-toy')
          .terminate('test done')
          .catch(() => undefined);
      }
    });
    return { ...result, stages, seen: rollout.seen, workflowId };
  }

  it('the deploy registers the candidate without moving the alias, and the rollout child promotes it', async () => {
    const { result, status, stages, seen, workflowId } = await run((i) => (i.elapsedMs >= 60_000 ? 'pass' : 'wait'));
    expect(result).toMatchObject({ status: 'deployed', version: 2, previousVersion: 1 });
    // Registered with the run's spec, the alias left alone; it moved once, by the rollout's compare-and-swap against v1.
    expect(stages.deployed).toEqual([expect.objectContaining({ moveAlias: false, spec: expect.objectContaining({ model: 'toy' }) })]);
    expect(status.rollout).toMatchObject({
      workflowId: 'rollout-toy-v2',
      strategy: 'canary',
      champion: 1,
      candidate: 2,
      outcome: 'promoted',
    });
    expect(status.stages.find((s) => s.name === 'deploy')).toMatchObject({
      state: 'done',
      note: expect.stringMatching(/^v2 promoted by its canary rollout/),
    });
    expect(seen.writes[0]).toMatchObject({ rolloutId: 'rollout-toy-v2', candidateShare: 0.1 });
    expect(seen.promoted).toEqual([expect.objectContaining({ expectedVersion: 1, version: 2 })]);
    expect(stages.calls.monitor).toBe(1);
    const child = await env.client.workflow.getHandle('rollout-toy-v2').describe();
    expect(child.raw.workflowExecutionInfo?.parentExecution?.workflowId).toBe(workflowId);
  });

  it('a rolled-back candidate ends the run rolled-back, with the reason, and the monitor is not told', async () => {
    const { result, status, stages } = await run((i) => (i.elapsedMs >= 60_000 ? 'fail' : 'wait'));
    expect(result.status).toBe('rolled-back');
    expect(result.reason).toMatch(/^canary rollout of v2 rolled-back: the candidate did worse: scripted fail/);
    expect(status.stages.find((s) => s.name === 'deploy')).toMatchObject({ state: 'failed' });
    expect(stages.calls.monitor).toBeUndefined();
  });

  it('a model with no production version yet is deployed directly: nothing to compare with', async () => {
    const { result, status, stages, seen } = await run(() => 'fail', { champion: false });
    expect(result.status).toBe('deployed');
    // The deploy's own compare-and-swap, against no version, and no rollout document.
    expect(seen.promoted).toEqual([expect.objectContaining({ version: 2, expectedVersion: null })]);
    expect(status.rollout).toBeUndefined();
    expect(seen.writes).toEqual([]);
  });
});
