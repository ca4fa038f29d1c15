/**
 * The approval wait of `pipelineRun`, as Temporal's expense sample has it: handlers that feed the gate, then
 * `condition(() => decided, timeout)`. The rules (quorum, allowlist, deadline outcomes) are the gate's
 * (approval-gate.ts); this file only wires them to signals, the Update and the workflow's clock.
 */
import { condition, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { approveSignal, decideUpdate, rejectSignal, type ApprovalPolicy, type ApprovalStatus, type IdentityFinding } from '../contracts';
import { ApprovalGate } from './approval-gate';

/** How the wait is told when to give up, who asked, and how its workflow asks patches. */
export interface ApprovalWaitOptions {
  /** Ends the wait undecided when it turns true (a rollout aborted while it asks a person). */
  interrupted?: () => boolean;
  /** The requester's identity as the payload codec found it. */
  requester?: IdentityFinding;
  /** How the workflow asks its patches (default `patched`; `pipelinePatched` in a pipeline run). */
  patched?: (patchId: string) => boolean;
}

/**
 * Waits until the gate decides (or its deadlines, escalation included, run out) and returns the gate.
 * `onChange` is called with the gate's status after every request and deadline, so `status` and the UI stay current.
 */
export async function awaitApproval(
  policy: ApprovalPolicy,
  requestedBy: string,
  onChange: (status: ApprovalStatus) => void,
  options: ApprovalWaitOptions = {},
): Promise<ApprovalGate> {
  const { interrupted = () => false, requester, patched: ask = patched } = options;
  const { workflowId, runId, runStartTime } = workflowInfo();
  // Runs started before identity policies existed replay reading the typed name only.
  const identityChecks = ask('approval-identity');
  const gate = new ApprovalGate(policy, requestedBy, {
    workflowId,
    runId,
    startedAt: runStartTime.toISOString(),
    identityChecks,
    ...(requester ? { requester } : {}),
  });
  const changed = () => onChange(gate.status());
  const now = () => new Date().toISOString();
  setHandler(approveSignal, (req) => void (gate.approve(req, now()), changed()), {
    description:
      'Approve the candidate model. Input: {"approver": "alice", "comment": "optional", "workflowId": "<this run\'s workflow id>"}',
  });
  setHandler(rejectSignal, (req) => void (gate.reject(req, now()), changed()), {
    description: 'Reject the candidate model. Input: {"approver": "bob", "reason": "why"}',
  });
  setHandler(
    decideUpdate,
    (req) => {
      const payload = req && typeof req === 'object' ? req : {};
      const answer = (payload as { decision?: string }).decision === 'reject' ? gate.reject(payload, now()) : gate.approve(payload, now());
      changed();
      return answer;
    },
    {
      description:
        'Approve or reject, answering whether the decision was accepted and why not. Input: {"decision": "approve", "approver": "alice"}',
    },
  );
  let timeout: number | undefined = policy.timeout;
  while (timeout !== undefined) {
    gate.setDeadline(new Date(Date.now() + timeout).toISOString());
    changed();
    if (await condition(() => gate.decided || interrupted(), timeout)) break;
    timeout = gate.expire(now());
  }
  changed();
  return gate;
}
