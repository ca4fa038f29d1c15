/**
 * The prediction log: every answered prediction, and every ground-truth label sent back as feedback,
 * written to MinIO as gzip-compressed JSON lines partitioned by model and date:
 *
 *   predictions/<model>/date=YYYY-MM-DD/<ISO time of its first record>-<spool segment>-<offset>.jsonl.gz
 *   feedback/<model>/date=YYYY-MM-DD/<ISO time of its first record>-<uuid>.jsonl.gz
 *
 * Predictions go through a local spool first (`prediction-writer.ts`). Feedback goes through a
 * `RecordLog`, defined here. Appending to it never waits: records go into a bounded in-memory queue, and a full queue drops the record
 * and counts the drop rather than slowing responses. Batches are written when the queue holds a batch or
 * the flush interval passes, and `close()` writes everything still queued, so a clean shutdown loses no
 * record that was appended. A failed write keeps its batch in the queue and is retried.
 *
 * A prediction record carries, besides its id, model, version, time, features and output:
 *   role       during a rollout, which side answered: `champion`, `candidate` (a canary's share), or
 *              `shadow` (the candidate predicting a mirrored copy of a request the champion answered; never
 *              returned to the client, logged under the same prediction id as the champion's record)
 *   rolloutId  during a rollout, the rollout workflow's id
 *   latencyMs  how long the version took to read the request's rows and predict them, in ms
 *   error      a failed prediction: what was wrong, with `errorKind` (as in `mlops_serving_errors_total`)
 *              and no output, so error rates per version can be computed from the log
 * A record outside a rollout has no role and no rolloutId.
 *
 * `readPredictionWindow` reads a time window back, with feedback labels joined by prediction id: the
 * monitor's input for drift and live metrics. It yields the predictions clients were answered with; shadow
 * and failed ones only when asked for.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';
import { FailureType, MlopsError } from '../errors';
import type { Logger } from '../logger';
import type { ArtifactStore, ObjectInfo } from '../storage/artifact-store';
import { toStorageError } from '../storage/errors';
import { assertName } from '../storage/names';
import { initLogCounters, type ServingErrorKind, type ServingMetrics } from './metrics';

const gzipAsync = promisify(gzip);

/** What a model answered for one row. */
export interface PredictionOutput {
  /** The most probable class (classification). */
  label?: string;
  /** Probability of each class (classification). */
  probabilities?: Record<string, number>;
  /** The predicted number (regression). */
  value?: number;
}

/**
 * Which side of a rollout made a prediction: the `champion` or the `candidate` answered the client (a
 * canary splits requests between them); a `shadow` prediction is the candidate's on a request the champion
 * answered, logged and never returned.
 */
export type PredictionRole = 'champion' | 'candidate' | 'shadow';

/** Why a prediction failed: the kind counted in `mlops_serving_errors_total`, and what was wrong. */
export interface PredictionError {
  kind: ServingErrorKind;
  message: string;
}

/** One prediction, as logged: answered (with `output`), or failed (with `error` and no output). */
export interface PredictionRecord {
  /** The prediction's id: the request id, or `<request id>:<row>` when a request held several rows. */
  id: string;
  model: string;
  version: number;
  /** ISO time of the prediction. */
  at: string;
  /** During a rollout, which side made the prediction; absent outside one. */
  role?: PredictionRole;
  /** During a rollout, the rollout workflow's id. */
  rolloutId?: string;
  /** How long the version took to read the request's rows and predict them, in ms (the same for every row of a request). */
  latencyMs?: number;
  /** The row's feature values as received (absent features as null); empty when the request could not be read into rows. */
  features: Record<string, unknown>;
  /** What the model answered; absent when the prediction failed. */
  output?: PredictionOutput;
  /** Why the prediction failed (what the client was told); absent when it was answered. */
  error?: string;
  /** The kind of failure, as counted in `mlops_serving_errors_total` (`invalid_input`, `internal`); with `error` only. */
  errorKind?: ServingErrorKind;
  /** The categorical features whose value the model was not trained on, when there are any. */
  unknown?: string[];
}

/** A ground-truth label for an earlier prediction. */
export interface FeedbackRecord {
  /** The id of the prediction it labels. */
  id: string;
  model: string;
  label: string | number;
  /** ISO time the feedback arrived. */
  at: string;
}

