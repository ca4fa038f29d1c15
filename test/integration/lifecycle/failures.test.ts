/**
 * Failures that say so fast, where people look: the `mlops` command and worker as users run them (separate
 * processes) against real servers, with a data server of the test's own that refuses, fails or answers.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRun } from '../../../src/client';
import type { MlopsConfig } from '../../../src/config';
import { freePort } from '../../../src/dev/servers';
import { ArtifactStore } from '../../../src/storage/artifact-store';
import { parsePipelineSpec } from '../../../src/spec/pipeline';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let stopWorkers: () => Promise<void>;
let dataServer: Server;
let dataPort: number;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-failures-'));

/** A small table: x numeric (>= 0 unless `negative`), y the class. */
function table(rows: number, negative = false): string {
  const lines = ['x,z,y'];
  for (let i = 0; i < rows; i++)
    lines.push(`${negative && i % 10 === 0 ? -5 : (i * 7) % 13},${(i * 3) % 5},${(i * 7) % 13 > 6 ? 'a' : 'b'}`);
  return `${lines.join('\n')}\n`;
}

/** Writes a spec (JSON) for a source and returns its path. */
function specFile(name: string, source: string, extra: Record<string, unknown> = {}): string {
  const file = path.join(dir, `${name}.json`);
  const spec = {
    model: name,
    dataset: {
      source,
      format: 'csv',
      schema: {
        target: 'y',
        task: 'classification',
        features: ['x', 'z'],
        columns: [
          { name: 'x', type: 'numeric', min: 0 },
          { name: 'z', type: 'numeric' },
          { name: 'y', type: 'categorical', allowed: ['a', 'b'] },
        ],
      },
    },
    trainer: { name: 'logistic-regression' },
    approval: { required: false },
    ...extra,
  };
  fs.writeFileSync(file, JSON.stringify(spec));
  return file;
}

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ stop: stopWorkers } = await startWorkers(env, config));
  // /unavailable answers 503 (a transient failure), /data.csv a good table.
  dataServer = createServer((req, res) => {
    if (req.url === '/unavailable.csv') res.writeHead(503).end('busy');
    else res.writeHead(200, { 'content-type': 'text/csv' }).end(table(200));
  });
  dataPort = await freePort();
  await new Promise<void>((r) => dataServer.listen(dataPort, '127.0.0.1', r));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  dataServer?.close();
  await env?.teardown();
  await minio?.stop();
});

type Result = { code: number; stdout: string; stderr: string; ms: number };

function cliEnv(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: env.address,
    MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: config.minio.bucket,
    MLOPS_TASK_QUEUE: config.taskQueue,
    MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
    MLOPS_WORKER_METRICS_PORT: '0',
    MLOPS_TEMPORAL_METRICS_PORT: '0',
    MLOPS_LOG_LEVEL: 'warn',
    ...overrides,
  };
}

function mlops(args: string[], overrides: Record<string, string> = {}, timeoutMs = 120_000): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/mlops.js'), ...args],
      { env: cliEnv(overrides), timeout: timeoutMs },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

