/**
 * The monitor judges the production version on the rows it answered. A canary sends part of the traffic to a
 * candidate; the monitor's check (its real activity, on a real MinIO and the real registry, reading what a real
 * model server logged, with labels sent back as feedback) leaves the candidate's rows out of the champion's drift,
 * live performance and guardrail metric, and says how many it left out.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { createMonitorActivities } from '../../../src/activities/monitor';
import { createRolloutActivities } from '../../../src/activities/rollout';
import type { CheckModelResult } from '../../../src/contracts';
import { profileRows } from '../../../src/ml/profile';
import { rowsToFrame, trainModel } from '../../../src/ml/trainers';
import { registrySource, startModelServer } from '../../../src/serving';
import { readPredictionWindow } from '../../../src/serving/prediction-log';
import { parsePipelineSpec } from '../../../src/spec/pipeline';
import { parseS3Uri } from '../../../src/storage/refs';
import { capturingLogger, postJson, schema, ServingFixture, trainingRows } from './fixtures';

let fx: ServingFixture;
let deps: MlopsDependencies;

beforeAll(async () => {
  fx = await ServingFixture.start('monitor-versions');
  deps = { ...fx.storage, logger: capturingLogger().logger } as unknown as MlopsDependencies;
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
});

const MODEL = 'canaried';

/** A row a client sends, and its true class by the rule the training rows follow. */
function labelledRow(i: number): { row: Record<string, unknown>; kind: string } {
  const x = (i * 7.3) % 10;
  const y = (i * 3.1) % 10;
  const kind = x + y < 8 ? 'low' : x > y ? 'right' : 'up';
  return { row: { x, y, color: kind === 'low' ? 'red' : 'blue' }, kind };
}

/** Trains on `rows` and registers the model as the next version, with the training rows' profile for drift. */
async function register(rows: Record<string, unknown>[], run: string): Promise<number> {
  const train = rowsToFrame({ ...schema, features: [...schema.features, schema.target] }, rows);
  const model = await trainModel('logistic-regression', { train, schema, params: { C: 1 }, seed: 7 });
  const { store, registry } = fx.storage;
  const { version } = await registry.registerVersion({
    model: MODEL,
    artifact: await store.putJson(model),
    dataset: { sha256: 'c'.repeat(64), name: 'generated', profile: await store.putJson(await profileRows(rows, schema)) },
    trainer: { name: 'logistic-regression', params: { C: 1 } },
    metrics: {},
    workflowId: run,
    runId: `${run}-1`,
  });
  return version.version;
}

describe('the monitor during a canary', () => {
  it(
    "a bad candidate's rows are left out of the champion's check, and its guardrail metric is the champion's own",
    async () => {
      const good = trainingRows();
      const champion = await register(good, 'champion-run');
      // The candidate learnt the classes the wrong way round: it answers almost every request wrongly.
      const swap: Record<string, string> = { low: 'right', right: 'up', up: 'low' };
      const candidate = await register(
        good.map((r) => ({ ...r, kind: swap[r.kind as string] })),
        'candidate-run',
      );
      await fx.moveAlias(MODEL, champion);
      const since = new Date().toISOString();
      await createRolloutActivities(deps).beginRollout({
        model: MODEL,
        alias: 'production',
        rolloutId: `rollout-${MODEL}-v${candidate}`,
        strategy: 'canary',
        champion,
        candidate,
        routing: { key: 'request-id' },
        share: 0.5,
        by: 'test',
        reason: 'step 1: 50 %',
      });

      const server = await startModelServer({
        store: fx.storage.store,
        source: registrySource(fx.storage.registry),
        models: [MODEL],
        port: 0,
        pollMs: 0,
        logger: capturingLogger().logger,
        predictionLog: { flushIntervalMs: 100 },
      });
      const answeredBy = new Map<number, number>();
      try {
        for (let i = 0; i < 240; i++) {
          const { row, kind } = labelledRow(i);
          const res = await postJson(`${server.url}/v1/models/${MODEL}:predict`, { id: `c-${i}`, instances: [row] });
          expect(res.status).toBe(200);
          answeredBy.set(res.body.model_version, (answeredBy.get(res.body.model_version) ?? 0) + 1);
          expect((await postJson(`${server.url}/v2/models/${MODEL}/feedback`, { id: `c-${i}`, label: kind })).status).toBe(202);
        }
      } finally {
        await server.close();
      }
      const until = new Date().toISOString();
      const championRows = answeredBy.get(champion) ?? 0;
      const candidateRows = answeredBy.get(candidate) ?? 0;
      // Both versions answered a real part of the traffic.
      expect(championRows).toBeGreaterThan(60);
      expect(candidateRows).toBeGreaterThan(60);

      // What each version answered, as the log says, scored against the labels sent back.
      const right = new Map<number, number>();
      for await (const p of readPredictionWindow(fx.storage.store, MODEL, { since, until })) {
        if (p.output?.label === p.label) right.set(p.version, (right.get(p.version) ?? 0) + 1);
      }
      const championAccuracy = (right.get(champion) ?? 0) / championRows;
      expect((right.get(candidate) ?? 0) / candidateRows).toBeLessThan(0.4);
      expect(championAccuracy).toBeGreaterThan(0.7);

      const spec = parsePipelineSpec({
        model: MODEL,
        dataset: { source: 's3://b/d.csv', target: 'kind' },
        trainer: { name: 'logistic-regression' },
        monitor: { source: 'predictions', minRows: 10, guardrail: { metric: 'accuracy', margin: 0.05, minLabelled: 30 } },
      });
      const check = (await new MockActivityEnvironment().run(createMonitorActivities(deps).checkModel, {
        model: MODEL,
        alias: 'production',
        version: champion,
        monitor: spec.monitor!,
        since,
        until,
      })) as CheckModelResult;

      expect(check.version).toBe(champion);
      expect(check.rows).toBe(championRows);
      expect(check.otherVersions).toEqual({ [String(candidate)]: candidateRows });
      // The guardrail's metric is measured on the champion's own labelled rows: the candidate's wrong answers are not its.
      expect(check.performance).toMatchObject({ metric: 'accuracy', labelled: championRows, breached: false });
      expect(check.performance!.value).toBeCloseTo(championAccuracy, 9);
      // Every label is kept for retraining, whichever version answered the row.
      expect(check.sources).toHaveLength(1);
      const loc = parseS3Uri(check.sources![0]!)!;
      const chunks: Buffer[] = [];
      for await (const chunk of await fx.storage.store.openObject(loc.bucket, loc.key)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString().trim().split('\n')).toHaveLength(240);
    },
    5 * 60_000,
  );
});
