/**
 * ONNX models: the stored manifest an external trainer's output becomes, its signature (how each
 * schema column maps to an ONNX input, and which outputs hold the label, the probabilities or the
 * value), and the predictor that runs it through ONNX Runtime.
 *
 * The mapping is explicit because converters rename inputs (skl2onnx turns `Beak Length (mm)` into
 * `Beak_Length__mm_`); nothing here guesses a name. See docs/external-trainers.md for the contract.
 */
import { FailureType, MlopsError } from '../errors';
import type { ArtifactRef } from '../storage/refs';
import type { FetchBytes, Predictor } from './predictor-types';
import type { Predictions } from './trainers';
import type { DatasetSchema, Frame, Task } from './types';

/** The format tag of a stored ONNX model manifest. */
export const ONNX_MODEL_FORMAT = 'temporal-mlops/onnx-model@1';

/** The element types an ONNX input may take; a column is converted to it before each run. */
export const ONNX_INPUT_TYPES = ['float', 'double', 'int64', 'string', 'bool'] as const;
export type OnnxInputType = (typeof ONNX_INPUT_TYPES)[number];

/** One ONNX input fed by one schema column, as a tensor of shape [rows, 1]. */
export interface OnnxColumnInput {
  column: string;
  name: string;
  type: OnnxInputType;
}

/** The contract between a model's ONNX graph and the dataset schema (the trainer's `signature.json`). */
export interface OnnxSignature {
  /** One input per feature column, in any order; every feature of the schema must appear once. */
  inputs: OnnxColumnInput[];
  outputs: {
    /** Classifiers: the predicted label (a string or int64 tensor of shape [rows] or [rows, 1]). Optional. */
    label?: string;
    /** Classifiers: per-class probabilities, a float tensor [rows, classes] in `classes` order. */
    probabilities?: string;
    /** Regressors: the predicted value, a float tensor [rows] or [rows, 1]. */
    value?: string;
  };
  /** Classifiers: the class labels, in the order of the probability columns. */
  classes?: string[];
}

/** The stored manifest of an ONNX model, referenced by a registry version like any other model. */
export interface OnnxModel {
  format: typeof ONNX_MODEL_FORMAT;
  task: Task;
  schema: DatasetSchema;
  /** Class labels in probability-column order; empty for regression. */
  classes: string[];
  /** The `model.onnx` the trainer wrote. */
  onnx: ArtifactRef;
  signature: OnnxSignature;
  trainer: { command: string[]; params: Record<string, unknown> };
  /** Every file the trainer wrote, by its path relative to its output directory. */
  files: Record<string, ArtifactRef>;
  /** What the program said about itself in metrics.json: information, never a gate. */
  claimedMetrics: Record<string, number>;
  /**
   * Rows the program was given to predict itself (`MLOPS_CHECK_DATA`, features only) and what it
   * predicted for them (`check_predictions.jsonl`), for the servability check to compare with ONNX.
   */
  check?: { rows: ArtifactRef; predictions: ArtifactRef };
}

/** Rows per ONNX Runtime run: bounds the memory of scoring a large holdout. */
const BATCH_ROWS = 65_536;

