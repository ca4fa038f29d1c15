/**
 * The `logistic-regression` trainer: multinomial (softmax) logistic regression with an L2 penalty, fitted by
 * L-BFGS from zero weights, as scikit-learn's `LogisticRegression(solver='lbfgs')`.
 *
 * It minimises mean log-loss + ‖W‖² / (2·C·n) (intercepts are not penalised), which has the same minimiser
 * as scikit-learn's C·Σ loss + ½‖W‖², and stops on the same criteria (`tol` on the largest gradient component,
 * `maxIter` iterations). With two classes it fits one weight vector for the log-odds of the second class, as
 * scikit-learn does. Inputs are standardised, missing values imputed and categoricals one-hot encoded first.
 * The two-class objective runs on worker threads for large inputs (binomial-objective.ts).
 */
import { z } from 'zod';
import { fitTransformRows, type DesignMatrix } from '../preprocess';
import { minimizeLbfgs, type LbfgsState } from '../optim/lbfgs';
import { FailureType, MlopsError } from '../../errors';
import { BinomialObjective, allocateMatrix, objectiveThreads } from './binomial-objective';
import { TrainingLoop, checkTrainInput, classTarget, loadCheckpoint, parseParams, trainingFingerprint } from './common';
import { MODEL_FORMAT, type LogisticRegressionModel, type TrainInput } from './model';

/** The hyperparameters of `logistic-regression`, with scikit-learn's defaults. */
export const logisticRegressionParamsSchema = z
  .object({
    /** Inverse regularisation strength: smaller means a stronger penalty. */
    C: z.number().positive().default(1),
    maxIter: z.number().int().min(1).default(100),
    /** Stop when the largest gradient component is at most this. */
    tol: z.number().positive().default(1e-4),
    /** How missing numeric, boolean and datetime values are filled. */
    numericImpute: z.enum(['median', 'mean']).default('median'),
    /** How missing categorical values are encoded. */
    categoricalImpute: z.enum(['most-frequent', 'missing-token']).default('missing-token'),
  })
  .strict();

export type LogisticRegressionParams = z.infer<typeof logisticRegressionParamsSchema>;

interface LogisticCheckpoint {
  fingerprint: string;
  lbfgs: LbfgsState;
}

/** Fits a logistic-regression model. */
export async function fitLogisticRegression(input: TrainInput): Promise<LogisticRegressionModel> {
  checkTrainInput(input);
  const params = parseParams('logistic-regression', logisticRegressionParamsSchema, input.params);
  const { schema } = input;
  if (schema.task !== 'classification') {
    throw new MlopsError(FailureType.InvalidInput, 'logistic-regression is a classifier; use gbdt for a regression task.', {
      trainer: 'logistic-regression',
      task: schema.task,
    });
  }
  const { classes, y } = classTarget(input.train, schema);
  const K = classes.length === 2 ? 1 : classes.length;
  // Only the binomial objective runs on threads; it wants the matrix in shared memory.
  const threads = K === 1 ? objectiveThreads(input.train.rowCount, schema.features.length) : 1;
  const {
    preprocessing,
    X,
    width: d,
  } = fitTransformRows(
    input.train,
    schema,
    { standardize: true, numericImpute: params.numericImpute, categoricalImpute: params.categoricalImpute },
    (length) => allocateMatrix(length, threads),
  );
  const binomial = K === 1 ? new BinomialObjective(X, y, d, params.C, threads) : undefined;
  const objective = binomial ? binomial.evaluate : multinomialObjective(X, y, d, K, params.C);

  const fingerprint = trainingFingerprint('logistic-regression', params, input);
  const saved = await loadCheckpoint<LogisticCheckpoint>(input.checkpoint, fingerprint);
  const loop = new TrainingLoop(input, saved?.lbfgs.iteration ?? 0);
  let result: LbfgsState;
  try {
    result = await minimizeLbfgs(
      objective,
      new Float64Array(K * (d + 1)),
      { maxIter: params.maxIter, gtol: params.tol },
      {
        start: saved?.lbfgs,
        onIteration: async (state) => {
          await loop.progress(state.iteration / params.maxIter, `iteration ${state.iteration}`);
          await loop.maybeCheckpoint(state.iteration, (): LogisticCheckpoint => ({ fingerprint, lbfgs: state }));
        },
      },
    );
  } finally {
    binomial?.close();
  }
  await loop.progress(1, `fitted in ${result.iteration} iterations`);

  const coefficients: number[][] = [];
  const intercepts: number[] = [];
  for (let k = 0; k < K; k++) {
    coefficients.push(result.x.slice(k * (d + 1), k * (d + 1) + d));
    intercepts.push(result.x[k * (d + 1) + d]);
  }
  return {
    format: MODEL_FORMAT,
    kind: 'logistic-regression',
    task: 'classification',
    schema,
    classes,
    preprocessing,
    params,
    training: {
      rows: input.train.rowCount,
      iterations: result.iteration,
      seed: input.seed,
      converged: result.stopped !== 'maxIter',
      validationRows: 0,
    },
    coefficients,
    intercepts,
  };
}

