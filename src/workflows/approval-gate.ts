/**
 * The approval gate's rules, as plain deterministic code (no Temporal APIs), so the workflow stays a
 * readable orchestration and the rules are unit-tested on their own.
 *
 * Policy: an allowlist of approvers (names, or `group:<name>` for verified group members), a quorum of distinct
 * approvers, no self-approval, and a deadline whose outcome is reject, approve, or escalation to a second list with a
 * new deadline. Under `identity: verified` only requests whose identity stamp verified count, and the stamp must be
 * for this run, made after it started, and used once. An invalid request never fails the workflow: it is recorded
 * with its reason.
 */

import {
  IDENTITY_KEY,
  type Approval,
  type ApprovalPolicy,
  type ApprovalState,
  type ApprovalStatus,
  type ApproveRequest,
  type GateAnswer,
  type IdentityFinding,
  type IdentityMode,
  type RefusedRequest,
  type Rejection,
  type RejectRequest,
  type VerifiedIdentityRecord,
} from '../contracts/approval';

const MAX_REFUSED = 100;

/** Reads an untrusted signal payload into an approver name, or explains what is wrong with it. */
function approverOf(payload: unknown): { approver: string } | { problem: string } {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { problem: 'malformed payload: expected a JSON object like {"approver": "alice"}' };
  }
  const approver = (payload as { approver?: unknown }).approver;
  if (typeof approver !== 'string' || approver.trim() === '') {
    return { problem: 'malformed payload: "approver" must be a non-empty string, e.g. {"approver": "alice"}' };
  }
  if (approver.trim().length > MAX_APPROVER_NAME) {
    return {
      problem: `malformed payload: "approver" has ${approver.trim().length} characters, more than the ${MAX_APPROVER_NAME} a name may have`,
    };
  }
  return { approver: approver.trim() };
}

/** Longest comment or reason an approval keeps; a longer one is refused, never cut. */
export const MAX_APPROVAL_TEXT = 2000;

/** Longest approver name accepted (as in the spec's approver lists). */
export const MAX_APPROVER_NAME = 128;

