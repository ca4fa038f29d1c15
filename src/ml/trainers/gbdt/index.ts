/**
 * The `gbdt` trainer: histogram-based gradient-boosted trees in the manner of scikit-learn's
 * HistGradientBoosting and LightGBM, with the same hyperparameter names (camelCased) and defaults.
 *
 * Losses: binary log-loss (one tree per iteration on the log-odds), multinomial log-loss (one tree per class
 * per iteration, gradients taken once per iteration) and half squared error for regression. Early stopping
 * watches the loss on held-out rows (the `validation` frame when given, else a stratified `validationFraction`
 * of `train`) and stops when the last `nIterNoChange` iterations did not beat the one before them by more than
 * `tol`; as in scikit-learn, `auto` turns it on above 10,000 training rows, and the model keeps every tree fitted.
 *
 * Inputs need no scaling or imputation: numeric values are binned with missing values in a bin of their own.
 * Categorical features are native, as in LightGBM and scikit-learn's `categorical_features`: each is one
 * column of category codes, one byte per row in the binned matrix whatever the number of categories, and
 * trees split it by sets of categories (grower.ts). The most frequent `maxBins − 1` categories seen on at
 * least 10 training rows keep codes of their own; rarer ones share an "other" code, and so does a category
 * never seen in training when predicting: it goes wherever the training's "other" rows went at each split
 * (or, at a split whose node had none, to the child that had more rows, as missing values do then).
 *
 * Memory: the rows are binned straight from the frame's columns into the training and held-out matrices
 * (a byte per cell each, the held-out rows picked by index, never copied as floats), next to the gradients.
 */
import { z } from 'zod';
import { DATETIME_PARTS, fitTransform, transformFrame, type Preprocessing, type PreprocessingOptions } from '../../preprocess';
import { createRng, permutation, type Rng } from '../../random';
import { TrainingLoop, checkTrainInput, classTarget, loadCheckpoint, numericTarget, parseParams, trainingFingerprint } from '../common';
import { MODEL_FORMAT, MODEL_FORMAT_CATEGORIES, type GbdtModel, type TrainInput } from '../model';
import { binRows, fitBinner, realBinCounts, type Binner } from './binning';
import { TreeGrower, addBinnedPredictions, addRawPredictions, type Tree } from './grower';
import { histogramThreads } from './histograms';

/** The hyperparameters of `gbdt`, with scikit-learn's defaults. */
export const gbdtParamsSchema = z
  .object({
    learningRate: z.number().positive().default(0.1),
    maxIter: z.number().int().min(1).default(100),
    /** Largest number of leaves per tree; null for no limit. */
    maxLeafNodes: z.number().int().min(2).nullable().default(31),
    /** Largest depth of a leaf; null for no limit. */
    maxDepth: z.number().int().min(1).nullable().default(null),
    minSamplesLeaf: z.number().int().min(1).default(20),
    l2Regularization: z.number().min(0).default(0),
    /** Bins for real values per feature, 2..255 (missing values always get one more); a categorical feature keeps maxBins − 1 categories at most. */
    maxBins: z.number().int().min(2).max(255).default(255),
    earlyStopping: z.union([z.literal('auto'), z.boolean()]).default('auto'),
    validationFraction: z.number().gt(0).lt(1).default(0.1),
    nIterNoChange: z.number().int().min(1).default(10),
    tol: z.number().min(0).default(1e-7),
  })
  .strict();

export type GbdtParams = z.infer<typeof gbdtParamsSchema>;

/** Inputs as trees want them: unscaled, missing values left missing, categories as codes (maxCategories set per fit). */
const TREE_PREPROCESSING: PreprocessingOptions = {
  standardize: false,
  numericImpute: 'none',
  categoricalImpute: 'missing-token',
  categoricalEncoding: 'codes',
};
/** `earlyStopping: 'auto'` turns it on above this many training rows, as scikit-learn does. */
const AUTO_EARLY_STOPPING_ROWS = 10_000;

interface GbdtCheckpoint {
  fingerprint: string;
  iteration: number;
  trees: Tree[];
  /** Validation scores (negative losses), the first before any tree. */
  scores: number[];
  stopped: boolean;
}

