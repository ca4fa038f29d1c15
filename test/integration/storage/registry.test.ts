import { PassThrough } from 'node:stream';
import * as Minio from 'minio';
import { TestMinio } from '../../helpers/servers';
import { FailureType } from '../../../src/errors';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { ModelRegistry } from '../../../src/storage/registry';
import type { ArtifactRef } from '../../../src/storage/refs';
import type { RegisterVersionInput, RegisterVersionResult, RolloutChange } from '../../../src/storage/types';

let minio: TestMinio;
let raw: Minio.Client;

beforeAll(async () => {
  minio = await TestMinio.start();
  raw = new Minio.Client({
    endPoint: '127.0.0.1',
    port: minio.port,
    useSSL: false,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    region: 'us-east-1',
  });
}, 15 * 60_000);

afterAll(async () => {
  await minio?.stop();
});

let seq = 0;
async function fresh(): Promise<{ store: ArtifactStore; registry: ModelRegistry; artifact: ArtifactRef }> {
  seq += 1;
  const bucket = `registry-${seq}-${Date.now()}`;
  const store = new ArtifactStore(createMinioClient(minio.config(bucket)), bucket);
  const artifact = await store.putBuffer(Buffer.from(`model bytes ${seq}`));
  return { store, registry: new ModelRegistry(store), artifact };
}

function registration(artifact: ArtifactRef, workflowId: string, extra: Partial<RegisterVersionInput> = {}): RegisterVersionInput {
  return {
    model: 'churn',
    artifact,
    dataset: { sha256: 'd'.repeat(64), name: 'customers' },
    trainer: { name: 'logistic-regression', params: { l2: 0.1 } },
    metrics: { accuracy: 0.84, macroF1: 0.61 },
    workflowId,
    runId: `run-of-${workflowId}`,
    gitCommit: 'abc1234',
    approvals: [{ approver: 'ana', at: '2026-01-01T00:00:00.000Z', comment: 'looks good' }],
    ...extra,
  };
}

