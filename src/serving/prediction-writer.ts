/**
 * The model server's side of the prediction log. Answering a request costs the log next to nothing: the
 * server copies each row's feature values, the request's id and time, and the model's outputs into flat
 * arrays, and hands them in small batches to a writer thread (`prediction-writer-thread.ts`). That
 * thread turns them into `PredictionRecord`s and writes them through a `RecordLog`, so building,
 * serialising, compressing and uploading the records never run on the event loop that answers requests.
 *
 * The bound is kept here: a request whose rows do not fit in `capacity` (records handed over but not yet
 * written) is dropped and counted, never waited for. `close()` hands over what is pending and waits until
 * the thread has written everything it can, so a clean shutdown loses no answered prediction.
 */
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { MlopsConfig } from '../config';
import type { Logger } from '../logger';
import type { Predictions } from '../ml/trainers';
import { startModuleThread } from '../threads';
import type { ServingMetrics } from './metrics';
import { positive, type RecordLogOptions, type RecordLogStats } from './prediction-log';
import type { LoadedModel } from './served-model';

/** The MinIO the writer thread connects to. */
export type MinioConnection = MlopsConfig['minio'];

/** What the writer thread knows of a served model version (sent once, then named by `key`). */
export interface ModelDescriptor {
  key: number;
  name: string;
  version: number;
  features: LoadedModel['features'];
  /** Class names, in the order of each row's scores (classification); absent for regression. */
  classes?: string[];
}

/**
 * Answered requests, as flat arrays of plain values (cheap to copy to a thread): per request its model,
 * row count, id and time; per row its feature values in the model's feature order (absent ones as
 * null), its label (classification) and its scores (the probabilities in class order, or the value).
 */
export interface RequestBatch {
  type: 'requests';
  models: number[];
  rows: number[];
  ids: string[];
  ats: number[];
  values: unknown[];
  labels: string[];
  scores: number[];
}

/** Messages to the writer thread. */
export type ToWriter = { type: 'models'; models: ModelDescriptor[] } | RequestBatch | { type: 'flush'; id: number } | { type: 'close'; id: number };

/** Messages from the writer thread. */
export type FromWriter =
  | { type: 'ready' }
  | { type: 'written'; records: number; objects: number }
  | { type: 'write-failed'; records: number; message: string }
  | { type: 'lost'; records: number; message: string }
  | { type: 'done'; id: number; error?: string }
  | { type: 'closed'; id: number; objects: number; written: number };

/** What the writer thread is started with. */
export interface WriterData {
  connection: MinioConnection;
  options: RecordLogOptions;
}

/** Threads that may fail in a row, none of them getting as far as ready, before the log gives up. */
const MAX_START_FAILURES = 3;

/** Requests are handed to the thread at least this often (ms)... */
const HANDOFF_MS = 10;
/** ...or as soon as this many rows are pending. */
const HANDOFF_ROWS = 256;

const THREAD_FILE = join(__dirname, 'prediction-writer-thread');

function emptyBatch(): RequestBatch {
  return { type: 'requests', models: [], rows: [], ids: [], ats: [], values: [], labels: [], scores: [] };
}

/** The prediction log of a model server, written by a thread of its own. */
export class PredictionLog {
  private thread!: Worker;
  private pending = emptyBatch();
  private pendingRows = 0;
  private handoffTimer?: NodeJS.Timeout;
  private readonly keys = new WeakMap<LoadedModel, number>();
  /** Every model version described so far, so that a replacement thread can be told them all. */
  private readonly described = new Map<number, ModelDescriptor>();
  private newModels: ModelDescriptor[] = [];
  private nextKey = 0;
  private nextRequest = 0;
  private readonly waiting = new Map<number, { resolve: (value: FromWriter) => void; reject: (err: Error) => void }>();
  private readonly stats = { appended: 0, written: 0, dropped: 0, lost: 0, objects: 0 };
  private readonly capacity: number;
  private closing?: Promise<RecordLogStats>;
  private startFailures = 0;
  /** Why no writer thread can run, once the log has given up starting one. */
  private broken?: Error;
  private readonly labels = { log: 'predictions' as const };

  constructor(
    private readonly connection: MinioConnection,
    private readonly options: RecordLogOptions,
    private readonly metrics: ServingMetrics,
    private readonly logger: Logger,
  ) {
    this.capacity = positive('capacity', options.capacity ?? 100_000);
    this.start();
  }

  /** Queues the rows of an answered request without waiting; false when they did not fit (or the log is closed) and were dropped. */
  append(loaded: LoadedModel, id: string, rowValues: readonly Record<string, unknown>[], preds: Predictions): boolean {
    const rows = rowValues.length;
    if (this.closing || this.broken || this.depth + rows > this.capacity) {
      this.stats.dropped += rows;
      this.metrics.logDropped.inc(this.labels, rows);
      return false;
    }
    const p = this.pending;
    p.models.push(this.keyOf(loaded));
    p.rows.push(rows);
    p.ids.push(id);
    p.ats.push(Date.now());
    const features = loaded.features;
    for (let i = 0; i < rows; i++) {
      const row = rowValues[i]!;
      for (let f = 0; f < features.length; f++) p.values.push(row[features[f]!.name] ?? null);
    }
    if (preds.values) {
      for (let i = 0; i < rows; i++) p.scores.push(preds.values[i]!);
    } else {
      for (let i = 0; i < rows; i++) {
        p.labels.push(preds.labels![i]!);
        const probabilities = preds.probabilities![i]!;
        for (let k = 0; k < probabilities.length; k++) p.scores.push(probabilities[k]!);
      }
    }
    this.stats.appended += rows;
    this.pendingRows += rows;
    if (this.pendingRows >= HANDOFF_ROWS) this.handoff();
    else this.handoffTimer ??= setTimeout(() => this.handoff(), HANDOFF_MS);
    return true;
  }