/** Class probabilities (`rowCount × classes`, row-major) of a logistic-regression model for preprocessed inputs. */
export function logisticProbabilities(model: LogisticRegressionModel, design: DesignMatrix): Float64Array {
  const n = design.rowCount;
  const C = model.classes.length;
  const rows = model.coefficients.length;
  const out = new Float64Array(n * C);
  const z = new Float64Array(rows);
  const cols = design.columns;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < rows; k++) {
      const w = model.coefficients[k];
      let s = model.intercepts[k];
      for (let j = 0; j < w.length; j++) s += w[j] * cols[j][i];
      z[k] = s;
    }
    if (rows === 1) {
      const p = 1 / (1 + Math.exp(-z[0]));
      out[i * C] = 1 - p;
      out[i * C + 1] = p;
      continue;
    }
    let max = -Infinity;
    for (let k = 0; k < rows; k++) max = Math.max(max, z[k]);
    let sum = 0;
    for (let k = 0; k < rows; k++) sum += out[i * C + k] = Math.exp(z[k] - max);
    for (let k = 0; k < rows; k++) out[i * C + k] /= sum;
  }
  return out;
}

/** Mean multinomial log-loss plus the L2 penalty; weights are K blocks of [w_k0..w_k(d-1), intercept_k]. */
function multinomialObjective(X: Float64Array, y: Int32Array, d: number, K: number, C: number) {
  const n = y.length;
  const alpha = 1 / (C * n);
  const stride = d + 1;
  const z = new Float64Array(K);
  return (w: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0, row = 0; i < n; i++, row += d) {
      let max = -Infinity;
      for (let k = 0, base = 0; k < K; k++, base += stride) {
        let s = w[base + d];
        for (let j = 0; j < d; j++) s += X[row + j] * w[base + j];
        z[k] = s;
        if (s > max) max = s;
      }
      const yi = y[i];
      const zy = z[yi];
      let sum = 0;
      for (let k = 0; k < K; k++) sum += z[k] = Math.exp(z[k] - max);
      loss += max + Math.log(sum) - zy;
      for (let k = 0, base = 0; k < K; k++, base += stride) {
        const r = z[k] / sum - (k === yi ? 1 : 0);
        for (let j = 0; j < d; j++) grad[base + j] += r * X[row + j];
        grad[base + d] += r;
      }
    }
    let penalty = 0;
    for (let t = 0; t < grad.length; t++) grad[t] /= n;
    for (let k = 0, base = 0; k < K; k++, base += stride) {
      for (let j = 0; j < d; j++) {
        penalty += w[base + j] * w[base + j];
        grad[base + j] += alpha * w[base + j];
      }
    }
    return loss / n + 0.5 * alpha * penalty;
  };
}
