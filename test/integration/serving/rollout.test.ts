/**
 * Serving a rollout: the champion and the candidate of a model at once, routed by the registry's rollout
 * document, on a real MinIO and registry with real HTTP traffic.
 */
import { rowsToFrame, trainModel } from '../../../src/ml/trainers';
import type { DatasetSchema } from '../../../src/ml/types';
import { readPredictionWindow, registrySource, startModelServer, type ModelServer, type WindowPrediction } from '../../../src/serving';
import type { RolloutChange } from '../../../src/storage/types';
import { capturingLogger, getJson, postJson, requestRows, schema, ServingFixture, trainingRows } from './fixtures';

let fx: ServingFixture;

beforeAll(async () => {
  fx = await ServingFixture.start('rollout-test');
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
});

const FAR_FUTURE = '2999-01-01T00:00:00.000Z';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A model with a champion (v1, aliased) and a candidate (v2). */
async function twoVersions(name: string): Promise<void> {
  const v1 = await fx.registerModel(name, 1);
  await fx.registerModel(name, 0.05);
  await fx.moveAlias(name, v1.version);
}

/** Registers a version of `name` trained without the `color` feature: requests that send colour are refused by it. */
async function registerWithoutColor(name: string): Promise<number> {
  const narrow: DatasetSchema = { ...schema, features: ['x', 'y'], columns: schema.columns.filter((c) => c.name !== 'color') };
  const train = rowsToFrame({ ...narrow, features: ['x', 'y', 'kind'] }, trainingRows());
  const model = await trainModel('logistic-regression', { train, schema: narrow, params: {}, seed: 3 });
  const artifact = await fx.storage.store.putJson(model);
  const { version } = await fx.storage.registry.registerVersion({
    model: name,
    artifact,
    dataset: { sha256: 'b'.repeat(64) },
    trainer: { name: 'logistic-regression', params: {} },
    metrics: {},
    workflowId: `narrow-${name}`,
    runId: 'narrow-1',
  });
  return version.version;
}

function rollout(name: string, extra: Partial<RolloutChange> = {}): RolloutChange {
  return {
    model: name,
    rolloutId: `rollout-${name}`,
    strategy: 'canary',
    champion: 1,
    candidate: 2,
    candidateShare: 0.3,
    routing: { key: 'request-id' },
    status: 'running',
    step: 0,
    by: 'test',
    reason: 'serving test',
    ...extra,
  };
}

/** Writes the next change of a model's rollout. */
async function setRollout(change: RolloutChange): Promise<void> {
  const seq = (await fx.storage.registry.getRollout(change.model))?.seq ?? 0;
  await fx.storage.registry.setRollout(change, seq);
}

const serve = (name: string, pollMs = 0) =>
  startModelServer({
    store: fx.storage.store,
    source: registrySource(fx.storage.registry),
    models: [name],
    port: 0,
    pollMs,
    logger: capturingLogger().logger,
    predictionLog: { flushIntervalMs: 100 },
  });

/** Sends v1 requests (8 at a time) and returns which version answered each, by request id. */
async function versionsOf(server: ModelServer, name: string, ids: string[], extra: (id: string) => object = () => ({})) {
  const out = new Map<string, number>();
  for (let i = 0; i < ids.length; i += 8) {
    await Promise.all(
      ids.slice(i, i + 8).map(async (id, j) => {
        const res = await postJson(`${server.url}/v1/models/${name}:predict`, { id, instances: [requestRows[(i + j) % 4]], ...extra(id) });
        expect(res.status).toBe(200);
        out.set(id, res.body.model_version as number);
      }),
    );
  }
  return out;
}

async function logged(name: string, options?: { shadow?: boolean; failed?: boolean }): Promise<WindowPrediction[]> {
  const out: WindowPrediction[] = [];
  for await (const p of readPredictionWindow(fx.storage.store, name, { until: FAR_FUTURE }, options)) out.push(p);
  return out;
}

const share = (versions: Map<string, number>) => [...versions.values()].filter((v) => v === 2).length / versions.size;

