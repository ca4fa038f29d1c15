/**
 * The model server's side of the prediction log: a local append-only spool, shipped to MinIO by a thread.
 *
 * Every answered prediction is appended to a spool file (one JSON line per row) before its answer is
 * sent, with one write(2) for the requests answered in the same turn of the event loop and no fsync: once the write returns, the record is in the
 * operating system's page cache, which outlives the process, so a server killed with SIGKILL loses no
 * answered prediction (a machine that loses power can lose the records of the last seconds that were
 * not shipped yet). A writer thread (`prediction-writer-thread.ts`) reads the spool behind the server
 * and ships it to MinIO in gzip JSON-lines objects, so compressing and uploading never run on the event
 * loop that answers requests.
 *
 * Shipping is idempotent: an object's key is made of the spool segment and the byte offset its batch
 * starts at, and the offset shipped so far is saved next to the segment after each batch. A server
 * that starts on the same spool ships what its predecessor left from the saved offset; a batch that was
 * stored but whose offset was not saved is stored again under the same key, replacing it, so no record
 * is ever in MinIO twice.
 *
 * The bound is kept here: a request whose rows would take the records not yet in MinIO past `capacity`
 * is answered but not logged, and counted as dropped. `close()` ships everything and removes the
 * spooled segments; what cannot be shipped stays in the spool for the next server.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { MlopsConfig } from '../config';
import type { Logger } from '../logger';
import type { Predictions } from '../ml/trainers';
import { startModuleThread } from '../threads';
import { initLogCounters, type ServingMetrics } from './metrics';
import { isoOfMs, positive, type PredictionError, type PredictionRole, type RecordLogOptions, type RecordLogStats } from './prediction-log';
import type { LoadedModel } from './served-model';

/** The MinIO the writer thread connects to. */
export type MinioConnection = MlopsConfig['minio'];

/** Tuning of the prediction log: the record log's, and where its spool lives. */
export interface PredictionLogOptions extends RecordLogOptions {
  /**
   * The spool directory. A server started on the spool of one that died ships what it left. By default
   * a fresh temporary directory, removed when the server closes with everything shipped (`mlops serve`
   * always names a lasting one).
   */
  spoolDir?: string;
  /** Size in bytes past which the spool starts a new segment file (default 64 MiB). */
  segmentBytes?: number;
}

/** What a record says beyond the prediction: during a rollout, its side and the rollout; and the version's time. */
export interface PredictionTags {
  role?: PredictionRole;
  rolloutId?: string;
  latencyMs?: number;
}

/** Counts of the prediction log: those of every log, and the records of a predecessor's spool shipped. */
export interface PredictionLogStats extends RecordLogStats {
  /** Records a server that ran on this spool before left unshipped, shipped by this one. */
  recovered: number;
}

/** Messages to the writer thread. */
export type ToWriter =
  { type: 'segment'; path: string } | { type: 'sealed'; path: string } | { type: 'flush'; id: number } | { type: 'close'; id: number };

/** Messages from the writer thread. */
export type FromWriter =
  | { type: 'ready' }
  | { type: 'written'; records: number; objects: number; recovered: boolean }
  | { type: 'write-failed'; records: number; message: string }
  | { type: 'lost'; records: number; message: string; recovered: boolean }
  | { type: 'removed'; path: string }
  | { type: 'done'; id: number; error?: string }
  | { type: 'closed'; id: number; error?: string };

/** What the writer thread is started with. */
export interface WriterData {
  connection: MinioConnection;
  options: RecordLogOptions;
  spoolDir: string;
  /** This server's segments, oldest first; the last one is being written. */
  segments: string[];
}

/** The name of a spool segment: `predictions-<created ms>-<pid>-<random>.jsonl`. */
export const SEGMENT_NAME = /^predictions-(\d+)-(\d+)-([0-9a-f]+)\.jsonl$/;

/** Threads that may fail in a row, none of them getting as far as ready, before the log gives up. */
const MAX_START_FAILURES = 3;

const THREAD_FILE = join(__dirname, 'prediction-writer-thread');