  /** Records taken and not yet written. */
  get depth(): number {
    return this.stats.appended - this.stats.written - this.stats.lost;
  }

  /** The log's counts so far. */
  snapshot(): RecordLogStats {
    return { appended: this.stats.appended, written: this.stats.written, dropped: this.stats.dropped, queued: this.depth, objects: this.stats.objects };
  }

  /** Writes everything taken so far; rejects when a write fails (the records stay queued and are retried). */
  async flush(): Promise<void> {
    if (this.broken) throw new Error(`The prediction log is not written: ${this.broken.message}`);
    this.handoff();
    const reply = await this.ask((id) => ({ type: 'flush', id }));
    if (reply.type === 'done' && reply.error) throw new Error(`Writing the prediction log to MinIO failed: ${reply.error}`);
  }

  /**
   * Stops taking records, writes what was taken (retrying failed writes a few times) and stops the thread.
   * Resolves to the final counts; `queued` in them is what could not be written (and is logged as an error).
   */
  close(): Promise<RecordLogStats> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<RecordLogStats> {
    if (!this.broken) {
      this.handoff();
      try {
        await this.ask((id) => ({ type: 'close', id }));
      } catch (err) {
        this.logger.error({ err }, 'the prediction log thread stopped before it finished writing');
      }
    }
    await this.thread.terminate();
    const stats = { ...this.snapshot(), queued: this.stats.appended - this.stats.written };
    if (stats.queued > 0) this.logger.error({ log: 'predictions', lost: stats.queued }, `${stats.queued} predictions records could not be written to MinIO before shutdown and are lost`);
    return stats;
  }

  private start(): void {
    const data: WriterData = { connection: this.connection, options: this.options };
    const thread = startModuleThread(THREAD_FILE, { workerData: data, name: 'prediction-log' });
    thread.on('message', (m: FromWriter) => this.receive(m));
    thread.on('error', (err) => this.threadFailed(thread, err));
    thread.unref();
    thread.on('exit', (code) => {
      if (this.thread === thread && !this.closing) this.threadFailed(thread, new Error(`the prediction log thread exited with code ${code}`));
    });
    this.thread = thread;
  }

  /**
   * A thread that died loses what it held, and the log carries on with a new one; when threads keep
   * failing before they are ready, it gives up, and predictions are answered but not logged (counted as
   * dropped).
   */
  private threadFailed(thread: Worker, err: Error): void {
    if (this.thread !== thread || this.broken) return;
    this.startFailures += 1;
    const lost = this.depth - this.pendingRows;
    this.stats.lost += lost;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    if (this.startFailures >= MAX_START_FAILURES) {
      this.broken = err;
      const pendingLost = this.pendingRows;
      this.stats.lost += pendingLost;
      this.pending = emptyBatch();
      this.pendingRows = 0;
      this.logger.error({ err, lost: lost + pendingLost }, `the prediction log's writer thread failed to start ${this.startFailures} times (${err.message}); from now on predictions are answered but not logged, and are counted as dropped`);
      return;
    }
    this.logger.error({ err, lost }, `the prediction log thread failed; ${lost} predictions it held are lost${this.closing ? '' : ', and a new thread takes over'}`);
    if (this.closing) return;
    this.start();
    this.newModels = [...this.described.values()];
  }

  private receive(m: FromWriter): void {
    switch (m.type) {
      case 'ready':
        this.startFailures = 0;
        break;
      case 'written':
        this.stats.written += m.records;
        this.stats.objects += m.objects;
        this.metrics.logWritten.inc(this.labels, m.records);
        this.metrics.logQueueDepth.set(this.labels, this.depth);
        break;
      case 'write-failed':
        this.metrics.logFlushFailures.inc(this.labels);
        this.metrics.logQueueDepth.set(this.labels, this.depth);
        this.logger.warn({ log: 'predictions', records: m.records, error: m.message }, `writing ${m.records} predictions records to MinIO failed; they stay queued and are retried`);
        break;
      case 'lost':
        this.stats.lost += m.records;
        this.logger.error({ log: 'predictions', lost: m.records, error: m.message }, `${m.records} predictions records could not be logged: ${m.message}`);
        break;
      case 'done':
      case 'closed': {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        // The thread keeps the process alive only while someone waits on it.
        if (this.waiting.size === 0) this.thread.unref();
        w?.resolve(m);
        break;
      }
    }
  }

  private ask(message: (id: number) => ToWriter): Promise<FromWriter> {
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
        this.thread.ref();
      this.thread.postMessage(message(id));
    });
  }

  /** Sends the pending requests (and any model the thread has not seen) to the thread. */
  private handoff(): void {
    clearTimeout(this.handoffTimer);
    this.handoffTimer = undefined;
    if (this.newModels.length > 0) {
      this.thread.postMessage({ type: 'models', models: this.newModels } satisfies ToWriter);
      this.newModels = [];
    }
    if (this.pendingRows === 0) return;
    this.thread.postMessage(this.pending);
    this.pending = emptyBatch();
    this.pendingRows = 0;
  }

  private keyOf(loaded: LoadedModel): number {
    let key = this.keys.get(loaded);
    if (key === undefined) {
      key = this.nextKey++;
      this.keys.set(loaded, key);
      const descriptor = { key, name: loaded.name, version: loaded.version, features: loaded.features, classes: loaded.task === 'regression' ? undefined : [...loaded.classes] };
      this.described.set(key, descriptor);
      this.newModels.push(descriptor);
    }
    return key;
  }
}
