/**
 * What each lifecycle stage consumes and produces. Stages exchange references (an s3:// URI plus a
 * sha256), never data. Types only: workflows import this file with `import type`;
 * each reference says what kind of artifact it points at (src/contracts/refs.ts).
 */
import type { DatasetSchema } from '../ml/types';
import type { PipelineSpec } from '../spec/pipeline';
import type { Approval } from './approval';
import type { MonitorCheck } from './monitor';
import type { CheckpointRef, ModelRef, ProfileRef, ReportRef, SnapshotRef, SpecRef } from './refs';

/** Metric name to value, e.g. { accuracy: 0.84, macroF1: 0.61 }. */
export type Metrics = Record<string, number>;

/** New data for a retraining run: extra labelled sources to append to the spec's dataset. */
export interface DataWindow {
  sources: string[];
  /** The format of the sources when their names do not tell it. */
  format?: 'csv' | 'jsonl' | 'json' | 'parquet';
  from?: string;
  to?: string;
  reason?: string;
}

/** Input of the ingest stage. */
export interface IngestInput {
  model: string;
  dataset: PipelineSpec['dataset'];
  window?: DataWindow;
}

/** Output of the ingest stage: the snapshot, its frozen schema, profile and validation report. */
export interface IngestResult {
  snapshot: SnapshotRef;
  schema: DatasetSchema;
  rowCount: number;
  profile: ProfileRef;
  /** `warningMessages`: the message of each validation warning (an unseen category, an extra column...), shown where people look. */
  validation: { ok: boolean; report: ReportRef; blocking: string[]; warnings: number; warningMessages?: string[] };
  /** `droppedMissingTarget`: rows dropped by `dataset.dropMissingTarget`. */
  summary: { rows: number; columns: number; classCounts?: Record<string, number>; droppedMissingTarget?: number };
}

/** Input of the train stage. */
export interface TrainInput {
  model: string;
  snapshot: SnapshotRef;
  schema: DatasetSchema;
  split: PipelineSpec['dataset']['split'];
  trainer: PipelineSpec['trainer'];
}

/** Output of the train stage. */
export interface TrainResult {
  model: ModelRef;
  trainer: string;
  params: Record<string, unknown>;
  /** Set when training resumed from a checkpoint after a crash or retry. */
  resumedFrom?: { checkpoint: CheckpointRef; progress: number };
  trainRows: number;
  durationMs: number;
  /** What an external program said it measured (its metrics.json): information, never a gate. */
  claimedMetrics?: Metrics;
}

/** Heartbeat details of the train stage: progress, the latest checkpoint to resume from, and what it is doing. */
export interface TrainHeartbeat {
  progress: number;
  checkpoint?: CheckpointRef;
  message?: string;
}

/** Input of the validate stage (the evaluator). */
export interface EvaluateInput {
  model: string;
  candidate: ModelRef;
  snapshot: SnapshotRef;
  schema: DatasetSchema;
  split: PipelineSpec['dataset']['split'];
  policy: PipelineSpec['validation'];
  alias: string;
  /** The snapshot's profile and validation report, as ingest stored them (for the model card; recomputed when absent). */
  profile?: ProfileRef;
  validationReport?: ReportRef;
  /** Rows ingest dropped because their target was missing (`dataset.dropMissingTarget`), for the model card. */
  droppedMissingTarget?: number;
  /** The spec's description: the model card's intended use. */
  description?: string;
}

/** A metric the training program claimed about itself, against what we measured on the sealed holdout. */
export interface ClaimedMetric {
  metric: string;
  claimed: number;
  measured: number;
  /** Further apart than `validation.claims.tolerance`. */
  mismatch: boolean;
  /** One plain sentence, e.g. "the program claimed accuracy 0.99; measured on 69 sealed holdout rows: 0.35 (...)". */
  message: string;
}

/** Output of the validate stage: the blessing (passed), the metrics and the report. */
export interface EvaluateResult {
  passed: boolean;
  /** Measured by us on the sealed holdout; never taken from the program that trained the model. */
  metrics: Metrics;
  /** Holdout rows the metrics were computed on. */
  holdoutRows?: number;
  champion?: { version: number; metrics: Metrics };
  /**
   * The version the alias pointed at when the candidate was judged (null: the alias was not set), whether or not it
   * could be scored: the deploy moves the alias only if it still points there. Absent in runs validated before it existed.
   */
  comparedWith?: number | null;
  failures: string[];
  /** What the reader must know that is not a failure, e.g. a production version that could not be loaded. */
  notes?: string[];
  /** The program's claims (metrics.json) held against our measurement. */
  claims?: ClaimedMetric[];
  /** The claims further from our measurement than the tolerance, one sentence each. */
  claimMismatches?: string[];
  report: ReportRef;
  /** The run's model card: one self-contained HTML page (text/html); absent when it could not be drawn. */
  card?: ReportRef;
  /** What the card was drawn from (JSON), so registering the version can draw it again with its approval and deploy. */
  cardInput?: ReportRef;
}