async function closedPort(): Promise<number> {
  return freePort();
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('failures that say so at once', () => {
  it('mlops run with Temporal unreachable fails within seconds, naming the address, and uploads nothing', async () => {
    const data = path.join(dir, 'local.csv');
    fs.writeFileSync(data, table(100));
    const port = await closedPort();
    const bucket = 'never-uploaded';
    const res = await mlops(['run', specFile('unreachable-temporal', data)], {
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      MINIO_BUCKET: bucket,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`Cannot reach Temporal at 127\\.0\\.0\\.1:${port}`));
    expect(res.stderr).not.toMatch(/Uploading/);
    expect(res.ms).toBeLessThan(30_000);
    const store = ArtifactStore.connect({ ...config.minio, bucket });
    expect(await store.list('')).toEqual([]);
  });

  it('a source whose port refuses connections fails the ingest within seconds, naming the address; the header says FAILED', async () => {
    const port = await closedPort();
    const res = await mlops(['run', specFile('refused-source', `http://127.0.0.1:${port}/data.csv`), '--follow']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(`ingest failed: Could not read http://127\\.0\\.0\\.1:${port}/data\\.csv: connection refused at 127\\.0\\.0\\.1:${port}`),
    );
    expect(res.stdout).toMatch(/ FAILED /);
    expect(res.stdout).not.toMatch(/COMPLETED/);
    expect(res.stdout).toMatch(/✘ ingest/);
    expect(res.ms).toBeLessThan(60_000);
  });

  it('while a stage retries a transient failure, mlops status shows the attempt and the last error', async () => {
    const res = await mlops(['run', specFile('retrying-source', `http://127.0.0.1:${dataPort}/unavailable.csv`), '--json']);
    expect(res.code).toBe(0);
    const { workflowId } = JSON.parse(res.stdout);
    try {
      const view = await waitFor('a second attempt', async () => {
        const status = await mlops(['status', workflowId, '--json']);
        const v = JSON.parse(status.stdout);
        return v.retrying?.[0]?.attempt >= 2 && v.retrying[0].lastError ? v : undefined;
      });
      expect(view.retrying[0]).toMatchObject({
        activity: 'ingestDataset',
        maximumAttempts: 20,
        lastError: expect.stringMatching(/answered HTTP 503/),
      });
      const human = await mlops(['status', workflowId]);
      expect(human.stdout).toMatch(/▶ ingest +running/);
      expect(human.stdout).toMatch(
        /ingestDataset: attempt \d+ of 20, last error: GET http:\/\/127\.0\.0\.1:\d+\/unavailable\.csv answered HTTP 503/,
      );
    } finally {
      await env.client.workflow.getHandle(workflowId).terminate('test over');
    }
  });

  it('a run whose data is blocked by validation shows FAILED and a failed ingest, not COMPLETED and done', async () => {
    const data = path.join(dir, 'negative.csv');
    fs.writeFileSync(data, table(200, true));
    const res = await mlops(['run', specFile('blocked-ingest', data), '--follow']);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/blocked-ingest-manual-\S+ +FAILED/);
    expect(res.stdout).toMatch(/✘ ingest +failed .*blocking data validation issues/);
    expect(res.stderr).toMatch(/run ended failed: data validation failed/);
  });

  it('an approval comment longer than the gate keeps is refused by name, not cut', async () => {
    const data = path.join(dir, 'approve.csv');
    fs.writeFileSync(data, table(200));
    const started = await mlops([
      'run',
      specFile('long-comment', data, { approval: { required: true, approvers: ['alice'] } }),
      '--json',
      '--requested-by',
      'dave',
    ]);
    const { workflowId } = JSON.parse(started.stdout);
    await waitFor(
      'the approval gate',
      async () => {
        const v = JSON.parse((await mlops(['status', workflowId, '--json'])).stdout);
        return v.status?.approval?.state === 'waiting' ? true : undefined;
      },
      180_000,
    );
    const refused = await mlops(['approve', workflowId, '--as', 'alice', '--comment', 'x'.repeat(2500)]);
    expect(refused.code).toBe(1);
    // Said once, as an error on stderr; nothing on stdout.
    expect(refused.stderr).toMatch(
      /mlops: approve refused: the comment has 2500 characters, more than the 2000 an approval keeps: shorten it.* \(gate: waiting\)\n/,
    );
    expect(refused.stderr.match(/2500 characters/g)).toHaveLength(1);
    expect(refused.stdout).toBe('');
    const asJson = await mlops(['approve', workflowId, '--as', 'alice', '--comment', 'x'.repeat(2500), '--json']);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ error: { type: 'MlopsInvalidInput', details: { answer: { accepted: false } } } });
    const accepted = await mlops(['approve', workflowId, '--as', 'alice', '--comment', 'fine']);
    expect(accepted.code).toBe(0);
    const final = JSON.parse((await mlops(['status', workflowId, '--follow', '--json'])).stdout);
    expect(final.outcome).toBe('deployed');
  }, 240_000);
});