/** The two logs, by the key prefix they write under. */
export type LogKind = 'predictions' | 'feedback';

/** Tuning of a log; the defaults suit thousands of predictions a second. */
export interface RecordLogOptions {
  /** Most records held in memory; past it, new records are dropped and counted (default 100,000). */
  capacity?: number;
  /** Records per written object at most; a full batch is written at once (default 2,000). */
  batchSize?: number;
  /** Longest a record waits before it is written, in ms (default 1,000). */
  flushIntervalMs?: number;
  /** How many times `close()` tries to write what is left before giving up (default 5). */
  closeAttempts?: number;
}

/** Counts of a log, for metrics and for the summary `close()` returns. */
export interface RecordLogStats {
  /** Records appended and kept. */
  appended: number;
  /** Records written to MinIO. */
  written: number;
  /** Records refused because the queue was full. */
  dropped: number;
  /** Records still queued (after `close()`: those that could not be written). */
  queued: number;
  /** Objects written. */
  objects: number;
}

/**
 * What a log reports as it goes: the server's metrics and log (see `metricsObserver`), or, in the
 * prediction log's writer thread, messages to the server.
 */
export interface RecordLogObserver {
  /** `records` records were stored in MinIO as `objects` objects; `depth` remain queued. */
  written(records: number, objects: number, depth: number): void;
  /** Writing a batch of `records` records failed; they stay queued and are retried. */
  writeFailed(records: number, err: unknown, depth: number): void;
  /** A record was refused because the queue was full or the log closed. */
  dropped(): void;
}

/** An observer that counts into the server's metrics and warns about failed writes in its log. */
export function metricsObserver(metrics: ServingMetrics, kind: LogKind, logger?: Logger): RecordLogObserver {
  const labels = { log: kind };
  initLogCounters(metrics, kind);
  return {
    written(records, _objects, depth) {
      metrics.logWritten.inc(labels, records);
      metrics.logQueueDepth.set(labels, depth);
    },
    writeFailed(records, err, depth) {
      metrics.logFlushFailures.inc(labels);
      metrics.logQueueDepth.set(labels, depth);
      logger?.warn({ err, log: kind, records }, `writing ${records} ${kind} records to MinIO failed; they stay queued and are retried`);
    },
    dropped() {
      metrics.logDropped.inc(labels);
    },
  };
}

/** A queued record: its JSON line, and what its object's key is made of. */
interface Queued {
  model: string;
  at: string;
  line: string;
}

/** A bounded, never-blocking queue of records that flushes itself to MinIO in gzip JSON-lines batches. */
export class RecordLog<T extends { model: string; at: string }> {
  private queue: Queued[] = [];
  private flushing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private closed?: Promise<RecordLogStats>;
  private readonly stats = { appended: 0, written: 0, dropped: 0, objects: 0 };
  private readonly capacity: number;
  private readonly batchSize: number;
  private readonly closeAttempts: number;

  constructor(
    private readonly store: ArtifactStore,
    readonly kind: LogKind,
    options: RecordLogOptions = {},
    private readonly observer?: RecordLogObserver,
    private readonly logger?: Logger,
  ) {
    this.capacity = positive('capacity', options.capacity ?? 100_000);
    this.batchSize = positive('batchSize', options.batchSize ?? 2_000);
    this.closeAttempts = positive('closeAttempts', options.closeAttempts ?? 5);
    const interval = positive('flushIntervalMs', options.flushIntervalMs ?? 1_000);
    this.timer = setInterval(() => void this.flush().catch(() => undefined), interval);
    this.timer.unref();
  }

  /** Queues a record without waiting; false when the queue is full (or the log closed) and the record was dropped. */
  append(record: T): boolean {
    if (this.queue.length >= this.capacity || this.closed) {
      this.stats.dropped += 1;
      this.observer?.dropped();
      return false;
    }
    // Serialised now, so the record's objects die young instead of ageing in the queue until a flush.
    this.queue.push({ model: record.model, at: record.at, line: JSON.stringify(record) });
    this.stats.appended += 1;
    if (this.queue.length >= this.batchSize && !this.flushing) void this.flush().catch(() => undefined);
    return true;
  }

  /** Records waiting to be written. */
  get depth(): number {
    return this.queue.length;
  }