/** The prediction log of a model server: a local spool, shipped to MinIO by a thread of its own. */
export class PredictionLog {
  /** Where the spool lives. */
  readonly spoolDir: string;
  private readonly ephemeral: boolean;
  private thread!: Worker;
  private fd = -1;
  private segmentSize = 0;
  private readonly segmentBytes: number;
  /** This server's segments not yet shipped and removed, oldest first. */
  private readonly segments: string[] = [];
  /** Start a new segment before the next write (after a failed write, which may have left part of a line). */
  private rotate = false;
  private lastMs = 0;
  private pendingText = '';
  private pendingRows = 0;
  private commit?: Promise<void>;
  private readonly classesJson = new WeakMap<LoadedModel, string[]>();
  private nextRequest = 0;
  private readonly waiting = new Map<number, { resolve: (value: FromWriter) => void; reject: (err: Error) => void }>();
  private readonly stats = { appended: 0, written: 0, dropped: 0, lost: 0, objects: 0, recovered: 0 };
  private readonly capacity: number;
  private closing?: Promise<PredictionLogStats>;
  private startFailures = 0;
  /** Why no writer thread can run, once the log has given up starting one. */
  private broken?: Error;
  private lastWriteError = 0;
  private readonly labels = { log: 'predictions' as const };

  constructor(
    private readonly connection: MinioConnection,
    private readonly options: PredictionLogOptions,
    private readonly metrics: ServingMetrics,
    private readonly logger: Logger,
  ) {
    this.capacity = positive('capacity', options.capacity ?? 1_000_000);
    this.segmentBytes = positive('segmentBytes', options.segmentBytes ?? 64 * 1024 * 1024);
    initLogCounters(metrics, 'predictions');
    this.ephemeral = options.spoolDir === undefined;
    this.spoolDir = options.spoolDir ?? fs.mkdtempSync(join(os.tmpdir(), 'mlops-spool-'));
    fs.mkdirSync(this.spoolDir, { recursive: true });
    this.openSegment();
    this.start();
  }

  /**
   * Takes the rows of a request about to be answered; false when they did not fit in `capacity` (or the
   * log is closed) and were dropped. They are in the spool once `spooled()` resolves, which the server
   * waits for before it answers. `unknown` names, per row, the categorical features whose value the
   * model was not trained on.
   */
  append(
    loaded: LoadedModel,
    id: string,
    rows: readonly Record<string, unknown>[],
    preds: Predictions,
    unknown?: readonly (readonly string[] | undefined)[],
    tags: PredictionTags = {},
  ): boolean {
    const n = rows.length;
    if (this.closing || this.depth + n > this.capacity) return this.drop(n);
    this.take(this.lines(loaded, id, rows, preds, unknown, tags), n);
    return true;
  }

  /**
   * Takes a failed prediction: one record per row the request was read into (with the row's id and
   * features), or one with the request's id and no features when it could not be read. No output; the
   * error's kind and message, cut to 500 characters.
   */
  appendFailed(
    loaded: LoadedModel,
    id: string,
    rows: readonly Record<string, unknown>[] | undefined,
    error: PredictionError,
    tags: PredictionTags = {},
  ): boolean {
    const n = rows?.length || 1;
    if (this.closing || this.depth + n > this.capacity) return this.drop(n);
    const head = this.head(loaded, tags);
    const failure = `${JSON.stringify(error.message.slice(0, 500))},"errorKind":"${error.kind}"`;
    let text = '';
    if (!rows?.length) text = `${head}${JSON.stringify(id)},"features":{},"error":${failure}}\n`;
    else {
      for (let i = 0; i < rows.length; i++)
        text += `${head}${JSON.stringify(rows.length === 1 ? id : `${id}:${i}`)},"features":${JSON.stringify(rows[i])},"error":${failure}}\n`;
    }
    this.take(text, n);
    return true;
  }

  private take(text: string, rows: number): void {
    this.pendingText += text;
    this.pendingRows += rows;
    this.stats.appended += rows;
    // Group commit: the requests answered in one turn of the event loop share one write.
    this.commit ??= new Promise((resolve) =>
      setImmediate(() => {
        this.writePending();
        resolve();
      }),
    );
  }

  /** Resolves once every row taken so far is in the spool file (or was dropped because the spool cannot be written). */
  spooled(): Promise<void> {
    return this.commit ?? Promise.resolve();
  }

  private writePending(): void {
    const text = this.pendingText;
    const rows = this.pendingRows;
    this.pendingText = '';
    this.pendingRows = 0;
    this.commit = undefined;
    if (rows === 0) return;
    try {
      this.write(text);
    } catch (err) {
      this.rotate = true;
      this.stats.appended -= rows;
      this.drop(rows);
      if (Date.now() - this.lastWriteError > 10_000) {
        this.lastWriteError = Date.now();
        this.logger.error(
          { err, spool: this.spoolDir },
          `cannot write the prediction spool in ${this.spoolDir} (${(err as Error).message}); predictions are answered but not logged until it can`,
        );
      }
    }
  }

