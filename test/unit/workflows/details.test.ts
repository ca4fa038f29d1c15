import { ApprovalGate } from '../../../src/workflows/approval-gate';
import { approvalDetails } from '../../../src/workflows/details';
import { STAGES, type PipelineRunStatus } from '../../../src/contracts';
import { testSpec } from '../../helpers/fake-stages';

const ref = { uri: 's3://mlops/blobs/sha256/ab/abc', sha256: 'ab'.repeat(32), size: 10 };

describe('what an approver reads in the Temporal UI', () => {
  test("says when the program's claim does not match our measurement, the validation notes, and what the servability check found", () => {
    const spec = testSpec();
    const status: PipelineRunStatus = {
      model: 'toy',
      trigger: 'manual',
      requestedBy: 'dave',
      stage: 'approve',
      stages: STAGES.map((name) => ({ name, state: 'done' })),
      candidate: { accuracy: 0.35 },
      data: { rows: 69, snapshot: 'ab'.repeat(32), droppedMissingTarget: 4, warnings: ['island: 3 values not in the allowed categories'] },
      claimMismatches: ['the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35'],
      validationNotes: ['production version 2 could not be loaded (Not servable); this run is judged on its thresholds alone.'],
      servability: { passed: true, problems: [], notes: [], report: ref, flavor: 'onnx', sampleRows: 69, checkRows: 200, disagreeing: 0 },
    };
    const text = approvalDetails({ spec, workflowId: 'toy-run', status, gate: new ApprovalGate(spec.approval, 'dave').status() });
    expect(text).toContain('**Claimed vs measured**: the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35.');
    expect(text).toContain('**Dropped**: 4 rows whose target is missing (dataset.dropMissingTarget).');
    expect(text).toContain('**Data warning**: island: 3 values not in the allowed categories');
    expect(text).toContain(
      '**Note**: production version 2 could not be loaded (Not servable); this run is judged on its thresholds alone.',
    );
    expect(text).toContain(
      '**Servability**: the onnx model loads as the server loads it and answered 69 holdout rows; it agrees with its training program on 200 check rows.',
    );
  });
});