  /** The log's counts so far. */
  snapshot(): RecordLogStats {
    return { ...this.stats, queued: this.queue.length };
  }

  /**
   * Writes every record queued now (after any write already under way); rejects when a write fails.
   * Records appended while it writes wait for the next batch, so a busy log writes full batches rather
   * than a stream of small objects.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    this.flushing = this.writeQueued(this.queue.length).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /**
   * Stops accepting records and writes what is queued, retrying failed writes a few times. Resolves to
   * the final counts; `queued` in them is what could not be written (and is logged as an error).
   */
  close(): Promise<RecordLogStats> {
    this.closed ??= this.finish();
    return this.closed;
  }

  private async finish(): Promise<RecordLogStats> {
    clearInterval(this.timer);
    for (let attempt = 1; attempt <= this.closeAttempts && this.queue.length > 0; attempt++) {
      try {
        await this.flush();
      } catch {
        await sleep(Math.min(200 * 2 ** (attempt - 1), 2_000));
      }
    }
    const stats = this.snapshot();
    if (stats.queued > 0) {
      this.logger?.error(
        { log: this.kind, lost: stats.queued },
        `${stats.queued} ${this.kind} records could not be written to MinIO before shutdown and are lost`,
      );
    }
    return stats;
  }

  /** Writes the first `count` queued records, a batch at a time; a batch leaves the queue only once it is stored. */
  private async writeQueued(count: number): Promise<void> {
    let left = count;
    while (left > 0 && this.queue.length > 0) {
      const batch = this.queue.slice(0, Math.min(this.batchSize, left));
      let objects: number;
      try {
        objects = await this.writeBatch(batch);
      } catch (err) {
        this.observer?.writeFailed(batch.length, err, this.queue.length);
        throw err;
      }
      this.queue.splice(0, batch.length);
      left -= batch.length;
      this.stats.written += batch.length;
      this.observer?.written(batch.length, objects, this.queue.length);
    }
  }

