/** A training that is killed and restarted resumes from its last checkpoint and ends with the same model. */
import { trainModel, type TrainInput, type TrainerName } from '../../../../src/ml/trainers';
import type { CheckpointStore } from '../../../../src/ml/types';
import { seattleSchema, seattleWeather } from '../../../helpers/seattle-weather';

/** Keeps checkpoints as JSON text, as an object store would. */
class JsonCheckpoints implements CheckpointStore {
  saves: { iteration: number; text: string }[] = [];
  constructor(
    private readonly initial?: string,
    private readonly afterSave?: (count: number) => void,
  ) {}
  async load(): Promise<unknown> {
    return this.initial === undefined ? undefined : JSON.parse(this.initial);
  }
  async save(state: unknown): Promise<void> {
    const s = state as { iteration?: number; lbfgs?: { iteration: number } };
    this.saves.push({ iteration: s.iteration ?? s.lbfgs!.iteration, text: JSON.stringify(state) });
    this.afterSave?.(this.saves.length);
  }
}

const frame = seattleWeather();
const base = { train: frame, schema: seattleSchema, seed: 3, checkpointEvery: { iterations: 4, seconds: 3600 } };
const cases: [TrainerName, Record<string, unknown>][] = [
  ['gbdt', { maxIter: 30, earlyStopping: true, nIterNoChange: 50 }],
  ['logistic-regression', { maxIter: 40, tol: 1e-8 }],
];

describe.each(cases)('%s checkpoints', (trainer, params) => {
  const input: TrainInput = { ...base, params };

  it('saves a checkpoint on the requested cadence', async () => {
    const store = new JsonCheckpoints();
    await trainModel(trainer, { ...input, checkpoint: store });
    expect(store.saves.length).toBeGreaterThanOrEqual(3);
    expect(store.saves.map((s) => s.iteration).slice(0, 3)).toEqual([4, 8, 12]);
  });

  it('a training cancelled midway and resumed from its checkpoint yields the same model as one uninterrupted run', async () => {
    const uninterrupted = await trainModel(trainer, input);

    const controller = new AbortController();
    const store = new JsonCheckpoints(undefined, (count) => {
      if (count === 2) controller.abort(new Error('worker killed'));
    });
    const interrupted = trainModel(trainer, { ...input, checkpoint: store, signal: controller.signal });
    await expect(interrupted).rejects.toThrow('worker killed');
    const last = store.saves[store.saves.length - 1];
    expect(last.iteration).toBe(8);

    const progress: string[] = [];
    const resumed = await trainModel(trainer, {
      ...input,
      checkpoint: new JsonCheckpoints(last.text),
      onProgress: (_f, m) => progress.push(m ?? ''),
    });
    // It carried on from the checkpoint rather than starting over...
    expect(progress[0]).toBe(`iteration ${last.iteration + 1}`);
    // ...and ended exactly where the uninterrupted run did.
    expect(JSON.stringify(resumed)).toBe(JSON.stringify(uninterrupted));
  });

  it('ignores a checkpoint written by a training with other parameters', async () => {
    const store = new JsonCheckpoints();
    await trainModel(trainer, { ...input, checkpoint: store });
    const fresh = await trainModel(trainer, { ...input, seed: 4 });
    const other = await trainModel(trainer, { ...input, seed: 4, checkpoint: new JsonCheckpoints(store.saves[0].text) });
    expect(JSON.stringify(other)).toBe(JSON.stringify(fresh));
  });
});

it('progress is reported as fractions that rise to 1', async () => {
  const seen: number[] = [];
  await trainModel('gbdt', { ...base, params: { maxIter: 20 }, onProgress: (f) => seen.push(f) });
  expect(seen.length).toBeGreaterThan(0);
  expect(seen[seen.length - 1]).toBe(1);
  seen.forEach((f, i) => expect(f).toBeGreaterThanOrEqual(i === 0 ? 0 : seen[i - 1]));
});
