/**
 * The README's main command, unattended: `mlops demo --auto-approve` against real Temporal and MinIO
 * ends with at least two production versions, the later one started by drift.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createStorage } from '../../../src/storage';
import { startTemporal, TestMinio } from '../../helpers/servers';

const ROOT = path.resolve(__dirname, '../../..');

let env: TestWorkflowEnvironment;
let minio: TestMinio;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
}, 15 * 60_000);

afterAll(async () => {
  await env?.teardown();
  await minio?.stop();
});

it(
  'the demo runs unattended and ends with at least two production versions, the later one started by drift',
  async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [path.join(ROOT, 'bin/mlops.js'), 'demo', '--auto-approve', '--json', '--port', '0'],
        {
          maxBuffer: 64 * 2 ** 20,
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: env.address,
            MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
            MINIO_ACCESS_KEY: minio.accessKey,
            MINIO_SECRET_KEY: minio.secretKey,
            MINIO_BUCKET: 'demo',
            MLOPS_TASK_QUEUE: 'demo',
            MLOPS_TRAINING_TASK_QUEUE: 'demo-training',
            MLOPS_WORKER_METRICS_PORT: '0',
            MLOPS_LOG_LEVEL: 'warn',
          },
        },
        (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: out, stderr: errOut }),
      ),
    );
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const summary = JSON.parse(stdout);
    expect(summary.served).toBe(730);
    expect(summary.versions.length).toBeGreaterThanOrEqual(2);
    expect(summary.versions[0].trigger).toBe('manual');
    const drifted = summary.versions.filter((v: { trigger: string }) => v.trigger === 'drift');
    expect(drifted.length).toBeGreaterThanOrEqual(1);
    expect(drifted[0].reason).toMatch(/^drift on \d+ new rows: .*PSI/);

    // The registry's alias history shows production moving to a drift-triggered version.
    const { registry } = createStorage(minio.config('demo'));
    const moves = await registry.aliasHistory('seattle-weather', 'production');
    expect(moves.length).toBeGreaterThanOrEqual(2);
    const drift = await registry.getVersion('seattle-weather', moves[moves.length - 1]!.to);
    expect(drift.trigger).toBe('drift');
    expect(drift.approvals.map((a) => a.approver)).toEqual(['alice']);
    // Every prediction the model server answered was logged to MinIO.
    const { store } = createStorage(minio.config('demo'));
    expect((await store.list('predictions/seattle-weather/')).length).toBeGreaterThan(0);
  },
  10 * 60_000,
);
