/**
 * The approval gate's rules, as plain deterministic code (no Temporal APIs), so the workflow stays a
 * readable orchestration and the rules are unit-tested on their own.
 *
 * Policy: an allowlist of approvers, a quorum of distinct approvers, no self-approval, and a deadline
 * whose outcome is reject, approve, or escalation to a second list with a new deadline. An invalid
 * request never fails the workflow: it is recorded with its reason.
 */

import type {
  Approval,
  ApprovalPolicy,
  ApprovalState,
  ApprovalStatus,
  ApproveRequest,
  GateAnswer,
  RefusedRequest,
  Rejection,
  RejectRequest,
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
    return `the ${key} has ${v.length} characters, more than the ${MAX_APPROVAL_TEXT} an approval keeps: shorten it (link to a longer note instead) and send it again`;
  }
  return undefined;
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

  constructor(
    private readonly policy: ApprovalPolicy,
    private readonly requestedBy?: string,
  ) {
    this.allowed = [...policy.approvers];
    this.quorum = policy.quorum;
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
    this.approvals.push({ approver: who.approver, at: now, comment: optionalText(payload, 'comment') });
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
    this.rejections.push({ approver: who.approver, at: now, reason });
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
      requestedBy: this.requestedBy,
      deadline: this.deadline,
      approvals: [...this.approvals],
      rejections: [...this.rejections],
      refused: [...this.refused],
      ...(this.refusedNotKept > 0 ? { refusedNotKept: this.refusedNotKept } : {}),
      decidedBy: this.decidedBy,
    };
  }

  private check(kind: 'approve' | 'reject', payload: unknown, now: string): { approver: string } | { refused: GateAnswer } {
    const parsed = approverOf(payload);
    if ('problem' in parsed) return { refused: this.refuse(kind, undefined, now, parsed.problem, payload) };
    const { approver } = parsed;
    const tooLong = textProblem(payload, kind === 'approve' ? 'comment' : 'reason');
    if (tooLong) return { refused: this.refuse(kind, approver, now, tooLong, payload) };
    if (this.decided)
      return {
        refused: this.refuse(kind, approver, now, `the decision was already made (${this.state}); this ${kind} was not counted`, payload),
      };
    if (!this.allowed.includes(approver)) {
      return {
        refused: this.refuse(kind, approver, now, `${approver} is not an allowed approver (allowed: ${this.allowed.join(', ')})`, payload),
      };
    }
    if (kind === 'approve' && this.requestedBy && approver === this.requestedBy) {
      return {
        refused: this.refuse(kind, approver, now, `${approver} requested this run and cannot approve it (no self-approval)`, payload),
      };
    }
    return { approver };
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
