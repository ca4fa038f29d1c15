/**
 * The approval gate under `identity: verified`: only requests whose stamp verified count, the verified identity
 * (not the typed name) is who approved, and a stamp counts only for the run it names, made after that run started,
 * once. Payloads are stamped and read back by the real core functions, as the codec server and the worker's codec do.
 */
import type { ApprovalPolicy } from '../../../src/contracts';
import { generateStampKeys, readSigningKey, readTrustedKeys } from '../../../src/identity/stamp';
import { markForged, readStamped, stampValue } from '../../../src/identity/stamping';
import { ApprovalGate, type GateRun } from '../../../src/workflows/approval-gate';

const keys = generateStampKeys();
const key = readSigningKey(keys.privateKeyPem, 'test key');
const trusted = readTrustedKeys(keys.publicKeyPem, 'test keys');
const started = '2026-11-29T10:00:00.000Z';
const run: GateRun = { workflowId: 'churn-manual-1', runId: 'run-1', startedAt: started, identityChecks: true };
const at = (min: number) => new Date(Date.parse(started) + min * 60_000);
const policy: ApprovalPolicy = {
  approvers: ['alice@example.com', 'bob@example.com', 'group:ml-leads'],
  identity: 'verified',
  quorum: 2,
  timeout: 86_400_000,
  onTimeout: 'reject',
};
const person = (email: string, groups?: string[]) => ({
  identity: email,
  claim: 'email',
  issuer: 'https://id.example',
  subject: `sub-${email}`,
  tokenId: `jti-${email}`,
  expiresAt: '2030-01-01T00:00:00.000Z',
  ...(groups ? { groups } : {}),
});
/** An approval as the worker's codec hands it to the workflow: stamped by the codec server for `who`, then verified. */
const stamped = (typed: Record<string, unknown>, who: ReturnType<typeof person>, when = at(1)) =>
  readStamped(stampValue(typed, 'approval', who, { namespace: 'default', now: when }, key), trusted);

