/**
 * The local stack: a real Temporal dev server (with its Web UI) and a real MinIO, bound to 127.0.0.1,
 * with their state under `.data/` so a restart keeps workflow history and artifacts.
 * `up` is idempotent, `down` stops only what `up` started (by pid), `status` says what runs where.
 * A server the user points at (TEMPORAL_ADDRESS, MINIO_ENDPOINT) is never started here.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, localCredentialsPath, localStampKeyPaths, type MlopsConfig } from '../config';
import { generateStampKeys } from '../identity/stamp';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { isAlive, ensureMinio, ensureTemporalCli, type Say } from './tools';
import {
  isPortOpen,
  minioHealthy,
  spawnServer,
  startMinioServer,
  startTemporalServer,
  stopProcess,
  temporalHealthy,
  waitUntil,
} from './servers';

/** What `up` started, kept in `.data/stack.json`. */
interface StackState {
  temporal?: { pid: number; port: number; uiPort: number; logFile: string; startedAt: string };
  minio?: { pid: number; port: number; consolePort: number; logFile: string; startedAt: string };
  codec?: { pid: number; port: number; logFile: string; startedAt: string };
}

/** One server's state as `status` reports it. */
export interface ServerStatus {
  name: 'temporal' | 'minio' | 'codec';
  state: 'running' | 'stopped' | 'external';
  pid?: number;
  healthy: boolean;
  endpoint: string;
  ui?: string;
  logFile?: string;
}

function statePath(dataDir: string): string {
  return path.join(dataDir, 'stack.json');
}

function readState(dataDir: string): StackState {
  try {
    return JSON.parse(fs.readFileSync(statePath(dataDir), 'utf8')) as StackState;
  } catch {
    return {};
  }
}

function writeState(dataDir: string, state: StackState): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const tmp = `${statePath(dataDir)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2));
  fs.renameSync(tmp, statePath(dataDir));
}

/** Creates the local MinIO root credentials once (random, mode 0600, git-ignored) and returns them. */
function ensureLocalCredentials(dataDir: string): { accessKey: string; secretKey: string } {
  const file = localCredentialsPath(dataDir);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const creds = { accessKey: 'mlops-local', secretKey: randomBytes(24).toString('base64url') };
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

/** Creates the local stamp key pair once (the private key mode 0600, git-ignored), for the codec server and the workers. */
export function ensureLocalStampKeys(dataDir: string): void {
  const files = localStampKeyPaths(dataDir);
  if (fs.existsSync(files.signingKeyFile) && fs.existsSync(files.trustedKeysFile)) return;
  const keys = generateStampKeys();
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(files.signingKeyFile, keys.privateKeyPem, { mode: 0o600 });
  fs.writeFileSync(files.trustedKeysFile, keys.publicKeyPem);
}

/** Whether a codec server answers on this port (an empty /decode). */
export function codecHealthy(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/decode`, { method: 'POST', body: '{"payloads":[]}', signal: AbortSignal.timeout(2000) }).then(
    (r) => r.ok,
    () => false,
  );
}

/**
 * Starts `mlops codec` for the Web UI (started before Temporal, whose UI is given its address). Without an OIDC
 * issuer configured it stamps nothing: the dev UI has no sign-in, so it sends no token, and approvals stay declared.
 */