/** Checks a signature against the schema; returns every problem, one sentence each. */
export function signatureProblems(signature: unknown, schema: DatasetSchema): string[] {
  const s = signature as Partial<OnnxSignature> | null;
  if (typeof s !== 'object' || s === null) return ['signature.json must be a JSON object with "inputs" and "outputs"'];
  const problems: string[] = [];
  const inputs = Array.isArray(s.inputs) ? s.inputs : [];
  if (!Array.isArray(s.inputs)) problems.push('"inputs" must be a list of {"column", "name", "type"}, one per feature');
  const seen = new Set<string>();
  inputs.forEach((input, i) => {
    if (typeof input?.column !== 'string' || typeof input?.name !== 'string')
      problems.push(`inputs[${i}] needs "column" (a schema column) and "name" (the ONNX input)`);
    else if (!schema.features.includes(input.column))
      problems.push(`inputs[${i}]: "${input.column}" is not a feature of the schema (features: ${schema.features.join(', ')})`);
    else if (seen.has(input.column)) problems.push(`inputs[${i}]: "${input.column}" is mapped twice`);
    else seen.add(input.column);
    if (!(ONNX_INPUT_TYPES as readonly string[]).includes(input?.type as string))
      problems.push(`inputs[${i}]: "type" must be one of ${ONNX_INPUT_TYPES.join(', ')}, got ${JSON.stringify(input?.type)}`);
  });
  const missing = schema.features.filter((f) => !seen.has(f));
  if (Array.isArray(s.inputs) && missing.length > 0)
    problems.push(`no ONNX input for the feature${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}`);
  const outputs = (s.outputs ?? {}) as OnnxSignature['outputs'];
  if (schema.task === 'classification') {
    if (typeof outputs.probabilities !== 'string')
      problems.push('a classifier must name its "probabilities" output (a float tensor [rows, classes]; turn zipmap off)');
    if (!Array.isArray(s.classes) || s.classes.length < 2 || s.classes.some((c) => typeof c !== 'string'))
      problems.push('a classifier must list its "classes" (strings) in the order of the probability columns');
  } else if (typeof outputs.value !== 'string') {
    problems.push('a regressor must name its "value" output (a float tensor [rows] or [rows, 1])');
  }
  return problems;
}

/** Loads an ONNX model manifest into a predictor: the session is created once and checked against the signature. */
export async function loadOnnxPredictor(model: OnnxModel, fetchBytes: FetchBytes): Promise<Predictor> {
  const problems = signatureProblems(model.signature, model.schema);
  if (problems.length > 0)
    throw new MlopsError(FailureType.InvalidInput, `The ONNX model's signature does not fit its schema: ${problems.join('; ')}.`, {
      problems,
    });
  const ort = await import('onnxruntime-node');
  const bytes = await fetchBytes(model.onnx);
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `model.onnx does not load in ONNX Runtime: ${(err as Error).message}`,
      { onnx: model.onnx.uri },
      { cause: err },
    );
  }
  const sig = model.signature;
  const wanted = [sig.outputs.label, sig.outputs.probabilities, sig.outputs.value].filter((o): o is string => typeof o === 'string');
  const unknownInputs = sig.inputs.filter((i) => !session.inputNames.includes(i.name)).map((i) => i.name);
  const unfed = session.inputNames.filter((n) => !sig.inputs.some((i) => i.name === n));
  const unknownOutputs = wanted.filter((o) => !session.outputNames.includes(o));
  if (unknownInputs.length + unfed.length + unknownOutputs.length > 0) {
    await session.release();
    const parts = [
      unknownInputs.length ? `signature inputs not in the graph: ${unknownInputs.join(', ')}` : '',
      unfed.length ? `graph inputs the signature does not feed: ${unfed.join(', ')}` : '',
      unknownOutputs.length ? `signature outputs not in the graph: ${unknownOutputs.join(', ')}` : '',
    ].filter(Boolean);
    throw new MlopsError(
      FailureType.InvalidInput,
      `signature.json does not match model.onnx (${parts.join('; ')}). ` +
        `The graph has inputs ${session.inputNames.join(', ')} and outputs ${session.outputNames.join(', ')}.`,
      { inputs: session.inputNames, outputs: session.outputNames },
    );
  }
  const classes = model.task === 'classification' ? (sig.classes ?? model.classes) : [];

  async function predict(frame: Frame): Promise<Predictions> {
    const n = frame.rowCount;
    const labels: string[] = model.task === 'classification' ? new Array(n) : [];
    const probabilities: number[][] = model.task === 'classification' ? new Array(n) : [];
    const values = model.task === 'regression' ? new Float64Array(n) : undefined;
    for (let start = 0; start < n; start += BATCH_ROWS) {
      const end = Math.min(n, start + BATCH_ROWS);
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
      for (const input of sig.inputs) feeds[input.name] = toTensor(ort, frame, input, start, end);
      const out = await session.run(feeds, wanted);
      if (values) {
        copyValues(out[sig.outputs.value!]!, values, start, end, sig.outputs.value!);
        continue;
      }
      const probs = out[sig.outputs.probabilities!]!;
      readProbabilities(probs, classes.length, probabilities, start, end, sig.outputs.probabilities!);
      const label = sig.outputs.label ? out[sig.outputs.label] : undefined;
      for (let i = start; i < end; i++) labels[i] = label ? labelAt(label, i - start, classes) : argmaxLabel(probabilities[i]!, classes);
    }
    return values ? { values } : { labels, probabilities };
  }

  return {
    flavor: 'onnx',
    schema: model.schema,
    task: model.task,
    classes,
    description: `onnx from ${model.trainer.command.join(' ')}`,
    predict,
    release: () => session.release(),
  };
}

