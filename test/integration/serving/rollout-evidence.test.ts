/**
 * The two halves of a rollout meet in the registry and the prediction log: the rollout's activities write the
 * rollout document and judge what the model server logged. Here they run against a real server with real traffic
 * (no Temporal: the workflow's side is test/integration/workflows/rollout.test.ts).
 */
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { createRolloutActivities } from '../../../src/activities/rollout';
import type { StepPolicy } from '../../../src/contracts';
import { rowsToFrame, trainModel } from '../../../src/ml/trainers';
import type { DatasetSchema } from '../../../src/ml/types';
import { registrySource, startModelServer } from '../../../src/serving';
import { capturingLogger, postJson, schema, ServingFixture, trainingRows } from './fixtures';

let fx: ServingFixture;
let activities: ReturnType<typeof createRolloutActivities>;

beforeAll(async () => {
  fx = await ServingFixture.start('rollout-evidence');
  activities = createRolloutActivities({ ...fx.storage, logger: capturingLogger().logger } as unknown as MlopsDependencies);
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
});

const POLICY: StepPolicy = {
  minRequests: 20,
  minLabelled: 0,
  maxWaitMs: 60_000,
  labelBoundMs: 60_000,
  tolerance: 0.5,
  maxErrorRateIncrease: 0.01,
  maxP99Ratio: 1000,
  p99SlackMs: 1000,
};

/** A row a client sends, and its true class by the rule the training rows follow. */
function labelledRow(i: number): { row: Record<string, unknown>; kind: string } {
  const x = (i * 7.3) % 10;
  const y = (i * 3.1) % 10;
  return { row: { x, y, color: i % 3 === 0 ? 'red' : 'blue' }, kind: x + y < 8 ? 'low' : x > y ? 'right' : 'up' };
}

/** A version trained without the `color` feature: it refuses every request that sends one. */
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

const serve = (name: string) =>
  startModelServer({
    store: fx.storage.store,
    source: registrySource(fx.storage.registry),
    models: [name],
    port: 0,
    pollMs: 0,
    logger: capturingLogger().logger,
    predictionLog: { flushIntervalMs: 100 },
  });

describe('rollout evidence from live traffic', () => {
  it('a canary candidate that fails requests is judged a failure, having answered no more than its share', async () => {
    const v1 = await fx.registerModel('worse', 1);
    await fx.moveAlias('worse', v1.version);
    const candidate = await registerWithoutColor('worse');
    const since = new Date().toISOString();
    const begun = await activities.beginRollout({
      model: 'worse',
      alias: 'production',
      rolloutId: 'rollout-worse',
      strategy: 'canary',
      champion: v1.version,
      candidate,
      routing: { key: 'request-id' },
      share: 0.2,
      by: 'test',
      reason: 'step 1: 20 %',
    });
    expect(begun).toMatchObject({ seq: 1, candidateShare: 0.2, status: 'running' });
    const server = await serve('worse');
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const res = await postJson(`${server.url}/v1/models/worse:predict`, { id: `w-${i}`, instances: [labelledRow(i).row] });
        statuses.push(res.status);
      }
    } finally {
      await server.close();
    }
    const refused = statuses.filter((s) => s === 400).length;
    expect(statuses.filter((s) => s !== 200 && s !== 400)).toEqual([]);

    const { evidence, verdict } = await activities.assessRolloutStep({
      model: 'worse',
      rolloutId: 'rollout-worse',
      strategy: 'canary',
      champion: v1.version,
      candidate,
      since,
      elapsedMs: 1000,
      policy: POLICY,
    });
    expect(evidence.candidate).toMatchObject({ version: candidate, requests: refused, errors: refused, errorRate: 1 });
    expect(evidence.champion).toMatchObject({ version: v1.version, requests: 300 - refused, errors: 0 });
    // The candidate answered (and failed) about its share of the requests, and no more than a little past it.
    expect(refused / 300).toBeGreaterThan(0.1);
    expect(refused / 300).toBeLessThan(0.27);
    expect(verdict.decision).toBe('fail');
    expect(verdict.reasons.join(' ')).toMatch(/error rate 100\.0 %/);
  });

  it('a shadow is judged on the very same requests, with the labels sent back as feedback', async () => {
    const v1 = await fx.registerModel('mirrored', 1);
    const v2 = await fx.registerModel('mirrored', 0.05);
    await fx.moveAlias('mirrored', v1.version);
    const since = new Date().toISOString();
    await activities.beginRollout({
      model: 'mirrored',
      alias: 'production',
      rolloutId: 'rollout-mirrored',
      strategy: 'shadow',
      champion: v1.version,
      candidate: v2.version,
      routing: { key: 'request-id' },
      share: 0,
      by: 'test',
      reason: 'shadow',
    });
    const server = await serve('mirrored');
    try {
      for (let i = 0; i < 120; i++) {
        const { row, kind } = labelledRow(i);
        const res = await postJson(`${server.url}/v1/models/mirrored:predict`, { id: `m-${i}`, instances: [row] });
        expect(res.body.model_version).toBe(v1.version);
        if (i % 4 !== 3)
          expect((await postJson(`${server.url}/v2/models/mirrored/feedback`, { id: `m-${i}`, label: kind })).status).toBe(202);
      }
      // The shadow predicts after each answer: wait until all its predictions are counted.
      for (let i = 0; i < 200; i++) {
        const series = [...server.metrics.versions.values()].find((s) => s.labels.model === 'mirrored' && s.labels.role === 'shadow');
        if (series?.requests === 120) break;
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await server.close();
    }
    const { evidence, verdict } = await activities.assessRolloutStep({
      model: 'mirrored',
      rolloutId: 'rollout-mirrored',
      strategy: 'shadow',
      champion: v1.version,
      candidate: v2.version,
      since,
      elapsedMs: 1000,
      policy: { ...POLICY, metric: 'accuracy', minLabelled: 50 },
    });
    expect(evidence.sameRequests).toBe(true);
    expect(evidence.champion).toMatchObject({ requests: 120, errors: 0, labelled: 90 });
    expect(evidence.candidate).toMatchObject({ requests: 120, errors: 0, labelled: 90 });
    expect(evidence.champion.metric).toBeGreaterThan(0.5);
    expect(evidence.candidate.metric).toBeGreaterThan(0);
    expect(['pass', 'fail']).toContain(verdict.decision);
  });
});
