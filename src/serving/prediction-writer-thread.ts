/**
 * The prediction log's writer thread (started by `PredictionLog`): ships the spool to MinIO.
 *
 * It reads each segment behind the server, a batch of whole lines at a time, and stores each batch as
 * gzip JSON lines, one object per model and date, under a key made of the segment and the batch's
 * starting byte offset; then it saves the offset shipped so far next to the segment
 * (`<segment>.shipped`, written aside and renamed). A batch shipped again after a crash starts at the
 * same saved offset, so it gets the same key and replaces the object instead of adding a second copy.
 *
 * At start it also ships the segments a server that died left in the spool (their process is gone),
 * from their saved offsets, and removes them. A line cut short at the end of such a segment (a write
 * that never finished) is reported and skipped. Counts and failures go to the server as messages.
 */
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { gzip } from 'node:zlib';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { toStorageError } from '../storage/errors';
import { logPrefix } from './prediction-log';
import { SEGMENT_NAME, type FromWriter, type ToWriter, type WriterData } from './prediction-writer';

const port = parentPort;
if (!port) throw new Error('prediction-writer-thread runs as a worker thread of the model server');
const { connection, options, spoolDir, segments: own } = workerData as WriterData;
const post = (message: FromWriter) => port.postMessage(message);
const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));
const gzipAsync = promisify(gzip);

const store = new ArtifactStore(createMinioClient(connection), connection.bucket);
const batchSize = options.batchSize ?? 2_000;
const flushIntervalMs = options.flushIntervalMs ?? 1_000;
const closeAttempts = options.closeAttempts ?? 5;
/** How often the spool is looked at for new lines (ms). */
const TICK_MS = 20;
/** Most bytes read ahead of what is shipped, so a long MinIO outage does not fill memory. */
const MAX_BUFFERED = 32 * 1024 * 1024;
const NEWLINE = 10;

/** A spool segment being shipped. */
interface Segment {
  path: string;
  /** Its name without `predictions-` and `.jsonl`, part of every object key made from it. */
  id: string;
  /** A predecessor's segment, not this server's. */
  recovered: boolean;
  /** No more lines will be appended to it. */
  sealed: boolean;
  fd: number;
  /** Bytes shipped (and saved as shipped). */
  shipped: number;
  /** The bytes read after `shipped`. */
  buffer: Buffer;
  /** Since when whole lines have waited to be shipped (ms). */
  waitingSince?: number;
}

const segments: Segment[] = [];
let retryAt = 0;
let failures = 0;
let busy: Promise<void> | undefined;
let closing = false;

function open(path: string, recovered: boolean, sealed: boolean): Segment {
  const fd = fs.openSync(path, 'r');
  let shipped = 0;
  try {
    shipped = Number(fs.readFileSync(`${path}.shipped`, 'utf8')) || 0;
  } catch {
    // Nothing shipped yet.
  }
  return {
    path,
    id: basename(path).slice('predictions-'.length, -'.jsonl'.length),
    recovered,
    sealed,
    fd,
    shipped,
    buffer: Buffer.alloc(0),
  };
}