type Ort = typeof import('onnxruntime-node');

function toTensor(ort: Ort, frame: Frame, input: OnnxColumnInput, start: number, end: number): import('onnxruntime-node').Tensor {
  const col = frame.columns[input.column];
  if (!col)
    throw new MlopsError(FailureType.InvalidInput, `The rows have no column "${input.column}", which the model needs.`, {
      column: input.column,
    });
  const n = end - start;
  const dims = [n, 1];
  if (input.type === 'string') {
    const data: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = col[start + i];
      data[i] = v === null || v === undefined ? '' : typeof v === 'number' ? (Number.isNaN(v) ? '' : String(v)) : v;
    }
    return new ort.Tensor('string', data, dims);
  }
  if (!(col instanceof Float64Array)) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Column "${input.column}" holds text, but its ONNX input "${input.name}" takes ${input.type}; declare it as "string" in signature.json.`,
      { column: input.column },
    );
  }
  const slice = col.subarray(start, end);
  if (input.type === 'double') return new ort.Tensor('float64', Float64Array.from(slice), dims);
  if (input.type === 'float') return new ort.Tensor('float32', Float32Array.from(slice), dims);
  if (input.type === 'bool')
    return new ort.Tensor(
      'bool',
      Uint8Array.from(slice, (v) => (v ? 1 : 0)),
      dims,
    );
  const ints = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const v = slice[i]!;
    if (!Number.isFinite(v)) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Row ${start + i}: "${input.column}" is missing, and its ONNX input "${input.name}" is int64, which has no missing value; ` +
          `declare it as "float" or "double".`,
        { row: start + i, column: input.column },
      );
    }
    ints[i] = BigInt(Math.round(v));
  }
  return new ort.Tensor('int64', ints, dims);
}

function copyValues(t: import('onnxruntime-node').Tensor, into: Float64Array, start: number, end: number, name: string): void {
  const data = t.data as ArrayLike<number>;
  if (data.length !== end - start) throw badOutput(name, `has ${data.length} values for ${end - start} rows`);
  for (let i = 0; i < data.length; i++) into[start + i] = Number(data[i]);
}

function readProbabilities(
  t: import('onnxruntime-node').Tensor,
  C: number,
  into: number[][],
  start: number,
  end: number,
  name: string,
): void {
  const data = t.data as ArrayLike<number>;
  if (typeof data[0] !== 'number' && end > start)
    throw badOutput(name, `is a ${t.type} tensor, not float probabilities (turn zipmap off when converting)`);
  if (data.length !== (end - start) * C)
    throw badOutput(name, `has shape [${t.dims.join(', ')}], expected [${end - start}, ${C}] (one column per class)`);
  for (let i = start; i < end; i++) {
    const row: number[] = new Array(C);
    for (let k = 0; k < C; k++) row[k] = data[(i - start) * C + k]!;
    into[i] = row;
  }
}

function labelAt(t: import('onnxruntime-node').Tensor, i: number, classes: readonly string[]): string {
  const v = (t.data as ArrayLike<unknown>)[i];
  if (typeof v === 'string') return v;
  const s = String(v);
  if (classes.includes(s)) return s;
  const k = Number(v);
  if (Number.isInteger(k) && k >= 0 && k < classes.length) return classes[k]!;
  throw badOutput('label', `holds ${s}, which is neither a class nor a class index`);
}

function argmaxLabel(row: number[], classes: readonly string[]): string {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k]! > row[best]!) best = k;
  return classes[best]!;
}

function badOutput(name: string, what: string): MlopsError {
  return new MlopsError(FailureType.InvalidInput, `The ONNX output "${name}" ${what}.`, { output: name });
}
