import { createHash } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import * as Minio from 'minio';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';
import type { MlopsConfig } from '../../../src/config';
import { artifactRoundTripWorkflow } from '../../../src/contracts';

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let stopWorkers: () => Promise<void>;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

async function sha256OfObject(key: string): Promise<string> {
  const raw = new Minio.Client({
    endPoint: '127.0.0.1',
    port: minio.port,
    useSSL: false,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
  });
  const hash = createHash('sha256');
  for await (const chunk of await raw.getObject(config.minio.bucket, key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('the first slice, on real Temporal and MinIO', () => {
  it('a workflow writes an artifact to MinIO and reads it back, verified by its sha256', async () => {
    const result = await env.client.workflow.execute(artifactRoundTripWorkflow, {
      taskQueue: config.taskQueue,
      workflowId: `round-trip-${Date.now()}`,
      args: [{ sizeBytes: 3 * 1024 * 1024 + 17, seed: 7 }],
    });
    expect(result.verified).toBe(true);
    expect(result.readBytes).toBe(3 * 1024 * 1024 + 17);
    expect(result.artifact.uri).toBe(
      `s3://${config.minio.bucket}/blobs/sha256/${result.artifact.sha256.slice(0, 2)}/${result.artifact.sha256}`,
    );
    // The bytes really are in MinIO, under their digest.
    expect(await sha256OfObject(result.artifact.uri.split('/').slice(3).join('/'))).toBe(result.artifact.sha256);
  });

  it('when MinIO is down, the activity is retried and the workflow succeeds once MinIO is back', async () => {
    await minio.pause();
    const handle = await env.client.workflow.start(artifactRoundTripWorkflow, {
      taskQueue: config.taskQueue,
      workflowId: `round-trip-outage-${Date.now()}`,
      args: [{ sizeBytes: 1024, seed: 11 }],
    });
    // Wait until Temporal has recorded a failed attempt against the stopped server.
    let attempts = 0;
    let lastFailure = '';
    for (let i = 0; i < 100 && attempts < 2; i++) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      attempts = pending[0]?.attempt ?? 0;
      lastFailure = pending[0]?.lastFailure?.message ?? '';
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(lastFailure).toMatch(/MinIO|127\.0\.0\.1|unreachable|ECONNREFUSED/i);
    await minio.resume();
    const result = await handle.result();
    expect(result.verified).toBe(true);
  });
});
