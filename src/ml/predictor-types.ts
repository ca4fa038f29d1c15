/**
 * The model seam's types on their own, so the flavors (src/ml/onnx.ts) can implement `Predictor` without
 * importing the module that loads them (src/ml/predictor.ts), which would make the two import each other.
 */
import type { ArtifactRef } from '../storage/refs';
import type { Predictions } from './trainers';
import type { DatasetSchema, Frame, Task } from './types';

/** How a model is stored and run: the built-in JSON models, or ONNX through ONNX Runtime. */
export type ModelFlavor = 'builtin' | 'onnx';

/** A loaded model, ready to predict batches of rows; never changed once built. */
export interface Predictor {
  readonly flavor: ModelFlavor;
  /** The dataset schema the model was trained on: its features, target and task. */
  readonly schema: DatasetSchema;
  readonly task: Task;
  /** Class labels; probability columns follow this order. Empty for regression. */
  readonly classes: readonly string[];
  /** One line saying what the model is, for model cards and logs ("gbdt", "onnx from python train.py"). */
  readonly description: string;
  /** Predicts every row of a frame holding (at least) the model's features. */
  predict(frame: Frame): Promise<Predictions>;
  /** Frees native resources (an ONNX Runtime session); the predictor must not be used afterwards. */
  release(): Promise<void>;
}

/** Fetches the bytes of a stored artifact, verified against its digest. */
export type FetchBytes = (ref: ArtifactRef) => Promise<Uint8Array>;