/** Input of the servability check: the candidate, and the snapshot whose holdout it predicts a sample of. */
export interface ServabilityInput {
  model: string;
  candidate: ModelRef;
  snapshot: SnapshotRef;
  schema: DatasetSchema;
  split: PipelineSpec['dataset']['split'];
  /** Holdout rows to predict (default 200). */
  sampleRows?: number;
}

/** Output of the servability check: whether the candidate can be served as it is, and the report. */
export interface ServabilityResult {
  passed: boolean;
  /** Why it cannot be served, one sentence each; empty when it passed. */
  problems: string[];
  /** What the reader should know, e.g. that there were no check predictions to compare with. */
  notes: string[];
  flavor: string;
  /** Holdout rows predicted. */
  sampleRows: number;
  /** The program's check rows, when it wrote its own predictions for them, and how many disagree. */
  checkRows?: number;
  disagreeing?: number;
  /** The stored report (temporal-mlops/servability@1), listing the disagreeing rows. */
  report: ReportRef;
}

/** Input of the deploy stage. */
export interface DeployInput {
  model: string;
  alias: string;
  candidate: ModelRef;
  snapshot: SnapshotRef;
  schema: DatasetSchema;
  profile: ProfileRef;
  trainer: string;
  params: Record<string, unknown>;
  metrics: Metrics;
  approvals: Approval[];
  requestedBy: string;
  trigger: string;
  /** Why the run was started (for a drift-triggered run, the drift that triggered it). */
  reason?: string;
  workflowId: string;
  runId: string;
  report?: ReportRef;
  /** False for a shadow or canary deploy: register the version, leave the alias to the rollout (default true). */
  moveAlias?: boolean;
  /** The spec the run ran by, stored with the version (what the monitor judges it by once deployed). */
  spec?: PipelineSpec;
  /** What the validate stage drew the card from; the version's card is drawn again from it with its approval and deploy. */
  cardInput?: ReportRef;
}

/** Output of the deploy stage. */
export interface DeployResult {
  version: number;
  previousVersion?: number;
  /** The run's spec as stored with the version, when the input gave it. */
  spec?: SpecRef;
}

/** Input of registering the approved candidate as a version: the deploy input, and the spec the run ran by. */
export interface RegisterCandidateInput extends Omit<DeployInput, 'moveAlias'> {
  spec: PipelineSpec;
}

/** Output of registering: the version, and the run's spec as stored with it. */
export interface RegisterCandidateResult {
  version: number;
  spec: SpecRef;
}

/** Input of moving an alias by compare-and-swap: only if it still points at `expectedVersion` (null: not set). */
export interface PromoteInput {
  model: string;
  alias: string;
  version: number;
  expectedVersion: number | null;
  /** Who moves it (the approvers, or who asked for the run). */
  by: string;
  reason: string;
  workflowId: string;
}

/**
 * The outcome of a compare-and-swap move: moved (or already there), or refused because the alias points at
 * `current`, not the expected version; then nothing changed and the caller decides again against `current`.
 */
export type PromoteResult =
  | { moved: true; version: number; previousVersion?: number; changed: boolean }
  | { moved: false; expected: number | null; current: number | null };

/** Input of the stage that makes sure the model's monitor runs. */
export interface EnsureMonitorInput {
  model: string;
  alias: string;
  version: number;
  /** The version the alias pointed at before this deploy, watched against by the guardrail. */
  previousVersion?: number;
  spec: PipelineSpec;
  /** The spec as stored with the version: the monitor judges by it from this deploy on. Absent from runs before it. */
  specRef?: SpecRef;
  workflowId: string;
  runId?: string;
}

/** Input of the monitor's check: new data since `since` against the version's training profile. */
export interface CheckModelInput {
  model: string;
  alias: string;
  version: number;
  monitor: NonNullable<PipelineSpec['monitor']>;
  schema?: DatasetSchema;
  target?: string;
  since?: string;
  until: string;
}

/** Output of the monitor's check (the workflow adds the action it took). */
export type CheckModelResult = Omit<MonitorCheck, 'action' | 'retrainWorkflowId' | 'rollback'>;