function optionalText(payload: unknown, key: string): string | undefined {
  const v = (payload as Record<string, unknown>)[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Why a payload's free text cannot be kept whole, or undefined when it fits. */
function textProblem(payload: unknown, key: 'comment' | 'reason'): string | undefined {
  const v = (payload as Record<string, unknown>)[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return `malformed payload: "${key}" must be a string`;
  if (v.length > MAX_APPROVAL_TEXT) {
    return (
      `the ${key} has ${v.length} characters, more than the ${MAX_APPROVAL_TEXT} an approval keeps: ` +
      `shorten it (link to a longer note instead) and send it again`
    );
  }
  return undefined;
}

/** How far a stamp's time may be off the workflow's clock (the codec server's and the worker's clocks differ a little). */
export const STAMP_CLOCK_SKEW_MS = 5 * 60_000;

/** The run the gate decides for: what a verified stamp must be bound to. */
export interface GateRun {
  workflowId: string;
  runId: string;
  /** When this run started (ISO): a stamp made before it was made for an earlier run. */
  startedAt: string;
  /** Whether stamps are read at all (false when replaying runs started before identity policies existed). */
  identityChecks: boolean;
  /** What the payload codec found on the run's own input, for the requester. */
  requester?: IdentityFinding;
}

/** Who sent a request, as far as the gate can tell. */
interface Sender {
  approver: string;
  groups: string[];
  verified?: VerifiedIdentityRecord;
  nonce?: string;
}

/** Reads the payload codec's finding from a payload, if it has one. */
export function identityFinding(payload: unknown): IdentityFinding | undefined {
  if (typeof payload !== 'object' || payload === null || !(IDENTITY_KEY in payload)) return undefined;
  const f = (payload as Record<string, unknown>)[IDENTITY_KEY] as IdentityFinding | undefined;
  if (typeof f !== 'object' || f === null) return { verified: false, problem: `malformed "${IDENTITY_KEY}" field` };
  return f;
}

function recordOf(f: Extract<IdentityFinding, { verified: true }>): VerifiedIdentityRecord {
  const { stamp, proof } = f;
  return {
    issuer: stamp.issuer,
    subject: stamp.subject,
    claim: stamp.claim,
    ...(stamp.tokenId ? { tokenId: stamp.tokenId } : {}),
    ...(stamp.groups?.length ? { groups: [...stamp.groups] } : {}),
    stampedAt: stamp.at,
    ...(stamp.declared ? { declared: stamp.declared } : {}),
    proof,
  };
}

/** The gate's state machine. `now` is passed in so the workflow supplies deterministic time. */
export class ApprovalGate {
  private state: ApprovalState = 'waiting';
  private allowed: string[];
  private quorum: number;
  private readonly approvals: Approval[] = [];
  private readonly rejections: Rejection[] = [];
  private readonly refused: RefusedRequest[] = [];
  private refusedNotKept = 0;
  private decidedBy?: string;
  private deadline?: string;
  private readonly usedNonces = new Set<string>();
  private readonly identity: IdentityMode;
  private readonly requester?: string;
  private readonly requesterVerified?: boolean;

  constructor(
    private readonly policy: ApprovalPolicy,
    requestedBy?: string,
    private readonly run?: GateRun,
  ) {
    this.allowed = [...policy.approvers];
    this.quorum = policy.quorum;
    this.identity = policy.identity ?? 'declared';
    this.requester = requestedBy;
    if (run?.identityChecks) {
      const found = run.requester;
      if (found?.verified && found.stamp.kind === 'request') {
        this.requester = found.stamp.identity;
        this.requesterVerified = true;
      } else {
        this.requesterVerified = false;
      }
    }
  }

  /** Whether the gate has reached a decision. */
  get decided(): boolean {
    return this.state === 'approved' || this.state === 'rejected' || this.state === 'timed-out';
  }

  /** The approvals collected so far (they go into the version's manifest). */
  get approvedBy(): Approval[] {
    return [...this.approvals];
  }

  /** Records the deadline currently in force (for display). */
  setDeadline(at: string): void {
    this.deadline = at;
  }

  /** Handles an `approve` request. */
  approve(payload: unknown, now: string): GateAnswer {
    const who = this.check('approve', payload, now);
    if ('refused' in who) return who.refused;
    if (this.approvals.some((a) => a.approver === who.approver)) {
      return this.refuse(
        'approve',
        who.approver,
        now,
        `${who.approver} has already approved; a second approval from the same person does not count twice`,
        payload,
      );
    }
    this.approvals.push({
      approver: who.approver,
      at: now,
      comment: optionalText(payload, 'comment'),
      ...(who.verified ? { verified: who.verified } : {}),
    });
    if (this.approvals.length >= this.quorum) {
      this.state = 'approved';
      this.decidedBy = `quorum of ${this.quorum} reached (${this.approvals.map((a) => a.approver).join(', ')})`;
      return { accepted: true, reason: `approved: ${this.decidedBy}`, state: this.state };
    }
    return { accepted: true, reason: `approval recorded (${this.approvals.length} of ${this.quorum})`, state: this.state };
  }

  /** Handles a `reject` request: one valid rejection decides. */
  reject(payload: unknown, now: string): GateAnswer {
    const who = this.check('reject', payload, now);
    if ('refused' in who) return who.refused;
    const reason = optionalText(payload, 'reason');
    this.rejections.push({ approver: who.approver, at: now, reason, ...(who.verified ? { verified: who.verified } : {}) });
    this.state = 'rejected';
    this.decidedBy = `rejected by ${who.approver}${reason ? `: ${reason}` : ''}`;
    return { accepted: true, reason: this.decidedBy, state: this.state };
  }

  /**
   * The deadline passed without a decision. Returns the next deadline (ms) when the gate escalates,
   * or undefined when the gate has now decided.
   */
  expire(now: string): number | undefined {
    if (this.decided) return undefined;
    const escalation = this.policy.escalation;
    if (this.state === 'waiting' && this.policy.onTimeout === 'escalate' && escalation) {
      this.state = 'escalated';
      this.allowed = [...escalation.approvers];
      this.quorum = Math.min(this.quorum, escalation.approvers.length);
      this.decidedBy = undefined;
      return escalation.timeout;
    }
    const outcome = this.state === 'escalated' ? escalation!.onTimeout : this.policy.onTimeout;
    if (outcome === 'approve') {
      this.state = 'approved';
      this.decidedBy = `deadline passed at ${now}; the policy approves on timeout`;
    } else {
      this.state = 'timed-out';
      this.decidedBy = `deadline passed at ${now} without ${this.quorum} approval(s)`;
    }
    return undefined;
  }

  /** The current state, for `status`. */
  status(): ApprovalStatus {
    return {
      state: this.state,
      approvers: [...this.allowed],
      quorum: this.quorum,
      ...(this.run?.identityChecks ? { identity: this.identity, requesterVerified: this.requesterVerified } : {}),
      requestedBy: this.requester,
      deadline: this.deadline,
      approvals: [...this.approvals],
      rejections: [...this.rejections],
      refused: [...this.refused],
      ...(this.refusedNotKept > 0 ? { refusedNotKept: this.refusedNotKept } : {}),
      decidedBy: this.decidedBy,
    };
  }

  private check(kind: 'approve' | 'reject', payload: unknown, now: string): Sender | { refused: GateAnswer } {
    const parsed = approverOf(payload);
    if ('problem' in parsed) return { refused: this.refuse(kind, undefined, now, parsed.problem, payload) };
    const sender = this.senderOf(kind, parsed.approver, payload, now);
    if ('refused' in sender) return sender;
    const { approver } = sender;
    const tooLong = textProblem(payload, kind === 'approve' ? 'comment' : 'reason');
    if (tooLong) return { refused: this.refuse(kind, approver, now, tooLong, payload) };
    if (this.decided)
      return {
        refused: this.refuse(kind, approver, now, `the decision was already made (${this.state}); this ${kind} was not counted`, payload),
      };
    // Self-approval first: a requester who is also not on the list learns the rule that matters.
    if (kind === 'approve' && this.requester && approver === this.requester) {
      const how = this.requesterVerified ? ' (both identities verified)' : '';
      return {
        refused: this.refuse(kind, approver, now, `${approver} requested this run and cannot approve it (no self-approval)${how}`, payload),
      };
    }
    if (!this.allowed.includes(approver) && !sender.groups.some((g) => this.allowed.includes(`group:${g}`))) {
      const groups = sender.groups.length ? ` (verified groups: ${sender.groups.join(', ')})` : '';
      return {
        refused: this.refuse(
          kind,
          approver,
          now,
          `${approver} is not an allowed approver${groups} (allowed: ${this.allowed.join(', ')})`,
          payload,
        ),
      };
    }
    if (sender.nonce !== undefined) this.usedNonces.add(sender.nonce);
    return sender;
  }

  /** Who sent the request: the typed name, or under identity checks the stamp's verified identity; refused when the stamp does not hold. */
  private senderOf(kind: 'approve' | 'reject', typed: string, payload: unknown, now: string): Sender | { refused: GateAnswer } {
    if (!this.run?.identityChecks) return { approver: typed, groups: [] };
    const found = identityFinding(payload);
    if (!found) {
      if (this.identity === 'declared') return { approver: typed, groups: [] };
      return {
        refused: this.refuse(
          kind,
          typed,
          now,
          `declared-only ${kind}: "${typed}" was typed, not proven, and approval.identity is verified, so only requests stamped by the ` +
            'codec server count (send it from the Temporal UI signed in with "pass the user access token" on, or with mlops approve and a token)',
          payload,
        ),
      };
    }
    if (!found.verified)
      return {
        refused: this.refuse(kind, typed, now, `the identity stamp does not hold: ${found.problem}; the ${kind} was not counted`, payload),
      };
    const { stamp } = found;
    const problem = this.bindingProblem(stamp, now);
    if (problem) return { refused: this.refuse(kind, stamp.identity, now, `${problem}; the ${kind} was not counted`, payload) };
    return { approver: stamp.identity, groups: stamp.groups ?? [], verified: recordOf(found), nonce: stamp.nonce };
  }

  /** Why a verified stamp does not count here (another run, another time, used before), or undefined. */
  private bindingProblem(stamp: Extract<IdentityFinding, { verified: true }>['stamp'], now: string): string | undefined {
    const run = this.run!;
    if (stamp.kind !== 'approval') return `the stamp is a ${stamp.kind} stamp, not an approval's`;
    if (!stamp.workflowId)
      return `the stamp names no run: an approval must say which run it is for ("workflowId": "${run.workflowId}" in its input)`;
    if (stamp.workflowId !== run.workflowId)
      return `the stamp is for run ${stamp.workflowId}, not this one (${run.workflowId}): a stamp replayed from another run does not count`;
    if (stamp.runId && stamp.runId !== run.runId)
      return `the stamp is for run ${stamp.runId} of ${stamp.workflowId}, not this run (${run.runId}): a stamp replayed from another run does not count`;
    const at = Date.parse(stamp.at);
    if (!Number.isFinite(at)) return `the stamp's time "${stamp.at}" is not a time`;
    if (at < Date.parse(run.startedAt) - STAMP_CLOCK_SKEW_MS)
      return `the stamp was made at ${stamp.at}, before this run started (${run.startedAt}): it was replayed from an earlier run of ${run.workflowId}`;
    if (at > Date.parse(now) + STAMP_CLOCK_SKEW_MS) return `the stamp was made at ${stamp.at}, in the future of this run's clock (${now})`;
    if (this.usedNonces.has(stamp.nonce)) return `this stamp (nonce ${stamp.nonce}) was already used: a stamp counts once`;
    return undefined;
  }

  private refuse(kind: 'approve' | 'reject', approver: string | undefined, now: string, reason: string, payload: unknown): GateAnswer {
    if (this.refused.length < MAX_REFUSED) this.refused.push({ kind, approver, at: now, reason, payload: safePayload(payload) });
    else this.refusedNotKept += 1;
    return { accepted: false, reason, state: this.state };
  }
}

/** Keeps a refused payload small enough for the workflow's state. */
function safePayload(payload: unknown): unknown {
  try {
    const text = JSON.stringify(payload);
    return text !== undefined && text.length <= 500 ? payload : `${String(text).slice(0, 500)}...`;
  } catch {
    return '[unserialisable payload]';
  }
}
