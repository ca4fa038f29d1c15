/**
 * `mlops gc` against real servers: the upload of a run whose ingest failed is removed; an upload a
 * snapshot was made from, or one a running workflow still reads, is kept; young uploads are kept.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsConfig } from '../../../src/config';
import { ArtifactStore } from '../../../src/storage/artifact-store';
import { SOURCE_UPLOAD_PREFIX } from '../../../src/storage/gc';
import { sha256Hex } from '../../../src/storage/digest';
import { blobKey } from '../../../src/storage/refs';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-gc-'));

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let store: ArtifactStore;
let stopWorkers: () => Promise<void>;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  store = ArtifactStore.connect(config.minio);
  ({ stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

function mlops(args: string[], overrides: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/mlops.js'), ...args],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.address,
          MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
          MINIO_ACCESS_KEY: minio.accessKey,
          MINIO_SECRET_KEY: minio.secretKey,
          MINIO_BUCKET: config.minio.bucket,
          MLOPS_TASK_QUEUE: config.taskQueue,
          MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
          ...overrides,
        },
        timeout: 180_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Writes a data file and its spec; returns the spec path and the data's sha256 (its blob once uploaded). */
function dataset(name: string, content: Buffer | string): { spec: string; sha256: string } {
  const data = path.join(dir, `${name}.csv`);
  fs.writeFileSync(data, content);
  const spec = path.join(dir, `${name}.json`);
  fs.writeFileSync(
    spec,
    JSON.stringify({
      model: name,
      dataset: {
        source: data,
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
      trainer: { name: 'logistic-regression' },
      approval: { required: false },
    }),
  );
  return { spec, sha256: sha256Hex(typeof content === 'string' ? Buffer.from(content) : content) };
}

function table(rows: number, salt: number): string {
  const lines = ['x,z,y'];
  for (let i = 0; i < rows; i++) lines.push(`${(i * 7 + salt) % 13},${i},${(i * 7 + salt) % 13 > 6 ? 'a' : 'b'}`);
  return `${lines.join('\n')}\n`;
}

describe('mlops gc', () => {
  it('removes the upload of a failed ingest, keeps what a snapshot or a running workflow uses, and keeps young uploads', async () => {
    // An ingest that fails: the file is not UTF-8 text, so no snapshot is ever made from it.
    const broken = dataset(
      'broken-upload',
      Buffer.concat([Buffer.from('x,z,y\n1,2,'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('3,4,a\n')]),
    );
    const failed = await mlops(['run', broken.spec, '--follow']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/ingest failed/);

    // A run that deploys: its upload became a snapshot.
    const good = dataset('good-upload', table(200, 1));
    expect((await mlops(['run', good.spec, '--follow'])).code).toBe(0);

    // A run that no worker has picked up yet still needs its upload.
    const waiting = dataset('waiting-upload', table(200, 2));
    const started = await mlops(['run', waiting.spec, '--json'], { MLOPS_TASK_QUEUE: 'nobody-polls-this' });
    expect(started.code).toBe(0);
    const { workflowId } = JSON.parse(started.stdout);

    for (const d of [broken, good, waiting]) expect(await store.exists(blobKey(d.sha256))).toBe(true);

    // Within the default grace period (24 h) nothing goes.
    const young = JSON.parse((await mlops(['gc', '--json'])).stdout);
    expect(young.removed).toEqual([]);

    const dry = JSON.parse((await mlops(['gc', '--older-than', '0s', '--dry-run', '--json'])).stdout);
    expect(dry.removed.map((u: { sha256: string }) => u.sha256)).toEqual([broken.sha256]);
    expect(await store.exists(blobKey(broken.sha256))).toBe(true);

    const res = await mlops(['gc', '--older-than', '0s']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Removed 1 unreferenced upload\(s\)/);
    expect(res.stdout).toContain(`blobs/sha256/${broken.sha256.slice(0, 2)}/${broken.sha256} (broken-upload.csv`);
    expect(await store.exists(blobKey(broken.sha256))).toBe(false);
    expect(await store.exists(`${SOURCE_UPLOAD_PREFIX}${broken.sha256}.json`)).toBe(false);
    expect(await store.exists(blobKey(good.sha256))).toBe(true);
    expect(await store.exists(blobKey(waiting.sha256))).toBe(true);

    const kept = JSON.parse((await mlops(['gc', '--older-than', '0s', '--json'])).stdout).kept as {
      upload: { sha256: string };
      why: string;
    }[];
    expect(Object.fromEntries(kept.map((k) => [k.upload.sha256, k.why]))).toEqual({
      [good.sha256]: expect.stringMatching(/snapshot/),
      [waiting.sha256]: expect.stringMatching(/running workflow/),
    });

    // Once that run is gone, nothing needs its upload any more.
    await env.client.workflow.getHandle(workflowId).terminate('never mind');
    const after = JSON.parse((await mlops(['gc', '--older-than', '0s', '--json'])).stdout);
    expect(after.removed.map((u: { sha256: string }) => u.sha256)).toEqual([waiting.sha256]);
    expect(await store.exists(blobKey(waiting.sha256))).toBe(false);
  }, 300_000);
});