  /** Records spooled and not yet in MinIO. */
  get depth(): number {
    return Math.max(0, this.stats.appended - this.stats.written - this.stats.lost);
  }

  /** The log's counts so far. */
  snapshot(): PredictionLogStats {
    const { appended, written, dropped, objects, recovered } = this.stats;
    return { appended, written, dropped, queued: this.depth, objects, recovered };
  }

  /** Ships everything spooled so far; rejects when a write fails (the records stay spooled and are retried). */
  async flush(): Promise<void> {
    if (this.broken)
      throw new Error(`The prediction log is not shipped to MinIO: ${this.broken.message}; the records stay in the spool ${this.spoolDir}`);
    const reply = await this.ask((id) => ({ type: 'flush', id }));
    if (reply.type === 'done' && reply.error) throw new Error(`Writing the prediction log to MinIO failed: ${reply.error}`);
  }

  /**
   * Stops taking records, ships what is spooled (retrying failed writes a few times) and stops the
   * thread. Resolves to the final counts; `queued` in them is what could not be shipped, which stays in
   * the spool for the next server started on it (and is logged as an error).
   */
  close(): Promise<PredictionLogStats> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<PredictionLogStats> {
    this.writePending();
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    if (!this.broken) {
      try {
        const reply = await this.ask((id) => ({ type: 'close', id }));
        if (reply.type === 'closed' && reply.error)
          this.logger.error({ error: reply.error }, `shipping the prediction spool at shutdown failed: ${reply.error}`);
      } catch (err) {
        this.logger.error({ err }, 'the prediction log thread stopped before it finished shipping');
      }
    }
    await this.thread.terminate();
    const stats = this.snapshot();
    if (stats.queued > 0) {
      this.logger.error(
        { log: 'predictions', unshipped: stats.queued, spool: this.spoolDir },
        `${stats.queued} predictions could not be shipped to MinIO before shutdown; ` +
          `they stay in the spool ${this.spoolDir}, and a server started on it ships them`,
      );
    } else if (this.ephemeral) {
      fs.rmSync(this.spoolDir, { recursive: true, force: true });
    }
    return stats;
  }

  private drop(rows: number): false {
    this.stats.dropped += rows;
    this.metrics.logDropped.inc(this.labels, rows);
    return false;
  }

  /**
   * A record's line up to its id's value: its time first and its model second (the thread reads both
   * without parsing the line), then the version and the rollout tags.
   */
  private head(loaded: LoadedModel, tags: PredictionTags): string {
    // Times never go back within the spool, so a batch's first line holds its earliest time.
    const ms = Math.max(Date.now(), this.lastMs);
    this.lastMs = ms;
    let head = `{"at":"${isoOfMs(ms)}","model":"${loaded.name}","version":${loaded.version}`;
    if (tags.role) head += `,"role":"${tags.role}"`;
    if (tags.rolloutId !== undefined) head += `,"rolloutId":${JSON.stringify(tags.rolloutId)}`;
    if (tags.latencyMs !== undefined) head += `,"latencyMs":${Math.round(tags.latencyMs * 1000) / 1000}`;
    return `${head},"id":`;
  }

  /** One JSON line per row (see `head`). */
  private lines(
    loaded: LoadedModel,
    id: string,
    rows: readonly Record<string, unknown>[],
    preds: Predictions,
    unknown: readonly (readonly string[] | undefined)[] | undefined,
    tags: PredictionTags,
  ): string {
    const head = this.head(loaded, tags);
    const classes = preds.values ? undefined : this.classesOf(loaded);
    let text = '';
    for (let i = 0; i < rows.length; i++) {
      let output: string;
      if (classes) {
        const p = preds.probabilities![i]!;
        output = `{"label":${JSON.stringify(preds.labels![i])},"probabilities":{`;
        for (let k = 0; k < classes.length; k++) output += `${k > 0 ? ',' : ''}${classes[k]}:${JSON.stringify(p[k])}`;
        output += '}}';
      } else {
        output = `{"value":${JSON.stringify(preds.values![i])}}`;
      }
      const flagged = unknown?.[i];
      const rowId = JSON.stringify(rows.length === 1 ? id : `${id}:${i}`);
      const unknownPart = flagged ? `,"unknown":${JSON.stringify(flagged)}` : '';
      text += `${head}${rowId},"features":${JSON.stringify(rows[i])},"output":${output}${unknownPart}}\n`;
    }
    return text;
  }

