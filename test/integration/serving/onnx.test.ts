/** @jest-environment ./test/helpers/onnx-environment.js */
/**
 * Serving ONNX models made by a real Python trainer (scikit-learn + skl2onnx in the pinned venv), against
 * a real MinIO and the real registry, asked by Triton's own Python client.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ensurePython } from '../../../src/dev/python';
import { EXTERNAL_MODEL_FORMAT } from '../../../src/ml/external/model';
import { readPredictionWindow, registrySource, startModelServer, type ModelServer } from '../../../src/serving';
import { capturingLogger, getJson, postJson, ServingFixture } from './fixtures';
import {
  makePenguinModel,
  penguinRows,
  registerBuiltinPenguinModel,
  registerDocument,
  registerOnnxModel,
  type OnnxModelFiles,
} from './onnx-fixtures';

const run = promisify(execFile);

/**
 * Asks the server through tritonclient.http (its defaults: binary tensors in and out; then plain JSON
 * for the rows with no missing number, since JSON has no NaN) and runs the same rows through Python's
 * onnxruntime; prints all three as JSON.
 */
const TRITON_CLIENT = `
import json, sys
import numpy as np, onnxruntime as ort
import tritonclient.http as httpclient

url, model, onnx_path, sig_path, rows_path = sys.argv[1:6]
sig = json.load(open(sig_path))
rows = json.load(open(rows_path))
client = httpclient.InferenceServerClient(url=url)

def ask(rows, binary):
    inputs = []
    for i in sig['inputs']:
        values = [r[i['column']] for r in rows]
        if i['type'] == 'string':
            t = httpclient.InferInput(i['column'], [len(rows)], 'BYTES')
            t.set_data_from_numpy(np.array(['' if v is None else v for v in values], dtype=object), binary_data=binary)
        else:
            t = httpclient.InferInput(i['column'], [len(rows)], 'FP64')
            t.set_data_from_numpy(np.array([np.nan if v is None else v for v in values], dtype=np.float64), binary_data=binary)
        inputs.append(t)
    outputs = None if binary else [httpclient.InferRequestedOutput(n, binary_data=False) for n in ('label', 'probabilities')]
    res = client.infer(model, inputs, outputs=outputs, request_id='triton-' + str(binary))
    labels = [l.decode() if isinstance(l, bytes) else str(l) for l in res.as_numpy('label').reshape(-1)]
    return {'labels': labels, 'probabilities': res.as_numpy('probabilities').tolist(), 'version': res.get_response()['model_version']}

sess = ort.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
feeds = {}
for i in sig['inputs']:
    values = [r[i['column']] for r in rows]
    if i['type'] == 'string':
        feeds[i['name']] = np.array(['' if v is None else v for v in values], dtype=object).reshape(-1, 1)
    else:
        feeds[i['name']] = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(-1, 1)
label, probabilities = sess.run([sig['outputs']['label'], sig['outputs']['probabilities']], feeds)
complete = [k for k, r in enumerate(rows) if all(r[i['column']] is not None for i in sig['inputs'] if i['type'] != 'string')]
print(json.dumps({
    'serverReady': client.is_server_ready(),
    'modelReady': client.is_model_ready(model),
    'metadata': client.get_model_metadata(model),
    'binary': ask(rows, True),
    'json': ask([rows[k] for k in complete], False),
    'complete': complete,
    'ort': {'labels': [str(l) for l in label.reshape(-1)], 'probabilities': probabilities.tolist()},
}))
`;

let fx: ServingFixture;
let python: string;
let modelA: OnnxModelFiles;
let modelB: OnnxModelFiles;
/** Only for the tampering test: model.onnx blobs are stored by content, so tampering one reaches every version sharing it. */
let modelC: OnnxModelFiles;

