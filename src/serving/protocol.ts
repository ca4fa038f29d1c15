/**
 * The wire formats of the model server: Open Inference Protocol v2 (columnar tensors, one input per
 * feature) and the v1 `instances` format (JSON rows), both turned into the JSON rows `predictRows`
 * takes, and predictions turned back into each format's answer.
 */
import { FailureType, MlopsError } from '../errors';
import type { Predictions } from '../ml/predictor';
import type { ColumnType } from '../ml/types';
import { isMissing, toBoolean, toNumeric } from '../ml/values';
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

/**
 * The v2 datatypes each column type accepts: its own (what the metadata says), and for numbers the
 * datatypes every value of which FP64 holds exactly (a lossless widening). INT64 and UINT64 are
 * refused for numbers, since FP64 cannot hold all of their values; datetimes also take INT64 epoch
 * milliseconds. Nothing else is converted: a BOOL is not a number, a number is not a category.
 */
const ACCEPTED: Record<ColumnType, readonly string[]> = {
  numeric: ['FP64', 'FP32', 'FP16', 'INT32', 'INT16', 'INT8', 'UINT32', 'UINT16', 'UINT8'],
  boolean: ['BOOL'],
  categorical: ['BYTES'],
  datetime: ['BYTES', 'INT64'],
};

/** The range of each integer datatype, for checking JSON data against the datatype it claims. */
const INT_RANGE: Record<string, [number, number]> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
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

/**
 * For clients that read rows from files (CSV values are text): the v1 instance the server takes for a
 * row, built from the model's v2 metadata inputs. Keeps only the model's features, each read as its
 * input's datatype (FP64 a number, BOOL a boolean, BYTES a string), with null for a missing value. A
 * value that does not read as its type is passed as it is, so the server's 400 names it.
 */
export function instanceFor(inputs: readonly { name: string; datatype: string }[], row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name, datatype } of inputs) {
    const value = row[name];
    if (isMissing(value)) out[name] = null;
    else if (datatype === 'BYTES')
      out[name] = typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : String(value);
    else if (datatype === 'BOOL') out[name] = toBoolean(value) === undefined ? value : toBoolean(value) === 1;
    else out[name] = toNumeric(value) ?? value;
  }
  return out;
}

/** The rows of a v2 request: one columnar input per feature, all of the same length. */
export function v2Rows(loaded: LoadedModel, body: Record<string, unknown>): Record<string, unknown>[] {
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw invalid(
      `Expected "inputs": a non-empty array of tensors {name, shape, datatype, data}, one per feature (${loaded.features.map((f) => f.name).join(', ')}).`,
    );
  }
  let n: number | undefined;
  const columns = new Map<string, unknown[]>();
  for (const raw of inputs as unknown[]) {
    const input = raw as Partial<V2Input>;
    if (typeof input !== 'object' || input === null || typeof input.name !== 'string')
      throw invalid('Every input must be an object with a "name".');
    const feature = loaded.features.find((f) => f.name === input.name);
    if (!feature) {
      throw invalid(
        `Input "${input.name}" is not a feature of ${loaded.name}; its inputs are ${loaded.features.map((f) => f.name).join(', ')}.`,
        { field: input.name },
      );
    }
    if (columns.has(input.name)) throw invalid(`Input "${input.name}" is given twice.`, { field: input.name });
    if (typeof input.datatype !== 'string' || !ACCEPTED[feature.type].includes(input.datatype)) {
      throw invalid(
        `Input "${input.name}" must have datatype ${ACCEPTED[feature.type].join(' or ')} (it is ${feature.type}), got ${JSON.stringify(input.datatype)}.`,
        { field: input.name },
      );
    }
    const data = flatten(input.name, input.data);
    checkShape(input.name, input.shape, data.length);
    checkValues(input.name, input.datatype, data);
    if (n === undefined) n = data.length;
    else if (data.length !== n)
      throw invalid(`Input "${input.name}" has ${data.length} values but earlier inputs have ${n}; every input holds one value per row.`, {
        field: input.name,
      });
    columns.set(input.name, data);
  }
  for (const f of loaded.features) {
    if (!columns.has(f.name)) {
      throw invalid(
        `Input "${f.name}" is missing: send one input per feature of ${loaded.name} ` +
          `(${loaded.features.map((x) => x.name).join(', ')}), with null for a missing value.`,
        {
          field: f.name,
        },
      );
    }
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

/** Every value of JSON data is of the datatype the input claims (or null, a missing value). */
function checkValues(name: string, datatype: string, data: unknown[]): void {
  const range = INT_RANGE[datatype];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v === null) continue;
    const ok =
      datatype === 'BYTES'
        ? typeof v === 'string'
        : datatype === 'BOOL'
          ? typeof v === 'boolean'
          : range
            ? typeof v === 'number' && Number.isInteger(v) && v >= range[0] && v <= range[1]
            : typeof v === 'number' && !(v === Infinity || v === -Infinity);
    if (!ok) {
      const shown = JSON.stringify(v) ?? String(v);
      throw invalid(
        `Row ${i}: input "${name}" is ${datatype}, so ${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown} is not one of its values.`,
        { row: i, field: name },
      );
    }
  }
}

