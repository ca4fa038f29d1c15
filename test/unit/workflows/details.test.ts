import { ApprovalGate } from '../../../src/workflows/approval-gate';
import { approvalDetails, decisionDetails } from '../../../src/workflows/details';
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

  test('under identity: verified it says how to send a proven approval, names the run in the input, and whether the requester was verified', () => {
    const spec = testSpec({ approval: { approvers: ['bob@example.com'], identity: 'verified', timeout: '1h' } });
    const gate = new ApprovalGate(spec.approval, 'dave', {
      workflowId: 'toy-run',
      runId: 'r',
      startedAt: '2026-11-29T10:00:00.000Z',
      identityChecks: true,
    });
    const status: PipelineRunStatus = { model: 'toy', trigger: 'manual', requestedBy: 'dave', stage: 'approve', stages: [] };
    const text = approvalDetails({ spec, workflowId: 'toy-run', status, gate: gate.status() });
    expect(text).toContain('**Identity: verified**. Only approvals stamped by the codec server count');
    expect(text).toContain('Requested by dave (declared, not verified).');
    expect(text).toContain('`{"approver": "<your name>", "comment": "...", "workflowId": "toy-run"}`');
  });

  test('who approved stays in the details after the deploy, proven or typed', () => {
    const gate = new ApprovalGate(testSpec().approval, 'dave');
    gate.approve({ approver: 'alice', comment: 'fine' }, '2026-11-29T10:00:00.000Z');
    gate.approve({ approver: 'dave' }, '2026-11-29T10:00:01.000Z');
    const text = decisionDetails(gate.status());
    expect(text).toContain('- approved by alice (declared) at 2026-11-29T10:00:00.000Z: fine');
    expect(text).toContain('(1 request(s) refused;');
  });

  test('the model card is a link the project serves, not an s3 URI or a presigned URL', () => {
    const spec = testSpec();
    const status: PipelineRunStatus = { model: 'toy', trigger: 'manual', requestedBy: 'dave', stage: 'approve', stages: [], card: ref };
    const gate = new ApprovalGate(spec.approval, 'dave').status();
    const text = approvalDetails({ spec, workflowId: 'toy-run', status, gate, cardBaseUrl: 'https://codec.example' });
    expect(text).toContain(`**Model card**: [open the model card](https://codec.example/cards/${ref.sha256})`);
    expect(text).not.toContain('s3://');
  });
});

test('the metric table keeps its columns apart in the Temporal UI: aligned monospace columns, numbers right-aligned', () => {
  const spec = testSpec();
  const status: PipelineRunStatus = {
    model: 'toy',
    trigger: 'manual',
    requestedBy: 'dave',
    stage: 'approve',
    stages: STAGES.map((name) => ({ name, state: 'done' })),
    candidate: { accuracy: 0.84, balancedAccuracy: 0.5409, logLoss: 123.456 },
    champion: { version: 3, metrics: { accuracy: 0.82, balancedAccuracy: 0.5 } },
  };
  const text = approvalDetails({ spec, workflowId: 'toy-run', status, gate: new ApprovalGate(spec.approval, 'dave').status() });
  const block = text.slice(text.indexOf('```\n') + 4, text.indexOf('\n```', text.indexOf('```\n')));
  expect(block.split('\n')).toEqual([
    'metric             candidate   production (v3)',
    'accuracy              0.8400            0.8200',
    'balancedAccuracy      0.5409            0.5000',
    'logLoss                123.5                 -',
  ]);
  expect(text).not.toMatch(/^\|/m);
});