describe('model registry on a real MinIO', () => {
  it('a new run of a reused workflow id (each drift retraining of a model) gets its own version', async () => {
    const { registry, artifact } = await fresh();
    const first = await registry.registerVersion(registration(artifact, 'retrain-churn', { runId: 'run-1' }));
    const second = await registry.registerVersion(registration(artifact, 'retrain-churn', { runId: 'run-2' }));
    const secondAgain = await registry.registerVersion(registration(artifact, 'retrain-churn', { runId: 'run-2' }));
    expect([first.version.version, second.version.version, secondAgain.version.version]).toEqual([1, 2, 2]);
    expect(secondAgain.created).toBe(false);
  });

  it('registration retried for the same run gives one version', async () => {
    const { registry, artifact } = await fresh();
    const first = await registry.registerVersion(registration(artifact, 'pipeline-a'));
    const again = await registry.registerVersion(registration(artifact, 'pipeline-a'));
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.version).toEqual(first.version);
    expect(first.version).toMatchObject({
      model: 'churn',
      version: 1,
      artifact,
      trainer: { name: 'logistic-regression', params: { l2: 0.1 } },
      code: { packageVersion: '0.1.0', gitCommit: 'abc1234' },
      workflowId: 'pipeline-a',
      runId: 'run-of-pipeline-a',
      approvals: [{ approver: 'ana', at: '2026-01-01T00:00:00.000Z', comment: 'looks good' }],
    });
    expect((await registry.registerVersion(registration(artifact, 'pipeline-b'))).version.version).toBe(2);
    expect((await registry.listVersions('churn')).map((v) => [v.version, v.workflowId])).toEqual([
      [1, 'pipeline-a'],
      [2, 'pipeline-b'],
    ]);
  });

  it('concurrent registrations, some retrying the same run, give each run exactly one version with no gaps', async () => {
    const { registry, artifact } = await fresh();
    const runs = Array.from({ length: 8 }, (_, i) => `run-${i}`);
    // Each run registers three times at once, as if its activity were retried while still running.
    const results = await Promise.all(runs.flatMap((r) => [0, 1, 2].map(() => registry.registerVersion(registration(artifact, r)))));
    const byRun = new Map<string, Set<number>>();
    for (const r of results) byRun.set(r.version.workflowId, (byRun.get(r.version.workflowId) ?? new Set()).add(r.version.version));
    for (const r of runs) expect(byRun.get(r)?.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(runs.length);
    const versions = await registry.listVersions('churn');
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(versions.map((v) => v.workflowId)).size).toBe(8);
  });

  it('50 concurrent alias moves give a consistent final state and a complete history (no lost update)', async () => {
    const { store, registry, artifact } = await fresh();
    // Fifty versions (ten runs at a time), so each mover has a target no other mover shares.
    const registered: RegisterVersionResult[] = [];
    for (let batch = 0; batch < 5; batch++) {
      registered.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) => registry.registerVersion(registration(artifact, `wf-${batch * 10 + i}`))),
        )),
      );
    }
    expect(registered.map((r) => r.version.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    const movers = registered.map((r, i) => ({ by: `mover-${i}`, version: r.version.version }));
    const results = await Promise.all(
      movers.map((m) =>
        registry.moveAlias({ model: 'churn', alias: 'production', version: m.version, by: m.by, reason: `promote ${m.version}` }),
      ),
    );

    // Every move took effect once: none was lost, none was applied twice.
    results.forEach((r, i) => expect(r).toMatchObject({ changed: true, move: { by: movers[i]!.by, to: movers[i]!.version } }));
    const history = await registry.aliasHistory('churn', 'production');
    expect(history).toHaveLength(50);
    expect(history.map((h) => h.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(history.map((h) => h.by)).size).toBe(50);
    for (const r of results) expect(history[r.move.seq - 1]).toEqual(r.move);
    // Each move starts where the previous one ended.
    expect(history[0]!.from).toBeNull();
    for (let i = 1; i < history.length; i++) expect(history[i]!.from).toBe(history[i - 1]!.to);
    // The final state is the last recorded move.
    const resolved = await registry.resolveAlias('churn', 'production');
    expect(resolved.pointer).toEqual(history[49]);
    expect(resolved.version.version).toBe(history[49]!.to);
    // One immutable history object per move.
    expect(await store.list('registry/models/churn/alias-history/production/')).toHaveLength(50);
  });

  it('a move with an expected version that no longer holds fails with a conflict', async () => {
    const { registry, artifact } = await fresh();
    for (let i = 0; i < 3; i++) await registry.registerVersion(registration(artifact, `wf-${i}`));
    await registry.moveAlias({ model: 'churn', alias: 'staging', version: 1, by: 'ana', reason: 'first', expectedVersion: null });
    await expect(
      registry.moveAlias({ model: 'churn', alias: 'staging', version: 2, by: 'bo', reason: 'stale view', expectedVersion: null }),
    ).rejects.toMatchObject({
      type: FailureType.Conflict,
      message: expect.stringContaining('not the expected'),
    });
    const moved = await registry.moveAlias({
      model: 'churn',
      alias: 'staging',
      version: 2,
      by: 'bo',
      reason: 'promote',
      expectedVersion: 1,
    });
    expect(moved).toMatchObject({ changed: true, move: { seq: 2, from: 1, to: 2 } });
    // Retrying a move that already happened changes nothing.
    expect(
      await registry.moveAlias({ model: 'churn', alias: 'staging', version: 2, by: 'bo', reason: 'promote', expectedVersion: 1 }),
    ).toMatchObject({ changed: false, move: { seq: 2 } });

    const rolledBack = await registry.rollbackAlias({ model: 'churn', alias: 'staging', by: 'cy', reason: 'regression in canary' });
    expect(rolledBack.move).toMatchObject({ seq: 3, from: 2, to: 1, by: 'cy', reason: 'regression in canary' });
    expect((await registry.aliasHistory('churn', 'staging')).map((h) => [h.from, h.to])).toEqual([
      [null, 1],
      [1, 2],
      [2, 1],
    ]);
    expect((await registry.listAliases('churn')).map((a) => [a.alias, a.to])).toEqual([['staging', 1]]);
  });

  it('a move whose history entry was lost in a crash is recovered from the pointer', async () => {
    const { store, registry, artifact } = await fresh();
    await registry.registerVersion(registration(artifact, 'wf-0'));
    await registry.registerVersion(registration(artifact, 'wf-1'));
    // Simulate a crash between the pointer write and the history write: write the pointer only.
    await store.writeDocument(
      'registry/models/churn/aliases/canary.json',
      { model: 'churn', alias: 'canary', seq: 1, from: null, to: 1, by: 'ana', at: '2026-01-01T00:00:00.000Z', reason: 'crashed' },
      { ifNoneMatch: true },
    );
    expect((await registry.aliasHistory('churn', 'canary')).map((h) => h.seq)).toEqual([1]);
    await registry.moveAlias({ model: 'churn', alias: 'canary', version: 2, by: 'bo', reason: 'next' });
    expect((await store.list('registry/models/churn/alias-history/canary/')).length).toBe(2);
    expect((await registry.aliasHistory('churn', 'canary')).map((h) => [h.seq, h.from, h.to])).toEqual([
      [1, null, 1],
      [2, 1, 2],
    ]);
  });

  it('unknown model, version or alias is a clear not-found', async () => {
    const { registry, artifact } = await fresh();
    await expect(registry.getVersion('nope', 1)).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: 'No model named "nope" is registered.',
    });
    await registry.registerVersion(registration(artifact, 'wf'));
    await expect(registry.getVersion('nope', 1)).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: 'No model named "nope" is registered (registered: churn).',
    });
    await expect(registry.getVersion('churn', 7)).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: 'Model "churn" has no version 7; its versions are 1 to 1.',
    });
    await expect(registry.resolveAlias('churn', 'production')).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: 'Model "churn" has no alias "production" (it has no aliases yet).',
    });
    await expect(registry.aliasHistory('churn', 'production')).rejects.toMatchObject({ type: FailureType.NotFound });
    await expect(registry.listVersions('nope')).rejects.toMatchObject({ type: FailureType.NotFound });
    await expect(registry.moveAlias({ model: 'churn', alias: 'production', version: 3, by: 'ana', reason: 'x' })).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: expect.stringContaining('no version 3'),
    });
    await expect(registry.rollbackAlias({ model: 'churn', alias: 'production', by: 'ana', reason: 'x' })).rejects.toMatchObject({
      type: FailureType.NotFound,
    });
    expect(await registry.findAlias('churn', 'production')).toBeUndefined();
    expect(await registry.latestVersion('nope')).toBeUndefined();
    expect(await registry.listModels()).toEqual(['churn']);
  });

  it('a version cannot point at an artifact that is not stored', async () => {
    const { registry, artifact } = await fresh();
    const missing = { ...artifact, uri: artifact.uri.replace(/[0-9a-f]{64}$/, 'e'.repeat(64)), sha256: 'e'.repeat(64) };
    await expect(registry.registerVersion(registration(missing, 'wf'))).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: expect.stringContaining('does not exist'),
    });
  });

  it('invalid names are rejected before any request', async () => {
    const { store, registry, artifact } = await fresh();
    const trace = new PassThrough();
    let requests = '';
    trace.on('data', (d) => (requests += String(d)));
    store.client.traceOn(trace);
    try {
      const bad = ['', 'a/b', '..', 'a..b', 'x'.repeat(129), 'tab\there', 'nul\u0000', '-lead', 'sp ace'];
      for (const name of bad) {
        await expect(registry.getVersion(name, 1)).rejects.toMatchObject({ type: FailureType.InvalidInput });
        await expect(registry.registerVersion(registration(artifact, 'wf', { model: name }))).rejects.toMatchObject({
          type: FailureType.InvalidInput,
        });
        await expect(registry.resolveAlias('churn', name)).rejects.toMatchObject({ type: FailureType.InvalidInput });
        await expect(registry.moveAlias({ model: 'churn', alias: name, version: 1, by: 'ana', reason: 'x' })).rejects.toMatchObject({
          type: FailureType.InvalidInput,
        });
        await expect(registry.aliasHistory(name, 'production')).rejects.toMatchObject({ type: FailureType.InvalidInput });
      }
      await expect(registry.getVersion('churn', 0)).rejects.toMatchObject({ type: FailureType.InvalidInput });
      await expect(registry.moveAlias({ model: 'churn', alias: 'production', version: 1.5, by: 'ana', reason: 'x' })).rejects.toMatchObject(
        { type: FailureType.InvalidInput },
      );
      await expect(registry.registerVersion(registration(artifact, 'wf', { metrics: { auc: Number.NaN } }))).rejects.toMatchObject({
        type: FailureType.InvalidInput,
      });
    } finally {
      store.client.traceOff();
    }
    expect(requests).toBe('');
  });

  it('a version manifest tampered with in MinIO is refused', async () => {
    const { registry, artifact, store } = await fresh();
    await registry.registerVersion(registration(artifact, 'wf'));
    const key = 'registry/models/churn/versions/000000000001.json';
    const stored = await store.readDocument<Record<string, unknown>>(key);
    await raw.putObject(store.bucket, key, Buffer.from(JSON.stringify({ ...stored!.value, metrics: { accuracy: 0.99 } })));
    await expect(registry.getVersion('churn', 1)).rejects.toMatchObject({ type: FailureType.Integrity });
  });
});

