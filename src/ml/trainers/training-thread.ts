/**
 * The training thread (started by `trainInThread`): reads the training side of the snapshot, fits the
 * built-in trainer, and posts the model back. Its checkpoint store and progress go through the calling
 * thread, which owns the artifact store and the activity's heartbeat.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadSide } from '../dataset';
import { trainModel } from './index';
import { toThreadError, fromThreadError, type FromTrainer, type ThreadTrainRequest, type ToTrainer } from './threaded';

const port = parentPort;
if (!port) throw new Error('training-thread runs as a worker thread of trainInThread');
const request = workerData as ThreadTrainRequest;
const post = (message: FromTrainer) => port.postMessage(message);

const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
let nextId = 0;
port.on('message', (m: ToTrainer) => {
  const pending = waiting.get(m.id);
  if (!pending) return;
  waiting.delete(m.id);
  if (m.error) pending.reject(fromThreadError(m.error));
  else pending.resolve(m.value);
});

function ask(message: { kind: 'load-checkpoint' } | { kind: 'save-checkpoint'; state: unknown }): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    post({ ...message, id });
  });
}

async function main(): Promise<void> {
  const train = await loadSide(request.snapshot, request.schema, request.split, 'train');
  post({ kind: 'loaded', rows: train.rowCount });
  const model = await trainModel(request.trainer, {
    train,
    schema: request.schema,
    params: request.params,
    seed: request.seed,
    checkpointEvery: request.checkpointEvery,
    checkpoint: request.checkpoint
      ? {
          load: () => ask({ kind: 'load-checkpoint' }),
          save: async (state) => void (await ask({ kind: 'save-checkpoint', state })),
        }
      : undefined,
    onProgress: (fraction, message) => post({ kind: 'progress', fraction, message }),
  });
  post({ kind: 'done', model, rows: train.rowCount });
}

main().catch((err: unknown) => post({ kind: 'failed', error: toThreadError(err) }));
