import type { ApprovalPolicy } from '../../../src/contracts';
import { ApprovalGate } from '../../../src/workflows/approval-gate';

const policy: ApprovalPolicy = { approvers: ['alice', 'bob', 'carol'], quorum: 2, timeout: 86_400_000, onTimeout: 'reject' };
const t = (n: number) => `2026-11-22T10:00:0${n}.000Z`;

describe('the approval gate', () => {
  it('approves once a quorum of distinct allowed approvers agree, keeping who, when and the comment', () => {
    const gate = new ApprovalGate(policy, 'dave');
    expect(gate.approve({ approver: 'alice', comment: 'metrics look fine' }, t(1))).toMatchObject({ accepted: true, state: 'waiting' });
    expect(gate.decided).toBe(false);
    expect(gate.approve({ approver: 'bob' }, t(2))).toMatchObject({ accepted: true, state: 'approved' });
    expect(gate.decided).toBe(true);
    expect(gate.approvedBy).toEqual([
      { approver: 'alice', at: t(1), comment: 'metrics look fine' },
      { approver: 'bob', at: t(2), comment: undefined },
    ]);
  });

  it('a second approval from the same person does not count twice', () => {
    const gate = new ApprovalGate(policy);
    gate.approve({ approver: 'alice' }, t(1));
    const answer = gate.approve({ approver: 'alice' }, t(2));
    expect(answer).toMatchObject({ accepted: false, state: 'waiting' });
    expect(answer.reason).toMatch(/already approved/);
    expect(gate.status().approvals).toHaveLength(1);
    expect(gate.status().refused[0]).toMatchObject({ kind: 'approve', approver: 'alice' });
  });

  it('refuses an approver who is not on the list, and says who is', () => {
    const gate = new ApprovalGate(policy);
    const answer = gate.approve({ approver: 'mallory' }, t(1));
    expect(answer.accepted).toBe(false);
    expect(answer.reason).toBe('mallory is not an allowed approver (allowed: alice, bob, carol)');
  });

  it('the person who requested the run cannot approve it', () => {
    const gate = new ApprovalGate(policy, 'alice');
    expect(gate.approve({ approver: 'alice' }, t(1)).reason).toMatch(/cannot approve it \(no self-approval\)/);
    expect(gate.status().approvals).toEqual([]);
  });

  it('malformed payloads are recorded with what was expected, never thrown', () => {
    const gate = new ApprovalGate(policy);
    for (const bad of [null, 'alice', 42, [], {}, { approver: '' }, { approver: 7 }]) {
      const answer = gate.approve(bad, t(1));
      expect(answer.accepted).toBe(false);
      expect(answer.reason).toMatch(/malformed payload/);
    }
    expect(gate.status().refused).toHaveLength(7);
    expect(gate.status().state).toBe('waiting');
  });

  it('one rejection decides, with its reason; later signals are refused as after the decision', () => {
    const gate = new ApprovalGate(policy);
    gate.approve({ approver: 'alice' }, t(1));
    expect(gate.reject({ approver: 'bob', reason: 'recall dropped on fog' }, t(2))).toMatchObject({ accepted: true, state: 'rejected' });
    expect(gate.status().decidedBy).toBe('rejected by bob: recall dropped on fog');
    const late = gate.approve({ approver: 'carol' }, t(3));
    expect(late.accepted).toBe(false);
    expect(late.reason).toMatch(/already made \(rejected\)/);
  });

  it('a deadline without a decision rejects by default', () => {
    const gate = new ApprovalGate(policy);
    gate.approve({ approver: 'alice' }, t(1));
    expect(gate.expire(t(2))).toBeUndefined();
    expect(gate.status().state).toBe('timed-out');
    expect(gate.status().decidedBy).toMatch(/without 2 approval/);
  });

  it('a deadline can approve when the policy says so', () => {
    const gate = new ApprovalGate({ ...policy, onTimeout: 'approve' });
    gate.expire(t(1));
    expect(gate.status().state).toBe('approved');
  });

  it('escalation hands the decision to a second list with a new deadline', () => {
    const gate = new ApprovalGate({
      ...policy,
      quorum: 1,
      onTimeout: 'escalate',
      escalation: { approvers: ['erin'], timeout: 3_600_000, onTimeout: 'reject' },
    });
    expect(gate.expire(t(1))).toBe(3_600_000);
    expect(gate.status()).toMatchObject({ state: 'escalated', approvers: ['erin'] });
    expect(gate.approve({ approver: 'alice' }, t(2)).accepted).toBe(false);
    expect(gate.approve({ approver: 'erin' }, t(3))).toMatchObject({ accepted: true, state: 'approved' });
  });

  it('an escalation that also runs out ends with its own outcome', () => {
    const gate = new ApprovalGate({
      ...policy,
      onTimeout: 'escalate',
      escalation: { approvers: ['erin'], timeout: 1000, onTimeout: 'reject' },
    });
    gate.expire(t(1));
    expect(gate.expire(t(2))).toBeUndefined();
    expect(gate.status().state).toBe('timed-out');
  });

  it('a comment or reason longer than an approval keeps is refused whole, never cut', () => {
    const gate = new ApprovalGate(policy);
    const long = 'x'.repeat(2001);
    const answer = gate.approve({ approver: 'alice', comment: long }, t(1));
    expect(answer).toMatchObject({ accepted: false, state: 'waiting' });
    expect(answer.reason).toMatch(/the comment has 2001 characters, more than the 2000 an approval keeps: shorten it/);
    expect(gate.status().approvals).toEqual([]);
    const rejected = gate.reject({ approver: 'bob', reason: long }, t(2));
    expect(rejected).toMatchObject({ accepted: false, state: 'waiting' });
    expect(rejected.reason).toMatch(/the reason has 2001 characters/);
    expect(gate.approve({ approver: 'alice', comment: 'y'.repeat(2000) }, t(3))).toMatchObject({ accepted: true });
    expect(gate.approvedBy[0]!.comment).toHaveLength(2000);
  });

  it('refused requests past the hundred kept are counted, not dropped in silence', () => {
    const gate = new ApprovalGate(policy);
    for (let i = 0; i < 103; i++) gate.approve({ approver: 'mallory' }, t(1));
    expect(gate.status().refused).toHaveLength(100);
    expect(gate.status().refusedNotKept).toBe(3);
  });
});
