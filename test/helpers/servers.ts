/**
 * Real servers for integration tests: a MinIO and a Temporal dev server per test file, on free loopback
 * ports, with state in a temporary directory. The first run provisions the tools into the user cache.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { defaultCacheDir, type MlopsConfig } from '../../src/config';
import { ensureMinio, ensureTemporalCli, ensureTestServer } from '../../src/dev/tools';
import { DEV_SERVER_DYNAMIC_CONFIG, freePort, startMinioServer, stopProcess, type ServerProcess } from '../../src/dev/servers';

const say = (line: string) => process.stderr.write(`[tools] ${line}\n`);

/** A real MinIO that a test can stop and start again on the same port and data. */
export class TestMinio {
  private proc?: ServerProcess;
  private constructor(
    readonly bin: string,
    readonly dir: string,
    readonly port: number,
    readonly consolePort: number,
    readonly accessKey: string,
    readonly secretKey: string,
  ) {}

  static async start(): Promise<TestMinio> {
    const bin = await ensureMinio(defaultCacheDir(), say);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-minio-'));
    const m = new TestMinio(bin, dir, await freePort(), await freePort(), 'test-access-key', `test-secret-${process.pid}-${Date.now()}`);
    await m.resume();
    return m;
  }

  /** The `minio` section of an `MlopsConfig` pointing at this server. */
  config(bucket = 'mlops-test'): MlopsConfig['minio'] {
    return {
      endPoint: '127.0.0.1',
      port: this.port,
      useSSL: false,
      accessKey: this.accessKey,
      secretKey: this.secretKey,
      bucket,
      region: 'us-east-1',
      external: true,
    };
  }

  /** Starts the server (again) on the same port and data directory. */
  async resume(): Promise<void> {
    this.proc = await startMinioServer({
      bin: this.bin,
      port: this.port,
      consolePort: this.consolePort,
      dataDir: path.join(this.dir, 'data'),
      logFile: path.join(this.dir, 'minio.log'),
      accessKey: this.accessKey,
      secretKey: this.secretKey,
    });
  }

  /** Stops the server, keeping its data. */
  async pause(): Promise<void> {
    if (this.proc) await stopProcess(this.proc.pid, 5000);
    this.proc = undefined;
  }

  /** Stops the server and removes its data. */
  async stop(): Promise<void> {
    await this.pause();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A real Temporal dev server (the official CLI) on a free loopback port. */
export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  const cli = await ensureTemporalCli(defaultCacheDir(), say);
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      ui: false,
      extraArgs: ['--log-level', 'error', ...DEV_SERVER_DYNAMIC_CONFIG],
    },
  });
}

/** Temporal's time-skipping test server, for tests that skip hours or days. */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const bin = await ensureTestServer(defaultCacheDir(), say);
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: bin } } });
}
