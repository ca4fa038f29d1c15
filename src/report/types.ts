/**
 * What a model card shows, as plain data: no models, frames or storage clients, so a card can be
 * built (and tested) from numbers alone.
 */
import type { ValidationPolicy } from '../ml/evaluate';
import type { ConfusionMatrix } from '../ml/metrics';
import type { DatasetProfile } from '../ml/profile';
import type { ValidationReport } from '../ml/data-validation';

/** Metric name to value. */
export type MetricValues = Record<string, number>;

/** One model's holdout results. */
export interface CardEvaluation {
  metrics: MetricValues;
  confusionMatrix?: ConfusionMatrix;
}

/** One class's ROC curve against the rest (points by decreasing threshold) and its area. */
export interface RocSeries {
  label: string;
  fpr: number[];
  tpr: number[];
  auc: number;
  /** Holdout rows of this class (the curve's positives): a curve drawn from a handful of rows says little. */
  positives?: number;
}

/** Holdout residuals (actual − predicted) against the predictions, possibly a sample of the rows. */
export interface ResidualSample {
  predicted: number[];
  residual: number[];
  /** Rows the sample was drawn from. */
  rows: number;
}

/** One column's distribution in the reference and in the current data, on the reference's bins. */
export interface HistogramComparison {
  column: string;
  /** One label per bin, e.g. "< 3.2", "3.2 – 5.1", "rain". */
  bins: string[];
  /** Numeric columns: labels of the boundaries between consecutive bins, drawn between the bars. */
  edges?: string[];
  reference: number[];
  current: number[];
  /** Population stability index over these bins (categorical: over all categories). */
  psi: number;
}

/** Distributions of the training data against other data: the holdout, or a new data window. */
export interface DriftComparison {
  /** What the reference is, e.g. "training data". */
  reference: string;
  /** What it is compared with, e.g. "holdout" or "data window 2024-05". */
  current: string;
  columns: HistogramComparison[];
  /** What the reader should know about the comparison, e.g. how the two sides relate. */
  note?: string;
  /** Columns that could not be compared, with why. */
  skipped?: { column: string; reason: string }[];
}

/** Where the run's artifacts are, for the reader who wants the raw data. */
export interface CardArtifact {
  name: string;
  uri: string;
  sha256?: string;
}

/** How a deployed version got there: who asked, who approved, which alias moved. Added to the card at deploy. */
export interface CardDeployment {
  version: number;
  alias: string;
  /** The version the alias pointed at before. */
  previousVersion?: number;
  /** When the version was registered with this card (ISO time). */
  at: string;
  /** How the alias reaches it: at once (by compare-and-swap), or by a shadow or canary rollout on live evidence. */
  strategy: 'direct' | 'shadow' | 'canary' | 'rollout';
  requestedBy?: string;
  /** What started the run (manual, schedule, drift). */
  trigger?: string;
  reason?: string;
  /** The accepted approvals; empty when the spec required none. */
  approvals: { approver: string; at: string; comment?: string }[];
}

/** Everything a model card shows; only `model`, `candidate`, `policy` and `verdict` are required. */
export interface ModelCardInput {
  model: string;
  /** The spec's description of the model (user text; shown escaped): the card's intended use. */
  description?: string;
  /** Classification or regression; inferred from the diagnostics when absent. */
  task?: 'classification' | 'regression';
  /** Set once the version is deployed: the card then says how it was approved and deployed. */
  deployment?: CardDeployment;
  /** The workflow run that produced the candidate. */
  run?: { workflowId: string; runId?: string };
  /** The candidate: its trainer, hyperparameters and training summary, and its holdout results. */
  candidate: CardEvaluation & { trainer?: string; params?: Record<string, unknown>; training?: Record<string, unknown> };
  /** The version behind the deploy alias, evaluated on the same holdout rows. */
  champion?: CardEvaluation & { version: number; alias?: string };
  /** Why there is no champion comparison although a production version exists. */
  championNote?: string;
  /** What the reader must know that is not a failure (e.g. the production version could not be loaded). */
  notes?: string[];
  /** What the training program claimed about itself, against our measurement on the holdout. */
  claims?: { metric: string; claimed: number; measured: number; mismatch: boolean; message: string }[];
  policy: ValidationPolicy;
  /** The evaluator's decision: passed, or every failure in one sentence each. */
  verdict: { passed: boolean; failures: string[] };
  /** Rows of the holdout the metrics were computed on. */
  holdoutRows?: number;
  dataset?: {
    profile: DatasetProfile;
    target?: string;
    features?: string[];
    classCounts?: Record<string, number>;
    /** Rows dropped at ingest because their target was missing (`dataset.dropMissingTarget`). */
    droppedMissingTarget?: number;
  };
  validation?: ValidationReport;
  /** Classification: one ROC curve per class (or one for a binary task). */
  roc?: RocSeries[];
  /** Regression: holdout residuals. */
  residuals?: ResidualSample;
  drift?: DriftComparison;
  artifacts?: CardArtifact[];
}
