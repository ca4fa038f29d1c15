/**
 * Starting, probing and stopping the real servers as child processes bound to loopback.
 * Used by the local stack (`npm run stack:up`, `mlops dev up`) and by the integration tests.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { isAlive } from './tools';

/** A server process this package started. */
export interface ServerProcess {
  pid: number;
  logFile: string;
}

/** Spawns a detached server whose output goes to `logFile`, so it outlives the command that started it. */
export function spawnServer(bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ServerProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', out, out], env });
  fs.closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`Could not start ${bin}; see ${logFile}`);
  return { pid: child.pid, logFile };
}

/** Stops a process (its group when it leads one): SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  if (!isAlive(pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    signal('SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A free loopback TCP port, chosen by the OS. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether an HTTP GET answers 2xx within a second. */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Polls `check` until it passes, the process dies, or the timeout ends; the error points at the log. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; pid?: number; logFile?: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return;
    const where = opts.logFile ? `; see ${opts.logFile}` : '';
    if (opts.pid !== undefined && !isAlive(opts.pid)) throw new Error(`${what} exited during startup${where}`);
    if (Date.now() > deadline) throw new Error(`${what} was not healthy after ${Math.round(opts.timeoutMs / 1000)} s${where}`);
    await sleep(200);
  }
}

/** Ports and paths of a Temporal dev server. */
export interface TemporalServerOptions {
  cli: string;
  port: number;
  uiPort: number;
  /**
   * The SQLite file the server keeps its state in, as the local stack does; `null` keeps it in the dev server's own
   * in-memory store, gone when the server stops (the benchmark's reference: every other setting the same).
   */
  dbFile: string | null;
  logFile: string;
  /** The codec server the Web UI sends payloads to (`--ui-codec-endpoint`), for verified approvals. */
  uiCodecEndpoint?: string;
}

/**
 * Dynamic configuration the dev server is started with. The dev server has a single history shard, and
 * each shard reads its queue of new tasks at most `maxPollRPS` times a second (20 by default, tuned for
 * clusters of hundreds of shards). With one shard that limit alone holds every workflow task and every
 * activity on a task queue of its own for about 40 ms before a worker can get it; lifting it gives them
 * out within a couple of milliseconds. The visibility queue is lifted too, so the Web UI's lists are current.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: readonly string[] = [
  '--dynamic-config-value',
  'history.transferProcessorMaxPollRPS=1000',
  '--dynamic-config-value',
  'history.visibilityProcessorMaxPollRPS=1000',
];

/**
 * SQLite settings of a dev server that keeps its state in a file (the local stack). The dev server (Temporal server
 * 1.32 through the CLI's start-dev) keeps every store, visibility included, in that one file, through a pool of a
 * single connection, as in memory mode: every write of every workflow and activity task goes through it one after the
 * other, so whatever a commit waits for sets the pace of every run. The server passes each pragma to that connection
 * when it opens it (it has no list of allowed pragmas). What each one does, and why each is safe:
 * - journal_mode=wal, synchronous=normal: a commit appends its pages to the write-ahead log and returns, instead of
 *   syncing a rollback journal and the database twice per commit (SQLite's default: three times slower than memory).
 *   The log is synced to disk when it is checkpointed into the database.
 * - wal_autocheckpoint=10000: a checkpoint (copying the log into the database and syncing both) every 10,000 pages
 *   (40 MiB) instead of 1,000. A run rewrites the same pages again and again (the run's row, the task queues, the
 *   visibility indexes), so a longer log copies each of them once instead of ten times, with a tenth of the syncs.
 * - cache_size=-65536, mmap_size=268435456: 64 MiB of page cache instead of 2 MiB, and the database read through a
 *   memory map (up to 256 MiB) instead of a read call per page, so the connection reads from memory as the in-memory
 *   store does. Reads only: SQLite writes through the log either way.
 * Safe: every commit is atomic and the database stays consistent through any crash (a checkpoint never overwrites the
 * database before the log is synced). A killed or crashed server loses nothing: its commits are in the operating
 * system's cache. Only a power loss or a kernel crash can undo the commits since the last checkpoint (at most 40 MiB of
 * log: the writes of about a dozen pipeline runs), which Temporal then sees as tasks that never completed and retries,
 * as after any worker failure (our activities are idempotent: content-addressed artifacts, alias moves by
 * compare-and-swap). Left out: synchronous=off (no sync even at a checkpoint, so a power loss can corrupt the database
 * itself) and locking_mode=exclusive (no measurable gain, and it locks every other reader out of the file).
 * `npm run bench -- orchestration` measures the result against the in-memory store (fileStoreVsMemory,
 * docs/operations.md).
 */
