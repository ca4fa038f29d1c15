import { renderRun } from '../../../src/cli/render';
import { STAGES, type PipelineRunStatus } from '../../../src/contracts';

const ref = { uri: 's3://mlops/blobs/sha256/ab/abc', sha256: 'ab'.repeat(32), size: 10 };

function view(status: Partial<PipelineRunStatus>) {
  const base: PipelineRunStatus = {
    model: 'm',
    trigger: 'manual',
    requestedBy: 'dave',
    stage: 'finished',
    stages: STAGES.map((name) => ({ name, state: 'done' })),
  };
  return { workflowId: 'm-run', runId: 'r', execution: 'COMPLETED', status: { ...base, ...status } };
}

describe('mlops status', () => {
  test('shows the servability stage in the timeline, in order', () => {
    const lines = renderRun(view({})).split('\n');
    expect(lines.findIndex((l) => l.includes('servability'))).toBe(lines.findIndex((l) => l.includes('validate')) + 1);
  });

  test('says plainly when a claim does not match our measurement, and shows validation notes', () => {
    const text = renderRun(
      view({
        candidate: { accuracy: 0.35 },
        claimMismatches: ['the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35'],
        validationNotes: ['production version 2 could not be loaded (Not servable: ...); this run is judged on its thresholds alone.'],
      }),
    );
    expect(text).toContain('! claimed vs measured: the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35');
    expect(text).toContain('note: production version 2 could not be loaded');
  });

  test('shows the data warnings and how many rows were dropped for a missing target', () => {
    const data = {
      rows: 190,
      snapshot: 'ab'.repeat(32),
      droppedMissingTarget: 10,
      warnings: ['column "extra" is not in the schema and is ignored'],
    };
    const text = renderRun(view({ data }));
    expect(text).toContain(`data: 190 rows, snapshot ${'ab'.repeat(6)}, 10 rows dropped (target missing)`);
    expect(text).toContain('! data warning: column "extra" is not in the schema and is ignored');
  });

  test('a failed servability check shows its problems and where its report is', () => {
    const servability = {
      passed: false,
      problems: ['the model disagrees with the program on 3 of 50 check rows'],
      notes: [],
      report: ref,
      flavor: 'onnx',
      sampleRows: 40,
    };
    const text = renderRun(view({ servability }));
    expect(text).toContain('servability check failed: the model disagrees with the program on 3 of 50 check rows');
    expect(text).toContain(`servability report: ${ref.uri}`);
  });
  test('a run in a rollout says where the rollout stands and how to steer it; a finished one how it ended', () => {
    const running = renderRun(view({ rollout: { workflowId: 'rollout-m-v2', strategy: 'canary', champion: 1, candidate: 2 } }));
    expect(running).toContain('rollout: canary of v2 against v1, under way (rollout-m-v2)');
    expect(running).toContain('mlops rollout status m');
    const ended = renderRun(
      view({
        rollout: {
          ...{ workflowId: 'rollout-m-v2', strategy: 'canary', champion: 1, candidate: 2 },
          ...{ outcome: 'rolled-back', reason: 'the candidate did worse: accuracy 0.3100 against 0.9000' },
        },
      }),
    );
    expect(ended).toContain(
      'rollout: canary of v2 against v1, rolled-back: the candidate did worse: accuracy 0.3100 against 0.9000 (rollout-m-v2)',
    );
    expect(ended).not.toContain('mlops rollout status');
  });
});