beforeAll(async () => {
  [fx, python] = await Promise.all([ServingFixture.start('serving-onnx'), ensurePython()]);
  [modelA, modelB, modelC] = await Promise.all([makePenguinModel(1, 20), makePenguinModel(2, 10), makePenguinModel(3, 5)]);
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
  for (const m of [modelA, modelB, modelC]) if (m) fs.rmSync(m.dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function serve(models: string[], pollMs = 0): Promise<ModelServer> {
  return startModelServer({
    store: fx.storage.store,
    source: registrySource(fx.storage.registry),
    models,
    port: 0,
    pollMs,
    logger: capturingLogger().logger,
  });
}

describe('an ONNX model from a Python trainer', () => {
  it("answers tritonclient's v2 requests (BYTES and FP64, binary and JSON) with what onnxruntime in Python gives", async () => {
    const { version } = await registerOnnxModel(fx, 'penguins', modelA);
    await fx.moveAlias('penguins', version);
    const server = await serve(['penguins']);
    try {
      const rowsFile = path.join(modelA.dir, 'rows.json');
      fs.writeFileSync(rowsFile, JSON.stringify(penguinRows));
      const script = path.join(modelA.dir, 'client.py');
      fs.writeFileSync(script, TRITON_CLIENT);
      const { stdout } = await run(python, [
        script,
        server.url.replace('http://', ''),
        'penguins',
        modelA.onnx,
        path.join(modelA.dir, 'signature.json'),
        rowsFile,
      ]);
      const r = JSON.parse(stdout);

      expect(r.serverReady).toBe(true);
      expect(r.modelReady).toBe(true);
      expect(r.metadata.inputs).toEqual([
        ...['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'].map((name) => ({
          name,
          datatype: 'FP64',
          shape: [-1],
        })),
        { name: 'Island', datatype: 'BYTES', shape: [-1] },
        { name: 'Sex', datatype: 'BYTES', shape: [-1] },
      ]);
      expect(r.metadata.outputs).toEqual([
        { name: 'label', datatype: 'BYTES', shape: [-1] },
        { name: 'probabilities', datatype: 'FP64', shape: [-1, 3] },
      ]);
      expect(r.metadata.parameters).toMatchObject({ flavor: 'onnx', version, classes: ['Adelie', 'Chinstrap', 'Gentoo'] });

      // Every row, the missing measurement and the missing category included, as Python's onnxruntime answers it.
      expect(r.binary.version).toBe(String(version));
      expect(r.binary.labels).toEqual(r.ort.labels);
      expectClose(r.binary.probabilities, r.ort.probabilities);
      expect(r.complete.length).toBeGreaterThanOrEqual(3);
      expect(r.json.labels).toEqual(r.complete.map((k: number) => r.ort.labels[k]));
      expectClose(
        r.json.probabilities,
        r.complete.map((k: number) => r.ort.probabilities[k]),
      );
      // The rows must not all be one species, or the comparison would prove little.
      expect(new Set(r.ort.labels).size).toBeGreaterThan(1);
    } finally {
      await server.close();
    }
  });

  it('checks inputs against the schema, answers v1, logs predictions and feedback, and counts them', async () => {
    const { version } = await registerOnnxModel(fx, 'logged', modelA);
    await fx.moveAlias('logged', version);
    const server = await serve(['logged']);
    let closed = false;
    try {
      const bad = await postJson(`${server.url}/v1/models/logged:predict`, {
        instances: [penguinRows[0], { ...penguinRows[1], 'Body Mass (g)': 'heavy' }],
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/Row 1: field "Body Mass \(g\)" must be a JSON number or null/);
      const wrongType = await postJson(`${server.url}/v2/models/logged/infer`, {
        inputs: [{ name: 'Island', shape: [1], datatype: 'FP64', data: [1] }],
      });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.error).toMatch(/Input "Island" must have datatype BYTES/);

      const res = await postJson(`${server.url}/v1/models/logged:predict`, { id: 'penguin-req', instances: penguinRows });
      expect(res.status).toBe(200);
      expect(res.body.model_version).toBe(version);
      expect(res.body.predictions).toHaveLength(penguinRows.length);
      for (const p of res.body.predictions) {
        expect(Object.keys(p.probabilities)).toEqual(['Adelie', 'Chinstrap', 'Gentoo']);
        expect(p.label).toBe(Object.entries(p.probabilities as Record<string, number>).sort((a, b) => b[1] - a[1])[0]![0]);
      }
      expect((await postJson(`${server.url}/v2/models/logged/feedback`, { id: 'penguin-req:0', label: 'Adelie' })).status).toBe(202);
      expect((await getJson(`${server.url}/metrics`)).body).toMatch(
        new RegExp(`mlops_predictions_total\\{model="logged",version="${version}"\\} ${penguinRows.length}`),
      );

      const stats = await server.close();
      closed = true;
      // The answered rows, and the failed ones: the two rows of the refused v1 request, one record for the v2 request.
      expect(stats.predictions?.written).toBe(penguinRows.length + 3);
      const logged = [];
      for await (const p of readPredictionWindow(fx.storage.store, 'logged', { until: '2999-01-01T00:00:00Z' })) logged.push(p);
      expect(logged.map((p) => p.id).sort()).toEqual(penguinRows.map((_, i) => `penguin-req:${i}`));
      const failed = [];
      for await (const p of readPredictionWindow(fx.storage.store, 'logged', { until: '2999-01-01T00:00:00Z' }, { failed: true }))
        if (p.error) failed.push(p);
      expect(failed.map((p) => [p.errorKind, p.output])).toEqual(Array.from({ length: 3 }, () => ['invalid_input', undefined]));
      expect(failed.find((p) => /Body Mass/.test(p.error!))?.features).toEqual(penguinRows[0]);
      const first = logged.find((p) => p.id === 'penguin-req:0')!;
      expect(first).toMatchObject({ version, features: penguinRows[0], output: { label: res.body.predictions[0].label }, label: 'Adelie' });
    } finally {
      if (!closed) await server.close();
    }
  });

  it('a tampered model.onnx or manifest is refused while the previous version keeps serving', async () => {
    const v1 = await registerOnnxModel(fx, 'guarded-onnx', modelA);
    await fx.moveAlias('guarded-onnx', v1.version);
    const { logger, lines } = capturingLogger();
    const server = await startModelServer({
      store: fx.storage.store,
      source: registrySource(fx.storage.registry),
      models: ['guarded-onnx'],
      port: 0,
      pollMs: 0,
      logger,
    });
    try {
      const before = await postJson(`${server.url}/v1/models/guarded-onnx:predict`, { instances: penguinRows });
      expect(before.status).toBe(200);

      // model.onnx overwritten in place: the manifest still names its digest, so the bytes no longer match.
      const v2 = await registerOnnxModel(fx, 'guarded-onnx', modelC);
      await fx.tamper(v2.onnx, 'not the model that was stored');
      await fx.moveAlias('guarded-onnx', v2.version);
      const reload = await postJson(`${server.url}/admin/reload`, {});
      expect(reload.body.models[0]).toMatchObject({ model: 'guarded-onnx', version: v1.version, changed: false });
      expect(reload.body.models[0].error).toMatch(
        new RegExp(`refused guarded-onnx version ${v2.version} \\(integrity\\).*version ${v1.version} keeps serving`),
      );
      const during = await postJson(`${server.url}/v1/models/guarded-onnx:predict`, { instances: penguinRows });
      expect(during.status).toBe(200);
      expect(during.body.model_version).toBe(v1.version);
      expect(during.body.predictions).toEqual(before.body.predictions);
      const ready = await getJson(`${server.url}/v2/models/guarded-onnx/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ ready: true, state: 'serving', version: v1.version });
      expect(ready.body.reason).toMatch(/integrity/);

      // The manifest itself rewritten (pointing the signature elsewhere): it no longer matches the registry's digest.
      const v3 = await registerOnnxModel(fx, 'guarded-onnx', modelA);
      await fx.tamper(v3.artifact, JSON.stringify({ ...v3.manifest, classes: ['Gentoo', 'Adelie', 'Chinstrap'] }));
      await fx.moveAlias('guarded-onnx', v3.version);
      const again = await postJson(`${server.url}/admin/reload`, {});
      expect(again.body.models[0].error).toMatch(new RegExp(`refused guarded-onnx version ${v3.version} \\(integrity\\)`));
      expect((await postJson(`${server.url}/v1/models/guarded-onnx:predict`, { instances: penguinRows })).body.model_version).toBe(
        v1.version,
      );

      expect(
        lines()
          .filter((l) => l.level === 50 && l.reason === 'integrity')
          .map((l) => l.version),
      ).toEqual([v2.version, v3.version]);
      expect((await getJson(`${server.url}/metrics`)).body).toMatch(
        /mlops_model_load_refusals_total\{model="guarded-onnx",reason="integrity"\} 2/,
      );
    } finally {
      await server.close();
    }
  });

  it('hot swaps built-in -> ONNX -> ONNX under load with no request failing or going back a version', async () => {
    const v1 = await registerBuiltinPenguinModel(fx, 'swapped-onnx');
    await fx.moveAlias('swapped-onnx', v1.version);
    const server = await serve(['swapped-onnx'], 50);
    const failures: string[] = [];
    const seen = new Map<number, number>();
    let regressions = 0;
    let stop = false;
    const client = async (c: number) => {
      let last = 0;
      for (let i = 0; !stop; i++) {
        try {
          // Alternate v1 and v2 requests, a few rows each.
          const res =
            (i + c) % 2 === 0
              ? await postJson(`${server.url}/v1/models/swapped-onnx:predict`, { instances: penguinRows })
              : await postJson(`${server.url}/v2/models/swapped-onnx/infer`, {
                  inputs: Object.keys(penguinRows[0]!).map((name) => ({
                    name,
                    shape: [1],
                    datatype: typeof penguinRows[0]![name] === 'number' ? 'FP64' : 'BYTES',
                    data: [penguinRows[0]![name]],
                  })),
                });
          if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(res.body)}`);
          else {
            const v = Number(res.body.model_version);
            seen.set(v, (seen.get(v) ?? 0) + 1);
            if (v < last) regressions += 1;
            last = v;
          }
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const served = (v: number) => seen.get(v) ?? 0;
    const waitFor = async (v: number, n: number) => {
      for (let i = 0; i < 600 && served(v) < n; i++) await sleep(50);
    };
    try {
      const clients = Array.from({ length: 8 }, (_, c) => client(c));
      await waitFor(v1.version, 50);
      const v2 = await registerOnnxModel(fx, 'swapped-onnx', modelA);
      await fx.moveAlias('swapped-onnx', v2.version);
      await waitFor(v2.version, 200);
      // ONNX to ONNX: the first session is released under load, only after the requests on it finish.
      const v3 = await registerOnnxModel(fx, 'swapped-onnx', modelB);
      await fx.moveAlias('swapped-onnx', v3.version);
      await waitFor(v3.version, 200);
      stop = true;
      await Promise.all(clients);
      expect(failures).toEqual([]);
      expect(served(v1.version)).toBeGreaterThan(0);
      expect(served(v2.version)).toBeGreaterThanOrEqual(200);
      expect(served(v3.version)).toBeGreaterThanOrEqual(200);
      expect(regressions).toBe(0);
    } finally {
      stop = true;
      await server.close();
    }
  });
});

describe('readiness per model', () => {
  it('one unloadable model and one old-format model leave the server ready, and say which and why', async () => {
    const good = await registerOnnxModel(fx, 'ready-good', modelA);
    await fx.moveAlias('ready-good', good.version);
    const legacy = await registerDocument(fx, 'ready-legacy', {
      format: EXTERNAL_MODEL_FORMAT,
      command: ['python', 'train.py'],
      files: {},
      metrics: { accuracy: 0.9 },
    });
    await fx.moveAlias('ready-legacy', legacy.version);
    const garbage = await fx.storage.store.putBuffer(Buffer.from('this is not an onnx graph'));
    const brokenFiles = { ...modelA };
    const broken = await registerOnnxModel(fx, 'ready-broken', brokenFiles);
    // A manifest naming bytes that are no ONNX graph (stored whole, so its digest is sound).
    const badManifest = await registerDocument(fx, 'ready-broken', { ...broken.manifest, onnx: garbage, files: { 'model.onnx': garbage } });
    await fx.moveAlias('ready-broken', badManifest.version);

    const server = await serve(['ready-good', 'ready-legacy', 'ready-broken']);
    try {
      const health = await getJson(`${server.url}/v2/health/ready`);
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ ready: true, serving: 1, of: 3 });
      const byName = Object.fromEntries(health.body.models.map((m: { name: string }) => [m.name, m]));
      expect(byName['ready-good']).toMatchObject({ ready: true, state: 'serving', version: good.version });
      expect(byName['ready-legacy']).toMatchObject({ ready: false, state: 'not_servable', version: null });
      expect(byName['ready-legacy'].reason).toMatch(/not servable: .*retrain with a trainer that writes ONNX/);
      expect(byName['ready-broken']).toMatchObject({ ready: false, state: 'refused', version: null });
      expect(byName['ready-broken'].reason).toMatch(/model\.onnx does not load in ONNX Runtime/);
      expect(health.body.message).toMatch(
        /1 of 3 models in service; not ready: ready-legacy \(not_servable: .*\); ready-broken \(refused: .*\)/,
      );

      expect((await getJson(`${server.url}/v2/models/ready-good/ready`)).status).toBe(200);
      const legacyReady = await getJson(`${server.url}/v2/models/ready-legacy/ready`);
      expect(legacyReady.status).toBe(503);
      expect(legacyReady.body.reason).toMatch(/retrain with a trainer that writes ONNX/);
      const legacyInfer = await postJson(`${server.url}/v1/models/ready-legacy:predict`, { instances: penguinRows });
      expect(legacyInfer.status).toBe(503);
      expect(legacyInfer.body.error).toMatch(/Model "ready-legacy" is not servable: .*retrain with a trainer that writes ONNX/);
      expect(legacyInfer.body.error).not.toMatch(/not loaded yet/);
      expect((await postJson(`${server.url}/v1/models/ready-good:predict`, { instances: penguinRows })).status).toBe(200);

      const metrics = (await getJson(`${server.url}/metrics`)).body as string;
      expect(metrics).toMatch(/mlops_model_ready\{model="ready-good"\} 1/);
      expect(metrics).toMatch(/mlops_model_ready\{model="ready-legacy"\} 0/);
      expect(metrics).toMatch(/mlops_model_load_refusals_total\{model="ready-legacy",reason="not_servable"\} 1/);
      expect(metrics).toMatch(/mlops_model_load_refusals_total\{model="ready-broken",reason="unreadable"\} 1/);

      // Polling does not load the old-format version again; retraining it and moving the alias makes it ready.
      const retrained = await registerOnnxModel(fx, 'ready-legacy', modelB);
      await fx.moveAlias('ready-legacy', retrained.version);
      await server.reload();
      expect((await getJson(`${server.url}/v2/health/ready`)).body).toMatchObject({ ready: true, serving: 2, of: 3 });
    } finally {
      await server.close();
    }
  });

  it('the server-wide probe is not ready only when no model is in service', async () => {
    const legacy = await registerDocument(fx, 'only-legacy', {
      format: EXTERNAL_MODEL_FORMAT,
      command: ['python', 'train.py'],
      files: {},
      metrics: {},
    });
    await fx.moveAlias('only-legacy', legacy.version);
    const server = await serve(['only-legacy']);
    try {
      const health = await getJson(`${server.url}/v2/health/ready`);
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ ready: false, serving: 0, of: 1, models: [{ name: 'only-legacy', state: 'not_servable' }] });
    } finally {
      await server.close();
    }
  });
});

/** Probabilities equal within 1e-5, row by row. */
function expectClose(actual: number[][], expected: number[][]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((row, i) => {
    expect(row).toHaveLength(expected[i]!.length);
    row.forEach((p, k) => expect(Math.abs(p - expected[i]![k]!)).toBeLessThanOrEqual(1e-5));
  });
}
