import { FailureType, isMlopsError } from '../../../src/errors';
import { binaryResponse, instanceFor, parseInferBody, type V2Output } from '../../../src/serving/protocol';

/** A body as tritonclient builds it: the JSON request, then each binary input's bytes in order. */
function binaryBody(request: object, ...parts: Buffer[]): { body: Buffer; header: string } {
  const json = Buffer.from(JSON.stringify(request));
  return { body: Buffer.concat([json, ...parts]), header: String(json.length) };
}

function fp64(...xs: number[]): Buffer {
  const b = Buffer.alloc(xs.length * 8);
  xs.forEach((x, i) => b.writeDoubleLE(x, i * 8));
  return b;
}

function bytes(...items: string[]): Buffer {
  return Buffer.concat(
    items.flatMap((s) => {
      const data = Buffer.from(s, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(data.length);
      return [length, data];
    }),
  );
}

function expectInvalid(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isMlopsError(err) && err.type).toBe(FailureType.InvalidInput);
    expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected an InvalidInput error');
}

describe("Open Inference Protocol v2's binary tensor data", () => {
  it('decodes FP64 (NaN as missing) and BYTES (UTF-8) inputs from after the JSON part, leaving JSON inputs as they are', () => {
    const nums = fp64(39.1, NaN);
    const text = bytes('Dream', 'Île');
    const { body, header } = binaryBody(
      {
        inputs: [
          { name: 'beak', shape: [2], datatype: 'FP64', parameters: { binary_data_size: nums.length } },
          { name: 'sex', shape: [2], datatype: 'BYTES', data: ['male', 'female'] },
          { name: 'island', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: text.length } },
        ],
      },
      nums,
      text,
    );
    const request = parseInferBody(body, header) as { inputs: { data: unknown[] }[] };
    expect(request.inputs[0]!.data[0]).toBe(39.1);
    expect(Number.isNaN(request.inputs[0]!.data[1])).toBe(true);
    expect(request.inputs[1]!.data).toEqual(['male', 'female']);
    expect(request.inputs[2]!.data).toEqual(['Dream', 'Île']);
  });

  it('a plain JSON body (no header) parses as JSON', () => {
    expect(parseInferBody(Buffer.from('{"inputs":[]}'), undefined)).toEqual({ inputs: [] });
  });

  it('sizes that do not add up to the body are refused, naming the input', () => {
    const nums = fp64(1);
    const short = binaryBody({ inputs: [{ name: 'beak', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } }] }, nums);
    expectInvalid(() => parseInferBody(short.body, short.header), /Input "beak" says binary_data_size 16, but the body holds 8 more bytes/);
    const extra = binaryBody(
      { inputs: [{ name: 'beak', shape: [1], datatype: 'FP64', parameters: { binary_data_size: 8 } }] },
      nums,
      Buffer.from('xx'),
    );
    expectInvalid(() => parseInferBody(extra.body, extra.header), /2 bytes after the last binary input/);
    const ragged = binaryBody(
      { inputs: [{ name: 'beak', shape: [1], datatype: 'FP64', parameters: { binary_data_size: 5 } }] },
      Buffer.alloc(5),
    );
    expectInvalid(() => parseInferBody(ragged.body, ragged.header), /Input "beak": 5 bytes is not a whole number of FP64 values/);
    expectInvalid(
      () => parseInferBody(Buffer.from('{}'), '99'),
      /inference-header-content-length header must be the length of the JSON part/,
    );
  });

  it('answers the outputs a request asks for as binary after the JSON part, and the rest as JSON', () => {
    const outputs: V2Output[] = [
      { name: 'label', datatype: 'BYTES', shape: [2], data: ['Adelie', 'Gentoo'] },
      { name: 'probabilities', datatype: 'FP64', shape: [2, 2], data: [0.75, 0.25, 0.125, 0.875] },
    ];
    const response = { model_name: 'm', outputs };
    const mixed = binaryResponse(response, { outputs: [{ name: 'label', parameters: { binary_data: true } }, { name: 'probabilities' }] })!;
    const json = JSON.parse(mixed.body.subarray(0, mixed.jsonLength).toString());
    expect(json.outputs[0]).toEqual({ name: 'label', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 20 } });
    expect(json.outputs[1].data).toEqual([0.75, 0.25, 0.125, 0.875]);
    expect(mixed.body.subarray(mixed.jsonLength)).toEqual(bytes('Adelie', 'Gentoo'));

    const all = binaryResponse(response, { parameters: { binary_data_output: true } })!;
    expect(all.body.subarray(all.jsonLength)).toEqual(Buffer.concat([bytes('Adelie', 'Gentoo'), fp64(0.75, 0.25, 0.125, 0.875)]));
    expect(binaryResponse(response, {})).toBeUndefined();
  });
});

describe('instanceFor: a row read from a file, as the strict server takes it', () => {
  const inputs = [
    { name: 'temp', datatype: 'FP64' },
    { name: 'rainy', datatype: 'BOOL' },
    { name: 'city', datatype: 'BYTES' },
  ];
  it('keeps only the features, each typed as its datatype, with null for missing values', () => {
    expect(instanceFor(inputs, { id: 7, temp: '10.5', rainy: 'true', city: 'Oslo', label: 'x' })).toEqual({
      temp: 10.5,
      rainy: true,
      city: 'Oslo',
    });
    expect(instanceFor(inputs, { temp: '', rainy: 'NA', city: null })).toEqual({ temp: null, rainy: null, city: null });
    expect(instanceFor(inputs, { temp: 3, rainy: 0, city: 12 })).toEqual({ temp: 3, rainy: false, city: '12' });
  });
  it('passes a value that does not read as its type through, so the server names it', () => {
    expect(instanceFor(inputs, { temp: 'warm', rainy: 'maybe', city: 'Oslo' })).toEqual({ temp: 'warm', rainy: 'maybe', city: 'Oslo' });
  });
});
