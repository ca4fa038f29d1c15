/** deploy.strategy and deploy.rollout: defaults a user can rely on, and every mistake refused naming its field. */
import { parsePipelineSpec } from '../../../src/spec/pipeline';

const base = {
  model: 'm',
  dataset: { source: 'data.csv', target: 'y' },
  trainer: { name: 'logistic-regression' },
  validation: { champion: { metric: 'accuracy' } },
};

function problemsOf(doc: unknown): string {
  try {
    parsePipelineSpec(doc);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('deploy.strategy', () => {
  it('is direct by default, with no rollout', () => {
    const spec = parsePipelineSpec(base);
    expect(spec.deploy).toEqual({ alias: 'production', onChampionChanged: 'revalidate', strategy: 'direct' });
  });

  it('a canary with no rollout section gets the documented defaults: 10 %, 50 %, then the promotion', () => {
    const spec = parsePipelineSpec({ ...base, deploy: { strategy: 'canary' } });
    expect(spec.deploy.rollout).toEqual({
      steps: [0.1, 0.5, 1],
      evidence: { minRequests: 100, minLabelled: 30, maxWait: 3_600_000, checkEvery: 60_000 },
      compare: { tolerance: 0, maxErrorRateIncrease: 0.01, maxP99Ratio: 1.5, p99SlackMs: 5 },
      lateLabels: { onExpiry: 'rollback' },
      approveBefore: [],
    });
  });

  it('a shadow has no steps and routes nothing', () => {
    const spec = parsePipelineSpec({ ...base, deploy: { strategy: 'shadow', rollout: { evidence: { maxWait: '2h' } } } });
    expect(spec.deploy.rollout?.steps).toBeUndefined();
    expect(spec.deploy.rollout?.evidence.maxWait).toBe(7_200_000);
    const msg = problemsOf({ ...base, deploy: { strategy: 'shadow', rollout: { steps: [0.5, 1], routeBy: { field: 'x' } } } });
    expect(msg).toMatch(/deploy\.rollout\.steps: a shadow candidate answers no one/);
    expect(msg).toMatch(/deploy\.rollout\.routeBy: a shadow sees every request/);
  });

  it('steps must increase and end at the promotion; shares stay within (0, 1]', () => {
    const msg = problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { steps: [0.5, 0.2, 0.9] } } });
    expect(msg).toMatch(/deploy\.rollout\.steps\[1\]: steps must increase: 0\.2 follows 0\.5/);
    expect(msg).toMatch(/deploy\.rollout\.steps: the last step must be 1/);
    expect(problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { steps: [0, 1] } } })).toMatch(
      /deploy\.rollout\.steps\[0\]: expected a share above 0/,
    );
    expect(problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { steps: [0.5, 1.5] } } })).toMatch(
      /deploy\.rollout\.steps\[1\]: expected a share of at most 1/,
    );
  });

  it('a rollout section with the direct strategy is refused, not ignored', () => {
    expect(problemsOf({ ...base, deploy: { rollout: { steps: [0.1, 1] } } })).toMatch(
      /deploy\.rollout: a rollout is read only with strategy shadow or canary/,
    );
    expect(problemsOf({ ...base, deploy: { strategy: 'blue-green' } })).toMatch(/deploy\.strategy/);
  });

  it('the compared metric defaults to the champion metric, and is required when labels are awaited without one', () => {
    const noMetric = { ...base, validation: {} };
    expect(problemsOf({ ...noMetric, deploy: { strategy: 'canary' } })).toMatch(
      /deploy\.rollout\.compare\.metric: name the metric compared on labelled traffic/,
    );
    expect(problemsOf({ ...noMetric, deploy: { strategy: 'canary', rollout: { evidence: { minLabelled: 0 } } } })).toBe('');
    expect(problemsOf({ ...noMetric, deploy: { strategy: 'canary', rollout: { compare: { metric: 'acuracy' } } } })).toMatch(
      /deploy\.rollout\.compare\.metric: unknown metric "acuracy"/,
    );
  });

  it('a metric of the other task is refused when the schema declares the task', () => {
    const doc = {
      ...base,
      dataset: {
        source: 'd.csv',
        schema: {
          columns: [
            { name: 'x', type: 'numeric' },
            { name: 'y', type: 'numeric' },
          ],
          target: 'y',
          features: ['x'],
          task: 'regression',
        },
      },
      validation: {},
      deploy: { strategy: 'canary', rollout: { compare: { metric: 'accuracy' }, routeBy: { field: 'customer' } } },
    };
    const msg = problemsOf(doc);
    expect(msg).toMatch(/deploy\.rollout\.compare\.metric: "accuracy" is a classification metric/);
    expect(msg).toMatch(/deploy\.rollout\.routeBy\.field: "customer" is not a feature of the model \(features: x\)/);
  });

  it('steps that need a person need approvers, and must be steps of the rollout', () => {
    expect(problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { approveBefore: [1] } } })).toMatch(
      /deploy\.rollout\.approveBefore: a rollout step that asks a person needs approval\.approvers/,
    );
    expect(problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { lateLabels: { onExpiry: 'ask' } } } })).toMatch(
      /deploy\.rollout\.lateLabels\.onExpiry: a rollout step that asks a person needs approval\.approvers/,
    );
    const withApprovers = { ...base, approval: { approvers: ['alice'] } };
    expect(problemsOf({ ...withApprovers, deploy: { strategy: 'canary', rollout: { approveBefore: [0.3] } } })).toMatch(
      /deploy\.rollout\.approveBefore\[0\]: 0\.3 is not a step of this rollout \(steps: 0\.1, 0\.5, 1\)/,
    );
    expect(problemsOf({ ...withApprovers, deploy: { strategy: 'shadow', rollout: { approveBefore: [1] } } })).toBe('');
  });

  it('the label bound counts from the step start, so it cannot be shorter than maxWait', () => {
    expect(
      problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { evidence: { maxWait: '2h' }, lateLabels: { bound: '1h' } } } }),
    ).toMatch(/deploy\.rollout\.lateLabels\.bound: the label bound counts from the step's start/);
    expect(
      problemsOf({ ...base, deploy: { strategy: 'canary', rollout: { evidence: { maxWait: '2h' }, lateLabels: { bound: '3d' } } } }),
    ).toBe('');
  });
});
