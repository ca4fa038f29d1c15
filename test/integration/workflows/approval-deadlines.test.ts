import { Worker } from '@temporalio/worker';
import { namespacedActivities } from '../../../src/contracts/activity-names';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTimeSkipping } from '../../helpers/servers';
import { fakeStages, testSpec } from '../../helpers/fake-stages';
import { approveSignal, pipelineRunWorkflow, pipelineStatusQuery } from '../../../src/contracts';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
}, 10 * 60_000);
afterAll(async () => env?.teardown());

async function runWith(spec: ReturnType<typeof testSpec>, during?: (h: { workflowId: string }) => Promise<void>) {
  const stages = fakeStages();
  const taskQueue = `deadlines-${Math.random().toString(36).slice(2)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../../src/workflows'),
    activities: namespacedActivities(stages.activities),
  });
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(pipelineRunWorkflow, {
      taskQueue,
      workflowId: `deadline-${Date.now()}-${Math.random()}`,
      args: [{ spec, requestedBy: 'dave', trigger: 'manual', trainingTaskQueue: taskQueue }],
    });
    if (during) await during(handle);
    return handle.result();
  });
  return { result, stages };
}

describe('approval deadlines (time-skipping)', () => {
  it('a run nobody approves ends approval-timed-out after its deadline, and nothing is deployed', async () => {
    const started = await env.currentTimeMs();
    const { result, stages } = await runWith(testSpec());
    expect(result.status).toBe('approval-timed-out');
    expect(result.reason).toMatch(/deadline passed/);
    expect(stages.calls.deploy).toBeUndefined();
    // The test server skipped the hour instead of waiting it.
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(3_600_000);
  });

  it('a deadline whose policy approves deploys the candidate', async () => {
    const { result, stages } = await runWith(
      testSpec({ approval: { required: true, approvers: ['alice'], timeout: '2h', onTimeout: 'approve' } }),
    );
    expect(result.status).toBe('deployed');
    expect(stages.calls.deploy).toBe(1);
  });

  it('escalation: after the first deadline only the second list may approve, within its own deadline', async () => {
    const spec = testSpec({
      approval: {
        required: true,
        approvers: ['alice'],
        timeout: '1h',
        onTimeout: 'escalate',
        escalation: { approvers: ['erin'], timeout: '4h', onTimeout: 'reject' },
      },
    });
    const { result, stages } = await runWith(spec, async ({ workflowId }) => {
      const handle = env.client.workflow.getHandle(workflowId);
      // Skip past the first deadline; the gate escalates to erin.
      for (;;) {
        const s = await handle.query(pipelineStatusQuery);
        if (s.approval?.state === 'waiting') break;
        await env.sleep(1000);
      }
      await env.sleep('61 minutes');
      const escalated = await handle.query(pipelineStatusQuery);
      expect(escalated.approval?.state).toBe('escalated');
      expect(escalated.approval?.approvers).toEqual(['erin']);
      await handle.signal(approveSignal, { approver: 'alice' });
      await handle.signal(approveSignal, { approver: 'erin', comment: 'covering for alice' });
    });
    expect(result.status).toBe('deployed');
    const deployed = stages.deployed[0] as { approvals: { approver: string; comment?: string }[] };
    expect(deployed.approvals).toEqual([expect.objectContaining({ approver: 'erin', comment: 'covering for alice' })]);
  });

  it('an escalation that also runs out rejects', async () => {
    const spec = testSpec({
      approval: {
        required: true,
        approvers: ['alice'],
        timeout: '1h',
        onTimeout: 'escalate',
        escalation: { approvers: ['erin'], timeout: '1h', onTimeout: 'reject' },
      },
    });
    const { result } = await runWith(spec);
    expect(result.status).toBe('approval-timed-out');
  });
});
