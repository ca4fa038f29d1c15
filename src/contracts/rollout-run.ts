/**
 * The `rolloutRun` workflow's vocabulary: its input (the spec's rollout, resolved), its status and result, the
 * controls people send it (pause, resume, promote, abort), and its activities' inputs and outputs. Types, Temporal's
 * workflow-side definitions and pure functions only: safe in the workflow sandbox.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RolloutEvidence, StepPolicy, StepVerdict } from '../ml/types';
import type { PipelineSpec } from '../spec/pipeline';
import type { ApprovalPolicy, ApprovalStatus } from './approval';
import type { RolloutRouting, RolloutState } from './rollout';

export type { RolloutEvidence, StepPolicy, StepVerdict, VersionEvidence } from '../ml/types';

/** The spec's rollout, resolved: defaults filled in from the rest of the spec, durations in milliseconds. */
export interface RolloutPolicy {
  strategy: 'shadow' | 'canary';
  /** The candidate's share at each step; the last is 1, the promotion. A shadow's are [0, 1]. */
  steps: number[];
  routing: RolloutRouting;
  step: StepPolicy;
  checkEveryMs: number;
  onExpiry: 'promote' | 'rollback' | 'ask';
  /** Steps whose share a person must approve before the candidate gets it. */
  approveBefore: number[];
  /** Who may approve (the spec's approval section); absent when no step asks a person. */
  approval?: ApprovalPolicy;
}

/**
 * The rollout policy of a spec whose deploy strategy is shadow or canary, or undefined for a direct deploy.
 * The compared metric is the rollout's own, else the champion comparison's, else the guardrail's.
 */
export function rolloutPolicyOf(spec: PipelineSpec): RolloutPolicy | undefined {
  const { strategy, rollout: r } = spec.deploy;
  if (!r || strategy === undefined || strategy === 'direct') return undefined;
  const metric = r.compare.metric ?? spec.validation.champion?.metric ?? spec.monitor?.guardrail?.metric;
  const asks = r.approveBefore.length > 0 || r.lateLabels.onExpiry === 'ask';
  const a = spec.approval;
  return {
    strategy,
    steps: strategy === 'shadow' ? [0, 1] : [...r.steps!],
    routing: r.routeBy ? { key: 'field', field: r.routeBy.field } : { key: 'request-id' },
    step: {
      minRequests: r.evidence.minRequests,
      minLabelled: metric ? r.evidence.minLabelled : 0,
      maxWaitMs: r.evidence.maxWait,
      labelBoundMs: r.lateLabels.bound ?? r.evidence.maxWait,
      ...(metric ? { metric } : {}),
      tolerance: r.compare.tolerance,
      maxErrorRateIncrease: r.compare.maxErrorRateIncrease,
      maxP99Ratio: r.compare.maxP99Ratio,
      p99SlackMs: r.compare.p99SlackMs,
    },
    checkEveryMs: r.evidence.checkEvery,
    onExpiry: r.lateLabels.onExpiry,
    approveBefore: [...r.approveBefore],
    ...(asks
      ? {
          approval: {
            approvers: a.approvers,
            quorum: a.quorum,
            timeout: a.timeout,
            onTimeout: a.onTimeout,
            ...(a.escalation ? { escalation: a.escalation } : {}),
          },
        }
      : {}),
  };
}

/** The workflow id of the rollout of one candidate version. */
/** A candidate's share of requests as people read it everywhere a rollout is shown: 0.1 -> "10 %". */
export function sharePercent(share: number): string {
  return `${Math.round(share * 1000) / 10} %`;
}

export function rolloutWorkflowId(model: string, candidate: number): string {
  return `rollout-${model}-v${candidate}`;
}

/** Input of `rolloutRun`, started by `pipelineRun` at deploy when the strategy is shadow or canary. */
export interface RolloutRunInput {
  model: string;
  alias: string;
  /** The version the alias points at: it answers what the candidate does not. */
  champion: number;
  candidate: number;
  policy: RolloutPolicy;
  /** Who asked for the pipeline run: they may not approve a step. */
  requestedBy: string;
  /** The pipeline run that deployed the candidate. */
  runWorkflowId: string;
}