  /** One object per model and date in the batch; resolves to how many. */
  private async writeBatch(batch: Queued[]): Promise<number> {
    const groups = new Map<string, Queued[]>();
    for (const entry of batch) {
      const key = `${entry.model}\n${entry.at.slice(0, 10)}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = []));
      group.push(entry);
    }
    await this.store.ensureBucket();
    for (const group of groups.values()) {
      let firstAt = group[0]!.at;
      const lines = new Array<string>(group.length + 1);
      for (let i = 0; i < group.length; i++) {
        if (group[i]!.at < firstAt) firstAt = group[i]!.at;
        lines[i] = group[i]!.line;
      }
      lines[group.length] = '';
      // The fastest level, with a 4 KiB window: a dozen lines back holds every key a line repeats, and the
      // small window is both faster and (on these lines) a little smaller than the default 32 KiB.
      const body = await gzipAsync(lines.join('\n'), { level: 1, windowBits: 12 });
      const key = `${logPrefix(this.kind, group[0]!.model)}date=${firstAt.slice(0, 10)}/${firstAt}-${randomUUID()}.jsonl.gz`;
      try {
        await this.store.client.putObject(this.store.bucket, key, body, body.length, { 'Content-Type': 'application/gzip' });
      } catch (err) {
        throw toStorageError(err, { op: `write ${this.kind} log`, bucket: this.store.bucket, key, endpoint: this.store.endpoint });
      }
      this.stats.objects += 1;
    }
    return groups.size;
  }
}

let isoMs = 0;
let isoText = new Date(0).toISOString();

/** A time in ms as ISO text, formatted once per distinct millisecond (it is stamped on every prediction). */
export function isoOfMs(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** The current time as ISO text (see `isoOfMs`). */
export function nowIso(): string {
  return isoOfMs(Date.now());
}

/** `predictions/<model>/` or `feedback/<model>/`. */
export function logPrefix(kind: LogKind, model: string): string {
  return `${kind}/${model}/`;
}

// ---- reading a window back ----

/** A time window: `since` (inclusive, default: the beginning) to `until` (exclusive), as ISO times. */
export interface PredictionWindow {
  since?: string;
  until: string;
}

/** A logged prediction, with the ground-truth label when feedback named it. */
export interface WindowPrediction extends PredictionRecord {
  label?: string | number;
}

/** Which predictions `readPredictionWindow` yields beyond those answered to clients. */
export interface PredictionWindowOptions {
  /** Also the shadow's predictions (role `shadow`), which no client saw (default false). */
  shadow?: boolean;
  /** Also failed predictions (with `error` and no output) (default false). */
  failed?: boolean;
}

/**
 * The log objects of a model that can hold records of the window, in time order: the date partitions
 * the window touches, less objects whose first record is at or after `until`. With `openEnded`, every
 * object from `since` on (feedback for a window may arrive after it).
 */
export async function listWindowObjects(
  store: ArtifactStore,
  model: string,
  window: PredictionWindow,
  kind: LogKind = 'predictions',
  openEnded = false,
): Promise<ObjectInfo[]> {
  const { since, until } = normaliseWindow(window);
  const prefix = logPrefix(kind, assertName('model', model));
  const dates = (await store.listPrefixes(prefix))
    .map((p) => /^date=(\d{4}-\d{2}-\d{2})$/.exec(p)?.[1])
    .filter((d): d is string => d !== undefined && (!since || d >= since.slice(0, 10)) && (openEnded || d <= until.slice(0, 10)))
    .sort();
  const out: ObjectInfo[] = [];
  for (const date of dates) {
    for (const info of await store.list(`${prefix}date=${date}/`)) {
      const firstAt = info.key.slice(info.key.lastIndexOf('/') + 1, info.key.lastIndexOf('/') + 25);
      if (openEnded || firstAt < until) out.push(info);
    }
  }
  return out;
}

/**
 * The predictions of a model logged in `[since, until)`, with feedback labels joined by id (the latest
 * label wins when an id got several). Feedback is read from `since` on, without an upper bound, since
 * labels usually arrive after the prediction's window has closed. By default only the predictions clients
 * were answered with (whichever version answered); `options` adds the shadow's and the failed ones. A
 * shadow prediction has its champion's id, so it gets the same label.
 */
export async function* readPredictionWindow(
  store: ArtifactStore,
  model: string,
  window: PredictionWindow,
  options: PredictionWindowOptions = {},
): AsyncIterable<WindowPrediction> {
  const { since, until } = normaliseWindow(window);
  const labels = new Map<string, { label: string | number; at: string }>();
  for (const info of await listWindowObjects(store, model, { since, until }, 'feedback', true)) {
    for await (const f of readRecords<FeedbackRecord>(store, info.key)) {
      const seen = labels.get(f.id);
      if (!seen || seen.at <= f.at) labels.set(f.id, { label: f.label, at: f.at });
    }
  }
  for (const info of await listWindowObjects(store, model, { since, until })) {
    for await (const p of readRecords<PredictionRecord>(store, info.key)) {
      if ((since && p.at < since) || p.at >= until) continue;
      if ((p.role === 'shadow' && !options.shadow) || (p.error !== undefined && !options.failed)) continue;
      const label = labels.get(p.id);
      yield label ? { ...p, label: label.label } : p;
    }
  }
}

/** The records of one log object, streamed and decompressed. */
export async function* readRecords<T>(store: ArtifactStore, key: string): AsyncIterable<T> {
  const body = await store.openObject(store.bucket, key);
  const lines = createInterface({ input: body.pipe(createGunzip()), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n += 1;
      if (line.length === 0) continue;
      try {
        yield JSON.parse(line) as T;
      } catch (err) {
        throw new MlopsError(
          FailureType.InvalidInput,
          `${store.uri(key)} line ${n} is not JSON (${(err as Error).message}); the log object is damaged.`,
          { key, line: n },
        );
      }
    }
  } finally {
    body.destroy();
  }
}

function normaliseWindow(window: PredictionWindow): { since?: string; until: string } {
  return { since: window.since === undefined ? undefined : isoTime('since', window.since), until: isoTime('until', window.until) };
}

function isoTime(what: string, value: string): string {
  const t = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(t))
    throw new MlopsError(FailureType.InvalidInput, `The window's ${what} must be an ISO 8601 time, got ${JSON.stringify(value)}.`, {
      [what]: value,
    });
  return new Date(t).toISOString();
}

/** A whole-number log option from 1 up, or a configuration error naming it. */
export function positive(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new MlopsError(FailureType.Configuration, `Prediction log ${what} must be a whole number from 1 up, got ${value}.`, {
      [what]: value,
    });
  return value;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
