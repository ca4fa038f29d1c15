/**
 * The wire formats of the model server: Open Inference Protocol v2 (columnar tensors, one input per
 * feature) and the v1 `instances` format (JSON rows), both turned into the JSON rows `predictRows`
 * takes, and predictions turned back into each format's answer.
 */
import { FailureType, MlopsError } from '../errors';
import type { Predictions } from '../ml/predictor';
import type { ColumnType } from '../ml/types';
import type { PredictionOutput } from './prediction-log';
import type { LoadedModel } from './served-model';

/** One input tensor of a v2 inference request. */
export interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
  parameters?: Record<string, unknown>;
}

/** One output tensor of a v2 inference response. */
export interface V2Output {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
  parameters?: Record<string, unknown>;
}

/** The longest client-chosen request id kept; longer ones are refused. */
const MAX_ID_LENGTH = 256;

const NUMBER_TYPES = ['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64'];

/** The v2 datatypes each column type accepts. */
const ACCEPTED: Record<ColumnType, readonly string[]> = {
  numeric: NUMBER_TYPES,
  boolean: ['BOOL', ...NUMBER_TYPES],
  categorical: ['BYTES'],
  datetime: ['BYTES', 'INT64', 'FP64'],
};

function invalid(message: string, details?: Record<string, unknown>): MlopsError {
  return new MlopsError(FailureType.InvalidInput, message, details);
}

/** The request id a client sent, if it sent a usable one. */
export function clientId(body: { id?: unknown }): string | undefined {
  const id = body.id;
  if (id === undefined || id === null) return undefined;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw invalid(`"id" must be a non-empty string of at most ${MAX_ID_LENGTH} characters, got ${JSON.stringify(id)?.slice(0, 80)}.`);
  }
  return id;
}

/** The body of a request as an object, or a 400 saying what was expected. */
export function objectBody(body: unknown, expected: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid(`Expected a JSON object body: ${expected}.`);
  return body as Record<string, unknown>;
}

/** The rows of a v1 request: `{"instances": [{feature: value, ...}, ...]}`. */
export function v1Rows(body: Record<string, unknown>): Record<string, unknown>[] {
  const instances = body.instances;
  if (!Array.isArray(instances) || instances.length === 0) {
    throw invalid('Expected "instances": a non-empty array of rows, each an object keyed by feature name.');
  }
  return instances as Record<string, unknown>[];
}

/** The rows of a v2 request: one columnar input per feature, all of the same length. */
export function v2Rows(loaded: LoadedModel, body: Record<string, unknown>): Record<string, unknown>[] {
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw invalid(`Expected "inputs": a non-empty array of tensors {name, shape, datatype, data}, one per feature (${loaded.features.map((f) => f.name).join(', ')}).`);
  }
  let n: number | undefined;
  const columns = new Map<string, unknown[]>();
  for (const raw of inputs as unknown[]) {
    const input = raw as Partial<V2Input>;
    if (typeof input !== 'object' || input === null || typeof input.name !== 'string') throw invalid('Every input must be an object with a "name".');
    const feature = loaded.features.find((f) => f.name === input.name);
    if (!feature) {
      throw invalid(`Input "${input.name}" is not a feature of ${loaded.name}; its inputs are ${loaded.features.map((f) => f.name).join(', ')}.`, { field: input.name });
    }
    if (columns.has(input.name)) throw invalid(`Input "${input.name}" is given twice.`, { field: input.name });
    if (typeof input.datatype !== 'string' || !ACCEPTED[feature.type].includes(input.datatype)) {
      throw invalid(`Input "${input.name}" must have datatype ${ACCEPTED[feature.type].join(' or ')} (it is ${feature.type}), got ${JSON.stringify(input.datatype)}.`, { field: input.name });
    }
    const data = flatten(input.name, input.data);
    checkShape(input.name, input.shape, data.length);
    if (n === undefined) n = data.length;
    else if (data.length !== n) throw invalid(`Input "${input.name}" has ${data.length} values but earlier inputs have ${n}; every input holds one value per row.`, { field: input.name });
    columns.set(input.name, data);
  }
  const rows: Record<string, unknown>[] = new Array(n ?? 0);
  for (let i = 0; i < rows.length; i++) {
    const row: Record<string, unknown> = {};
    for (const [name, data] of columns) row[name] = data[i];
    rows[i] = row;
  }
  if (rows.length === 0) throw invalid('The inputs hold no rows.');
  return rows;
}

/** Row-major data, nested arrays flattened. */
function flatten(name: string, data: unknown): unknown[] {
  if (!Array.isArray(data)) throw invalid(`Input "${name}" must carry "data": an array of values.`, { field: name });
  return data.some(Array.isArray) ? (data as unknown[]).flat(Infinity) : data;
}

/** A feature's tensor is `[n]` or `[n, 1]`. */
function checkShape(name: string, shape: unknown, length: number): void {
  const ok = Array.isArray(shape) && (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) && shape[0] === length;
  if (!ok) throw invalid(`Input "${name}" must have shape [${length}] or [${length}, 1] to match its ${length} values, got ${JSON.stringify(shape)}.`, { field: name });
}

/** Row i's prediction in the form the log and v1 share. */
export function outputOf(loaded: LoadedModel, preds: Predictions, i: number): PredictionOutput {
  if (preds.values) return { value: preds.values[i] };
  const classes = loaded.classes;
  const row = preds.probabilities![i]!;
  const probabilities: Record<string, number> = {};
  for (let k = 0; k < classes.length; k++) probabilities[classes[k]!] = row[k]!;
  return { label: preds.labels![i], probabilities };
}

/** The output tensors of a v2 response, optionally only those the request named. */
export function v2Outputs(loaded: LoadedModel, preds: Predictions, n: number, requested?: unknown): V2Output[] {
  const all: V2Output[] = preds.values
    ? [{ name: 'value', datatype: 'FP64', shape: [n], data: Array.from(preds.values) }]
    : [
        { name: 'label', datatype: 'BYTES', shape: [n], data: preds.labels! },
        { name: 'probabilities', datatype: 'FP64', shape: [n, loaded.classes.length], data: preds.probabilities!.flat(), parameters: { classes: [...loaded.classes] } },
      ];
  if (requested === undefined) return all;
  if (!Array.isArray(requested)) throw invalid('"outputs", when given, must be an array of {name}.');
  return requested.map((r) => {
    const name = (r as { name?: unknown })?.name;
    const found = all.find((o) => o.name === name);
    if (!found) throw invalid(`Output ${JSON.stringify(name)} does not exist; ${loaded.name}'s outputs are ${all.map((o) => o.name).join(', ')}.`);
    return found;
  });
}
