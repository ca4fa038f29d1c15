/** A built-in trainer on its own thread: the same model, this thread's event loop free, cancellation at once, errors of their kind. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSide, prepareSnapshot } from '../../../../src/ml/dataset';
import { trainModel, type TrainerName } from '../../../../src/ml/trainers';
import { trainInThread, type ThreadTrainRequest } from '../../../../src/ml/trainers/threaded';
import { FailureType, isMlopsError } from '../../../../src/errors';
import { seattleSchema, SEATTLE_CSV } from '../../../helpers/seattle-weather';

const SPLIT = { method: 'hash' as const, testFraction: 0.2, seed: 42 };
let dir: string;
let snapshot: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-threaded-'));
  snapshot = join(dir, 'snapshot.parquet');
  await prepareSnapshot({ sources: [SEATTLE_CSV], schema: seattleSchema, hashSeed: SPLIT.seed, outFile: snapshot });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const request = (trainer: TrainerName, params: Record<string, unknown>): ThreadTrainRequest => ({
  snapshot,
  schema: seattleSchema,
  split: SPLIT,
  trainer,
  params,
  seed: 3,
  checkpoint: false,
});

it.each([
  ['gbdt', { maxIter: 20 }],
  ['logistic-regression', { maxIter: 30 }],
] as const)('%s fitted on its own thread is the model fitted on this one, on the same training rows', async (trainer, params) => {
  const train = await loadSide(snapshot, seattleSchema, SPLIT, 'train');
  const here = await trainModel(trainer, { train, schema: seattleSchema, params, seed: 3 });
  const loaded: number[] = [];
  const { model, rows } = await trainInThread(request(trainer, params), { onLoaded: (n) => loaded.push(n) });
  expect(JSON.stringify(model)).toBe(JSON.stringify(here));
  expect(rows).toBe(train.rowCount);
  expect(loaded).toEqual([train.rowCount]);
});

it('this thread keeps running timers while the training thread fits, and hears its progress and checkpoints', async () => {
  const progress: number[] = [];
  const saved: unknown[] = [];
  let ticks = 0;
  let ticksWhileFitting = 0;
  const timer = setInterval(() => {
    ticks++;
    if (progress.length > 0) ticksWhileFitting++;
  }, 5);
  try {
    await trainInThread(
      { ...request('gbdt', { maxIter: 60, earlyStopping: false }), checkpoint: true, checkpointEvery: { iterations: 20, seconds: 3600 } },
      {
        onProgress: (f) => progress.push(f),
        checkpoint: { load: async () => undefined, save: async (state) => void saved.push(state) },
      },
    );
  } finally {
    clearInterval(timer);
  }
  expect(progress[progress.length - 1]).toBe(1);
  expect(saved.map((s) => (s as { iteration: number }).iteration)).toEqual([20, 40, 60]);
  expect(ticks).toBeGreaterThan(0);
  expect(ticksWhileFitting).toBeGreaterThan(0);
});

it('a training resumed from a checkpoint kept by this thread carries on from it', async () => {
  const params = { maxIter: 30, earlyStopping: false };
  const saved: unknown[] = [];
  const whole = await trainInThread(
    { ...request('gbdt', params), checkpoint: true, checkpointEvery: { iterations: 10, seconds: 3600 } },
    { checkpoint: { load: async () => undefined, save: async (state) => void saved.push(state) } },
  );
  const messages: string[] = [];
  const resumed = await trainInThread(
    { ...request('gbdt', params), checkpoint: true },
    {
      onProgress: (_f, m) => messages.push(m ?? ''),
      checkpoint: { load: async () => saved[0], save: async () => undefined },
    },
  );
  expect(messages[0]).toBe('iteration 11');
  expect(JSON.stringify(resumed.model)).toBe(JSON.stringify(whole.model));
});

it('cancelling stops the training at once with the signal reason', async () => {
  const controller = new AbortController();
  const started = Date.now();
  const training = trainInThread(request('gbdt', { maxIter: 100_000, earlyStopping: false }), {
    signal: controller.signal,
    onProgress: () => controller.abort(new Error('cancelled by the workflow')),
  });
  await expect(training).rejects.toThrow('cancelled by the workflow');
  // 100,000 rounds take minutes; the thread is stopped as soon as the first progress comes in.
  expect(Date.now() - started).toBeLessThan(30_000);
});

it("the training thread's errors come back of their kind: a bad parameter is the user's input, not an outage", async () => {
  const err = await trainInThread(request('gbdt', { maxIter: -1 })).catch((e: unknown) => e);
  expect(isMlopsError(err)).toBe(true);
  expect((err as { type: string }).type).toBe(FailureType.InvalidInput);
  expect((err as Error).message).toMatch(/Invalid parameter "maxIter" for trainer gbdt/);
});