describe('the approval gate under identity: verified', () => {
  it('a payload typed as "alice" with bob\'s token counts as bob, with the proof kept', () => {
    const gate = new ApprovalGate(policy, 'carol@example.com', run);
    const answer = gate.approve(
      stamped({ approver: 'alice@example.com', workflowId: run.workflowId }, person('bob@example.com')),
      at(2).toISOString(),
    );
    expect(answer).toMatchObject({ accepted: true });
    const [approval] = gate.approvedBy;
    expect(approval).toMatchObject({
      approver: 'bob@example.com',
      verified: {
        issuer: 'https://id.example',
        subject: 'sub-bob@example.com',
        tokenId: 'jti-bob@example.com',
        declared: 'alice@example.com',
      },
    });
    expect(approval!.verified!.proof.keyId).toBe(keys.keyId);
    expect(gate.status()).toMatchObject({ identity: 'verified', requesterVerified: false });
  });

  it('refuses a declared-only approval and records why', () => {
    const gate = new ApprovalGate(policy, 'carol@example.com', run);
    const answer = gate.approve({ approver: 'alice@example.com' }, at(2).toISOString());
    expect(answer.accepted).toBe(false);
    expect(answer.reason).toMatch(/^declared-only approve: "alice@example.com" was typed, not proven, and approval.identity is verified/);
    expect(gate.status().refused[0]).toMatchObject({ kind: 'approve', approver: 'alice@example.com' });
  });

  it('refuses a stamp replayed from another run, and one made before this run started (an earlier run of the same id)', () => {
    const gate = new ApprovalGate(policy, undefined, run);
    const other = gate.approve(stamped({ approver: 'x', workflowId: 'churn-manual-0' }, person('bob@example.com')), at(2).toISOString());
    expect(other.reason).toMatch(/the stamp is for run churn-manual-0, not this one \(churn-manual-1\): a stamp replayed from another run/);
    const earlier = gate.approve(
      stamped({ approver: 'x', workflowId: run.workflowId }, person('bob@example.com'), at(-30)),
      at(2).toISOString(),
    );
    expect(earlier.reason).toMatch(/before this run started \(2026-11-29T10:00:00.000Z\): it was replayed from an earlier run/);
    const noRun = gate.approve(stamped({ approver: 'x' }, person('bob@example.com')), at(2).toISOString());
    expect(noRun.reason).toMatch(/the stamp names no run: .*"workflowId": "churn-manual-1"/);
    expect(gate.status().approvals).toEqual([]);
  });

  it('a stamp counts once: the same stamped payload sent again is refused', () => {
    const gate = new ApprovalGate({ ...policy, quorum: 3 }, undefined, run);
    const payload = stamped({ approver: 'bob', workflowId: run.workflowId }, person('bob@example.com'));
    expect(gate.approve(payload, at(2).toISOString()).accepted).toBe(true);
    expect(gate.approve(payload, at(3).toISOString()).reason).toMatch(/already used: a stamp counts once/);
  });

  it('refuses a tampered stamp and a payload that brings its own verification', () => {
    const gate = new ApprovalGate(policy, undefined, run);
    const proof = stampValue({ approver: 'x', workflowId: run.workflowId }, 'approval', person('mallory@example.com'), { now: at(1) }, key);
    const tampered = readStamped({ ...proof, signed: proof.signed.replaceAll('mallory@example.com', 'alice@example.com') }, trusted);
    expect(gate.approve(tampered, at(2).toISOString()).reason).toMatch(
      /^the identity stamp does not hold: the stamp's signature does not match/,
    );
    const forged = markForged({ approver: 'alice@example.com', $identity: { verified: true, stamp: { identity: 'alice@example.com' } } });
    expect(gate.approve(forged, at(2).toISOString()).reason).toMatch(/carried its own "\$identity" field/);
    expect(gate.status().approvals).toEqual([]);
  });

  it('an allowlisted group admits a verified member; the quorum counts distinct verified people', () => {
    const gate = new ApprovalGate(policy, undefined, run);
    gate.approve(stamped({ approver: 'dave', workflowId: run.workflowId }, person('dave@example.com', ['ml-leads'])), at(2).toISOString());
    const answer = gate.approve(
      stamped({ approver: 'dave', workflowId: run.workflowId }, person('alice@example.com')),
      at(3).toISOString(),
    );
    expect(answer).toMatchObject({ accepted: true, state: 'approved' });
    expect(gate.approvedBy.map((a) => a.approver)).toEqual(['dave@example.com', 'alice@example.com']);
    const outsider = new ApprovalGate(policy, undefined, run).approve(
      stamped({ approver: 'alice@example.com', workflowId: run.workflowId }, person('eve@example.com', ['interns'])),
      at(2).toISOString(),
    );
    expect(outsider.reason).toBe(
      'eve@example.com is not an allowed approver (verified groups: interns) (allowed: alice@example.com, bob@example.com, group:ml-leads)',
    );
  });

  it('a verified requester cannot approve their own run, whatever name they type; self-approval is named before the allowlist', () => {
    const requester = readStamped(
      stampValue({ spec: {}, requestedBy: 'someone' }, 'request', person('eve@example.com'), { now: at(0) }, key),
      trusted,
    );
    const gate = new ApprovalGate({ ...policy, approvers: ['alice@example.com'] }, 'someone', {
      ...run,
      requester: requester.$identity as never,
    });
    expect(gate.status()).toMatchObject({ requestedBy: 'eve@example.com', requesterVerified: true });
    const answer = gate.approve(
      stamped({ approver: 'alice@example.com', workflowId: run.workflowId }, person('eve@example.com')),
      at(2).toISOString(),
    );
    expect(answer.reason).toBe('eve@example.com requested this run and cannot approve it (no self-approval) (both identities verified)');
  });

  it('under identity: declared a typed name still counts, and a verified stamp counts as its verified identity', () => {
    const gate = new ApprovalGate({ ...policy, identity: 'declared' }, undefined, run);
    expect(gate.approve({ approver: 'alice@example.com' }, at(2).toISOString()).accepted).toBe(true);
    gate.approve(stamped({ approver: 'alice@example.com', workflowId: run.workflowId }, person('bob@example.com')), at(3).toISOString());
    expect(gate.approvedBy.map((a) => [a.approver, Boolean(a.verified)])).toEqual([
      ['alice@example.com', false],
      ['bob@example.com', true],
    ]);
  });

  it('runs replayed from before identity policies ignore stamps and read the typed name', () => {
    const gate = new ApprovalGate(policy, undefined, { ...run, identityChecks: false });
    expect(gate.approve({ approver: 'alice@example.com' }, at(2).toISOString()).accepted).toBe(true);
    expect(gate.status().identity).toBeUndefined();
  });
});
