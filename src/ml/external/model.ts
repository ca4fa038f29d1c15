/**
 * A model trained by an external program: the files it wrote (stored as artifacts) and the metrics it
 * reported. The validate stage reads its `validation<Metric>` entries as the holdout metrics, because
 * the program was given the holdout as its validation data.
 */
import type { ArtifactRef } from '../../storage/refs';

export const EXTERNAL_MODEL_FORMAT = 'temporal-mlops/external-model@1';

/** The stored manifest of an externally trained model. */
export interface ExternalModel {
  format: typeof EXTERNAL_MODEL_FORMAT;
  command: string[];
  /** Each output file by its path relative to the output directory. */
  files: Record<string, ArtifactRef>;
  /** The program's metrics.json. */
  metrics: Record<string, number>;
}

/** Whether a parsed model document is an external model's manifest. */
export function isExternalModel(value: unknown): value is ExternalModel {
  return typeof value === 'object' && value !== null && (value as { format?: unknown }).format === EXTERNAL_MODEL_FORMAT;
}

/** The holdout metrics of an external model: `validationAccuracy` becomes `accuracy`, and so on. */
export function holdoutMetrics(model: ExternalModel): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(model.metrics)) {
    const m = /^validation([A-Z].*)$/.exec(key);
    if (m) out[m[1]!.charAt(0).toLowerCase() + m[1]!.slice(1)] = value;
  }
  return out;
}