/** Fits a gbdt model. */
export async function fitGbdt(input: TrainInput): Promise<GbdtModel> {
  checkTrainInput(input);
  const params = parseParams('gbdt', gbdtParamsSchema, input.params);
  const { schema } = input;
  const { preprocessing, target, loss, grower, categorical, ...data } = await prepare(input, params);
  let fitted: Boosted;
  try {
    fitted = await boost({ input, params, loss, grower, ...data });
  } finally {
    grower.close();
  }
  return {
    // Category codes and set splits are what an older reader cannot predict: only such models carry the new format.
    format: categorical ? MODEL_FORMAT_CATEGORIES : MODEL_FORMAT,
    kind: 'gbdt',
    task: schema.task,
    schema,
    classes: target.classes,
    preprocessing,
    params,
    training: {
      rows: input.train.rowCount,
      iterations: fitted.iterations,
      seed: input.seed,
      converged: fitted.stopped,
      validationRows: data.yVal?.length ?? 0,
    },
    baseline: fitted.baseline,
    treesPerIteration: loss.K,
    trees: fitted.trees.map(({ bin: _bin, ...tree }) => tree),
  };
}

/** Rows binned between two turns of the event loop. */
const BIN_SLICE_ROWS = 1 << 20;

/** Gives the event loop a turn, so the activity's heartbeat timer fires between long steps on millions of rows. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `binRows` a slice of rows at a time, with a turn of the event loop between slices. */
async function binInSlices(binner: Binner, columns: Float64Array[], out: Uint8Array, rows?: Uint32Array): Promise<Uint8Array> {
  const F = columns.length;
  const n = rows ? rows.length : F > 0 ? columns[0].length : 0;
  for (let start = 0; start < n; start += BIN_SLICE_ROWS) {
    const end = Math.min(n, start + BIN_SLICE_ROWS);
    const slice = rows ? columns : columns.map((c) => c.subarray(start, end));
    binRows(binner, slice, out.subarray(start * F, end * F), rows?.subarray(start, end));
    await turn();
  }
  return out;
}

/**
 * Learns the preprocessing and the bins and bins the training and held-out rows. The model inputs as floats
 * (category codes, datetime parts) live only while this runs: boosting keeps bytes. Each step on all the rows
 * is followed by a turn of the event loop: at 10M rows a step takes seconds, and the heartbeat must not wait.
 */
async function prepare(input: TrainInput, params: GbdtParams) {
  const { schema } = input;
  const rng = createRng(input.seed);
  const { preprocessing, design } = fitTransform(input.train, schema, { ...TREE_PREPROCESSING, maxCategories: params.maxBins - 1 });
  await turn();
  const target = readTarget(input);
  await turn();
  const loss = makeLoss(target.classes.length, schema.task);

  const all = design.columns;
  const useEarlyStopping = params.earlyStopping === 'auto' ? input.train.rowCount > AUTO_EARLY_STOPPING_ROWS : params.earlyStopping;
  const sets = holdOut(input, params, useEarlyStopping, all, target, preprocessing, rng);
  const n = sets.yTrain.length;
  const F = all.length;
  await turn();

  const binner = fitBinner(all, params.maxBins, rng, categoryCodeCounts(preprocessing), sets.trainRows);
  await turn();
  const threads = histogramThreads(n, F);
  const valBinned = sets.val ? binRows(binner, sets.val.columns, undefined, sets.val.rows) : undefined;
  const settings = {
    maxLeafNodes: params.maxLeafNodes ?? Number.MAX_SAFE_INTEGER,
    maxDepth: params.maxDepth ?? Infinity,
    minSamplesLeaf: params.minSamplesLeaf,
    l2Regularization: params.l2Regularization,
    learningRate: params.learningRate,
  };
  await turn();
  const grower = new TreeGrower(n, realBinCounts(binner), binner.thresholds, settings, threads, binner.categoryCodes);
  try {
    const binned = await binInSlices(binner, all, grower.binned, sets.trainRows);
    const categorical = binner.categoryCodes.some((c) => c > 0);
    return { preprocessing, target, loss, grower, binned, F, yTrain: sets.yTrain, valBinned, yVal: sets.yVal, categorical };
  } catch (err) {
    grower.close();
    throw err;
  }
}

