/** The rollout's evidence and verdicts: what a person reading the rollout's status would expect. */
import { judgeStep, percentile, rolloutEvidence, type RolloutPrediction, type StepPolicy } from '../../../src/ml/rollout';

const policy: StepPolicy = {
  minRequests: 10,
  minLabelled: 5,
  maxWaitMs: 60_000,
  labelBoundMs: 120_000,
  metric: 'accuracy',
  tolerance: 0,
  maxErrorRateIncrease: 0.01,
  maxP99Ratio: 1.5,
  p99SlackMs: 5,
};

/** n predictions of one version; `right` of them predict the label that comes back. */
function answers(
  version: number,
  role: RolloutPrediction['role'],
  n: number,
  opts: { right?: number; labelled?: number; latencyMs?: number; errors?: number; idPrefix?: string } = {},
): RolloutPrediction[] {
  const { right = n, labelled = n, latencyMs = 2, errors = 0, idPrefix = `${role}-` } = opts;
  return Array.from({ length: n }, (_, i) => ({
    id: `${idPrefix}${i}`,
    version,
    role,
    latencyMs,
    ...(i < errors
      ? { error: 'boom' }
      : { output: { label: i < right ? 'yes' : 'no', probabilities: { yes: i < right ? 0.9 : 0.1, no: i < right ? 0.1 : 0.9 } } }),
    ...(i < labelled ? { label: 'yes' } : {}),
  }));
}

const canary = { champion: 1, candidate: 2, task: 'classification' as const, metric: 'accuracy', shadow: false };

describe('rollout evidence', () => {
  it('counts each version apart: requests, failed predictions, p99 latency, the metric on labelled rows', () => {
    const e = rolloutEvidence(
      [...answers(1, 'champion', 20, { right: 18, labelled: 10 }), ...answers(2, 'candidate', 10, { errors: 1, right: 10, latencyMs: 7 })],
      canary,
    );
    expect(e.champion).toEqual({ version: 1, requests: 20, errors: 0, errorRate: 0, p99LatencyMs: 2, labelled: 10, metric: 1 });
    expect(e.candidate).toMatchObject({ version: 2, requests: 10, errors: 1, errorRate: 0.1, p99LatencyMs: 7, labelled: 9 });
    expect(e.candidate.metric).toBe(1);
  });

  it('a version outside the rollout is ignored', () => {
    const e = rolloutEvidence([...answers(7, 'champion', 5), ...answers(1, 'champion', 3)], canary);
    expect(e.champion.requests).toBe(3);
    expect(e.candidate.requests).toBe(0);
  });

  it("a shadow is measured only on the requests both versions predicted, the champion's too", () => {
    const champion = answers(1, 'champion', 30, { idPrefix: 'r' });
    const shadow = answers(2, 'shadow', 20, { idPrefix: 'r', right: 10 });
    const e = rolloutEvidence([...champion, ...shadow], { ...canary, shadow: true });
    expect(e.sameRequests).toBe(true);
    expect(e.champion.requests).toBe(20);
    expect(e.candidate.requests).toBe(20);
    expect(e.candidate.metric).toBe(0.5);
    expect(e.champion.metric).toBe(1);
  });

  it('a label metric is computed from the answered class when no probabilities were logged', () => {
    const rows: RolloutPrediction[] = [
      { id: 'a', version: 2, role: 'candidate', output: { label: 'yes' }, label: 'yes' },
      { id: 'b', version: 2, role: 'candidate', output: { label: 'no' }, label: 'yes' },
    ];
    expect(rolloutEvidence(rows, canary).candidate.metric).toBe(0.5);
    expect(rolloutEvidence(rows, { ...canary, metric: 'logLoss' }).candidate.metric).toBeUndefined();
  });

  it('regression metrics come from the answered value and the numeric label', () => {
    const rows: RolloutPrediction[] = [
      { id: 'a', version: 2, role: 'candidate', output: { value: 3 }, label: 1 },
      { id: 'b', version: 2, role: 'candidate', output: { value: 1 }, label: '1' },
    ];
    expect(rolloutEvidence(rows, { ...canary, task: 'regression', metric: 'mae' }).candidate.metric).toBe(1);
  });

  it('the p99 is the nearest rank: of 100 latencies 1..100 it is 99', () => {
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => 100 - i),
        0.99,
      ),
    ).toBe(99);
    expect(percentile([5], 0.99)).toBe(5);
    expect(percentile([], 0.99)).toBeUndefined();
  });
});