describe('rollout documents on a real MinIO', () => {
  const canary = (extra: Partial<RolloutChange> = {}): RolloutChange => ({
    model: 'churn',
    rolloutId: 'rollout-churn-3',
    strategy: 'canary',
    champion: 1,
    candidate: 2,
    candidateShare: 0.1,
    routing: { key: 'request-id' },
    status: 'running',
    step: 0,
    by: 'rollout-churn-3',
    reason: 'step 1 of 3: 10 %',
    ...extra,
  });

  async function withTwoVersions() {
    const f = await fresh();
    await f.registry.registerVersion(registration(f.artifact, 'wf-1'));
    await f.registry.registerVersion(registration(f.artifact, 'wf-2'));
    return f;
  }

  it('a rollout moves by compare-and-swap, each change kept in its history, and a retried change is harmless', async () => {
    const { store, registry } = await withTwoVersions();
    expect(await registry.getRollout('churn')).toBeUndefined();
    expect(await registry.rolloutHistory('churn')).toEqual([]);

    const first = await registry.setRollout(canary(), 0);
    expect(first).toMatchObject({ changed: true, state: { seq: 1, candidateShare: 0.1, status: 'running' } });
    expect(Date.parse(first.state.updatedAt)).not.toBeNaN();
    // The activity that wrote it is retried after a crash: same change, same expectation.
    expect(await registry.setRollout(canary(), 0)).toEqual({ changed: false, state: first.state });

    const second = await registry.setRollout(canary({ candidateShare: 0.5, step: 1, reason: 'step 2 of 3: 50 %' }), 1);
    expect(second.state).toMatchObject({ seq: 2, candidateShare: 0.5, step: 1 });
    // A writer that read change 1 and decides on it now loses: it must re-read.
    await expect(registry.setRollout(canary({ status: 'paused', by: 'ana', reason: 'looks odd' }), 1)).rejects.toMatchObject({
      type: FailureType.Conflict,
      message: expect.stringContaining('not the expected change 1'),
    });
    await registry.setRollout(canary({ candidateShare: 0.5, step: 1, status: 'finished', reason: 'rolled back' }), 2);

    expect(await registry.getRollout('churn')).toMatchObject({ seq: 3, status: 'finished' });
    const history = await registry.rolloutHistory('churn');
    expect(history.map((h) => [h.seq, h.candidateShare, h.status])).toEqual([
      [1, 0.1, 'running'],
      [2, 0.5, 'running'],
      [3, 0.5, 'finished'],
    ]);
    expect(history[1]).toEqual(second.state);
    expect(await store.list('registry/models/churn/rollout-history/')).toHaveLength(3);
    // The rollout document is not a model: the model list is unchanged.
    expect(await registry.listModels()).toEqual(['churn']);
  });

  it('concurrent writers of one rollout: exactly one wins each change, the rest get a conflict', async () => {
    const { registry } = await withTwoVersions();
    await registry.setRollout(canary(), 0);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => registry.setRollout(canary({ candidateShare: (i + 1) / 20, by: `writer-${i}` }), 1)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ type: FailureType.Conflict });
    const history = await registry.rolloutHistory('churn');
    expect(history.map((h) => h.seq)).toEqual([1, 2]);
    expect(history[1]).toEqual((won[0] as PromiseFulfilledResult<{ state: unknown }>).value.state);
  });

  it('a change whose history entry was lost in a crash is recovered from the document', async () => {
    const { store, registry } = await withTwoVersions();
    await store.writeDocument(
      'registry/models/churn/rollout.json',
      { ...canary(), seq: 1, updatedAt: '2026-01-01T00:00:00.000Z' },
      { ifNoneMatch: true },
    );
    expect((await registry.rolloutHistory('churn')).map((h) => h.seq)).toEqual([1]);
    await registry.setRollout(canary({ candidateShare: 1, step: 2 }), 1);
    expect(await store.list('registry/models/churn/rollout-history/')).toHaveLength(2);
    expect((await registry.rolloutHistory('churn')).map((h) => [h.seq, h.candidateShare])).toEqual([
      [1, 0.1],
      [2, 1],
    ]);
  });

  it('an invalid rollout is refused before anything is written, naming what is wrong', async () => {
    const { store, registry } = await withTwoVersions();
    const bad: [Partial<RolloutChange>, RegExp][] = [
      [{ strategy: 'shadow', candidateShare: 0.2 }, /shadow candidate answers no request/],
      [{ candidateShare: 1.5 }, /candidateShare must be a number from 0 to 1/],
      [{ candidate: 1 }, /champion and candidate are both version 1/],
      [{ strategy: 'blue-green' as 'canary' }, /strategy must be/],
      [{ routing: { key: 'field', field: '' } }, /routing field/],
      [{ status: 'done' as 'finished' }, /status must be/],
      [{ step: -1 }, /step must be/],
    ];
    for (const [change, message] of bad) {
      await expect(registry.setRollout(canary(change), 0)).rejects.toMatchObject({ type: FailureType.InvalidInput, message });
    }
    await expect(registry.setRollout(canary({ candidate: 7 }), 0)).rejects.toMatchObject({ type: FailureType.NotFound });
    await expect(registry.setRollout(canary(), -1)).rejects.toMatchObject({ type: FailureType.InvalidInput });
    expect(await registry.getRollout('churn')).toBeUndefined();
    expect(await store.list('registry/models/churn/rollout-history/')).toEqual([]);
  });
});