interface BoostInput {
  input: TrainInput;
  params: GbdtParams;
  loss: Loss;
  grower: TreeGrower;
  binned: Uint8Array;
  F: number;
  yTrain: Float64Array;
  valBinned?: Uint8Array;
  yVal?: Float64Array;
}

interface Boosted {
  baseline: number[];
  trees: Tree[];
  iterations: number;
  stopped: boolean;
}

/** The boosting rounds, resumed from a checkpoint when there is one. */
async function boost({ input, params, loss, grower, binned, F, yTrain, valBinned, yVal }: BoostInput): Promise<Boosted> {
  const K = loss.K;
  const n = yTrain.length;
  const nv = yVal?.length ?? 0;
  const baseline = loss.baseline(yTrain);
  const raw = new Float64Array(n * K);
  const rawVal = new Float64Array(nv * K);
  for (let k = 0; k < K; k++) {
    raw.fill(baseline[k], k * n, (k + 1) * n);
    rawVal.fill(baseline[k], k * nv, (k + 1) * nv);
  }

  const fingerprint = trainingFingerprint('gbdt', params, input);
  const saved = await loadCheckpoint<GbdtCheckpoint>(input.checkpoint, fingerprint);
  const trees: Tree[] = saved ? saved.trees : [];
  const scores: number[] = saved ? [...saved.scores] : [];
  let stopped = saved?.stopped ?? false;
  // Replaying the saved trees adds the same leaf values in the same order as training did: the raw scores
  // come out bit-for-bit identical, and so does everything fitted after them.
  trees.forEach((tree, t) => {
    const k = t % K;
    addBinnedPredictions(tree, binned, F, n, raw, k * n);
    if (valBinned) addBinnedPredictions(tree, valBinned, F, nv, rawVal, k * nv);
  });
  if (yVal && scores.length === 0) scores.push(-loss.value(rawVal, yVal));

  let iteration = trees.length / K;
  const loop = new TrainingLoop(input, iteration);
  // Gradients and hessians interleaved, class after class; with one class, straight into the grower's buffer.
  const gh = K === 1 ? grower.gradientBuffer : new Float64Array(2 * n * K);
  while (!stopped && iteration < params.maxIter) {
    loss.gradients(raw, yTrain, gh);
    for (let k = 0; k < K; k++) {
      const { tree, leaves } = grower.grow(K === 1 ? gh : gh.subarray(2 * k * n, 2 * (k + 1) * n));
      trees.push(tree);
      const rows = grower.rows;
      const offset = k * n;
      for (const leaf of leaves) for (let r = leaf.start; r < leaf.end; r++) raw[offset + rows[r]] += leaf.value;
      if (valBinned) addBinnedPredictions(tree, valBinned, F, nv, rawVal, k * nv);
    }
    iteration++;
    if (yVal) {
      scores.push(-loss.value(rawVal, yVal));
      stopped = shouldStop(scores, params.nIterNoChange, params.tol);
    }
    await loop.progress(iteration / params.maxIter, `iteration ${iteration}`);
    await loop.maybeCheckpoint(iteration, (): GbdtCheckpoint => ({
      fingerprint,
      iteration,
      trees: trees.slice(),
      scores: scores.slice(),
      stopped,
    }));
  }
  await loop.progress(1, `fitted ${iteration} iterations`);
  return { baseline, trees, iterations: iteration, stopped };
}

/** Raw scores of a gbdt model for preprocessed input columns: `rowCount × treesPerIteration`, class-major. */
export function gbdtRawScores(model: GbdtModel, columns: Float64Array[], rowCount: number): Float64Array {
  const K = model.treesPerIteration;
  const raw = new Float64Array(rowCount * K);
  for (let k = 0; k < K; k++) raw.fill(model.baseline[k], k * rowCount, (k + 1) * rowCount);
  model.trees.forEach((tree, t) => addRawPredictions(tree, columns, rowCount, raw, (t % K) * rowCount));
  return raw;
}