describe('a step verdict', () => {
  it('waits while the candidate has answered too few requests, then expires at maxWait', () => {
    const e = rolloutEvidence([...answers(1, 'champion', 50), ...answers(2, 'candidate', 4)], canary);
    expect(judgeStep(e, policy, 1_000)).toEqual({
      decision: 'wait',
      reasons: ['requests: candidate 4, champion 50 of the 10 each needs', 'labelled rows: candidate 4, champion 50 of the 5 each needs'],
    });
    const expired = judgeStep(e, policy, 60_000);
    expect(expired.decision).toBe('expired');
    expect(expired.reasons[0]).toBe('evidence.maxWait (1m) passed without enough evidence');
  });

  it('with traffic enough but labels late, it waits up to the label bound, not maxWait', () => {
    const e = rolloutEvidence([...answers(1, 'champion', 50, { labelled: 2 }), ...answers(2, 'candidate', 20, { labelled: 2 })], canary);
    expect(judgeStep(e, policy, 90_000).decision).toBe('wait');
    const expired = judgeStep(e, policy, 120_000);
    expect(expired.decision).toBe('expired');
    expect(expired.reasons[0]).toBe('lateLabels.bound (2m) passed without enough evidence');
  });

  it('a candidate that fails more predictions is failed without waiting for labels', () => {
    const e = rolloutEvidence(
      [...answers(1, 'champion', 50, { labelled: 0 }), ...answers(2, 'candidate', 20, { labelled: 0, errors: 2 })],
      canary,
    );
    const v = judgeStep(e, policy, 0);
    expect(v.decision).toBe('fail');
    expect(v.reasons[0]).toMatch(/^error rate 10\.0 % \(2 of 20\) against the champion's 0\.0 %/);
  });

  it('a slower candidate is failed on p99 latency beyond ratio and slack, not within them', () => {
    const slow = rolloutEvidence(
      [...answers(1, 'champion', 50, { latencyMs: 10 }), ...answers(2, 'candidate', 20, { latencyMs: 21 })],
      canary,
    );
    expect(judgeStep(slow, policy, 0).reasons[0]).toMatch(/^p99 latency 21 ms against the champion's 10 ms: above the bound 20 ms/);
    const fine = rolloutEvidence(
      [...answers(1, 'champion', 50, { latencyMs: 10 }), ...answers(2, 'candidate', 20, { latencyMs: 20 })],
      canary,
    );
    expect(judgeStep(fine, policy, 0).decision).toBe('pass');
  });

  it("the metric's direction decides worse: a lower accuracy beyond the tolerance fails, within it passes", () => {
    const e = rolloutEvidence([...answers(1, 'champion', 20, { right: 18 }), ...answers(2, 'candidate', 20, { right: 16 })], canary);
    const v = judgeStep(e, policy, 0);
    expect(v.decision).toBe('fail');
    expect(v.reasons[0]).toMatch(/^accuracy 0\.8000 against the champion's 0\.9000 .* worse by 0\.1000 \(higher is better\)/);
    expect(judgeStep(e, { ...policy, tolerance: 0.1 }, 0).decision).toBe('pass');
  });

  it('for a lower-is-better metric a higher value is worse', () => {
    const champion: RolloutPrediction[] = Array.from({ length: 10 }, (_, i) => ({
      id: `c${i}`,
      version: 1,
      role: 'champion',
      output: { value: 1 },
      label: 1.5,
    }));
    const candidate: RolloutPrediction[] = Array.from({ length: 10 }, (_, i) => ({
      id: `n${i}`,
      version: 2,
      role: 'candidate',
      output: { value: 1 },
      label: 3,
    }));
    const e = rolloutEvidence([...champion, ...candidate], { ...canary, task: 'regression', metric: 'rmse' });
    expect(judgeStep(e, { ...policy, metric: 'rmse' }, 0).reasons[0]).toMatch(
      /^rmse 2\.0000 against the champion's 0\.5000 .*\(lower is better\)/,
    );
    const better = rolloutEvidence([...champion.map((c) => ({ ...c, label: 3 })), ...candidate.map((c) => ({ ...c, label: 1.5 }))], {
      ...canary,
      task: 'regression',
      metric: 'rmse',
    });
    expect(judgeStep(better, { ...policy, metric: 'rmse' }, 0).decision).toBe('pass');
  });

  it('with minLabelled 0 only health is judged, and a healthy candidate passes on requests alone', () => {
    const e = rolloutEvidence([...answers(1, 'champion', 50, { labelled: 0 }), ...answers(2, 'candidate', 10, { labelled: 0 })], canary);
    const v = judgeStep(e, { ...policy, minLabelled: 0 }, 0);
    expect(v.decision).toBe('pass');
    expect(v.reasons[0]).toMatch(/^no worse than the champion: 10 requests \(champion 50\)/);
  });
});