export const DEV_SERVER_SQLITE_PRAGMAS: readonly string[] = [
  '--sqlite-pragma',
  'journal_mode=wal',
  '--sqlite-pragma',
  'synchronous=normal',
  '--sqlite-pragma',
  'wal_autocheckpoint=10000',
  '--sqlite-pragma',
  'cache_size=-65536',
  '--sqlite-pragma',
  'mmap_size=268435456',
];

/**
 * Starts `temporal server start-dev` on loopback with its SQLite state in `dbFile` (or in memory), and waits until it
 * answers. The pragmas are passed either way; an in-memory database has no journal file and nothing to sync, so there
 * they change nothing.
 */
export async function startTemporalServer(o: TemporalServerOptions): Promise<ServerProcess> {
  if (o.dbFile !== null) fs.mkdirSync(path.dirname(o.dbFile), { recursive: true });
  const proc = spawnServer(
    o.cli,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--ui-ip',
      '127.0.0.1',
      '--port',
      String(o.port),
      '--ui-port',
      String(o.uiPort),
      ...(o.dbFile === null ? [] : ['--db-filename', o.dbFile]),
      '--log-format',
      'json',
      '--log-level',
      'warn',
      '--ui-disable-news-fetch',
      ...DEV_SERVER_SQLITE_PRAGMAS,
      ...(o.uiCodecEndpoint ? ['--ui-codec-endpoint', o.uiCodecEndpoint] : []),
      ...DEV_SERVER_DYNAMIC_CONFIG,
    ],
    o.logFile,
  );
  await waitUntil('Temporal dev server', () => temporalHealthy(o.port, o.uiPort), { timeoutMs: 60_000, pid: proc.pid, logFile: o.logFile });
  return proc;
}

/** Whether the Temporal frontend accepts connections and the Web UI answers. */
export async function temporalHealthy(port: number, uiPort?: number): Promise<boolean> {
  if (!(await isPortOpen(port))) return false;
  return uiPort === undefined ? true : httpOk(`http://127.0.0.1:${uiPort}/`);
}

/** Ports, paths and root credentials of a MinIO server. */
export interface MinioServerOptions {
  bin: string;
  port: number;
  consolePort: number;
  dataDir: string;
  logFile: string;
  accessKey: string;
  secretKey: string;
}

/** Starts `minio server` on loopback with its objects in `dataDir`, and waits until it is live. */
export async function startMinioServer(o: MinioServerOptions): Promise<ServerProcess> {
  fs.mkdirSync(o.dataDir, { recursive: true });
  const proc = spawnServer(
    o.bin,
    ['server', o.dataDir, '--address', `127.0.0.1:${o.port}`, '--console-address', `127.0.0.1:${o.consolePort}`, '--quiet'],
    o.logFile,
    {
      ...process.env,
      MINIO_ROOT_USER: o.accessKey,
      MINIO_ROOT_PASSWORD: o.secretKey,
      MINIO_BROWSER_REDIRECT: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
    },
  );
  await waitUntil('MinIO', () => minioReady(o.port), { timeoutMs: 60_000, pid: proc.pid, logFile: o.logFile });
  return proc;
}

/**
 * Whether MinIO is ready to serve requests: its write-quorum probe answers 200. (Its liveness probe
 * answers as soon as the process listens, while requests can still get 503 during initialisation.)
 */
export function minioReady(port: number, host = '127.0.0.1'): Promise<boolean> {
  return httpOk(`http://${host}:${port}/minio/health/cluster`);
}

/** Whether MinIO answers its liveness probe. */
export function minioHealthy(port: number, host = '127.0.0.1'): Promise<boolean> {
  return httpOk(`http://${host}:${port}/minio/health/live`);
}
