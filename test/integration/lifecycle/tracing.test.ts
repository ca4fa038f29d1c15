/**
 * Tracing, turned on by configuration (MLOPS_TRACING=log): a pipeline run on the ready-made worker leaves one trace,
 * its workflow span the parent of its stages' activity spans, written to the worker's log.
 */
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { stageDataset } from '../../../src/cli/upload';
import { startRun } from '../../../src/client';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { loadSpecFile } from '../../../src/spec/load';
import { runWorker } from '../../../src/worker';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { testConfig } from '../../helpers/worker';

const EXAMPLE = path.resolve(__dirname, '../../../examples/seattle-weather/pipeline.yaml');

let env: TestWorkflowEnvironment;
let minio: TestMinio;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
}, 15 * 60_000);

afterAll(async () => {
  await env?.teardown();
  await minio?.stop();
});

interface LoggedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

it('MLOPS_TRACING=log: a pipeline run leaves one trace, the workflow span above each stage activity, in the worker log', async () => {
  const base = testConfig(env, minio, 'tracing');
  const fromEnv = loadConfig({ env: { MLOPS_TRACING: 'log', MINIO_ACCESS_KEY: 'k', MINIO_SECRET_KEY: 's', HOME: process.env.HOME } });
  expect(fromEnv.tracing).toBe('log');
  expect(loadConfig({ env: { MINIO_ACCESS_KEY: 'k', MINIO_SECRET_KEY: 's', HOME: process.env.HOME } }).tracing).toBe('off');
  const config = { ...base, tracing: fromEnv.tracing, workerMetricsPort: 0, temporalMetricsPort: 0 };
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', format: 'json' }, { write: (line: string) => void lines.push(line) });
  const abort = new AbortController();
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const worker = runWorker({ config, logger, signal: abort.signal, onReady: ready });
  await Promise.race([started, worker]);
  try {
    const spec = loadSpecFile(EXAMPLE);
    spec.dataset = await stageDataset(config, spec.dataset);
    delete spec.monitor;
    spec.approval.required = false;
    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'tracing-test' });
    expect(await env.client.workflow.getHandle(workflowId).result()).toMatchObject({ status: 'deployed' });
  } finally {
    abort.abort();
    await worker;
  }
  // The worker flushes its last spans as it stops.
  const spans: LoggedSpan[] = lines.map((l) => JSON.parse(l)).flatMap((l: { span?: LoggedSpan }) => (l.span ? [l.span] : []));
  const run = spans.find((s) => s.name === 'RunWorkflow:pipelineRun');
  expect(run).toBeDefined();
  const stages = spans.filter((s) => s.traceId === run!.traceId && s.name.startsWith('RunActivity:')).map((s) => s.name);
  expect(stages).toEqual(
    expect.arrayContaining([
      'RunActivity:mlops.ingestDataset',
      'RunActivity:mlops.trainModel',
      'RunActivity:mlops.evaluateCandidate',
      'RunActivity:mlops.registerCandidate',
      'RunActivity:mlops.promoteVersion',
    ]),
  );
  // Each stage's span hangs from the run's span, through the workflow's call to start the activity.
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const ingest = spans.find((s) => s.name === 'RunActivity:mlops.ingestDataset')!;
  const start = byId.get(ingest.parentSpanId!);
  expect(start?.name).toBe('StartActivity:mlops.ingestDataset');
  expect(start?.parentSpanId).toBe(run!.spanId);
}, 600_000);
