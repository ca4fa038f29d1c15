/** Input, carried state, checks and status of the `modelMonitor` workflow, and where a check's window starts (safe in the workflow sandbox). */
import type { PipelineSpec } from '../spec/pipeline';
import type { SpecRef } from './refs';

/** Which spec the monitor judges by: the one stored with the version a run deployed. */
export interface MonitorSpecSource {
  /** The pipeline run that deployed the version (its workflow id, and run id when known). */
  workflowId: string;
  runId?: string;
  version: number;
  /** The spec as stored with the version (JSON; its sha256 is the digest shown in status). */
  ref: SpecRef;
}

/**
 * Where a check's window starts: where the previous check ended, but never more than `windowMs` before `until`
 * (the spec's `monitor.window`), so a monitor that could not check for a while, or a window kept growing for want of
 * rows, reads recent data only. Shared by the check (which reads it) and the monitor workflow (which records a failed one).
 */
export function windowStart(since: string | undefined, until: string, windowMs: number | undefined): string | undefined {
  if (windowMs === undefined) return since;
  const earliest = Date.parse(until) - windowMs;
  return since !== undefined && Date.parse(since) > earliest ? since : new Date(earliest).toISOString();
}

/** Input of `modelMonitor` (and what it carries across continue-as-new). */
export interface ModelMonitorInput {
  /** The spec the monitor judges by (thresholds, interval, cooldown, and what a retraining run runs). */
  spec: PipelineSpec;
  /** Where `spec` came from; absent for monitors started before deploys stored the spec. */
  specSource?: MonitorSpecSource;
  alias: string;
  version: number;
  trainingTaskQueue?: string;
  /** Carried across continue-as-new. */
  state?: MonitorCarry;
}

/** State the monitor carries across continue-as-new. */
export interface MonitorCarry {
  paused: boolean;
  lastRetrainAt?: string;
  retrainCount: number;
  checks: MonitorCheck[];
  /** Where the next window starts (ISO time). */
  since?: string;
  /** Labelled new data seen since the first deploy; retraining trains on all of it. */
  windowSources?: string[];
  windowFormat?: 'jsonl';
  /** Live performance of each version while it served, for the guardrail. */
  livePerformance?: Record<string, number>;
  /** Checks that failed in a row, up to the latest. */
  failingChecks?: number;
  /** The guardrail's watch over the latest deploy. */
  watch?: { version: number; previous: number; until: string };
}

/** The result of one drift and performance check. */
export interface MonitorCheck {
  at: string;
  version: number;
  rows: number;
  /**
   * Rows of the window another version answered during a rollout (a canary's candidate; after a promotion, the
   * champion before it), by version: left out, so the version is judged on its own rows. Absent when none.
   */
  otherVersions?: Record<string, number>;
  window: { from?: string; to: string };
  drift: Record<string, { psi: number; ksPValue?: number; wasserstein?: number; chiSquarePValue?: number; breached: boolean }>;
  breachedFeatures: string[];
  /** Live performance on the window's labelled rows (the spec's performance metric, else the guardrail's). */
  performance?: {
    metric: string;
    value: number;
    labelled: number;
    breached: boolean;
    /** Whether a larger value is better (false for rmse, mae, logLoss); absent means true. */
    higherIsBetter?: boolean;
    min?: number;
    max?: number;
  };
  /** The guardrail's metric on the same rows, when it is not the performance metric. */
  also?: { metric: string; value: number; higherIsBetter: boolean };
  /** Why the check could not be made (action `check-failed`: the model would not load, the window could not be read) or the rollback failed. */
  failure?: { type?: string; message: string };
  /** The new labelled data this check looked at (retraining appends it). */
  sources?: string[];
  /** Their format, when their names do not tell it. */
  sourcesFormat?: 'jsonl';
  action:
    | 'none'
    | 'rolled-back'
    | 'retrain-started'
    | 'retrain-skipped-running'
    | 'retrain-skipped-cooldown'
    | 'too-few-rows'
    | 'retrain-disabled'
    | 'check-failed'
    | 'rollback-failed';
  retrainWorkflowId?: string;
  /** Set when the guardrail moved the alias back. */
  rollback?: { from: number; to: number; reason: string };
}

/** What the `status` query of a monitor returns. */
export interface MonitorStatus {
  model: string;
  alias: string;
  version: number;
  paused: boolean;
  intervalMs: number;
  nextCheckAt?: string;
  lastRetrainAt?: string;
  retrainCount: number;
  checks: MonitorCheck[];
  /** Checks that failed in a row, up to the latest (0 when the latest check worked). */
  failingChecks: number;
  /** The spec the monitor judges by; absent when it was started before deploys stored the spec (it then judges by its starting run's). */
  spec?: { workflowId: string; runId?: string; version: number; uri: string; sha256: string };
  /** Why the spec of the latest deploy could not be read (the monitor keeps judging by the one before). */
  specProblem?: string;
}