describe('no worker, said plainly', () => {
  const lonely = { MLOPS_TASK_QUEUE: 'queue-without-workers', MLOPS_TRAINING_TASK_QUEUE: 'training-without-workers' };

  it('mlops check says within seconds that no worker polls the task queue', async () => {
    const res = await mlops(['check'], lonely);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/No worker polls task queue "queue-without-workers" for workflow tasks/);
    expect(res.ms).toBeLessThan(30_000);
  });

  it('mlops status says no worker polls the queue; --follow exits once the run is terminated', async () => {
    const spec = parsePipelineSpec(JSON.parse(fs.readFileSync(specFile('no-worker', `http://127.0.0.1:${dataPort}/data.csv`), 'utf8')));
    const { workflowId } = await startRun(env.client, { ...config, taskQueue: lonely.MLOPS_TASK_QUEUE }, spec, { requestedBy: 'dave' });
    const status = await mlops(['status', workflowId], lonely);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/RUNNING/);
    expect(status.stdout).toMatch(/! no worker polls task queue "queue-without-workers" for workflow tasks/);
    expect(JSON.parse((await mlops(['status', workflowId, '--json'], lonely)).stdout).workerWarnings).toEqual([
      expect.stringMatching(/no worker polls/),
    ]);

    const follow = mlops(['status', workflowId, '--follow', '--json'], lonely);
    await new Promise((r) => setTimeout(r, 2000));
    const terminatedAt = Date.now();
    await env.client.workflow.getHandle(workflowId).terminate('operator stopped it');
    const followed = await follow;
    expect(Date.now() - terminatedAt).toBeLessThan(15_000);
    expect(JSON.parse(followed.stdout)).toMatchObject({
      execution: 'TERMINATED',
      outcome: 'terminated',
      failure: expect.stringMatching(/operator stopped it/),
    });
    const header = await mlops(['status', workflowId], lonely);
    expect(header.stdout.split('\n')[0]).toMatch(new RegExp(`^${workflowId} +TERMINATED`));
  });
});

describe('the worker checks its servers at start', () => {
  function worker(overrides: Record<string, string>): Promise<Result> {
    const started = Date.now();
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'worker'], { env: cliEnv(overrides) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (code) => {
        clearTimeout(kill);
        resolve({ code: code ?? 1, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  it('Temporal unreachable: one line naming the address, no transport error', async () => {
    const port = await closedPort();
    const res = await worker({ TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toMatch(
      new RegExp(`^mlops: Cannot reach Temporal at 127\\.0\\.0\\.1:${port}: connection refused \\(nothing listens there\\)`),
    );
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).not.toMatch(/tonic/);
    expect(res.stdout).not.toMatch(/worker started/);
    expect(res.ms).toBeLessThan(30_000);
  });

  it('wrong MinIO credentials: one line saying so, before "worker started"', async () => {
    const res = await worker({ MINIO_SECRET_KEY: 'not-the-secret' });
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toMatch(
      /^mlops: MinIO at 127\.0\.0\.1:\d+ \(bucket mlops-test\) refused the credentials: check MINIO_ACCESS_KEY and MINIO_SECRET_KEY\.$/,
    );
    expect(res.stdout).not.toMatch(/worker started/);
    expect(res.ms).toBeLessThan(30_000);
  });

  it('MinIO unreachable: one line naming the address', async () => {
    const port = await closedPort();
    const res = await worker({ MINIO_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(
      new RegExp(
        `^mlops: Cannot use MinIO at 127\\.0\\.0\\.1:${port} \\(bucket mlops-test\\): connection refused \\(nothing listens there\\)`,
      ),
    );
    expect(res.ms).toBeLessThan(30_000);
  });
});
