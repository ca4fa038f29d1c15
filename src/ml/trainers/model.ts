/**
 * The model format: one self-contained JSON document per trained model, carrying its schema, classes,
 * preprocessing and fitted parameters, so a server needs nothing else to predict exactly as training did.
 */
import type { Preprocessing } from '../preprocess';
import type { CheckpointStore, DatasetSchema, Frame, ProgressCallback, Task } from '../types';
import type { Tree } from './gbdt/grower';

/** The format tag of the models this package writes; a reader refuses formats it does not know. */
export const MODEL_FORMAT = 'temporal-mlops/model@1';
/**
 * The format of a gbdt model with native categorical features (category codes, set splits): version 1 plus
 * `categoricalEncoding: 'codes'` in its preprocessing and `categories` in its trees. Only such models carry
 * it, so every model a version-1 reader can predict correctly still says version 1, and one it cannot is refused.
 */
export const MODEL_FORMAT_CATEGORIES = 'temporal-mlops/model@2';
/** Every built-in model format this version reads. */
export const MODEL_FORMATS: readonly string[] = [MODEL_FORMAT, MODEL_FORMAT_CATEGORIES];

/** The built-in trainers, by the name a pipeline spec uses. */
export const TRAINER_NAMES = ['logistic-regression', 'gbdt'] as const;
export type TrainerName = (typeof TRAINER_NAMES)[number];

/** What every trainer receives. */
export interface TrainInput {
  train: Frame;
  /** Held-out rows; gbdt uses them for early stopping instead of splitting its own from `train`. */
  validation?: Frame;
  schema: DatasetSchema;
  /** Hyperparameters; each trainer validates its own and rejects unknown names. */
  params: Record<string, unknown>;
  /** Seeds every random choice, so the same input gives the same model. */
  seed: number;
  onProgress?: ProgressCallback;
  checkpoint?: CheckpointStore;
  /** How often to save a checkpoint: after this many iterations or seconds, whichever comes first (defaults 25 and 10). */
  checkpointEvery?: { iterations?: number; seconds?: number };
  /** Aborts training between iterations (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** What a trainer records about how it ran. */
export interface TrainingSummary {
  rows: number;
  iterations: number;
  seed: number;
  /** Whether training ended on its own criterion (tolerance, early stopping) rather than the iteration cap. */
  converged: boolean;
  /** Rows held out for early stopping (gbdt), 0 when none. */
  validationRows: number;
}

interface ModelCommon {
  format: typeof MODEL_FORMAT | typeof MODEL_FORMAT_CATEGORIES;
  task: Task;
  schema: DatasetSchema;
  /** Class labels in sorted order; probability columns follow it. Empty for regression. */
  classes: string[];
  preprocessing: Preprocessing;
  /** The resolved hyperparameters, defaults included. */
  params: Record<string, unknown>;
  training: TrainingSummary;
}

/**
 * A multinomial logistic regression. With more than two classes, one row of coefficients per class (softmax);
 * with two, a single row giving the log-odds of `classes[1]`, as scikit-learn fits it.
 */
export interface LogisticRegressionModel extends ModelCommon {
  kind: 'logistic-regression';
  /** `coefficients[k][j]`: weight of input `preprocessing.outputs[j]` for row k. */
  coefficients: number[][];
  intercepts: number[];
}

/** A boosted ensemble of regression trees whose leaf values add up to raw scores. */
export interface GbdtModel extends ModelCommon {
  kind: 'gbdt';
  /** The raw score before any tree: log-odds, log class priors, or the target mean. */
  baseline: number[];
  /** Trees per iteration: 1 for binary and regression, the class count for multiclass. */
  treesPerIteration: number;
  /** Trees in training order; tree t adds to raw score `t % treesPerIteration`. */
  trees: ModelTree[];
}

/** A tree as stored in a model (the binned split points are training-only and left out). */
export type ModelTree = Omit<Tree, 'bin'>;

/** Any trained model. */
export type Model = LogisticRegressionModel | GbdtModel;

/** A model's predictions, in row order. */
export interface Predictions {
  /** The most probable class (classification). */
  labels?: string[];
  /** Per row, one probability per class in `model.classes` order (classification). */
  probabilities?: number[][];
  /** Predicted values (regression). */
  values?: Float64Array;
}
