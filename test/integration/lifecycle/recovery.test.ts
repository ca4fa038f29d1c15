/**
 * Recovery in seconds: a worker SIGKILLed during ingest or training has its activity retried on another
 * worker within 10 s of the kill; a worker stopped with SIGTERM hands its activity back at once.
 * The first worker is a separate process (bin/mlops.js worker) so it can be killed for real.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRun } from '../../../src/client';
import type { MlopsConfig } from '../../../src/config';
import { freePort } from '../../../src/dev/servers';
import { parsePipelineSpec } from '../../../src/spec/pipeline';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let dataServer: Server;
let dataPort: number;
/** When each request for the slow source arrived, per run (the path names the run). */
const requests = new Map<string, number[]>();
const stops: (() => Promise<void>)[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  // /slow/<name>.csv trickles a row every 200 ms for a minute, so an ingest reading it runs long enough
  // to be killed; /fast.csv answers a whole table at once.
  dataServer = createServer((req, res) => {
    const url = req.url ?? '';
    res.writeHead(200, { 'content-type': 'text/csv' });
    if (!url.startsWith('/slow/')) {
      const lines = ['x,z,y'];
      for (let i = 0; i < 200; i++) lines.push(`${i % 13},${i},${i % 13 > 6 ? 'a' : 'b'}`);
      res.end(`${lines.join('\n')}\n`);
      return;
    }
    requests.set(url, [...(requests.get(url) ?? []), Date.now()]);
    res.write('x,z,y\n');
    let i = 0;
    const timer = setInterval(() => {
      if (++i > 300 || res.destroyed) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(`${i % 13},${i},${i % 13 > 6 ? 'a' : 'b'}\n`);
    }, 200);
    res.on('close', () => clearInterval(timer));
  });
  dataPort = await freePort();
  await new Promise<void>((r) => dataServer.listen(dataPort, '127.0.0.1', r));
}, 15 * 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const stop of stops) await stop().catch(() => undefined);
  dataServer?.close();
  await env?.teardown();
  await minio?.stop();
});

/** A worker process on the config's task queues. */
function workerProcess(config: MlopsConfig): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'worker'], {
    env: {
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
      MLOPS_LOG_FORMAT: 'json',
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

function spec(name: string, source: string, trainer: Record<string, unknown> = { name: 'logistic-regression' }) {
  return parsePipelineSpec({
    model: name,
    dataset: {
      source,
      format: 'csv',
      schema: {
        target: 'y',
        task: 'classification',
        features: ['x', 'z'],
        columns: [
          { name: 'x', type: 'numeric' },
          { name: 'z', type: 'numeric' },
          { name: 'y', type: 'categorical' },
        ],
      },
    },
    trainer,
    approval: { required: false },
  });
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 120_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The attempt of a pending activity once it has started on a worker. */
async function startedAttempt(workflowId: string, activity: string): Promise<number | undefined> {
  const pending = (await env.client.workflow.getHandle(workflowId).describe()).raw.pendingActivities ?? [];
  const a = pending.find((p) => p.activityType?.name === activity);
  return a?.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED ? (a.attempt ?? 1) : undefined;
}

describe('a dead worker is replaced within seconds', () => {
  it('SIGKILL during ingest: the ingest starts again on another worker within 10 s', async () => {
    const config = testConfig(env, minio);
    const workerA = workerProcess(config);
    const { workflowId } = await startRun(env.client, config, spec('killed-in-ingest', `http://127.0.0.1:${dataPort}/slow/killed.csv`), {
      requestedBy: 'dave',
    });
    await waitFor('the first ingest request', () => (requests.get('/slow/killed.csv')?.length ? true : undefined));
    // Worker B polls before the kill, as a standby would; the running ingest stays on A until A dies.
    const b = await startWorkers(env, config);
    stops.push(b.stop);
    await new Promise((r) => setTimeout(r, 3000));
    expect(requests.get('/slow/killed.csv')).toHaveLength(1);
    const killedAt = Date.now();
    workerA.kill('SIGKILL');
    const again = await waitFor('the retried ingest request', () => requests.get('/slow/killed.csv')?.[1], 60_000);
    expect(again - killedAt).toBeLessThan(10_000);
    await env.client.workflow.getHandle(workflowId).terminate('test over');
  }, 180_000);

  it('SIGKILL during training: the training starts again on another worker within 10 s', async () => {
    const config = testConfig(env, minio);
    const workerA = workerProcess(config);
    // A trainer that runs for a minute; only its restart is measured here.
    const trainer = { name: 'command', command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] };
    const { workflowId } = await startRun(
      env.client,
      config,
      spec('killed-in-training', `http://127.0.0.1:${dataPort}/fast.csv`, trainer),
      { requestedBy: 'dave' },
    );
    await waitFor('training to start', () => startedAttempt(workflowId, 'mlops.trainModel'), 120_000, 200).catch(async (err) => {
      const d = await env.client.workflow.getHandle(workflowId).describe();
      console.log(
        JSON.stringify(d.raw.pendingActivities, null, 1),
        d.status.name,
        await env.client.workflow
          .getHandle(workflowId)
          .result()
          .catch((e) => e),
      );
      throw err;
    });
    const b = await startWorkers(env, config);
    stops.push(b.stop);
    await new Promise((r) => setTimeout(r, 3000));
    const killedAt = Date.now();
    workerA.kill('SIGKILL');
    await waitFor(
      'the second training attempt',
      async () => ((await startedAttempt(workflowId, 'mlops.trainModel')) ?? 0) >= 2 || undefined,
      60_000,
      100,
    ).catch(async (err) => {
      const d = await env.client.workflow.getHandle(workflowId).describe();
      console.log(JSON.stringify(d.raw.pendingActivities, null, 1), d.status.name);
      throw err;
    });
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await env.client.workflow.getHandle(workflowId).terminate('test over');
  }, 180_000);

  it('SIGTERM during ingest: the worker hands the ingest back at once and exits', async () => {
    const config = testConfig(env, minio);
    const workerA = workerProcess(config);
    const exited = new Promise<number>((r) => workerA.on('exit', () => r(Date.now())));
    const { workflowId } = await startRun(env.client, config, spec('stopped-in-ingest', `http://127.0.0.1:${dataPort}/slow/stopped.csv`), {
      requestedBy: 'dave',
    });
    await waitFor('the first ingest request', () => (requests.get('/slow/stopped.csv')?.length ? true : undefined));
    const b = await startWorkers(env, config);
    stops.push(b.stop);
    await new Promise((r) => setTimeout(r, 3000));
    const stoppedAt = Date.now();
    workerA.kill('SIGTERM');
    const again = await waitFor('the retried ingest request', () => requests.get('/slow/stopped.csv')?.[1], 60_000);
    // Well under the 7 s heartbeat timeout: handed back, not timed out (1 s retry backoff).
    expect(again - stoppedAt).toBeLessThan(4_000);
    expect((await exited) - stoppedAt).toBeLessThan(10_000);
    await env.client.workflow.getHandle(workflowId).terminate('test over');
  }, 180_000);
});