/** Per model input, its number of category codes (kept categories plus "other") if it is a categorical feature, else 0. */
function categoryCodeCounts(preprocessing: Preprocessing): Int32Array {
  const counts: number[] = [];
  for (const f of preprocessing.features) {
    if (f.type === 'categorical') counts.push(f.categories.length + 1);
    else if (f.type === 'datetime') counts.push(...DATETIME_PARTS.map(() => 0));
    else counts.push(0);
  }
  if (counts.length !== preprocessing.outputs.length) throw new Error('gbdt: the preprocessing outputs do not line up with its features.');
  return Int32Array.from(counts);
}

/** scikit-learn's rule: stop when none of the last `patience` scores beats the one before them by more than `tol`. */
function shouldStop(scores: number[], patience: number, tol: number): boolean {
  if (scores.length < patience + 1) return false;
  const reference = scores[scores.length - patience - 1] + tol;
  for (let i = scores.length - patience; i < scores.length; i++) if (scores[i] > reference) return false;
  return true;
}

interface Target {
  classes: string[];
  /** Class index (classification) or value (regression), per training row. */
  y: Float64Array;
}

function readTarget(input: TrainInput): Target {
  if (input.schema.task === 'regression') return { classes: [], y: numericTarget(input.train, input.schema) };
  const { classes, y } = classTarget(input.train, input.schema);
  return { classes, y: Float64Array.from(y) };
}

/**
 * The rows boosting fits on and the rows early stopping watches, as row indices into the model inputs
 * (`trainRows` undefined: every training row), so neither side's inputs are copied before binning.
 */
interface HeldOut {
  trainRows?: Uint32Array;
  yTrain: Float64Array;
  /** The held-out rows: `rows` of `columns` (the training inputs, or the validation frame's). */
  val?: { columns: Float64Array[]; rows: Uint32Array };
  yVal?: Float64Array;
}

function holdOut(
  input: TrainInput,
  params: GbdtParams,
  enabled: boolean,
  all: Float64Array[],
  target: Target,
  preprocessing: Preprocessing,
  rng: Rng,
): HeldOut {
  if (!enabled) return { yTrain: target.y };
  if (input.validation && input.validation.rowCount > 0) {
    const columns = transformFrame(preprocessing, input.validation).columns;
    if (input.schema.task === 'regression') {
      const yVal = numericTarget(input.validation, input.schema);
      return { yTrain: target.y, val: { columns, rows: rowsWhere(yVal.length, () => true) }, yVal };
    }
    // Rows of a class the training data never saw cannot be scored; they are left out of early stopping.
    const { y } = classTarget(input.validation, input.schema, target.classes, 'skip');
    const keep = rowsWhere(y.length, (i) => y[i] >= 0);
    return { yTrain: target.y, val: { columns, rows: keep }, yVal: pick(Float64Array.from(y), keep) };
  }
  const isVal = stratifiedHoldout(target, input.schema.task === 'classification', params.validationFraction, rng);
  const trainRows = rowsWhere(target.y.length, (i) => isVal[i] === 0);
  const valRows = rowsWhere(target.y.length, (i) => isVal[i] === 1);
  return { trainRows, yTrain: pick(target.y, trainRows), val: { columns: all, rows: valRows }, yVal: pick(target.y, valRows) };
}

/**
 * Marks ⌈fraction × rows⌉ rows as held out, at random, shared among classes in proportion to their sizes
 * (largest remainders get the rounding), keeping at least one row of each class for training.
 */
function stratifiedHoldout(target: Target, stratify: boolean, fraction: number, rng: Rng): Uint8Array {
  const n = target.y.length;
  const order = permutation(n, rng);
  const groups = stratify ? target.classes.length : 1;
  const sizes = new Float64Array(groups);
  for (let i = 0; i < n; i++) sizes[stratify ? target.y[i] : 0]++;
  const exact = Array.from(sizes, (s) => fraction * s);
  const quota = exact.map(Math.floor);
  let remaining = Math.ceil(fraction * n) - quota.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, gi) => gi).sort((x, y) => exact[y] - quota[y] - (exact[x] - quota[x]) || x - y);
  for (const gi of byRemainder) if (remaining-- > 0) quota[gi]++;
  for (let gi = 0; gi < groups; gi++) quota[gi] = Math.min(quota[gi], sizes[gi] - 1);
  const taken = new Float64Array(groups);
  const isVal = new Uint8Array(n);
  for (const i of order) {
    const gi = stratify ? target.y[i] : 0;
    if (taken[gi] < quota[gi]) {
      taken[gi]++;
      isVal[i] = 1;
    }
  }
  return isVal;
}

