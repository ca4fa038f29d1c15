/**
 * What an external trainer's output becomes once stored: the ONNX model manifest
 * (`temporal-mlops/onnx-model@1`, src/ml/onnx.ts) that every stage loads through the Predictor seam,
 * and the old `temporal-mlops/external-model@1` manifest of contract v1, which stored files nobody
 * could run and is recognised only to be refused.
 */
import type { ArtifactRef } from '../../storage/refs';
import { ONNX_MODEL_FORMAT, type OnnxModel, type OnnxSignature } from '../onnx';
import type { DatasetSchema } from '../types';

export const EXTERNAL_MODEL_FORMAT = 'temporal-mlops/external-model@1';

/** The stored manifest of a model trained under contract v1 (files plus the program's own metrics). */
export interface ExternalModel {
  format: typeof EXTERNAL_MODEL_FORMAT;
  command: string[];
  /** Each output file by its path relative to the output directory. */
  files: Record<string, ArtifactRef>;
  /** The program's metrics.json. */
  metrics: Record<string, number>;
}

/** Whether a parsed model document is a contract v1 manifest. */
export function isExternalModel(value: unknown): value is ExternalModel {
  return typeof value === 'object' && value !== null && (value as { format?: unknown }).format === EXTERNAL_MODEL_FORMAT;
}

/**
 * A program's metrics.json as metric names to numbers: the v1 style `validationAccuracy` is read as
 * `accuracy` (an explicit `accuracy` wins), and entries that are not finite numbers are left out,
 * since these numbers are information, never a gate.
 */
export function claimedMetrics(document: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  const renamed: Record<string, number> = {};
  for (const [key, value] of Object.entries(document)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    const m = /^validation([A-Z].*)$/.exec(key);
    if (m) renamed[m[1]!.charAt(0).toLowerCase() + m[1]!.slice(1)] = value;
    else out[key] = value;
  }
  return { ...renamed, ...out };
}

/** What the train stage stored of an external program's output, to be described by one manifest. */
export interface OnnxManifestInput {
  schema: DatasetSchema;
  signature: OnnxSignature;
  command: string[];
  params: Record<string, unknown>;
  /** Every file the program wrote, stored, by its path relative to the output directory (model.onnx among them). */
  files: Record<string, ArtifactRef>;
  claimedMetrics: Record<string, number>;
  /** The check rows given to the program and, when it wrote them, its own predictions for them. */
  checkRows: ArtifactRef;
  checkPredictions?: ArtifactRef;
}

/** The ONNX model manifest of an external program's output: the model reference the train stage returns. */
export function onnxManifest(m: OnnxManifestInput): OnnxModel {
  const onnx = m.files['model.onnx'];
  if (!onnx) throw new Error('onnxManifest: the stored files have no model.onnx');
  return {
    format: ONNX_MODEL_FORMAT,
    task: m.schema.task,
    schema: m.schema,
    classes: m.schema.task === 'classification' ? [...(m.signature.classes ?? [])] : [],
    onnx,
    signature: m.signature,
    trainer: { command: m.command, params: m.params },
    files: m.files,
    claimedMetrics: m.claimedMetrics,
    ...(m.checkPredictions ? { check: { rows: m.checkRows, predictions: m.checkPredictions } } : {}),
  };
}
