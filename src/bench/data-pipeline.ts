/**
 * The data suite's pipeline measurement: the flights example (examples/flights/pipeline.yaml, label derived in
 * the spec, built-in gbdt with the airports as categories) run whole, ingest to deploy, on the 3M-row Parquet
 * file (or the 10M-row sample of it), by a worker in its own process against the suite's Temporal dev server and
 * MinIO. The figures are the run's wall time and the worker's peak resident memory (VmHWM of its process), the
 * bounds issue 11 sets.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stageDataset } from '../cli/upload';
import { connectClient, startRun } from '../client';
import { loadConfig, type MlopsConfig } from '../config';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { loadSpecFile } from '../spec/load';
import { pipelineStatusQuery, type pipelineRunWorkflow } from '../contracts';

/** What `benchFlightsPipeline` measured. */
export interface FlightsPipelineResult {
  rows: number;
  wallS: number;
  peakRssMb: number;
  rocAuc: number;
  /** Seconds per stage, as the run's status reports them. */
  stages: Record<string, number>;
}

/** Peak resident memory of a live process in MiB (Linux: VmHWM). */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** Runs the flights example once, ingest to deploy, with a worker in its own process, and measures it. */
export async function benchFlightsPipeline(o: {
  minio: MlopsConfig['minio'];
  temporalAddress: string;
  log: (line: string) => void;
  /** Another Parquet file of the same columns (the 10M-row sample); default flights-3m.parquet. */
  source?: string;
}): Promise<FlightsPipelineResult> {
  const root = resolve(__dirname, '..', '..');
  const suffix = Math.random().toString(36).slice(2, 8);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TEMPORAL_ADDRESS: o.temporalAddress,
    MINIO_ENDPOINT: `http://${o.minio.endPoint}:${o.minio.port}`,
    MINIO_ACCESS_KEY: o.minio.accessKey,
    MINIO_SECRET_KEY: o.minio.secretKey,
    MINIO_BUCKET: o.minio.bucket,
    MLOPS_TASK_QUEUE: `bench-flights-${suffix}`,
    MLOPS_TRAINING_TASK_QUEUE: `bench-flights-training-${suffix}`,
    MLOPS_WORKER_METRICS_PORT: '0',
    MLOPS_LOG_LEVEL: 'warn',
    MLOPS_LOG_FORMAT: 'json',
  };
  const config = loadConfig({ env });
  await new ArtifactStore(createMinioClient(config.minio), config.minio.bucket).ensureBucket();
  const worker = spawn(process.execPath, [join(root, 'dist', 'worker.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((done) => worker.once('exit', () => done()));
  const client = await connectClient(config);
  try {
    const spec = loadSpecFile(join(root, 'examples', 'flights', 'pipeline.yaml'));
    if (o.source) spec.dataset.source = o.source;
    spec.dataset = await stageDataset(config, spec.dataset);
    o.log(`pipeline: the flights example on ${o.source ?? 'flights-3m.parquet'}, ingest to deploy, worker in its own process`);
    const started = Date.now();
    const { workflowId } = await startRun(client, config, spec, { requestedBy: 'bench' });
    const handle = client.workflow.getHandle<typeof pipelineRunWorkflow>(workflowId);
    const result = await handle.result();
    const wallS = (Date.now() - started) / 1000;
    const peak = peakRssMb(worker.pid!);
    if (result.status !== 'deployed') throw new Error(`the flights run ended ${result.status}: ${result.reason ?? ''}`);
    const status = await handle.query(pipelineStatusQuery);
    const stages = Object.fromEntries(
      status.stages.filter((s) => s.durationMs !== undefined).map((s) => [s.name, Math.round(s.durationMs! / 100) / 10]),
    );
    return {
      rows: status.data?.rows ?? 0,
      wallS,
      peakRssMb: peak,
      rocAuc: result.metrics?.rocAuc ?? NaN,
      stages,
    };
  } finally {
    await client.connection.close();
    worker.kill('SIGINT');
    await exited;
  }
}