/** Whether the server that wrote a segment may still be running (and appending to it). */
function ownerAlive(name: string): boolean {
  const m = SEGMENT_NAME.exec(name);
  if (!m) return true;
  const created = Number(m[1]);
  const pid = Number(m[2]);
  // Another server in this process, unless the segment is older than the process (a predecessor that had our pid).
  if (pid === process.pid) return created >= Date.now() - process.uptime() * 1000;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The segments of servers that are gone, oldest first. */
function predecessors(): string[] {
  const mine = new Set(own.map((p) => basename(p)));
  return fs
    .readdirSync(spoolDir)
    .filter((name) => SEGMENT_NAME.test(name) && !mine.has(name) && !ownerAlive(name))
    .sort((a, b) => Number(SEGMENT_NAME.exec(a)![1]) - Number(SEGMENT_NAME.exec(b)![1]))
    .map((name) => join(spoolDir, name));
}

/** Reads what was appended after what is buffered. */
function readMore(seg: Segment): void {
  if (seg.buffer.length >= MAX_BUFFERED) return;
  const from = seg.shipped + seg.buffer.length;
  const size = fs.fstatSync(seg.fd).size;
  if (size <= from) return;
  const chunk = Buffer.allocUnsafe(Math.min(size - from, MAX_BUFFERED - seg.buffer.length));
  const n = fs.readSync(seg.fd, chunk, 0, chunk.length, from);
  seg.buffer = seg.buffer.length === 0 ? chunk.subarray(0, n) : Buffer.concat([seg.buffer, chunk.subarray(0, n)]);
}

/** The end of the first `batchSize` whole lines in the buffer, and how many there are. */
function wholeLines(buffer: Buffer): { end: number; lines: number } {
  let end = 0;
  let lines = 0;
  for (let i = buffer.indexOf(NEWLINE); i >= 0 && lines < batchSize; i = buffer.indexOf(NEWLINE, i + 1)) {
    end = i + 1;
    lines += 1;
  }
  return { end, lines };
}

/**
 * Ships the segment's whole lines that are due (a full batch, lines that waited `flushIntervalMs`, or
 * all of them when `force`). Returns whether the segment is done: sealed and shipped to its end.
 */
async function drain(seg: Segment, force: boolean): Promise<boolean> {
  for (;;) {
    readMore(seg);
    const { end, lines } = wholeLines(seg.buffer);
    if (lines === 0) {
      seg.waitingSince = undefined;
      if (!seg.sealed || seg.shipped + seg.buffer.length < fs.fstatSync(seg.fd).size) return false;
      if (seg.buffer.length > 0) {
        // Only a predecessor's cut line is a record: here, a failed write was counted as dropped when it failed.
        post({
          type: 'lost',
          records: seg.recovered ? 1 : 0,
          recovered: seg.recovered,
          message: `the last line of ${seg.path} was cut short (${seg.buffer.length} bytes, a write that never finished) and is skipped`,
        });
      }
      return true;
    }
    seg.waitingSince ??= Date.now();
    if (!force && lines < batchSize && Date.now() - seg.waitingSince < flushIntervalMs) return false;
    await ship(seg, seg.buffer.subarray(0, end), lines);
    seg.buffer = seg.buffer.subarray(end);
    seg.shipped += end;
    saveOffset(seg);
    seg.waitingSince = seg.buffer.indexOf(NEWLINE) >= 0 ? Date.now() : undefined;
  }
}

function saveOffset(seg: Segment): void {
  const tmp = `${seg.path}.shipped.tmp`;
  fs.writeFileSync(tmp, String(seg.shipped));
  fs.renameSync(tmp, `${seg.path}.shipped`);
}

/** Stores one batch: an object per model and date, keyed by the segment and the batch's offset. */
async function ship(seg: Segment, bytes: Buffer, lines: number): Promise<void> {
  const groups = new Map<string, { model: string; date: string; firstAt: string; lines: string[] }>();
  let damaged = 0;
  for (const line of bytes.toString('utf8').split('\n')) {
    if (line.length === 0) continue;
    const head = lineHead(line);
    if (!head) {
      damaged += 1;
      continue;
    }
    const key = `${head.model}\n${head.at.slice(0, 10)}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { model: head.model, date: head.at.slice(0, 10), firstAt: head.at, lines: [] }));
    group.lines.push(line);
  }
  try {
    await store.ensureBucket();
    for (const group of groups.values()) {
      // The fastest level, with a 4 KiB window: a dozen lines back holds every key a line repeats.
      const body = await gzipAsync(`${group.lines.join('\n')}\n`, { level: 1, windowBits: 12 });
      const key = `${logPrefix('predictions', group.model)}date=${group.date}/${group.firstAt}-${seg.id}-${seg.shipped}.jsonl.gz`;
      try {
        await store.client.putObject(store.bucket, key, body, body.length, { 'Content-Type': 'application/gzip' });
      } catch (err) {
        throw toStorageError(err, { op: 'write predictions log', bucket: store.bucket, key, endpoint: store.endpoint });
      }
    }
  } catch (err) {
    post({ type: 'write-failed', records: lines, message: describe(err) });
    throw err;
  }
  if (damaged > 0)
    post({
      type: 'lost',
      records: damaged,
      recovered: seg.recovered,
      message: `${damaged} lines of ${seg.path} are not prediction records and are skipped`,
    });
  post({ type: 'written', records: lines - damaged, objects: groups.size, recovered: seg.recovered });
}

/** A line's time and model, read from its fixed start (`{"at":"<24 chars>","model":"<name>",`) or by parsing it. */
function lineHead(line: string): { at: string; model: string } | undefined {
  if (line.startsWith('{"at":"') && line.startsWith('","model":"', 31)) {
    const end = line.indexOf('"', 42);
    if (end > 42) return { at: line.slice(7, 31), model: line.slice(42, end) };
  }
  try {
    const r = JSON.parse(line) as { at?: unknown; model?: unknown };
    return typeof r.at === 'string' && typeof r.model === 'string' ? { at: r.at, model: r.model } : undefined;
  } catch {
    return undefined;
  }
}

/** Ships what is due in every segment, oldest first; removes segments that are done. */
async function shipAll(force: boolean): Promise<void> {
  // A sealed segment gets no more lines, so its last ones are shipped without waiting for a batch.
  for (const seg of [...segments]) if (await drain(seg, force || seg.sealed)) remove(seg);
}

function remove(seg: Segment): void {
  fs.closeSync(seg.fd);
  for (const p of [seg.path, `${seg.path}.shipped`]) fs.rmSync(p, { force: true });
  segments.splice(segments.indexOf(seg), 1);
  if (!seg.recovered) post({ type: 'removed', path: seg.path });
}

/** Runs `work` once nothing else ships (one shipment at a time); `busy` itself never rejects. */
function exclusive(work: () => Promise<void>): Promise<void> {
  const run = (busy ?? Promise.resolve()).then(work);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  busy = settled;
  void settled.then(() => {
    if (busy === settled) busy = undefined;
  });
  return run;
}

function tick(): void {
  if (closing) return;
  if (!busy && Date.now() >= retryAt) {
    void exclusive(() => shipAll(false)).then(
      () => (failures = 0),
      () => {
        failures += 1;
        retryAt = Date.now() + Math.min(100 * 2 ** failures, 5_000);
      },
    );
  }
  setTimeout(tick, TICK_MS);
}

async function closeAll(): Promise<void> {
  closing = true;
  for (const seg of segments) seg.sealed = true;
  let last: unknown;
  for (let attempt = 1; attempt <= closeAttempts; attempt++) {
    try {
      await exclusive(() => shipAll(true));
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** (attempt - 1), 2_000)));
    }
  }
  throw last;
}

port.on('message', (message: ToWriter) => {
  switch (message.type) {
    case 'segment':
      segments.push(open(message.path, false, false));
      break;
    case 'sealed': {
      const seg = segments.find((s) => s.path === message.path);
      if (seg) seg.sealed = true;
      break;
    }
    case 'flush':
      exclusive(() => shipAll(true)).then(
        () => post({ type: 'done', id: message.id }),
        (err: unknown) => post({ type: 'done', id: message.id, error: describe(err) }),
      );
      break;
    case 'close':
      closeAll().then(
        () => post({ type: 'closed', id: message.id }),
        (err: unknown) => post({ type: 'closed', id: message.id, error: describe(err) }),
      );
      break;
  }
});

for (const path of predecessors()) {
  try {
    segments.push(open(path, true, true));
  } catch (err) {
    post({ type: 'lost', records: 0, recovered: true, message: `cannot read the spool segment ${path}: ${describe(err)}` });
  }
}
own.forEach((path, i) => segments.push(open(path, false, i < own.length - 1)));
post({ type: 'ready' });
tick();
