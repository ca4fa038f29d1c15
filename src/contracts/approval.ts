/**
 * The approval gate's vocabulary: what approvers send, what the gate answers, and the snapshot `status` shows.
 * Types only (the rules live in src/workflows/approval-gate.ts); the CLI, activities and workflows share them.
 */

/** What an approver sends with the `approve` signal. */
export interface ApproveRequest {
  approver: string;
  comment?: string;
}

/** What an approver sends with the `reject` signal. */
export interface RejectRequest {
  approver: string;
  reason?: string;
}

/** An approval, as it goes into the version's manifest. */
export interface Approval {
  approver: string;
  at: string;
  comment?: string;
}

/** A rejection. */
export interface Rejection {
  approver: string;
  at: string;
  reason?: string;
}

/** A request the gate refused, kept so `status` can show why. */
export interface RefusedRequest {
  kind: 'approve' | 'reject';
  approver?: string;
  at: string;
  reason: string;
  payload?: unknown;
}

/** The approval policy, with durations in milliseconds. */
export interface ApprovalPolicy {
  approvers: string[];
  quorum: number;
  timeout: number;
  onTimeout: 'reject' | 'approve' | 'escalate';
  escalation?: { approvers: string[]; timeout: number; onTimeout: 'reject' | 'approve' };
}

/** Where the gate stands. */
export type ApprovalState = 'waiting' | 'escalated' | 'approved' | 'rejected' | 'timed-out';

/** The answer to an approve or reject request (the `decide` Update returns it). */
export interface GateAnswer {
  accepted: boolean;
  reason: string;
  state: ApprovalState;
}

/** A snapshot of the gate, for `status` and the Temporal UI. */
export interface ApprovalStatus {
  state: ApprovalState;
  approvers: string[];
  quorum: number;
  requestedBy?: string;
  deadline?: string;
  approvals: Approval[];
  rejections: Rejection[];
  refused: RefusedRequest[];
  /** Refused requests past the first 100, counted but not kept (so a flood cannot grow the workflow's state). */
  refusedNotKept?: number;
  /** How the decision was reached (quorum, rejection by someone, deadline outcome). */
  decidedBy?: string;
}
