/**
 * Strict serving and Open Inference Protocol v2 conformance, against a real MinIO and registry: a request
 * is answered only when it holds exactly the model's features, each of its own type; unknown
 * categories are counted; Python's tritonclient works with its default settings.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ensurePython } from '../../../src/dev/python';
import { readPredictionWindow, registrySource, startModelServer, type ModelServer, type WindowPrediction } from '../../../src/serving';
import { capturingLogger, getJson, postJson, requestRows, ServingFixture } from './fixtures';

const run = promisify(execFile);

let fx: ServingFixture;
let server: ModelServer;
let python: string;

beforeAll(async () => {
  [fx, python] = await Promise.all([ServingFixture.start('serving-strict'), ensurePython()]);
  const { version } = await fx.registerModel('strict');
  await fx.moveAlias('strict', version);
  server = await startModelServer({
    store: fx.storage.store,
    source: registrySource(fx.storage.registry),
    models: ['strict'],
    port: 0,
    pollMs: 0,
    logger: capturingLogger().logger,
  });
}, 10 * 60_000);

afterAll(async () => {
  await server?.close();
  await fx?.stop();
});

const v1 = (instances: unknown[]) => postJson(`${server.url}/v1/models/strict:predict`, { instances });
const v2 = (inputs: unknown[]) => postJson(`${server.url}/v2/models/strict/infer`, { inputs });

describe('strict serving', () => {
  it('a v1 row missing a feature, or with a key the model does not have, is a 400 naming the key', async () => {
    const missing = await v1([{ x: 1, color: 'red' }]);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/Row 0: feature "y" is missing; send every feature, with null for a missing value/);
    // The misspelt key of the issue: refused, never ignored.
    const misspelt = await v1([requestRows[0], { x: 1, y: 2, colour: 'red' }]);
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error).toMatch(/Row 1: field "colour" is not a feature of the model; send only its features \(x, y, color\)/);
    const extra = await v1([{ ...requestRows[0], id: 'row-7' }]);
    expect(extra.status).toBe(400);
    expect(extra.body.error).toMatch(/field "id" is not a feature/);
  });

  it('a present null is a missing value the model handles', async () => {
    const res = await v1([{ x: null, y: 2, color: null }]);
    expect(res.status).toBe(200);
    expect(res.body.predictions[0].label).toEqual(expect.any(String));
  });

  it('no value is converted from another type: true is not a number, 5 is not a category, "5" is not a number', async () => {
    for (const [row, field] of [
      [{ x: true, y: 2, color: 'red' }, 'x'],
      [{ x: 1, y: '5', color: 'red' }, 'y'],
      [{ x: 1, y: 2, color: 5 }, 'color'],
    ] as const) {
      const res = await v1([row]);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(new RegExp(`Row 0: field "${field}" must be a JSON (number|string) or null`));
    }
  });

  it('a v2 request missing an input is a 400 naming it', async () => {
    const res = await v2([
      { name: 'x', shape: [1], datatype: 'FP64', data: [1] },
      { name: 'color', shape: [1], datatype: 'BYTES', data: ['red'] },
    ]);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(
      /Input "y" is missing: send one input per feature of strict \(x, y, color\), with null for a missing value/,
    );
  });

  it("v2 datatypes must match the model's metadata; FP32 and INT32 widen to FP64 exactly, INT64 does not", async () => {
    const inputs = (yType: string, y: unknown[]) => [
      { name: 'x', shape: [1], datatype: 'FP64', data: [1] },
      { name: 'y', shape: [1], datatype: yType, data: y },
      { name: 'color', shape: [1], datatype: 'BYTES', data: ['red'] },
    ];
    expect((await v2(inputs('FP32', [2.5]))).status).toBe(200);
    expect((await v2(inputs('INT32', [2]))).status).toBe(200);
    const int64 = await v2(inputs('INT64', [2]));
    expect(int64.status).toBe(400);
    expect(int64.body.error).toMatch(/Input "y" must have datatype FP64 or FP32 .* got "INT64"/);
    const bool = await v2(inputs('BOOL', [true]));
    expect(bool.status).toBe(400);
    // JSON data must be values of the datatype it claims.
    const lie = await v2(inputs('INT32', [2.5]));
    expect(lie.status).toBe(400);
    expect(lie.body.error).toMatch(/Row 0: input "y" is INT32, so 2.5 is not one of its values/);
    const text = await v2(inputs('FP64', ['2']));
    expect(text.status).toBe(400);
    expect(text.body.error).toMatch(/input "y" is FP64, so "2" is not one of its values/);
  });

  it('unknown categories are counted per feature (zero from the start) and the request is still answered', async () => {
    const before = (await getJson(`${server.url}/metrics`)).body as string;
    expect(before).toMatch(/mlops_unknown_categories_total\{model="strict",feature="color"\} 0/);
    const res = await v1([{ x: 1, y: 2, color: 'purple' }, { x: 1, y: 2, color: 'teal' }, requestRows[0]]);
    expect(res.status).toBe(200);
    const after = (await getJson(`${server.url}/metrics`)).body as string;
    expect(after).toMatch(/mlops_unknown_categories_total\{model="strict",feature="color"\} 2/);
    // ...and flagged on their records in the prediction log.
    await server.predictionLog!.flush();
    const logged: WindowPrediction[] = [];
    for await (const p of readPredictionWindow(fx.storage.store, 'strict', { until: '2999-01-01T00:00:00Z' }))
      if (p.id.startsWith(res.body.id)) logged.push(p);
    expect(logged.map((p) => [p.features.color, p.unknown])).toEqual([
      ['purple', ['color']],
      ['teal', ['color']],
      ['red', undefined],
    ]);
  });
});

describe('Open Inference Protocol v2 conformance', () => {
  it('a body without a Content-Type is read as JSON on every POST route; another content type is a 415', async () => {
    const raw = (route: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${route}`, { method: 'POST', headers, body: Buffer.from(JSON.stringify(body)) }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as any,
      }));
    const predicted = await raw('/v1/models/strict:predict', { id: 'no-ct', instances: [requestRows[0]] });
    expect(predicted.status).toBe(200);
    const inferred = await raw('/v2/models/strict/infer', {
      inputs: [
        { name: 'x', shape: [1], datatype: 'FP64', data: [1] },
        { name: 'y', shape: [1], datatype: 'FP64', data: [2] },
        { name: 'color', shape: [1], datatype: 'BYTES', data: ['red'] },
      ],
    });
    expect(inferred.status).toBe(200);
    expect((await raw('/v2/models/strict/feedback', { id: 'no-ct', label: 'low' })).status).toBe(202);
    const text = await raw('/v1/models/strict:predict', { instances: [requestRows[0]] }, { 'content-type': 'application/xml' });
    expect(text.status).toBe(415);
    expect(text.body.error).toMatch(/send application\/json \(or no Content-Type\)/);
  });

  it('an unknown model is a 404 on every route, never a 500', async () => {
    const routes: [string, string][] = [
      ['GET', '/v2/models/nope'],
      ['GET', '/v2/models/nope/ready'],
      ['GET', '/v2/models/nope/versions/1'],
      ['GET', '/v2/models/nope/versions/1/ready'],
      ['POST', '/v2/models/nope/infer'],
      ['POST', '/v2/models/nope/versions/1/infer'],
      ['POST', '/v1/models/nope:predict'],
      ['POST', '/v2/models/nope/feedback'],
    ];
    for (const [method, route] of routes) {
      const res = await fetch(`${server.url}${route}`, {
        method,
        ...(method === 'POST' ? { body: '{"instances":[{}],"inputs":[],"id":"a","label":"b"}' } : {}),
      });
      expect([route, res.status]).toEqual([route, 404]);
      expect(((await res.json()) as { error: string }).error).toMatch(/"nope" is not served here; this server serves strict/);
    }
  });

  it('the versioned ready route says whether that version is the one served', async () => {
    expect((await getJson(`${server.url}/v2/models/strict/versions/1/ready`)).status).toBe(200);
    const other = await getJson(`${server.url}/v2/models/strict/versions/2/ready`);
    expect(other.status).toBe(404);
    expect(other.body.error).toMatch(/version 2 is not served; version 1 is/);
  });

  it("Python's tritonclient with its default settings: live, ready, metadata, infer, a batch, versioned routes, an unknown model", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'triton-strict-'));
    try {
      const script = path.join(dir, 'client.py');
      fs.writeFileSync(script, TRITON_CLIENT);
      const { stdout } = await run(python, [script, server.url.replace('http://', ''), JSON.stringify(requestRows)], { timeout: 120_000 });
      const r = JSON.parse(stdout);
      expect(r).toMatchObject({
        live: true,
        ready: true,
        modelReady: true,
        versionReady: true,
        otherVersionReady: false,
        unknownReady: false,
      });
      expect(r.metadata.inputs.map((i: { name: string; datatype: string }) => [i.name, i.datatype])).toEqual([
        ['x', 'FP64'],
        ['y', 'FP64'],
        ['color', 'BYTES'],
      ]);
      expect(r.versionMetadata.versions).toEqual(['1']);
      expect(r.one.labels).toHaveLength(1);
      expect(r.batch.labels).toHaveLength(requestRows.length);
      expect(r.batch.probabilities).toHaveLength(requestRows.length);
      expect(r.batch.labels[0]).toBe(r.one.labels[0]);
      expect(r.versioned.version).toBe('1');
      expect(r.unknownInfer).toMatch(/404|not served/);
      // The same rows over v1 give the same labels.
      const answer = await v1(requestRows.map((row) => ({ ...row })));
      expect(r.batch.labels).toEqual(answer.body.predictions.map((p: { label: string }) => p.label));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Triton's Python client with its defaults (binary tensors in and out); prints what it got as JSON. */
