import { predictRows } from '../../../src/ml/trainers';
import { registrySource, startModelServer } from '../../../src/serving';
import { capturingLogger, getJson, postJson, requestRows, ServingFixture } from './fixtures';

let fx: ServingFixture;

beforeAll(async () => {
  fx = await ServingFixture.start();
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('which version serves', () => {
  it('a tampered artifact is refused, logged and counted, and the previous version keeps serving', async () => {
    const v1 = await fx.registerModel('guarded', 1);
    await fx.moveAlias('guarded', v1.version);
    const { logger, lines } = capturingLogger();
    const server = await startModelServer({
      store: fx.storage.store,
      source: registrySource(fx.storage.registry),
      models: ['guarded'],
      port: 0,
      pollMs: 0,
      logger,
    });
    try {
      const v2 = await fx.registerModel('guarded', 0.01);
      await fx.tamper(
        v2.artifact,
        JSON.stringify({ ...v2.model, intercepts: v2.model.kind === 'logistic-regression' ? v2.model.intercepts.map((b) => b + 100) : [] }),
      );
      await fx.moveAlias('guarded', v2.version);

      const reload = await postJson(`${server.url}/admin/reload`, {});
      expect(reload.body.models[0]).toMatchObject({ model: 'guarded', version: v1.version, changed: false });
      expect(reload.body.models[0].error).toMatch(/refused guarded version 2 \(integrity\).*version 1 keeps serving/);

      const res = await postJson(`${server.url}/v1/models/guarded:predict`, { instances: requestRows });
      expect(res.status).toBe(200);
      expect(res.body.model_version).toBe(v1.version);
      expect(res.body.predictions.map((p: { label: string }) => p.label)).toEqual(predictRows(v1.model, requestRows).labels);

      const refusal = lines().find((l) => l.level === 50 && l.reason === 'integrity');
      expect(refusal).toMatchObject({ model: 'guarded', version: v2.version, serving: v1.version });
      expect(String(refusal?.msg)).toMatch(/sha256/);
      const metrics = (await getJson(`${server.url}/metrics`)).body as string;
      expect(metrics).toMatch(/mlops_model_load_refusals_total\{model="guarded",reason="integrity"\} 1/);

      // Polling does not fetch the refused artifact again; the alias moving on to a sound version swaps it in.
      await server.models.get('guarded')!.refresh();
      expect((await getJson(`${server.url}/metrics`)).body).toMatch(
        /mlops_model_load_refusals_total\{model="guarded",reason="integrity"\} 1/,
      );
      const v3 = await fx.registerModel('guarded', 0.1);
      await fx.moveAlias('guarded', v3.version);
      expect((await server.models.get('guarded')!.refresh()).version).toBe(v3.version);
    } finally {
      await server.close();
    }
  });

  it('moving the alias swaps versions while requests keep flowing, with no request failing', async () => {
    const v1 = await fx.registerModel('swapped', 1);
    await fx.moveAlias('swapped', v1.version);
    const server = await startModelServer({
      store: fx.storage.store,
      source: registrySource(fx.storage.registry),
      models: ['swapped'],
      port: 0,
      pollMs: 50,
      logger: capturingLogger().logger,
    });
    const failures: string[] = [];
    const seen = new Map<number, number>();
    let regressions = 0;
    let stop = false;
    const client = async () => {
      let last = 0;
      while (!stop) {
        try {
          const res = await postJson(`${server.url}/v1/models/swapped:predict`, { instances: requestRows });
          if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(res.body)}`);
          else {
            const v = res.body.model_version as number;
            seen.set(v, (seen.get(v) ?? 0) + 1);
            if (v < last) regressions += 1;
            last = v;
          }
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    try {
      const clients = Array.from({ length: 8 }, client);
      await sleep(300);
      const v2 = await fx.registerModel('swapped', 0.05);
      await fx.moveAlias('swapped', v2.version);
      for (let i = 0; i < 100 && (seen.get(v2.version) ?? 0) < 200; i++) await sleep(50);
      stop = true;
      await Promise.all(clients);
      expect(failures).toEqual([]);
      expect(seen.get(v1.version)).toBeGreaterThan(0);
      expect(seen.get(v2.version)).toBeGreaterThanOrEqual(200);
      expect(regressions).toBe(0);
    } finally {
      stop = true;
      await server.close();
    }
  });
});