/** A feature's tensor is `[n]` or `[n, 1]`. */
function checkShape(name: string, shape: unknown, length: number): void {
  const ok = Array.isArray(shape) && (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) && shape[0] === length;
  if (!ok)
    throw invalid(
      `Input "${name}" must have shape [${length}] or [${length}, 1] to match its ${length} values, got ${JSON.stringify(shape)}.`,
      { field: name },
    );
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
        {
          name: 'probabilities',
          datatype: 'FP64',
          shape: [n, loaded.classes.length],
          data: preds.probabilities!.flat(),
          parameters: { classes: [...loaded.classes] },
        },
      ];
  if (requested === undefined) return all;
  if (!Array.isArray(requested)) throw invalid('"outputs", when given, must be an array of {name}.');
  return requested.map((r) => {
    const name = (r as { name?: unknown })?.name;
    const found = all.find((o) => o.name === name);
    if (!found)
      throw invalid(`Output ${JSON.stringify(name)} does not exist; ${loaded.name}'s outputs are ${all.map((o) => o.name).join(', ')}.`);
    return found;
  });
}

/**
 * Open Inference Protocol v2's binary tensor data extension, which Triton's clients use by default: the
 * body is the JSON request (its length in the `Inference-Header-Content-Length` header) followed by the
 * raw bytes of every input whose `parameters.binary_data_size` is set, in input order. Numbers are
 * little-endian; a BYTES element is a 4-byte little-endian length and that many bytes of UTF-8.
 */
export const BINARY_HEADER = 'inference-header-content-length';

/** The JSON request of a body that may carry binary tensors, with each binary input's data decoded into `data`. */
export function parseInferBody(body: Buffer, headerLength: string | undefined): unknown {
  const jsonLength = headerLength === undefined ? body.length : Number(headerLength);
  if (!Number.isInteger(jsonLength) || jsonLength < 0 || jsonLength > body.length) {
    throw invalid(
      `The ${BINARY_HEADER} header must be the length of the JSON part of the body (0-${body.length}), got ${JSON.stringify(headerLength)}.`,
    );
  }
  let request: unknown;
  try {
    request = JSON.parse(body.subarray(0, jsonLength).toString('utf8'));
  } catch (err) {
    throw invalid(`The request's JSON part does not parse: ${(err as Error).message}.`);
  }
  const inputs = (request as { inputs?: unknown })?.inputs;
  if (!Array.isArray(inputs)) return request;
  let offset = jsonLength;
  for (const input of inputs as Partial<V2Input>[]) {
    const size = input?.parameters?.binary_data_size;
    if (size === undefined) continue;
    if (!Number.isInteger(size) || (size as number) < 0 || offset + (size as number) > body.length) {
      throw invalid(
        `Input "${input.name}" says binary_data_size ${JSON.stringify(size)}, but the body holds ${body.length - offset} more bytes.`,
        { field: input.name },
      );
    }
    input.data = decodeTensor(input.name ?? '?', String(input.datatype), body.subarray(offset, offset + (size as number)));
    offset += size as number;
  }
  if (offset !== body.length)
    throw invalid(`The body holds ${body.length - offset} bytes after the last binary input; binary_data_size must account for them.`);
  return request;
}

