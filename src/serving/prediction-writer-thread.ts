/**
 * The prediction log's writer thread (started by `PredictionLog`). It turns the flat arrays the server
 * hands over into one `PredictionRecord` per answered row and writes them through a `RecordLog`: gzip
 * JSON lines in MinIO, in batches. Counts and failures go back to the server as messages; the server
 * keeps the metrics and the bound.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { RecordLog, isoOfMs, type PredictionOutput, type PredictionRecord } from './prediction-log';
import type { FromWriter, ModelDescriptor, RequestBatch, ToWriter, WriterData } from './prediction-writer';

const port = parentPort;
if (!port) throw new Error('prediction-writer-thread runs as a worker thread of the model server');
const { connection, options } = workerData as WriterData;
const post = (message: FromWriter) => port.postMessage(message);
const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

const store = new ArtifactStore(createMinioClient(connection), connection.bucket);
// No bound here: the server counts what it hands over against its capacity.
const log = new RecordLog<PredictionRecord>(store, 'predictions', { ...options, capacity: Number.MAX_SAFE_INTEGER }, {
  written: (records, objects) => post({ type: 'written', records, objects }),
  writeFailed: (records, err) => post({ type: 'write-failed', records, message: describe(err) }),
  dropped: () => undefined,
});
const models = new Map<number, ModelDescriptor>();

/** Turns a batch of answered requests into records and queues them. */
function take(batch: RequestBatch): void {
  let value = 0;
  let label = 0;
  let score = 0;
  for (let r = 0; r < batch.ids.length; r++) {
    const n = batch.rows[r]!;
    const model = models.get(batch.models[r]!);
    if (!model) {
      // Never expected: the server describes every model before naming it. The batch's layout is lost.
      post({ type: 'lost', records: batch.rows.slice(r).reduce((a, b) => a + b, 0), message: `model key ${batch.models[r]} was never described` });
      return;
    }
    const id = batch.ids[r]!;
    const at = isoOfMs(batch.ats[r]!);
    const classes = model.classes;
    for (let i = 0; i < n; i++) {
      const features: Record<string, unknown> = {};
      for (const f of model.features) features[f.name] = batch.values[value++];
      let output: PredictionOutput;
      if (classes) {
        const probabilities: Record<string, number> = {};
        for (let k = 0; k < classes.length; k++) probabilities[classes[k]!] = batch.scores[score++]!;
        output = { label: batch.labels[label++], probabilities };
      } else {
        output = { value: batch.scores[score++]! };
      }
      log.append({ id: n === 1 ? id : `${id}:${i}`, model: model.name, version: model.version, at, features, output });
    }
  }
}

port.on('message', (message: ToWriter) => {
  switch (message.type) {
    case 'models':
      for (const m of message.models) models.set(m.key, m);
      break;
    case 'requests':
      take(message);
      break;
    case 'flush':
      log.flush().then(
        () => post({ type: 'done', id: message.id }),
        (err: unknown) => post({ type: 'done', id: message.id, error: describe(err) }),
      );
      break;
    case 'close':
      void log.close().then((stats) => post({ type: 'closed', id: message.id, objects: stats.objects, written: stats.written }));
      break;
  }
});

post({ type: 'ready' });
