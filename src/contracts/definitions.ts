/**
 * Signals, queries and updates of the workflows, defined once and shared by the workflows, the CLI
 * and tests. Their names are what approvers type into the Temporal UI's signal dialog.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApproveRequest, GateAnswer, RejectRequest } from './approval';
import type { MonitorStatus } from './monitor';
import type { PipelineRunStatus } from './pipeline-run';
import type { SpecRef } from './refs';

/** Approve the candidate: `{"approver": "alice", "comment": "..."}`. */
export const approveSignal = defineSignal<[ApproveRequest]>('approve');
/** Reject the candidate: `{"approver": "bob", "reason": "..."}`. */
export const rejectSignal = defineSignal<[RejectRequest]>('reject');
/** A decision that answers whether it was accepted, and why not (used by `mlops approve|reject`). */
export const decideUpdate = defineUpdate<GateAnswer, [DecideRequest]>('decide');
/** The run's stage timeline, metrics and approval state. */
export const pipelineStatusQuery = defineQuery<PipelineRunStatus>('status');

/** The body of the `decide` Update. */
export interface DecideRequest {
  decision: 'approve' | 'reject';
  approver: string;
  comment?: string;
  reason?: string;
  /** The run the decision is for; a stamped decision is bound to it. */
  workflowId?: string;
}

/** Pause drift checks of a model monitor. */
export const pauseSignal = defineSignal<[{ by?: string; reason?: string }?]>('pause');
/** Resume drift checks of a model monitor. */
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');
/** Run a drift check now instead of waiting for the interval. */
export const checkNowSignal = defineSignal<[]>('checkNow');
/** Point the monitor at a newly deployed version (sent with signal-with-start on deploy). */
export const deployedSignal = defineSignal<[DeployedNotice]>('deployed');
/** The monitor's recent checks and its state. */
export const monitorStatusQuery = defineQuery<MonitorStatus>('status');

/** What deploy tells the monitor. */
export interface DeployedNotice {
  version: number;
  previousVersion?: number;
  at: string;
  workflowId: string;
  runId?: string;
  /** The deployed version's spec, as stored with it: the monitor judges by it from now on. Absent from older runs. */
  spec?: SpecRef;
}