describe('serving a rollout', () => {
  it('a canary answers its share of requests with the candidate, the same request id always with the same version, and says which answered', async () => {
    await twoVersions('canary');
    const server = await serve('canary');
    try {
      const ids = Array.from({ length: 800 }, (_, i) => `req-${i}`);
      expect(share(await versionsOf(server, 'canary', ids.slice(0, 40)))).toBe(0);

      await setRollout(rollout('canary', { candidateShare: 0.3 }));
      await server.reload();
      const ready = await getJson(`${server.url}/v2/models/canary/ready`);
      expect(ready.body.rollout).toMatchObject({
        rolloutId: 'rollout-canary',
        champion: 1,
        candidate: 2,
        candidateShare: 0.3,
        inEffect: true,
      });

      const first = await versionsOf(server, 'canary', ids);
      expect(share(first)).toBeGreaterThan(0.25);
      expect(share(first)).toBeLessThan(0.35);
      // The same ids again: every one lands on the version it had.
      expect(await versionsOf(server, 'canary', ids.slice(0, 200))).toEqual(new Map(ids.slice(0, 200).map((id) => [id, first.get(id)])));

      // A paused rollout keeps its share; a larger share keeps every candidate request on the candidate.
      await setRollout(rollout('canary', { candidateShare: 0.3, status: 'paused' }));
      await server.reload();
      expect(await versionsOf(server, 'canary', ids.slice(0, 200))).toEqual(new Map(ids.slice(0, 200).map((id) => [id, first.get(id)])));
      await setRollout(rollout('canary', { candidateShare: 0.6, step: 1 }));
      await server.reload();
      const wider = await versionsOf(server, 'canary', ids);
      expect(share(wider)).toBeGreaterThan(0.55);
      expect(share(wider)).toBeLessThan(0.65);
      for (const id of ids) if (first.get(id) === 2) expect(wider.get(id)).toBe(2);

      // v2 metadata lists both versions; a version in the path is served as it is.
      const meta = await getJson(`${server.url}/v2/models/canary`);
      expect(meta.body.versions).toEqual(['1', '2']);
      const pinned = await postJson(`${server.url}/v2/models/canary/versions/2/infer`, {
        id: ids.find((id) => first.get(id) === 1 && wider.get(id) === 1),
        inputs: [
          { name: 'x', shape: [1], datatype: 'FP64', data: [1] },
          { name: 'y', shape: [1], datatype: 'FP64', data: [2] },
          { name: 'color', shape: [1], datatype: 'BYTES', data: ['red'] },
        ],
      });
      expect(pinned.body.model_version).toBe('2');
      expect((await getJson(`${server.url}/v2/models/canary/versions/2/ready`)).status).toBe(200);
      expect((await getJson(`${server.url}/v2/models/canary/versions/3/ready`)).status).toBe(404);

      const metrics = (await getJson(`${server.url}/metrics`)).body as string;
      const count = (version: number, role: string) =>
        Number(
          new RegExp(`mlops_version_requests_total\\{model="canary",version="${version}",role="${role}"\\} (\\d+)`).exec(metrics)?.[1],
        );
      expect(count(2, 'candidate') + count(1, 'champion')).toBe(800 + 200 + 200 + 800 + 1);
      const onCandidate = (ids: string[], versions: Map<string, number>) => ids.filter((id) => versions.get(id) === 2).length;
      expect(count(2, 'candidate')).toBe(onCandidate(ids, first) + 2 * onCandidate(ids.slice(0, 200), first) + onCandidate(ids, wider) + 1);
      expect(metrics).toMatch(/mlops_version_errors_total\{model="canary",version="2",role="candidate",kind="internal"\} 0/);
      expect(metrics).toMatch(/mlops_version_prediction_duration_seconds_count\{model="canary",version="2",role="candidate"\} \d+/);
      expect(metrics).toMatch(/mlops_rollout_candidate_share\{model="canary"\} 0.6/);

      // Finished: the alias alone answers again.
      await setRollout(rollout('canary', { candidateShare: 0.6, step: 1, status: 'finished', reason: 'rolled back' }));
      await server.reload();
      expect(share(await versionsOf(server, 'canary', ids.slice(0, 100)))).toBe(0);
      expect((await getJson(`${server.url}/v2/models/canary/ready`)).body.rollout).toBeUndefined();
    } finally {
      await server.close();
    }
    const records = await logged('canary');
    const tagged = records.filter((r) => r.rolloutId === 'rollout-canary');
    expect(tagged.length).toBe(800 + 200 + 200 + 800 + 1);
    for (const r of tagged) expect(r.role).toBe(r.version === 2 ? 'candidate' : 'champion');
    expect(records.filter((r) => r.role === undefined).every((r) => r.version === 1)).toBe(true);
    expect(records.every((r) => typeof r.latencyMs === 'number' && r.latencyMs >= 0)).toBe(true);
  });

  it('routing by an entity field sends every request of one entity to the same version', async () => {
    await twoVersions('entity');
    await setRollout(rollout('entity', { candidateShare: 0.5, routing: { key: 'field', field: 'customer' } }));
    const server = await serve('entity');
    try {
      const ids = Array.from({ length: 400 }, (_, i) => `e-${i}`);
      const customerOf = (id: string) => `customer-${Number(id.slice(2)) % 40}`;
      const versions = await versionsOf(server, 'entity', ids, (id) => ({ customer: customerOf(id) }));
      const perCustomer = new Map<string, Set<number>>();
      for (const [id, v] of versions) perCustomer.set(customerOf(id), (perCustomer.get(customerOf(id)) ?? new Set()).add(v));
      expect([...perCustomer.values()].every((s) => s.size === 1)).toBe(true);
      const onCandidate = [...perCustomer.values()].filter((s) => s.has(2)).length;
      expect(onCandidate).toBeGreaterThan(10);
      expect(onCandidate).toBeLessThan(30);
    } finally {
      await server.close();
    }
  });

  it('a shadow never answers a client; both versions are logged on the same prediction ids, and its failures fail no request', async () => {
    await twoVersions('shadowed');
    const narrow = await registerWithoutColor('shadowed');
    await setRollout(rollout('shadowed', { strategy: 'shadow', candidateShare: 0 }));
    const server = await serve('shadowed');
    const ids = Array.from({ length: 120 }, (_, i) => `s-${i}`);
    try {
      expect(share(await versionsOf(server, 'shadowed', ids))).toBe(0);
      // A candidate that refuses what clients send: the champion still answers every request.
      await setRollout(rollout('shadowed', { strategy: 'shadow', candidateShare: 0, candidate: narrow, step: 1 }));
      await server.reload();
      expect((await getJson(`${server.url}/v2/models/shadowed/ready`)).body.rollout).toMatchObject({ candidate: narrow, inEffect: true });
      const again = await versionsOf(
        server,
        'shadowed',
        ids.slice(0, 30).map((id) => `${id}-narrow`),
      );
      expect([...again.values()].every((v) => v === 1)).toBe(true);
      // Mirrored after the answers: wait until the shadow's predictions are counted.
      for (let i = 0; i < 100; i++) {
        const metrics = (await getJson(`${server.url}/metrics`)).body as string;
        if (
          new RegExp(`mlops_version_errors_total\\{model="shadowed",version="${narrow}",role="shadow",kind="invalid_input"\\} 30`).test(
            metrics,
          )
        )
          break;
        await sleep(50);
      }
      expect((await getJson(`${server.url}/metrics`)).body).toMatch(
        /mlops_version_requests_total\{model="shadowed",version="2",role="shadow"\} 120/,
      );
    } finally {
      await server.close();
    }
    const answered = await logged('shadowed');
    expect(answered.every((r) => r.version === 1 && r.role === 'champion')).toBe(true);
    const all = await logged('shadowed', { shadow: true, failed: true });
    const byId = new Map<string, WindowPrediction[]>();
    for (const r of all) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
    for (const id of ids) {
      const pair = byId.get(id)!.map((r) => [r.version, r.role, r.output !== undefined]);
      expect(pair.sort()).toEqual([
        [1, 'champion', true],
        [2, 'shadow', true],
      ]);
    }
    for (const id of ids.slice(0, 30).map((i) => `${i}-narrow`)) {
      const shadow = byId.get(id)!.find((r) => r.role === 'shadow')!;
      expect(shadow).toMatchObject({ version: narrow, errorKind: 'invalid_input', rolloutId: 'rollout-shadowed' });
      expect(shadow.error).toMatch(/color/);
      expect(shadow.output).toBeUndefined();
    }
  });

  it('a canary candidate that fails requests has its failures counted and logged against its version', async () => {
    await twoVersions('failing');
    const narrow = await registerWithoutColor('failing');
    await setRollout(rollout('failing', { candidate: narrow, candidateShare: 0.5 }));
    const server = await serve('failing');
    const statuses = new Map<number, number>();
    try {
      for (let i = 0; i < 100; i++) {
        const res = await postJson(`${server.url}/v1/models/failing:predict`, { id: `f-${i}`, instances: [requestRows[0]] });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    } finally {
      await server.close();
    }
    const failed = (await logged('failing', { failed: true })).filter((r) => r.error);
    expect(failed.length).toBe(statuses.get(400));
    expect(failed.length).toBeGreaterThan(30);
    expect(failed.every((r) => r.version === narrow && r.role === 'candidate' && r.errorKind === 'invalid_input')).toBe(true);
  });

  it('the share changing during traffic, the rollout starting, promoting and finishing, fails no request', async () => {
    await twoVersions('moving');
    const server = await serve('moving', 25);
    const failures: string[] = [];
    const seen = new Map<number, number>();
    let stop = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await postJson(`${server.url}/v1/models/moving:predict`, { id: `m${c}-${i}`, instances: [requestRows[i % 4]] });
          if (res.status !== 200) failures.push(`${res.status} ${JSON.stringify(res.body)}`);
          else seen.set(res.body.model_version, (seen.get(res.body.model_version) ?? 0) + 1);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const clients = Array.from({ length: 6 }, (_, c) => client(c));
    const inEffect = async (seq: number, yes = true) => {
      for (let i = 0; i < 400; i++) {
        const r = server.readiness().models[0]!.rollout;
        if (yes ? r?.seq === seq && r.inEffect : r === undefined) return;
        await sleep(25);
      }
      throw new Error(`rollout change ${seq} never took effect`);
    };
    try {
      await sleep(200);
      await setRollout(rollout('moving', { candidateShare: 0.1 }));
      await inEffect(1);
      for (const [step, candidateShare] of [0.5, 0.9, 1].entries()) {
        await sleep(150);
        await setRollout(rollout('moving', { candidateShare, step: step + 1 }));
        await inEffect(step + 2);
      }
      await sleep(150);
      // Promotion: the alias moves to the candidate, then the rollout finishes.
      await fx.moveAlias('moving', 2);
      await setRollout(rollout('moving', { candidateShare: 1, step: 3, status: 'finished', reason: 'promoted' }));
      await inEffect(5, false);
      await sleep(150);
    } finally {
      stop = true;
      await Promise.all(clients);
      await server.close();
    }
    expect(failures).toEqual([]);
    expect(seen.get(1)).toBeGreaterThan(0);
    expect(seen.get(2)).toBeGreaterThan(0);
  }, 120_000);

  it('a candidate that cannot be loaded leaves the rollout out of effect, the alias answering everything, and says why', async () => {
    await twoVersions('refused');
    const v3 = await fx.registerModel('refused', 0.2);
    await fx.tamper(v3.artifact, JSON.stringify({ ...v3.model, tampered: true }));
    await setRollout(rollout('refused', { candidate: v3.version, candidateShare: 1 }));
    const server = await serve('refused');
    try {
      const versions = await versionsOf(server, 'refused', ['a', 'b', 'c', 'd']);
      expect([...versions.values()]).toEqual([1, 1, 1, 1]);
      const ready = await getJson(`${server.url}/v2/models/refused/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body.rollout).toMatchObject({ inEffect: false, candidate: v3.version });
      expect(ready.body.rollout.reason).toMatch(/candidate, version 3, was refused \(integrity\)/);
      expect((await getJson(`${server.url}/metrics`)).body).toMatch(
        /mlops_model_load_refusals_total\{model="refused",reason="integrity"\} 1/,
      );
    } finally {
      await server.close();
    }
  });
});
