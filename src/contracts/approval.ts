/**
 * The approval gate's vocabulary: what approvers send, what the gate answers, and the snapshot `status` shows.
 * Types only (the rules live in src/workflows/approval-gate.ts); the CLI, activities and workflows share them.
 */
import type { IdentityStamp, StampProof, VerifiedIdentityRecord } from '../identity/types';

export type { IdentityStamp, StampProof, VerifiedIdentityRecord };

/** What an approver sends with the `approve` signal. */
export interface ApproveRequest {
  approver: string;
  comment?: string;
  /** The workflow the approval is for; a verified approval's stamp is bound to it. */
  workflowId?: string;
}

/** What an approver sends with the `reject` signal. */
export interface RejectRequest {
  approver: string;
  reason?: string;
  workflowId?: string;
}

/**
 * The key under which the worker's payload codec tells the workflow what it found about a payload's identity stamp.
 * Only the codec writes it: a payload that arrives with this key of its own is marked as forged.
 */
export const IDENTITY_KEY = '$identity';

/** How far the gate trusts the name in a request (spec `approval.identity`). */
export type IdentityMode = 'declared' | 'verified';

/** What the worker's payload codec found: a stamp whose signature verified (with its proof), or why not. */
export type IdentityFinding = { verified: true; stamp: IdentityStamp; proof: StampProof } | { verified: false; problem: string };

/** An approval, as it goes into the version's manifest. */
export interface Approval {
  approver: string;
  at: string;
  comment?: string;
  /** Present when the approver's identity was proven by a token (the codec server's stamp). */
  verified?: VerifiedIdentityRecord;
}

/** A rejection. */
export interface Rejection {
  approver: string;
  at: string;
  reason?: string;
  verified?: VerifiedIdentityRecord;
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
  /** Allowed approvers: names, or `group:<name>` for everyone whose verified token lists that group. */
  approvers: string[];
  /** `declared` (default): the typed name is trusted; `verified`: only requests stamped by the codec server count. */
  identity?: IdentityMode;
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
  /** `declared` or `verified` (absent in runs started before identity policies existed: declared). */
  identity?: IdentityMode;
  requestedBy?: string;
  /** Whether the requester's identity was proven by a stamp (runs started through the codec server). */
  requesterVerified?: boolean;
  deadline?: string;
  approvals: Approval[];
  rejections: Rejection[];
  refused: RefusedRequest[];
  /** Refused requests past the first 100, counted but not kept (so a flood cannot grow the workflow's state). */
  refusedNotKept?: number;
  /** How the decision was reached (quorum, rejection by someone, deadline outcome). */
  decidedBy?: string;
}