const TRITON_CLIENT = `
import json, sys
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, rows = sys.argv[1], json.loads(sys.argv[2])
client = httpclient.InferenceServerClient(url=url)

def inputs(rows):
    x = httpclient.InferInput('x', [len(rows)], 'FP64')
    x.set_data_from_numpy(np.array([np.nan if r['x'] is None else r['x'] for r in rows], dtype=np.float64))
    y = httpclient.InferInput('y', [len(rows)], 'FP64')
    y.set_data_from_numpy(np.array([np.nan if r['y'] is None else r['y'] for r in rows], dtype=np.float64))
    color = httpclient.InferInput('color', [len(rows)], 'BYTES')
    color.set_data_from_numpy(np.array(['' if r['color'] is None else r['color'] for r in rows], dtype=object))
    return [x, y, color]

def answer(res):
    return {
        'labels': [l.decode() for l in res.as_numpy('label').reshape(-1)],
        'probabilities': res.as_numpy('probabilities').tolist(),
        'version': res.get_response()['model_version'],
    }

try:
    client.infer('nope', inputs(rows[:1]))
    unknown = 'answered'
except InferenceServerException as e:
    unknown = str(e.status()) + ' ' + e.message()

print(json.dumps({
    'live': client.is_server_live(),
    'ready': client.is_server_ready(),
    'modelReady': client.is_model_ready('strict'),
    'versionReady': client.is_model_ready('strict', '1'),
    'otherVersionReady': client.is_model_ready('strict', '2'),
    'unknownReady': client.is_model_ready('nope'),
    'metadata': client.get_model_metadata('strict'),
    'versionMetadata': client.get_model_metadata('strict', '1'),
    'one': answer(client.infer('strict', inputs(rows[:1]))),
    'batch': answer(client.infer('strict', inputs(rows))),
    'versioned': answer(client.infer('strict', inputs(rows[:2]), model_version='1')),
    'unknownInfer': unknown,
}))
`;
