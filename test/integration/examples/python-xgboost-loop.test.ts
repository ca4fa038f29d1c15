/** @jest-environment ./test/helpers/onnx-environment.js */
/**
 * examples/python-xgboost through its whole closed loop on real Temporal and MinIO, the model trained by Python
 * and served as ONNX: approved, deployed, served over OIP v2 and v1, monitored, retrained on drift,
 * rolled back by its accuracy guardrail.
 */
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsConfig } from '../../../src/config';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { ensurePython } from '../../../src/dev/python';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';
import { runClosedLoop } from '../../helpers/closed-loop';

const ROOT = path.resolve(__dirname, '../../..');
let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  await ensurePython();
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ deps, stop } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stop?.();
  await env?.teardown();
  await minio?.stop();
});

it('an XGBoost model is deployed as ONNX, served, retrained on drift and rolled back by its accuracy guardrail', async () => {
  const report = await runClosedLoop(env.client, config, deps, {
    specPath: path.join(ROOT, 'examples/python-xgboost/pipeline.yaml'),
    guardrailMetric: 'accuracy',
    shift: (row) => ({ ...row, temp_max: Number(row.temp_max) + 15, temp_min: Number(row.temp_min) + 15, wind: Number(row.wind) * 3 }),
  });
  expect(report.first).toMatchObject({ status: 'deployed', version: 1 });
  const v1 = await deps.registry.getVersion(report.model, 1);
  expect(v1.artifact).toBeDefined();
  expect((await deps.store.getJson<{ format: string }>(v1.artifact)).format).toBe('temporal-mlops/onnx-model@1');
  expect(report.v1Answer.predictions).toHaveLength(1);
  expect(report.v2Answer.model_version).toBe('1');
  expect(report.checks[0]!.performance!.labelled).toBeGreaterThan(0);
  expect(report.checks[1]!.action).toBe('retrain-started');
  expect([report.retrain.status, report.retrain.status === 'deployed' ? '' : report.retrain.reason]).toEqual(['deployed', '']);
  expect(report.retrain.version).toBe(2);
  expect(report.checks[2]).toMatchObject({ action: 'rolled-back', rollback: { from: 2, to: 1 } });
  expect(report.productionAfter).toBe(1);
}, 20 * 60_000);
