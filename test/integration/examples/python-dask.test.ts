/**
 * examples/python-dask through a whole run on a real Temporal dev server and MinIO: the train stage hands
 * the program the training rows as presigned Parquet parts only (data: remote), a Dask LocalCluster of two
 * single-threaded workers reads them in parallel and trains XGBoost with xgboost.dask, and the ONNX model it
 * leaves is measured by us on the holdout and deployed.
 */
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { stageDataset } from '../../../src/cli/upload';
import { startRun } from '../../../src/client';
import type { MlopsConfig } from '../../../src/config';
import { ensurePython } from '../../../src/dev/python';
import type { OnnxModel } from '../../../src/ml/onnx';
import { loadSpecFile } from '../../../src/spec/load';
import type { PipelineRunResult } from '../../../src/contracts';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const SPEC = path.resolve(__dirname, '../../../examples/python-dask/pipeline.yaml');

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stopWorkers: (() => Promise<void>) | undefined;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start(), ensurePython()]);
  config = testConfig(env, minio);
  ({ deps, stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

it(
  'the Dask example trains from the snapshot’s URIs on a LocalCluster, and its model is measured by us on the holdout and deployed',
  async () => {
    const spec = loadSpecFile(SPEC);
    spec.dataset = await stageDataset(config, spec.dataset);
    spec.approval = { ...spec.approval, required: false };
    delete spec.monitor;
    // The machine has two cores: two workers of one thread each, and a small model.
    spec.trainer.params = { ...spec.trainer.params, workers: 2, threads_per_worker: 1, n_estimators: 60 };
    expect(spec.trainer).toMatchObject({ name: 'command', data: 'remote' });

    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
    const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;
    expect(result.status).toBe('deployed');
    // Our measurement on the sealed holdout, through ONNX Runtime.
    expect(result.metrics!.accuracy).toBeGreaterThan(0.7);

    const version = await deps.registry.getVersion(spec.model, result.version!);
    const manifest = await deps.store.getJson<OnnxModel>(version.artifact);
    expect(manifest.format).toBe('temporal-mlops/onnx-model@1');
    expect(manifest.signature.classes).toEqual(['drizzle', 'fog', 'rain', 'snow', 'sun']);
    expect(Object.keys(manifest.files).sort()).toEqual(['check_predictions.jsonl', 'metrics.json', 'model.onnx', 'signature.json']);
    // What the program says about itself: it read the four parts on two Dask workers.
    expect(manifest.claimedMetrics).toMatchObject({ daskWorkers: 2, parts: 4 });
  },
  15 * 60_000,
);
