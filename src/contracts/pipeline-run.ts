/** Input, result and status of the `pipelineRun` workflow (types, plus the stage list; safe in the workflow sandbox). */
import type { PipelineSpec } from '../spec/pipeline';
import type { ApprovalStatus, IdentityFinding } from './approval';
import type { ReportRef } from './refs';
import type { DataWindow, Metrics } from './stages';

/** What started a pipeline run. */
export type Trigger = 'manual' | 'schedule' | 'drift';

/** Input of `pipelineRun`. */
export interface PipelineRunInput {
  spec: PipelineSpec;
  /** Who asked for the run; they cannot approve it. */
  requestedBy: string;
  trigger: Trigger;
  /** New data to train on (drift-triggered runs). */
  window?: DataWindow;
  /** Task queue of the training workers (default "mlops-training"). */
  trainingTaskQueue?: string;
  /** Why the run was started (shown in status and stored with the alias move). */
  reason?: string;
  /** Where approvers open the model card (`<cardBaseUrl>/cards/<sha256>`, served by `mlops codec`). */
  cardBaseUrl?: string;
  /** Set by the worker's payload codec when the run was started through the codec server: the requester's verified identity. */
  $identity?: IdentityFinding;
}

/** How a pipeline run ended. */
export type PipelineOutcome =
  'deployed' | 'rolled-back' | 'rejected' | 'validation-failed' | 'approval-timed-out' | 'champion-changed' | 'failed';

/** The typed result of `pipelineRun`. */
export interface PipelineRunResult {
  status: PipelineOutcome;
  model: string;
  version?: number;
  previousVersion?: number;
  metrics?: Metrics;
  championMetrics?: Metrics;
  report?: ReportRef;
  /** The HTML model card of the run. */
  card?: ReportRef;
  reason?: string;
}

/** The lifecycle stages, in order. */
export const STAGES = ['ingest', 'train', 'validate', 'servability', 'approve', 'deploy', 'monitor'] as const;
export type StageName = (typeof STAGES)[number];

/** One stage in the status timeline. */
export interface StageStatus {
  name: StageName;
  state: 'pending' | 'running' | 'done' | 'failed' | 'skipped';
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  note?: string;
}

/** What the `status` query of a pipeline run returns. */
export interface PipelineRunStatus {
  model: string;
  trigger: Trigger;
  requestedBy: string;
  reason?: string;
  stage: StageName | 'finished';
  stages: StageStatus[];
  /** The ingested data; `warnings`: the validation warnings' messages; `droppedMissingTarget`: rows dropped for a missing target. */
  data?: { rows: number; snapshot: string; classCounts?: Record<string, number>; droppedMissingTarget?: number; warnings?: string[] };
  candidate?: Metrics;
  champion?: { version: number; metrics: Metrics };
  validationFailures?: string[];
  /** What the validate stage wants read that is not a failure (e.g. a production version that could not be loaded). */
  validationNotes?: string[];
  /** The training program's claims further from our measurement than the tolerance, one sentence each. */
  claimMismatches?: string[];
  /** The servability check: whether the candidate loads and answers as the server will run it. */
  servability?: {
    passed: boolean;
    problems: string[];
    notes: string[];
    report: ReportRef;
    flavor: string;
    sampleRows: number;
    checkRows?: number;
    disagreeing?: number;
  };
  report?: ReportRef;
  /** The HTML model card of the run. */
  card?: ReportRef;
  approval?: ApprovalStatus;
  /** The shadow or canary rollout the deploy started: its workflow id (query it for the evidence) and how it ended. */
  rollout?: { workflowId: string; strategy: 'shadow' | 'canary'; champion: number; candidate: number; outcome?: string; reason?: string };
  /**
   * The deploy's compare-and-swap: the version the alias had to still point at (the champion the candidate was last
   * compared with; null: none), and each time it had moved meanwhile, with what the run did about it.
   */
  deploy?: { comparedWith: number | null; championChanges: ChampionChange[] };
  result?: PipelineRunResult;
}

/** The alias had moved between validation and deploy: from the version the candidate was compared with to `current`. */
export interface ChampionChange {
  at: string;
  expected: number | null;
  current: number | null;
  /** `revalidated`: judged again against `current` (`passed` says how); `stopped`: the run ended (deploy.onChampionChanged: stop, or too many changes). */
  action: 'revalidated' | 'stopped';
  passed?: boolean;
}
