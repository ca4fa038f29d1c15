/**
 * The model seam: one small interface through which everything that uses a model (validate, the
 * servability check, the model server, the monitor, the guardrail, the model card) predicts, whatever
 * trained it. Two flavors implement it: the built-in JSON models (`temporal-mlops/model@1`, and `@2` for gbdt with native categories) and ONNX
 * models run by ONNX Runtime (`temporal-mlops/onnx-model@1`, written by external trainers).
 *
 * A stored model document is loaded with `loadPredictor`; files it refers to (the `.onnx` bytes) are
 * fetched through the `fetchBytes` the caller passes, so this module does no storage I/O itself.
 */
import { FailureType, MlopsError } from '../errors';
import { MODEL_FORMATS, parseModel, predict as predictBuiltin, rowsToFrame, type Model, type Predictions } from './trainers';
import { EXTERNAL_MODEL_FORMAT } from './external/model';
import { ONNX_MODEL_FORMAT, loadOnnxPredictor, type OnnxModel } from './onnx';
import { sliceRows } from './split';
import type { DatasetSchema, Frame, Task } from './types';

export type { Predictions } from './trainers';
export type { FetchBytes, ModelFlavor, Predictor } from './predictor-types';
import type { FetchBytes, ModelFlavor, Predictor } from './predictor-types';

/** Largest model file (an .onnx) read into memory to load it. */
export const MODEL_FILE_MAX_BYTES = 2 ** 30;

/** Predicts JSON rows, as a model server receives them; a field of the wrong type fails naming the row and field. */
export function predictRows(predictor: Predictor, rows: Record<string, unknown>[]): Promise<Predictions> {
  return predictor.predict(rowsToFrame(predictor.schema, rows));
}

/** Rows a predictor is handed at a time by `predictInBatches`. */
export const PREDICT_BATCH_ROWS = 65_536;

/**
 * Predicts a frame in slices of `batchRows` rows and joins the answers, so what a model builds on the way
 * (design matrices, ONNX tensors) is bounded by the slice, not by the frame, and the event loop gets a turn
 * between slices: validate scores millions of holdout rows this way.
 */
export async function predictInBatches(predictor: Predictor, frame: Frame, batchRows = PREDICT_BATCH_ROWS): Promise<Predictions> {
  if (frame.rowCount <= batchRows) return predictor.predict(frame);
  const labels: string[] = [];
  const probabilities: number[][] = [];
  let values: Float64Array | undefined;
  let some: Predictions = {};
  for (let start = 0; start < frame.rowCount; start += batchRows) {
    const end = Math.min(frame.rowCount, start + batchRows);
    some = await predictor.predict(sliceRows(frame, start, end));
    // A built-in model predicts synchronously: a turn of the event loop between slices lets the stage heartbeat.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (some.labels) for (const l of some.labels) labels.push(l);
    if (some.probabilities) for (const p of some.probabilities) probabilities.push(p);
    if (some.values) {
      values ??= new Float64Array(frame.rowCount);
      values.set(some.values, start);
    }
  }
  return { ...(some.labels && { labels }), ...(some.probabilities && { probabilities }), ...(values && { values }) };
}

/** The flavor of a stored model document, or undefined when it is no model this version knows. */
export function modelFlavor(document: unknown): ModelFlavor | 'legacy-external' | undefined {
  const format = typeof document === 'object' && document !== null ? (document as { format?: unknown }).format : undefined;
  if (format === ONNX_MODEL_FORMAT) return 'onnx';
  if (format === EXTERNAL_MODEL_FORMAT) return 'legacy-external';
  if (typeof format === 'string' && MODEL_FORMATS.includes(format)) return 'builtin';
  return undefined;
}

/**
 * Loads a stored model document (as referenced by a registry version or a training result) into a
 * predictor. Refuses with `MlopsInvalidInput` what cannot be served, saying what to do about it.
 */
export async function loadPredictor(document: unknown, fetchBytes: FetchBytes): Promise<Predictor> {
  const flavor = modelFlavor(document);
  if (flavor === 'onnx') return loadOnnxPredictor(document as OnnxModel, fetchBytes);
  if (flavor === 'legacy-external') {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Not servable: this version was trained by an external program under the old contract (${EXTERNAL_MODEL_FORMAT}), which ` +
        `stores no model we can run. Retrain it with a trainer that writes model.onnx (docs/external-trainers.md).`,
      { format: EXTERNAL_MODEL_FORMAT },
    );
  }
  return builtinPredictor(parseModel(document));
}

/** A predictor over a built-in JSON model. */
export function builtinPredictor(model: Model): Predictor {
  return {
    flavor: 'builtin',
    schema: model.schema,
    task: model.task,
    classes: model.classes,
    description: model.kind,
    predict: async (frame) => predictBuiltin(model, frame),
    release: async () => undefined,
  };
}
