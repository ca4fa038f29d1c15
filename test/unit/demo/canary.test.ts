/** The demo's account of a rollout, read from the rollout's status: each step once, with its evidence and verdict. */
import type { RolloutDecision, RolloutEvidence, RolloutRunStatus } from '../../../src/contracts';
import { formatRollouts, rolloutAccount, withDemoCanary } from '../../../src/demo/canary';
import { parsePipelineSpec } from '../../../src/spec/pipeline';

const evidence = (candidate: [number, number], champion: [number, number]): RolloutEvidence => ({
  metric: 'accuracy',
  candidate: { version: 2, requests: candidate[0], errors: 0, errorRate: 0, labelled: candidate[0], metric: candidate[1] },
  champion: { version: 1, requests: champion[0], errors: 0, errorRate: 0, labelled: champion[0], metric: champion[1] },
  sameRequests: false,
});

const decision = (d: Partial<RolloutDecision> & Pick<RolloutDecision, 'action' | 'step' | 'share'>): RolloutDecision => ({
  at: '2026-01-01T00:00:00Z',
  by: 'rollout',
  reason: 'why',
  ...d,
});

function status(over: Partial<RolloutRunStatus>): RolloutRunStatus {
  return {
    model: 'm',
    alias: 'production',
    rolloutId: 'rollout-m-v2',
    runWorkflowId: 'run-m',
    strategy: 'canary',
    champion: 1,
    candidate: 2,
    state: 'running',
    step: 0,
    share: 0.2,
    steps: [0.2, 0.5, 1],
    decisions: [],
    ...over,
  };
}

const registry = (status: 'running' | 'finished', step: number) =>
  ({ status, step, candidateShare: 0, seq: 1 }) as unknown as RolloutRunStatus['registry'];

it('a promoted rollout lists each passed step once, with its evidence, and no step at 100 %', () => {
  const s = status({
    state: 'promoted',
    step: 2,
    share: 1,
    evidence: evidence([15, 0.93], [16, 0.81]),
    verdict: { decision: 'pass', reasons: ['ok'] },
    registry: registry('finished', 2),
    decisions: [
      decision({ action: 'started', step: 0, share: 0.2 }),
      decision({ action: 'next-step', step: 0, share: 0.2, evidence: evidence([12, 1], [49, 1]) }),
      decision({ action: 'next-step', step: 1, share: 0.5, evidence: evidence([15, 0.93], [16, 0.81]) }),
      decision({ action: 'promoted', step: 2, share: 1, reason: 'every step passed' }),
    ],
  });
  const account = rolloutAccount(s, 'retrained on drift', '2014-07-31');
  expect(account).toMatchObject({ outcome: 'promoted', by: 'rollout', reason: 'every step passed', endedOn: '2014-07-31' });
  expect(account.steps.map((x) => [x.share, x.decision, x.candidate.labelled, x.champion.metric])).toEqual([
    [0.2, 'pass', 12, 1],
    [0.5, 'pass', 15, 0.81],
  ]);
  expect(formatRollouts([account]).join('\n')).toMatch(
    /v2 against v1: PROMOTED on 2014-07-31\. retrained on drift\n {4}step 1 at 20 % +candidate v2: 12 requests, 12 labelled, accuracy 1\.000 \| champion v1: 49 requests, 49 labelled, accuracy 1\.000 -> pass\n/,
  );
});

it('a rolled-back rollout ends with the step that failed, and the reason', () => {
  const s = status({
    state: 'rolled-back',
    evidence: evidence([11, 0.64], [65, 0.92]),
    verdict: { decision: 'fail', reasons: ['worse'] },
    registry: registry('finished', 0),
    decisions: [
      decision({ action: 'started', step: 0, share: 0.2 }),
      decision({ action: 'rolled-back', step: 0, share: 0.2, reason: 'the candidate did worse: accuracy 0.6364' }),
    ],
  });
  const account = rolloutAccount(s, 'winter only');
  expect(account).toMatchObject({ outcome: 'rolled-back', by: 'rollout', reason: 'the candidate did worse: accuracy 0.6364' });
  expect(account.steps.map((x) => [x.share, x.decision, x.candidate.metric])).toEqual([[0.2, 'fail', 0.64]]);
});

it('a rollout still under way is shown as running, at its step', () => {
  const s = status({
    step: 1,
    share: 0.5,
    registry: registry('running', 1),
    decisions: [decision({ action: 'started', step: 0, share: 0.2 })],
  });
  expect(rolloutAccount(s, 'x')).toMatchObject({ outcome: 'running', reason: 'still at step 2 (50 %)', steps: [] });
});

it("the demo's canary keeps the spec's alias and passes the spec's own checks", () => {
  const spec = parsePipelineSpec({
    model: 'm',
    dataset: { source: 'x.csv', target: 'y' },
    trainer: { name: 'gbdt' },
    deploy: { alias: 'live' },
  });
  const deploy = withDemoCanary(spec).deploy;
  expect(deploy).toMatchObject({ alias: 'live', strategy: 'canary' });
  expect(deploy.rollout!.steps).toEqual([0.2, 0.5, 1]);
  expect(deploy.rollout!.evidence).toMatchObject({ minRequests: 10, minLabelled: 10, checkEvery: 100 });
});