  private classesOf(loaded: LoadedModel): string[] {
    let out = this.classesJson.get(loaded);
    if (!out) this.classesJson.set(loaded, (out = loaded.classes.map((c) => JSON.stringify(c))));
    return out;
  }

  private write(text: string): void {
    if (this.fd < 0 || this.rotate || this.segmentSize >= this.segmentBytes) this.openSegment();
    // A string is written without a Buffer copy; a short write (rare: a full disk) writes the rest from bytes.
    const written = fs.writeSync(this.fd, text);
    const size = written === text.length ? written : Buffer.byteLength(text);
    if (written < size) {
      const bytes = Buffer.from(text);
      for (let at = written; at < bytes.length;) at += fs.writeSync(this.fd, bytes, at);
    }
    this.segmentSize += size;
  }

  /** Starts a new segment; the one before is sealed (the thread ships it to its end, then removes it). */
  private openSegment(): void {
    const previous = this.segments[this.segments.length - 1];
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    const path = join(this.spoolDir, `predictions-${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`);
    this.fd = fs.openSync(path, 'a');
    this.segmentSize = 0;
    this.rotate = false;
    this.segments.push(path);
    if (this.thread) {
      if (previous) this.thread.postMessage({ type: 'sealed', path: previous } satisfies ToWriter);
      this.thread.postMessage({ type: 'segment', path } satisfies ToWriter);
    }
  }

  private start(): void {
    const data: WriterData = { connection: this.connection, options: this.options, spoolDir: this.spoolDir, segments: [...this.segments] };
    const thread = startModuleThread(THREAD_FILE, { workerData: data, name: 'prediction-log' });
    thread.on('message', (m: FromWriter) => this.receive(m));
    thread.on('error', (err) => this.threadFailed(thread, err));
    thread.unref();
    thread.on('exit', (code) => {
      if (this.thread === thread && !this.closing)
        this.threadFailed(thread, new Error(`the prediction log thread exited with code ${code}`));
    });
    this.thread = thread;
  }

  /**
   * A thread that died loses nothing (the records are in the spool); a new one takes over from the
   * offsets saved on disk. When threads keep failing before they are ready, the log gives up: the
   * predictions are still spooled, and the next server started on the spool ships them.
   */
  private threadFailed(thread: Worker, err: Error): void {
    if (this.thread !== thread || this.broken) return;
    this.startFailures += 1;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    if (this.startFailures >= MAX_START_FAILURES) {
      this.broken = err;
      this.logger.error(
        { err, spool: this.spoolDir },
        `the prediction log's writer thread failed to start ${this.startFailures} times (${err.message}); ` +
          `predictions are still spooled in ${this.spoolDir} but not shipped to MinIO until a server starts on that spool with ` +
          `working settings`,
      );
      return;
    }
    this.logger.error(
      { err },
      `the prediction log thread failed (${err.message}); ${this.closing ? 'shutting down' : 'a new thread takes over from the spool'}`,
    );
    if (!this.closing) this.start();
  }

  private receive(m: FromWriter): void {
    switch (m.type) {
      case 'ready':
        this.startFailures = 0;
        break;
      case 'written':
        if (m.recovered) this.stats.recovered += m.records;
        else this.stats.written += m.records;
        this.stats.objects += m.objects;
        this.metrics.logWritten.inc(this.labels, m.records);
        this.metrics.logQueueDepth.set(this.labels, this.depth);
        break;
      case 'write-failed':
        this.metrics.logFlushFailures.inc(this.labels);
        this.metrics.logQueueDepth.set(this.labels, this.depth);
        this.logger.warn(
          { log: 'predictions', records: m.records, error: m.message },
          `writing ${m.records} predictions records to MinIO failed; they stay spooled and are retried`,
        );
        break;
      case 'lost':
        if (!m.recovered) this.stats.lost += m.records;
        this.logger.error(
          { log: 'predictions', lost: m.records, error: m.message },
          `${m.records} predictions records could not be logged: ${m.message}`,
        );
        break;
      case 'removed': {
        const i = this.segments.indexOf(m.path);
        if (i >= 0) this.segments.splice(i, 1);
        break;
      }
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
}
