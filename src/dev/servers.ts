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
  dbFile: string;
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
 * SQLite settings of a dev server that keeps its state in a file (the local stack). By default SQLite commits through a
 * rollback journal and waits for the disk twice per transaction; the dev server commits on every workflow and activity
 * task, so those waits set the pace of every run. With write-ahead logging a commit appends to the log, and with
 * synchronous=NORMAL it does not wait for the disk: the log is synced when it is checkpointed into the database.
 * Safe: a commit is still atomic, and the database stays consistent through a crash of the server or of the whole
 * machine. A server killed or crashed loses nothing (the log is in the operating system's cache); only a power loss or
 * kernel crash can roll back the last commits before the latest checkpoint, which Temporal then sees as tasks that
 * never completed and retries, as after any worker failure (our activities are idempotent: content-addressed artifacts,
 * alias moves by compare-and-swap).
 */
export const DEV_SERVER_SQLITE_PRAGMAS: readonly string[] = [
  '--sqlite-pragma',
  'journal_mode=wal',
  '--sqlite-pragma',
  'synchronous=normal',
];

/** Starts `temporal server start-dev` on loopback with SQLite state in `dbFile`, and waits until it answers. */
export async function startTemporalServer(o: TemporalServerOptions): Promise<ServerProcess> {
  fs.mkdirSync(path.dirname(o.dbFile), { recursive: true });
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
      '--db-filename',
      o.dbFile,
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