/** Where a rollout stands. */
export type RolloutRunState = 'running' | 'paused' | 'awaiting-approval' | 'promoted' | 'rolled-back' | 'failed';

/** One decision of a rollout, with the evidence it was made on: kept in the status and the registry's rollout history. */
export interface RolloutDecision {
  at: string;
  /** The step it was made at (0 for the first) and that step's share. */
  step: number;
  share: number;
  action:
    | 'started'
    | 'next-step'
    | 'promoted'
    | 'rolled-back'
    | 'paused'
    | 'resumed'
    | 'promote-requested'
    | 'abort-requested'
    | 'approval-asked'
    | 'refused'
    | 'failed';
  /** A person, or `rollout` for the workflow's own decisions. */
  by: string;
  reason: string;
  evidence?: RolloutEvidence;
}

/** What the `status` query of a rollout returns. */
export interface RolloutRunStatus {
  model: string;
  alias: string;
  rolloutId: string;
  runWorkflowId: string;
  strategy: 'shadow' | 'canary';
  champion: number;
  candidate: number;
  state: RolloutRunState;
  step: number;
  share: number;
  steps: number[];
  stepStartedAt?: string;
  nextCheckAt?: string;
  /** The latest evidence of the current step, and its verdict. */
  evidence?: RolloutEvidence;
  /** When that evidence was read from the prediction log: it covers the predictions logged before then. */
  evidenceAt?: string;
  verdict?: StepVerdict;
  /** The approval asked for now (before a step, or when a step ran out of time with onExpiry: ask). */
  approval?: ApprovalStatus;
  decisions: RolloutDecision[];
  /** The registry's rollout document as last written. */
  registry?: RolloutState;
}

/** How a rollout ended. */
export interface RolloutRunResult {
  outcome: 'promoted' | 'rolled-back' | 'failed';
  model: string;
  champion: number;
  candidate: number;
  reason: string;
  /** The step it ended at. */
  step: number;
  decisions: RolloutDecision[];
}

/** What a person sends to steer a rollout. */
export interface RolloutControlRequest {
  by?: string;
  reason?: string;
}

/** What the `control` Update takes. */
export interface RolloutControl extends RolloutControlRequest {
  action: 'pause' | 'resume' | 'promote' | 'abort';
}

/** The answer to a control: whether it was accepted, and why not. */
export interface RolloutControlAnswer {
  accepted: boolean;
  reason: string;
  state: RolloutRunState;
}

/** Promote the candidate now: skip the remaining steps (approval rules still hold). */
export const promoteSignal = defineSignal<[RolloutControlRequest?]>('promote');
/** Abort the rollout: roll back to the champion. */
export const abortSignal = defineSignal<[RolloutControlRequest?]>('abort');
/** Pause, resume, promote or abort, answering whether it was accepted (used by `mlops rollout`). */
export const rolloutControlUpdate = defineUpdate<RolloutControlAnswer, [RolloutControl]>('control');
/** The rollout's state, evidence and decisions. */
export const rolloutStatusQuery = defineQuery<RolloutRunStatus>('status');

/** Input of the activity that begins a rollout: refuses when another rollout of the model is under way. */
export interface BeginRolloutInput {
  model: string;
  /** The alias the champion must still be (checked at the start). */
  alias: string;
  rolloutId: string;
  strategy: 'shadow' | 'canary';
  champion: number;
  candidate: number;
  routing: RolloutRouting;
  share: number;
  by: string;
  reason: string;
}

/** Input of the activity that writes the rollout document (a CAS on the seq the workflow last wrote). */
export interface SetRolloutStepInput extends Omit<BeginRolloutInput, 'alias'> {
  step: number;
  status: 'running' | 'paused' | 'finished';
  expectedSeq: number;
}

/** Input of the activity that reads a step's evidence and judges it. */
export interface AssessRolloutInput {
  model: string;
  rolloutId: string;
  strategy: 'shadow' | 'canary';
  champion: number;
  candidate: number;
  /** When the step began (ISO): only its predictions count. */
  since: string;
  /** The step's time so far, paused time left out, in ms. */
  elapsedMs: number;
  policy: StepPolicy;
}

/** The evidence of a step so far, and its verdict. */
export interface AssessRolloutResult {
  until: string;
  evidence: RolloutEvidence;
  verdict: StepVerdict;
}