const WIDTH: Record<string, number> = {
  FP64: 8,
  FP32: 4,
  INT64: 8,
  UINT64: 8,
  INT32: 4,
  UINT32: 4,
  INT16: 2,
  UINT16: 2,
  INT8: 1,
  UINT8: 1,
  BOOL: 1,
};

function decodeTensor(name: string, datatype: string, bytes: Buffer): unknown[] {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    for (let at = 0; at < bytes.length;) {
      if (at + 4 > bytes.length) throw invalid(`Input "${name}": a BYTES element's 4-byte length is cut short.`, { field: name });
      const length = bytes.readUInt32LE(at);
      if (at + 4 + length > bytes.length)
        throw invalid(`Input "${name}": a BYTES element says ${length} bytes but fewer remain.`, { field: name });
      out.push(bytes.toString('utf8', at + 4, at + 4 + length));
      at += 4 + length;
    }
    return out;
  }
  const width = WIDTH[datatype];
  if (!width) throw invalid(`Input "${name}": datatype ${JSON.stringify(datatype)} cannot be sent as binary data here.`, { field: name });
  if (bytes.length % width !== 0)
    throw invalid(`Input "${name}": ${bytes.length} bytes is not a whole number of ${datatype} values.`, { field: name });
  const n = bytes.length / width;
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * width;
    out[i] =
      datatype === 'FP64'
        ? bytes.readDoubleLE(at)
        : datatype === 'FP32'
          ? bytes.readFloatLE(at)
          : datatype === 'INT64'
            ? Number(bytes.readBigInt64LE(at))
            : datatype === 'UINT64'
              ? Number(bytes.readBigUInt64LE(at))
              : datatype === 'INT32'
                ? bytes.readInt32LE(at)
                : datatype === 'UINT32'
                  ? bytes.readUInt32LE(at)
                  : datatype === 'INT16'
                    ? bytes.readInt16LE(at)
                    : datatype === 'UINT16'
                      ? bytes.readUInt16LE(at)
                      : datatype === 'INT8'
                        ? bytes.readInt8(at)
                        : datatype === 'BOOL'
                          ? bytes[at] !== 0
                          : bytes[at];
  }
  return out;
}

/** Whether the request asked for an output as binary data (per output, or for all with `binary_data_output`). */
function wantsBinary(body: Record<string, unknown>, name: string): boolean {
  const outputs = Array.isArray(body.outputs) ? (body.outputs as { name?: unknown; parameters?: { binary_data?: unknown } }[]) : [];
  const requested = outputs.find((o) => o?.name === name);
  if (requested?.parameters?.binary_data !== undefined) return requested.parameters.binary_data === true;
  return (body.parameters as { binary_data_output?: unknown } | undefined)?.binary_data_output === true;
}

/**
 * A v2 response with the outputs the request asked for as binary data moved out of the JSON: returns
 * the body and the JSON part's length (for the `Inference-Header-Content-Length` header), or undefined
 * when every output stays JSON.
 */
export function binaryResponse(
  response: { outputs: V2Output[] },
  request: Record<string, unknown>,
): { body: Buffer; jsonLength: number } | undefined {
  const parts: Buffer[] = [];
  const outputs = response.outputs.map((o) => {
    if (!wantsBinary(request, o.name)) return o;
    const bytes = encodeTensor(o);
    parts.push(bytes);
    const { data: _data, ...rest } = o;
    return { ...rest, parameters: { ...o.parameters, binary_data_size: bytes.length } };
  });
  if (parts.length === 0) return undefined;
  const json = Buffer.from(JSON.stringify({ ...response, outputs }));
  return { body: Buffer.concat([json, ...parts]), jsonLength: json.length };
}

function encodeTensor(o: V2Output): Buffer {
  if (o.datatype === 'BYTES') {
    const items = o.data.map((v) => Buffer.from(String(v), 'utf8'));
    const out = Buffer.allocUnsafe(items.reduce((a, b) => a + 4 + b.length, 0));
    let at = 0;
    for (const b of items) {
      out.writeUInt32LE(b.length, at);
      b.copy(out, at + 4);
      at += 4 + b.length;
    }
    return out;
  }
  // The server answers BYTES and FP64 only.
  const out = Buffer.allocUnsafe(o.data.length * 8);
  for (let i = 0; i < o.data.length; i++) out.writeDoubleLE(Number(o.data[i]), i * 8);
  return out;
}