function rowsWhere(n: number, keep: (i: number) => boolean): Uint32Array {
  const out = new Uint32Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) if (keep(i)) out[m++] = i;
  return out.slice(0, m);
}

function pick(values: Float64Array, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k++) out[k] = values[rows[k]];
  return out;
}

interface Loss {
  /** Raw scores per row: 1, or the class count for multiclass. */
  K: number;
  baseline(y: Float64Array): number[];
  /** Writes per-row gradient and hessian pairs, interleaved, class after class (`gh[2(kn + i)]`, `gh[2(kn + i) + 1]`). */
  gradients(raw: Float64Array, y: Float64Array, gh: Float64Array): void;
  /** The mean loss. */
  value(raw: Float64Array, y: Float64Array): number;
}

function makeLoss(classCount: number, task: 'classification' | 'regression'): Loss {
  if (task === 'regression') return squaredError;
  return classCount === 2 ? binaryLogLoss : multinomialLogLoss(classCount);
}

const squaredError: Loss = {
  K: 1,
  baseline: (y) => [mean(y)],
  gradients(raw, y, gh) {
    for (let i = 0; i < y.length; i++) {
      gh[2 * i] = raw[i] - y[i];
      gh[2 * i + 1] = 1;
    }
  },
  value(raw, y) {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += 0.5 * (raw[i] - y[i]) * (raw[i] - y[i]);
    return s / Math.max(1, y.length);
  },
};

const binaryLogLoss: Loss = {
  K: 1,
  baseline(y) {
    const p = clip(mean(y));
    return [Math.log(p / (1 - p))];
  },
  gradients(raw, y, gh) {
    for (let i = 0; i < y.length; i++) {
      const p = 1 / (1 + Math.exp(-raw[i]));
      gh[2 * i] = p - y[i];
      gh[2 * i + 1] = p * (1 - p);
    }
  },
  value(raw, y) {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const z = raw[i];
      s += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y[i] * z;
    }
    return s / Math.max(1, y.length);
  },
};

function multinomialLogLoss(K: number): Loss {
  return {
    K,
    baseline(y) {
      const counts = new Float64Array(K);
      for (let i = 0; i < y.length; i++) counts[y[i]]++;
      const logs = Array.from(counts, (c) => Math.log(clip(c / y.length)));
      const m = logs.reduce((a, b) => a + b, 0) / K;
      return logs.map((l) => l - m);
    },
    gradients(raw, y, gh) {
      const n = y.length;
      for (let i = 0; i < n; i++) {
        let max = -Infinity;
        for (let k = 0; k < K; k++) max = Math.max(max, raw[k * n + i]);
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const e = Math.exp(raw[k * n + i] - max);
          gh[2 * (k * n + i)] = e;
          sum += e;
        }
        for (let k = 0; k < K; k++) {
          const o = 2 * (k * n + i);
          const p = gh[o] / sum;
          gh[o] = p - (y[i] === k ? 1 : 0);
          gh[o + 1] = p * (1 - p);
        }
      }
    },
    value(raw, y) {
      const n = y.length;
      let s = 0;
      for (let i = 0; i < n; i++) {
        let max = -Infinity;
        for (let k = 0; k < K; k++) max = Math.max(max, raw[k * n + i]);
        let sum = 0;
        for (let k = 0; k < K; k++) sum += Math.exp(raw[k * n + i] - max);
        s += max + Math.log(sum) - raw[y[i] * n + i];
      }
      return s / Math.max(1, n);
    },
  };
}

function mean(y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i];
  return y.length > 0 ? s / y.length : 0;
}

function clip(p: number): number {
  const eps = Number.EPSILON;
  return Math.min(1 - eps, Math.max(eps, p));
}
