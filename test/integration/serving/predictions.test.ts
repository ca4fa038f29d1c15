import { predictRows, type Model } from '../../../src/ml/trainers';
import { registerDriftGauge, registrySource, startModelServer, type ModelServer } from '../../../src/serving';
import { capturingLogger, getJson, postJson, requestRows, ServingFixture } from './fixtures';

let fx: ServingFixture;
let server: ModelServer;
let model: Model;

beforeAll(async () => {
  fx = await ServingFixture.start();
  const v1 = await fx.registerModel('iris', 0.5);
  await fx.moveAlias('iris', v1.version);
  model = v1.model;
  server = await startModelServer({
    store: fx.storage.store,
    source: registrySource(fx.storage.registry),
    models: ['iris'],
    port: 0,
    pollMs: 0,
    logger: capturingLogger().logger,
  });
}, 10 * 60_000);

afterAll(async () => {
  await server?.close();
  await fx?.stop();
});

describe('predictions over v1 and v2', () => {
  it('v1 instances get the same labels and probabilities as predictRows, with the served version', async () => {
    const expected = predictRows(model, requestRows);
    const res = await postJson(`${server.url}/v1/models/iris:predict`, { instances: requestRows });
    expect(res.status).toBe(200);
    expect(res.body.model_version).toBe(1);
    expect(res.body.predictions).toHaveLength(requestRows.length);
    res.body.predictions.forEach((p: { label: string; probabilities: Record<string, number> }, i: number) => {
      expect(p.label).toBe(expected.labels![i]);
      expect(Object.keys(p.probabilities)).toEqual(model.classes);
      model.classes.forEach((c, k) => expect(p.probabilities[c]).toBeCloseTo(expected.probabilities![i]![k]!, 12));
    });
  });

  it('v2 columnar inputs get the same predictions as predictRows, as a BYTES label and FP64 probabilities', async () => {
    const expected = predictRows(model, requestRows);
    const n = requestRows.length;
    const res = await postJson(`${server.url}/v2/models/iris/infer`, {
      id: 'req-42',
      inputs: [
        { name: 'x', shape: [n], datatype: 'FP64', data: requestRows.map((r) => r.x) },
        { name: 'y', shape: [n, 1], datatype: 'FP32', data: requestRows.map((r) => [r.y]) },
        { name: 'color', shape: [n], datatype: 'BYTES', data: requestRows.map((r) => r.color) },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model_name: 'iris', model_version: '1', id: 'req-42' });
    const [label, probs] = res.body.outputs;
    expect(label).toEqual({ name: 'label', datatype: 'BYTES', shape: [n], data: expected.labels });
    expect(probs).toMatchObject({
      name: 'probabilities',
      datatype: 'FP64',
      shape: [n, model.classes.length],
      parameters: { classes: model.classes },
    });
    (probs.data as number[]).forEach((p, j) => expect(p).toBeCloseTo(expected.probabilities!.flat()[j]!, 12));
  });

  it('a row with a value of the wrong type gets a 400 naming the row and the field', async () => {
    const res = await postJson(`${server.url}/v1/models/iris:predict`, { instances: [requestRows[0], { x: 'seven', y: 1, color: 'red' }] });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/Row 1: field "x" must be a JSON number or null/);

    const v2 = await postJson(`${server.url}/v2/models/iris/infer`, {
      inputs: [{ name: 'x', shape: [1], datatype: 'FP64', data: [{ nested: true }] }],
    });
    expect(v2.status).toBe(400);
    expect(v2.body.error).toMatch(/Row 0: input "x" is FP64, so \{"nested":true\} is not one of its values/);
  });

  it('v2 inputs that are not features, have the wrong datatype or disagree in length get a 400 saying so', async () => {
    const unknown = await postJson(`${server.url}/v2/models/iris/infer`, {
      inputs: [{ name: 'z', shape: [1], datatype: 'FP64', data: [1] }],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/"z" is not a feature of iris; its inputs are x, y, color/);
    const datatype = await postJson(`${server.url}/v2/models/iris/infer`, {
      inputs: [{ name: 'color', shape: [1], datatype: 'FP64', data: [1] }],
    });
    expect(datatype.status).toBe(400);
    expect(datatype.body.error).toMatch(/"color" must have datatype BYTES/);
    const lengths = await postJson(`${server.url}/v2/models/iris/infer`, {
      inputs: [
        { name: 'x', shape: [2], datatype: 'FP64', data: [1, 2] },
        { name: 'y', shape: [1], datatype: 'FP64', data: [1] },
      ],
    });
    expect(lengths.status).toBe(400);
    expect(lengths.body.error).toMatch(/"y" has 1 values but earlier inputs have 2/);
  });

  it('a body that is not JSON, or has no instances, gets a 400', async () => {
    const res = await fetch(`${server.url}/v1/models/iris:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"instances": [',
    });
    expect(res.status).toBe(400);
    const empty = await postJson(`${server.url}/v1/models/iris:predict`, { instances: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatch(/"instances": a non-empty array/);
  });

  it('an unknown model gets a 404 naming the served ones', async () => {
    const res = await postJson(`${server.url}/v1/models/nope:predict`, { instances: requestRows });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/"nope" is not served here; this server serves iris/);
    expect((await getJson(`${server.url}/v2/models/nope`)).status).toBe(404);
    expect((await postJson(`${server.url}/v2/models/nope/infer`, { inputs: [] })).status).toBe(404);
  });

  it('model metadata lists the version, the platform, the features as typed inputs and the outputs', async () => {
    const res = await getJson(`${server.url}/v2/models/iris`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: 'iris',
      versions: ['1'],
      platform: 'temporal-mlops',
      inputs: [
        { name: 'x', datatype: 'FP64', shape: [-1] },
        { name: 'y', datatype: 'FP64', shape: [-1] },
        { name: 'color', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [
        { name: 'label', datatype: 'BYTES', shape: [-1] },
        { name: 'probabilities', datatype: 'FP64', shape: [-1, 3] },
      ],
    });
  });

  it('a version named in the path must be the one served', async () => {
    const inputs = [
      { name: 'x', shape: [1], datatype: 'FP64', data: [1] },
      { name: 'y', shape: [1], datatype: 'FP64', data: [2] },
      { name: 'color', shape: [1], datatype: 'BYTES', data: ['red'] },
    ];
    const ok = await postJson(`${server.url}/v2/models/iris/versions/1/infer`, { inputs });
    expect(ok.status).toBe(200);
    const other = await postJson(`${server.url}/v2/models/iris/versions/9/infer`, { inputs });
    expect(other.status).toBe(404);
    expect(other.body.error).toMatch(/version 9 is not served; version 1 is/);
  });

  it('health says live and ready, and /metrics counts predictions by model and version', async () => {
    expect((await getJson(`${server.url}/v2/health/live`)).body).toEqual({ live: true });
    expect((await getJson(`${server.url}/v2/health/ready`)).status).toBe(200);
    const metrics = (await getJson(`${server.url}/metrics`)).body as string;
    expect(metrics).toMatch(/mlops_predictions_total\{model="iris",version="1"\} \d+/);
    expect(metrics).toMatch(/mlops_serving_errors_total\{model="iris",kind="invalid_input"\} \d+/);
    expect(metrics).toMatch(
      /mlops_serving_request_duration_seconds_bucket\{le="0.005",route="\/v1\/models\/:name",method="POST",status="200"\}/,
    );
    expect(metrics).toMatch(/mlops_model_served_info\{model="iris",alias="production",version="1"\} 1/);
    // Failures that have not happened read 0, not "no data".
    expect(metrics).toMatch(/mlops_model_load_refusals_total\{model="iris",reason="integrity"\} 0/);
    expect(metrics).toMatch(/mlops_prediction_log_dropped_total\{log="predictions"\} 0/);
    expect(metrics).toMatch(/mlops_prediction_log_flush_failures_total\{log="predictions"\} 0/);
    expect(metrics).toMatch(/^process_cpu_seconds_total \d/m);
  });

  it('the monitor can register the drift gauge once and set it per feature', async () => {
    const gauge = registerDriftGauge(server.metrics.registry);
    expect(registerDriftGauge(server.metrics.registry)).toBe(gauge);
    gauge.set({ model: 'iris', feature: 'x' }, 0.31);
    expect((await getJson(`${server.url}/metrics`)).body).toMatch(/mlops_feature_drift_psi\{model="iris",feature="x"\} 0.31/);
  });
});

describe('a server whose alias is not set yet', () => {
  it('is live but not ready, answers 503 saying the alias is missing, and becomes ready once the alias is set and reloaded', async () => {
    const { version } = await fx.registerModel('later', 2);
    const s = await startModelServer({
      store: fx.storage.store,
      source: registrySource(fx.storage.registry),
      models: ['later'],
      port: 0,
      pollMs: 0,
      logger: capturingLogger().logger,
    });
    try {
      expect((await getJson(`${s.url}/v2/health/live`)).status).toBe(200);
      const notReady = await getJson(`${s.url}/v2/health/ready`);
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatchObject({
        ready: false,
        serving: 0,
        of: 1,
        models: [{ name: 'later', ready: false, state: 'no_version', version: null }],
      });
      expect(notReady.body.models[0].reason).toMatch(/has no alias "production"/);
      const early = await postJson(`${s.url}/v1/models/later:predict`, { instances: requestRows });
      expect(early.status).toBe(503);
      expect(early.body.error).toMatch(/Model "later" is not ready: .*has no alias "production"/);
      await fx.moveAlias('later', version);
      const reload = await postJson(`${s.url}/admin/reload`, {});
      expect(reload.body.models).toEqual([{ model: 'later', version, changed: true }]);
      expect((await getJson(`${s.url}/v2/health/ready`)).status).toBe(200);
      expect((await postJson(`${s.url}/v1/models/later:predict`, { instances: requestRows })).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
