import type { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import {
  listWindowObjects,
  readPredictionWindow,
  registrySource,
  startModelServer,
  type PredictionWindowOptions,
  type WindowPrediction,
} from '../../../src/serving';
import { ArtifactStore } from '../../../src/storage';
import { rowsToFrame } from '../../../src/ml/trainers';
import { capturingLogger, getJson, postJson, requestRows, ServingFixture } from './fixtures';

let fx: ServingFixture;

beforeAll(async () => {
  fx = await ServingFixture.start();
  for (const name of ['loaded', 'overloaded', 'labelled', 'resilient', 'tagged']) {
    const { version } = await fx.registerModel(name);
    await fx.moveAlias(name, version);
  }
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
});

const FAR_FUTURE = '2999-01-01T00:00:00.000Z';

async function collect(
  model: string,
  window: { since?: string; until: string } = { until: FAR_FUTURE },
  options?: PredictionWindowOptions,
): Promise<WindowPrediction[]> {
  const out: WindowPrediction[] = [];
  for await (const p of readPredictionWindow(fx.storage.store, model, window, options)) out.push(p);
  return out;
}

const serve = (model: string, predictionLog?: Parameters<typeof startModelServer>[0]['predictionLog']) =>
  startModelServer({
    store: fx.storage.store,
    source: registrySource(fx.storage.registry),
    models: [model],
    port: 0,
    pollMs: 0,
    logger: capturingLogger().logger,
    predictionLog,
  });

describe('the prediction log', () => {
  it('closing under load loses no prediction that was answered', async () => {
    const server = await serve('loaded', { batchSize: 40, flushIntervalMs: 100 });
    const answered: string[] = [];
    let stop = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await postJson(`${server.url}/v1/models/loaded:predict`, {
            id: `c${c}-${i}`,
            instances: [requestRows[i % requestRows.length]],
          });
          if (res.status === 200) answered.push(res.body.id);
          else if (res.status !== 503) throw new Error(`unexpected ${res.status}`);
        } catch {
          // Refused connections once the server stops listening: those requests were never answered.
          await new Promise((r) => setTimeout(r, 5));
          if (answered.length > 0 && stop) return;
        }
      }
    };
    const clients = Array.from({ length: 16 }, (_, c) => client(c));
    while (answered.length < 500) await new Promise((r) => setTimeout(r, 10));
    const closed = server.close();
    await closed;
    stop = true;
    await Promise.all(clients);

    const stats = (await closed).predictions!;
    expect(stats.queued).toBe(0);
    expect(stats.dropped).toBe(0);
    const logged = await collect('loaded');
    expect(logged).toHaveLength(answered.length);
    expect(new Set(logged.map((p) => p.id))).toEqual(new Set(answered));
    expect(logged[0]).toMatchObject({
      model: 'loaded',
      version: 1,
      features: { x: expect.any(Number), y: expect.any(Number) },
      output: { label: expect.any(String) },
    });
  });

  it('writes gzip JSON lines under predictions/<model>/date=YYYY-MM-DD/<ISO time>-<spool segment>-<offset>.jsonl.gz', async () => {
    const objects = await listWindowObjects(fx.storage.store, 'loaded', { until: FAR_FUTURE });
    expect(objects.length).toBeGreaterThan(1);
    for (const o of objects)
      expect(o.key).toMatch(
        /^predictions\/loaded\/date=\d{4}-\d{2}-\d{2}\/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z-\d+-\d+-[0-9a-f]{8}-\d+\.jsonl\.gz$/,
      );
    const body = await fx.storage.store.openObject(fx.storage.store.bucket, objects[0]!.key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    const lines = gunzipSync(Buffer.concat(chunks)).toString('utf8').trim().split('\n');
    const first = JSON.parse(lines[0]!);
    expect(objects[0]!.key).toContain(`date=${first.at.slice(0, 10)}/`);
  });

  it(
    'under overload the queue drops and counts records instead of holding up responses',
    async () => {
      const server = await serve('overloaded', { capacity: 20, batchSize: 5, flushIntervalMs: 50, closeAttempts: 20 });
      try {
        // MinIO away: no batch can be written, so the queue fills and stays full.
        await fx.minio.pause();
        const started = Date.now();
        const statuses: number[] = [];
        for (let i = 0; i < 60; i++)
          statuses.push((await postJson(`${server.url}/v1/models/overloaded:predict`, { instances: [requestRows[0]] })).status);
        const elapsed = Date.now() - started;
        expect(statuses.every((s) => s === 200)).toBe(true);
        expect(elapsed).toBeLessThan(3_000);
        expect(server.predictionLog!.snapshot()).toMatchObject({ appended: 20, dropped: 40, queued: 20 });
        // A write to a paused MinIO fails only once the client gives up on it: wait for the first failure.
        let metrics = (await getJson(`${server.url}/metrics`)).body as string;
        const deadline = Date.now() + 60_000;
        while (!/mlops_prediction_log_flush_failures_total\{log="predictions"\} [1-9]/.test(metrics) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          metrics = (await getJson(`${server.url}/metrics`)).body as string;
        }
        expect(metrics).toMatch(/mlops_prediction_log_dropped_total\{log="predictions"\} 40/);
        expect(metrics).toMatch(/mlops_prediction_log_queue_depth\{log="predictions"\} 20/);
        expect(metrics).toMatch(/mlops_prediction_log_flush_failures_total\{log="predictions"\} [1-9]/);
      } finally {
        await fx.minio.resume();
      }
      // What was kept is written once MinIO is back.
      const stats = (await server.close()).predictions!;
      expect(stats).toMatchObject({ written: 20, queued: 0, dropped: 40 });
      expect(await collect('overloaded')).toHaveLength(20);
    },
    3 * 60_000,
  );

  it('feedback labels join their predictions by id in readPredictionWindow, within the window only', async () => {
    const server = await serve('labelled', { flushIntervalMs: 100 });
    const one = await postJson(`${server.url}/v1/models/labelled:predict`, { id: 'single', instances: [requestRows[0]] });
    expect(one.body.id).toBe('single');
    const many = await postJson(`${server.url}/v1/models/labelled:predict`, { id: 'batch', instances: requestRows.slice(0, 3) });
    expect(many.status).toBe(200);
    const v2 = await postJson(`${server.url}/v2/models/labelled/infer`, {
      inputs: [
        { name: 'x', shape: [1], datatype: 'FP64', data: [3] },
        { name: 'y', shape: [1], datatype: 'FP64', data: [null] },
        { name: 'color', shape: [1], datatype: 'BYTES', data: [null] },
      ],
    });
    const v2Id = v2.body.id as string;
    // Windows are [since, until): keep the boundary clear of both neighbours' millisecond stamps.
    await new Promise((r) => setTimeout(r, 5));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await postJson(`${server.url}/v1/models/labelled:predict`, { id: 'late', instances: [requestRows[1]] });

    for (const [id, label] of [
      ['single', 'low'],
      ['batch:1', 'right'],
      [v2Id, 'up'],
      ['single', 'up'],
    ] as const) {
      expect((await postJson(`${server.url}/v2/models/labelled/feedback`, { id, label })).status).toBe(202);
    }
    const bad = await postJson(`${server.url}/v2/models/labelled/feedback`, { id: 'single' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/"label"/);
    await server.close();

    const all = await collect('labelled');
    const byId = new Map(all.map((p) => [p.id, p]));
    expect([...byId.keys()].sort()).toEqual(['batch:0', 'batch:1', 'batch:2', 'late', 'single', v2Id].sort());
    expect(byId.get('single')!.label).toBe('up');
    expect(byId.get('batch:1')!.label).toBe('right');
    expect(byId.get(v2Id)).toMatchObject({ label: 'up', features: { x: 3, y: null, color: null } });
    expect(byId.get('batch:0')!.label).toBeUndefined();
    expect(byId.get('late')!.label).toBeUndefined();

    const early = await collect('labelled', { until: between });
    expect(early.map((p) => p.id)).not.toContain('late');
    expect(early).toHaveLength(5);
    const late = await collect('labelled', { since: between, until: FAR_FUTURE });
    expect(late.map((p) => p.id)).toEqual(['late']);
  });

  it('rollout tags and failed predictions are logged; the window yields shadow and failed ones only when asked', async () => {
    const server = await serve('tagged', { flushIntervalMs: 100 });
    const loaded = server.models.get('tagged')!.current!;
    const rows = [requestRows[0]!];
    const preds = await loaded.predictor.predict(rowsToFrame(loaded.predictor.schema, rows));
    const log = server.predictionLog!;
    log.append(loaded, 'r1', rows, preds, undefined, { role: 'champion', rolloutId: 'rollout-tagged-1', latencyMs: 0.12345 });
    log.append(loaded, 'r1', rows, preds, undefined, { role: 'shadow', rolloutId: 'rollout-tagged-1', latencyMs: 0.2 });
    log.appendFailed(
      loaded,
      'r2',
      requestRows.slice(0, 2),
      { kind: 'invalid_input', message: 'Row 2: field "z" is not a feature' },
      {
        role: 'candidate',
        rolloutId: 'rollout-tagged-1',
        latencyMs: 0.05,
      },
    );
    log.appendFailed(loaded, 'r3', undefined, { kind: 'internal', message: 'x'.repeat(2000) });
    await log.spooled();
    expect((await postJson(`${server.url}/v2/models/tagged/feedback`, { id: 'r1', label: 'low' })).status).toBe(202);
    await server.close();

    const answered = await collect('tagged');
    expect(answered).toEqual([
      expect.objectContaining({ id: 'r1', role: 'champion', rolloutId: 'rollout-tagged-1', latencyMs: 0.123, label: 'low' }),
    ]);
    expect(answered[0]!.output?.label).toBe(preds.labels![0]);
    const withShadow = await collect('tagged', undefined, { shadow: true });
    expect(withShadow.map((p) => [p.id, p.role, p.label])).toEqual([
      ['r1', 'champion', 'low'],
      ['r1', 'shadow', 'low'],
    ]);
    const everything = await collect('tagged', undefined, { shadow: true, failed: true });
    const failed = everything.filter((p) => p.error);
    expect(failed.map((p) => [p.id, p.role, p.errorKind, p.output])).toEqual([
      ['r2:0', 'candidate', 'invalid_input', undefined],
      ['r2:1', 'candidate', 'invalid_input', undefined],
      ['r3', undefined, 'internal', undefined],
    ]);
    expect(failed[0]).toMatchObject({ features: requestRows[0], latencyMs: 0.05, error: 'Row 2: field "z" is not a feature' });
    expect(failed[2]).toMatchObject({ features: {}, version: loaded.version });
    expect(failed[2]!.error).toHaveLength(500);
  });

  it('a writer thread that dies is replaced: logging goes on, and what the dead thread had not shipped is shipped from the spool', async () => {
    const captured = capturingLogger();
    const server = await startModelServer({
      store: fx.storage.store,
      source: registrySource(fx.storage.registry),
      models: ['resilient'],
      port: 0,
      pollMs: 0,
      logger: captured.logger,
      predictionLog: { flushIntervalMs: 60_000 },
    });
    const url = `${server.url}/v1/models/resilient:predict`;
    expect((await postJson(url, { id: 'written', instances: [requestRows[0]] })).status).toBe(200);
    await server.predictionLog!.flush();
    expect((await postJson(url, { id: 'held', instances: [requestRows[1]] })).status).toBe(200);
    // Let the request reach the thread, then kill the thread while it holds it unwritten.
    await new Promise((r) => setTimeout(r, 100));
    await (server.predictionLog as unknown as { thread: Worker }).thread.terminate();
    expect((await postJson(url, { id: 'after', instances: [requestRows[2]] })).status).toBe(200);
    const stats = (await server.close()).predictions!;

    expect(stats).toMatchObject({ appended: 3, written: 3, queued: 0, dropped: 0 });
    expect((await collect('resilient')).map((p) => p.id).sort()).toEqual(['after', 'held', 'written']);
    const failure = captured.lines().find((l) => /prediction log thread failed/.test(String(l.msg)));
    expect(failure).toMatchObject({ level: 50 });
  });

  it('when its writer thread cannot start, the server still answers and spools, and says the predictions are not shipped', async () => {
    const captured = capturingLogger();
    const store = ArtifactStore.connect(fx.storage.store.connection!);
    // Settings the writer thread cannot make a client from (the server's own store works).
    store.connection = { ...store.connection!, endPoint: 'bad_host!' };
    const server = await startModelServer({
      store,
      source: registrySource(fx.storage.registry),
      models: ['resilient'],
      port: 0,
      pollMs: 0,
      logger: captured.logger,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!captured.lines().some((l) => /failed to start 3 times/.test(String(l.msg))) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const res = await postJson(`${server.url}/v1/models/resilient:predict`, { id: 'unlogged', instances: [requestRows[0]] });
      expect(res.status).toBe(200);
      expect(server.predictionLog!.snapshot()).toMatchObject({ appended: 1, written: 0, dropped: 0 });
      await expect(server.predictionLog!.flush()).rejects.toThrow(/not shipped to MinIO: .*the records stay in the spool/);
      expect(captured.lines().find((l) => /failed to start 3 times/.test(String(l.msg)))).toMatchObject({ level: 50 });
    } finally {
      await server.close();
    }
  });
});