async function upCodec(config: MlopsConfig, state: StackState, say: Say, env: NodeJS.ProcessEnv): Promise<void> {
  const port = config.stack.codecPort;
  if (state.codec && isAlive(state.codec.pid) && (await codecHealthy(state.codec.port))) {
    say(`The codec server is already running (pid ${state.codec.pid}).`);
    return;
  }
  if (await isPortOpen(port))
    throw new Error(`Port ${port} on 127.0.0.1 is taken by another program. Stop it, or choose another port with MLOPS_CODEC_PORT.`);
  ensureLocalStampKeys(config.dataDir);
  say(`Starting the codec server on 127.0.0.1:${port}...`);
  const logFile = path.join(config.dataDir, 'logs', 'codec.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const bin = path.resolve(__dirname, '..', '..', 'bin', 'mlops.js');
  const proc = spawnServer(process.execPath, [bin, 'codec', '--port', String(port)], logFile, { ...env, MLOPS_LOG_FORMAT: 'json' });
  await waitUntil('codec server', () => codecHealthy(port), { timeoutMs: 30_000, pid: proc.pid, logFile });
  state.codec = { pid: proc.pid, port, logFile, startedAt: new Date().toISOString() };
}

async function upTemporal(config: MlopsConfig, state: StackState, say: Say): Promise<void> {
  const { temporalPort: port, temporalUiPort: uiPort } = config.stack;
  if (state.temporal && isAlive(state.temporal.pid) && (await temporalHealthy(state.temporal.port))) {
    say(`Temporal is already running (pid ${state.temporal.pid}).`);
    return;
  }
  for (const p of [port, uiPort]) {
    if (await isPortOpen(p)) {
      throw new Error(
        `Port ${p} on 127.0.0.1 is taken by another program. Stop it, or choose other ports with MLOPS_TEMPORAL_PORT / ` +
          `MLOPS_TEMPORAL_UI_PORT, or use that server with TEMPORAL_ADDRESS.`,
      );
    }
  }
  const cli = await ensureTemporalCli(config.cacheDir, say);
  say(`Starting Temporal dev server on 127.0.0.1:${port} (UI ${uiPort})...`);
  const logFile = path.join(config.dataDir, 'logs', 'temporal.log');
  const proc = await startTemporalServer({
    cli,
    port,
    uiPort,
    dbFile: path.join(config.dataDir, 'temporal', 'temporal.db'),
    logFile,
    uiCodecEndpoint: `http://127.0.0.1:${config.stack.codecPort}`,
  });
  state.temporal = { pid: proc.pid, port, uiPort, logFile, startedAt: new Date().toISOString() };
}

async function upMinio(config: MlopsConfig, state: StackState, say: Say): Promise<void> {
  const { minioPort: port, minioConsolePort: consolePort } = config.stack;
  if (state.minio && isAlive(state.minio.pid) && (await minioHealthy(state.minio.port))) {
    say(`MinIO is already running (pid ${state.minio.pid}).`);
    return;
  }
  for (const p of [port, consolePort]) {
    if (await isPortOpen(p)) {
      throw new Error(
        `Port ${p} on 127.0.0.1 is taken by another program. Stop it, or choose other ports with MLOPS_MINIO_PORT / ` +
          `MLOPS_MINIO_CONSOLE_PORT, or use that server with MINIO_ENDPOINT.`,
      );
    }
  }
  const bin = await ensureMinio(config.cacheDir, say);
  const creds = ensureLocalCredentials(config.dataDir);
  say(`Starting MinIO on 127.0.0.1:${port} (console ${consolePort})...`);
  const logFile = path.join(config.dataDir, 'logs', 'minio.log');
  const proc = await startMinioServer({ bin, port, consolePort, dataDir: path.join(config.dataDir, 'minio'), logFile, ...creds });
  state.minio = { pid: proc.pid, port, consolePort, logFile, startedAt: new Date().toISOString() };
}

/** Starts whatever of the stack is not already running, waits until healthy, and creates the bucket. */
export async function stackUp(say: Say = console.log, env = process.env): Promise<ServerStatus[]> {
  const config = loadConfig({ env, requireCredentials: false });
  const state = readState(config.dataDir);
  try {
    if (config.temporal.external)
      say(`Using the Temporal server at ${config.temporal.connection.address} (TEMPORAL_ADDRESS); not starting one.`);
    else {
      // The codec server serves model cards from MinIO: the local credentials must exist before it starts.
      if (!config.minio.external) ensureLocalCredentials(config.dataDir);
      await upCodec(config, state, say, env);
      await upTemporal(config, state, say);
    }
    if (config.minio.external)
      say(`Using the MinIO server at ${config.minio.endPoint}:${config.minio.port} (MINIO_ENDPOINT); not starting one.`);
    else await upMinio(config, state, say);
  } finally {
    writeState(config.dataDir, state);
  }
  const { minio } = loadConfig({ env });
  await new ArtifactStore(createMinioClient(minio), minio.bucket).ensureBucket();
  return stackStatus(env);
}

/** Stops the servers `up` started (by pid), keeping their data. */
export async function stackDown(say: Say = console.log, env = process.env): Promise<void> {
  const config = loadConfig({ env, requireCredentials: false });
  const state = readState(config.dataDir);
  for (const name of ['temporal', 'codec', 'minio'] as const) {
    const s = state[name];
    if (!s) continue;
    if (isAlive(s.pid)) {
      say(`Stopping ${name} (pid ${s.pid})...`);
      await stopProcess(s.pid);
    }
    delete state[name];
  }
  writeState(config.dataDir, state);
  say('Stack stopped; its data stays in ' + config.dataDir);
}

/** What runs where, and whether it is healthy. */
export async function stackStatus(env = process.env): Promise<ServerStatus[]> {
  const config = loadConfig({ env, requireCredentials: false });
  const state = readState(config.dataDir);
  const t = state.temporal;
  const m = state.minio;
  const temporal: ServerStatus = config.temporal.external
    ? {
        name: 'temporal',
        state: 'external',
        healthy: await temporalHealthy(Number(config.temporal.connection.address.split(':').pop())).catch(() => false),
        endpoint: config.temporal.connection.address,
      }
    : {
        name: 'temporal',
        state: t && isAlive(t.pid) ? 'running' : 'stopped',
        pid: t && isAlive(t.pid) ? t.pid : undefined,
        healthy: t ? await temporalHealthy(t.port, t.uiPort) : false,
        endpoint: `127.0.0.1:${t?.port ?? config.stack.temporalPort}`,
        ui: `http://127.0.0.1:${t?.uiPort ?? config.stack.temporalUiPort}`,
        logFile: t?.logFile,
      };
  const minio: ServerStatus = config.minio.external
    ? {
        name: 'minio',
        state: 'external',
        healthy: await minioHealthy(config.minio.port, config.minio.endPoint),
        endpoint: `${config.minio.endPoint}:${config.minio.port}`,
      }
    : {
        name: 'minio',
        state: m && isAlive(m.pid) ? 'running' : 'stopped',
        pid: m && isAlive(m.pid) ? m.pid : undefined,
        healthy: m ? await minioHealthy(m.port) : false,
        endpoint: `http://127.0.0.1:${m?.port ?? config.stack.minioPort}`,
        ui: `http://127.0.0.1:${m?.consolePort ?? config.stack.minioConsolePort}`,
        logFile: m?.logFile,
      };
  const c = state.codec;
  const codec: ServerStatus = {
    name: 'codec',
    state: config.temporal.external ? 'external' : c && isAlive(c.pid) ? 'running' : 'stopped',
    pid: c && isAlive(c.pid) ? c.pid : undefined,
    healthy: c ? await codecHealthy(c.port) : false,
    endpoint: `http://127.0.0.1:${c?.port ?? config.stack.codecPort}`,
    logFile: c?.logFile,
  };
  return config.temporal.external ? [temporal, minio] : [temporal, minio, codec];
}

/** Human-readable lines for a status. */
export function formatStatus(status: ServerStatus[]): string {
  return status
    .map((s) => {
      const label = s.name === 'temporal' ? 'Temporal' : s.name === 'minio' ? 'MinIO   ' : 'Codec   ';
      const state = s.state === 'running' ? `running (pid ${s.pid})` : s.state;
      const health = s.state === 'stopped' ? '' : s.healthy ? ', healthy' : ', NOT healthy';
      const ui = s.ui ? `  ${s.name === 'temporal' ? 'Web UI' : 'console'}: ${s.ui}` : '';
      const log = s.logFile ? `  log: ${s.logFile}` : '';
      return `${label} ${state}${health}  ${s.endpoint}${ui}${log}`;
    })
    .join('\n');
}
