/**
 * The estimator interface of the ML core, in scikit-learn's spirit: hyperparameters go in with the data
 * (`trainModel`), a self-contained `Model` comes out, and `predict` needs nothing but that model.
 *
 * Built-in trainers: `logistic-regression` (classification) and `gbdt` (classification and regression).
 * A program of your own runs through `src/ml/external/command.ts` instead.
 */
import { FailureType, MlopsError } from '../../errors';
import { transformFrame } from '../preprocess';
import type { Frame } from '../types';
import { fitGbdt, gbdtRawScores } from './gbdt';
import { fitLogisticRegression, logisticProbabilities } from './logistic-regression';
import {
  MODEL_FORMAT,
  MODEL_FORMAT_CATEGORIES,
  MODEL_FORMATS,
  TRAINER_NAMES,
  type Model,
  type Predictions,
  type TrainInput,
  type TrainerName,
} from './model';
import { rowsToFrame } from './rows';

export { MODEL_FORMAT, MODEL_FORMAT_CATEGORIES, MODEL_FORMATS, TRAINER_NAMES } from './model';
export type { GbdtModel, LogisticRegressionModel, Model, ModelTree, Predictions, TrainInput, TrainerName, TrainingSummary } from './model';
export { gbdtParamsSchema } from './gbdt';
export { logisticRegressionParamsSchema } from './logistic-regression';
export { rowsToFrame, type RowsOptions } from './rows';

/** Fits a built-in trainer to `input.train` and returns the model. */
export async function trainModel(name: TrainerName, input: TrainInput): Promise<Model> {
  switch (name) {
    case 'logistic-regression':
      return fitLogisticRegression(input);
    case 'gbdt':
      return fitGbdt(input);
    default:
      throw new MlopsError(
        FailureType.InvalidInput,
        `Unknown trainer "${String(name)}"; built-in trainers are ${TRAINER_NAMES.join(', ')}.`,
        { trainer: name },
      );
  }
}

/** Predicts every row of a frame holding (at least) the model's features. */
export function predict(model: Model, frame: Frame): Predictions {
  const design = transformFrame(model.preprocessing, frame);
  const n = frame.rowCount;
  if (model.kind === 'logistic-regression') return fromProbabilities(model, logisticProbabilities(model, design), n);
  const raw = gbdtRawScores(model, design.columns, n);
  if (model.task === 'regression') return { values: raw };
  const C = model.classes.length;
  const probs = new Float64Array(n * C);
  if (model.treesPerIteration === 1) {
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-raw[i]));
      probs[i * C] = 1 - p;
      probs[i * C + 1] = p;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let k = 0; k < C; k++) max = Math.max(max, raw[k * n + i]);
      let sum = 0;
      for (let k = 0; k < C; k++) sum += probs[i * C + k] = Math.exp(raw[k * n + i] - max);
      for (let k = 0; k < C; k++) probs[i * C + k] /= sum;
    }
  }
  return fromProbabilities(model, probs, n);
}

/**
 * Predicts JSON rows, as a model server receives them. A field of the wrong type fails with
 * `MlopsInvalidInput` naming the row and field; absent or null features are imputed.
 */
export function predictRows(model: Model, rows: Record<string, unknown>[]): Predictions {
  return predict(model, rowsToFrame(model.schema, rows));
}

/** Checks that a parsed JSON document is a model this version can serve. */
export function parseModel(value: unknown): Model {
  const m = value as Partial<Model> | null;
  if (typeof m !== 'object' || m === null || !MODEL_FORMATS.includes(m.format as string)) {
    const found = typeof m === 'object' && m !== null ? String(m.format) : typeof m;
    throw new MlopsError(
      FailureType.InvalidInput,
      `Not a ${MODEL_FORMAT} model, nor ${MODEL_FORMAT_CATEGORIES} (format: ${found}); it was not written by a built-in trainer of this version.`,
      { format: found },
    );
  }
  if (m.kind !== 'logistic-regression' && m.kind !== 'gbdt') {
    throw new MlopsError(FailureType.InvalidInput, `Unknown model kind "${String(m.kind)}"; expected ${TRAINER_NAMES.join(' or ')}.`, {
      kind: m.kind,
    });
  }
  return m as Model;
}

function fromProbabilities(model: Model, probs: Float64Array, n: number): Predictions {
  const C = model.classes.length;
  const labels: string[] = new Array(n);
  const probabilities: number[][] = new Array(n);
  for (let i = 0; i < n; i++) {
    const row: number[] = new Array(C);
    let best = 0;
    for (let k = 0; k < C; k++) {
      row[k] = probs[i * C + k]!;
      if (row[k]! > row[best]!) best = k;
    }
    labels[i] = model.classes[best];
    probabilities[i] = row;
  }
  return { labels, probabilities };
}
