import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../../src/config';
import { FailureType, MlopsError } from '../../../src/errors';

const base = { MINIO_ACCESS_KEY: 'ak', MINIO_SECRET_KEY: 'sk', MLOPS_DATA_DIR: '/nonexistent-mlops-data', HOME: os.homedir() };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ env });
  } catch (err) {
    expect(err).toBeInstanceOf(MlopsError);
    expect((err as MlopsError).type).toBe(FailureType.Configuration);
    return (err as MlopsError).details!.problems as string[];
  }
  throw new Error('expected the configuration to be rejected');
}

describe('configuration', () => {
  it('defaults to the local stack on loopback with the standard ports and task queues', () => {
    const c = loadConfig({ env: base });
    expect(c.temporal.connection.address).toBe('127.0.0.1:7233');
    expect(c.temporal.namespace).toBe('default');
    expect(c.temporal.external).toBe(false);
    expect(c.minio).toMatchObject({ endPoint: '127.0.0.1', port: 9000, useSSL: false, bucket: 'mlops', external: false });
    expect(c.taskQueue).toBe('mlops');
    expect(c.trainingTaskQueue).toBe('mlops-training');
    expect(c.stack).toEqual({ temporalPort: 7233, temporalUiPort: 8233, minioPort: 9000, minioConsolePort: 9001, codecPort: 8234 });
  });

  it('serves worker metrics and Temporal SDK metrics on loopback by default, with tracing off', () => {
    const c = loadConfig({ env: base });
    expect([c.metricsHost, c.workerMetricsPort, c.temporalMetricsPort, c.tracing]).toEqual(['127.0.0.1', 9464, 9465, 'off']);
    const open = loadConfig({ env: { ...base, MLOPS_METRICS_HOST: '0.0.0.0', MLOPS_TEMPORAL_METRICS_PORT: '0', MLOPS_TRACING: 'log' } });
    expect([open.metricsHost, open.temporalMetricsPort, open.tracing]).toEqual(['0.0.0.0', 0, 'log']);
    expect(problemsOf({ ...base, MLOPS_TRACING: 'jaeger' })[0]).toMatch(/^MLOPS_TRACING: expected one of off, log/);
  });

  it('follows the Temporal envconfig variables for address, namespace and API key', () => {
    const c = loadConfig({
      env: { ...base, TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'my-ns.a1b2c', TEMPORAL_API_KEY: 'key-123' },
    });
    expect(c.temporal.connection.address).toBe('my-ns.a1b2c.tmprl.cloud:7233');
    expect(c.temporal.namespace).toBe('my-ns.a1b2c');
    expect(c.temporal.connection.apiKey).toBe('key-123');
    expect(c.temporal.external).toBe(true);
  });

  it('accepts a MinIO URL and takes TLS and port from it', () => {
    const c = loadConfig({ env: { ...base, MINIO_ENDPOINT: 'https://s3.example.com:9443' } });
    expect(c.minio).toMatchObject({ endPoint: 's3.example.com', port: 9443, useSSL: true, external: true });
  });

  it('lists every invalid variable on its own line, naming it and what is expected', () => {
    const problems = problemsOf({
      ...base,
      MLOPS_TEMPORAL_PORT: 'seventy',
      MINIO_BUCKET: 'Bad_Bucket',
      MLOPS_LOG_LEVEL: 'loud',
      MINIO_USE_SSL: 'maybe',
    });
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('MLOPS_TEMPORAL_PORT:'))).toMatch(/port/);
    expect(problems.find((p) => p.startsWith('MINIO_BUCKET:'))).toMatch(/S3 bucket name/);
    expect(problems.find((p) => p.startsWith('MLOPS_LOG_LEVEL:'))).toMatch(/trace, debug, info/);
    expect(problems.find((p) => p.startsWith('MINIO_USE_SSL:'))).toMatch(/true or false/);
  });

  it('says to run the stack or set the keys when MinIO credentials are missing', () => {
    const [problem] = problemsOf({ MLOPS_DATA_DIR: '/nonexistent-mlops-data', HOME: os.homedir() });
    expect(problem).toMatch(/MINIO_ACCESS_KEY/);
    expect(problem).toMatch(/stack:up/);
  });

  it('reads an optional JSON file, with the environment taking precedence', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-cfg-')), 'mlops.json');
    fs.writeFileSync(file, JSON.stringify({ MINIO_BUCKET: 'from-file', MLOPS_TASK_QUEUE: 'file-queue' }));
    const c = loadConfig({ env: { ...base, MLOPS_CONFIG_FILE: file, MLOPS_TASK_QUEUE: 'env-queue' } });
    expect(c.minio.bucket).toBe('from-file');
    expect(c.taskQueue).toBe('env-queue');
  });

  it('reports a configuration file that is not JSON, naming the file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-cfg-')), 'broken.json');
    fs.writeFileSync(file, '{ not json');
    const [problem] = problemsOf({ ...base, MLOPS_CONFIG_FILE: file });
    expect(problem).toContain(file);
    expect(problem).toMatch(/not valid JSON/);
  });

  it("bounds an ingest's engine memory and remote-source copies, 1.6 GB and 20 GiB unless the operator says otherwise", () => {
    expect(loadConfig({ env: base }).ingest).toEqual({ memoryLimit: '1600MB', scratchBudget: 20 * 1024 ** 3 });
    const small = loadConfig({ env: { ...base, MLOPS_INGEST_MEMORY_LIMIT: '512MB', MLOPS_SCRATCH_BUDGET: '1000000' } });
    expect(small.ingest).toEqual({ memoryLimit: '512MB', scratchBudget: 1_000_000 });
  });

  it('refuses an ingest memory limit or scratch budget it cannot use, instead of ingesting without a bound', () => {
    const problems = problemsOf({ ...base, MLOPS_INGEST_MEMORY_LIMIT: 'lots', MLOPS_SCRATCH_BUDGET: '20GB' });
    expect(problems).toEqual([
      expect.stringMatching(/^MLOPS_INGEST_MEMORY_LIMIT: expected a size such as 512MB or 2GB \(got "lots"\)/),
      expect.stringMatching(/^MLOPS_SCRATCH_BUDGET: expected a number of bytes \(got "20GB"\)/),
    ]);
    expect(problemsOf({ ...base, MLOPS_SCRATCH_BUDGET: '0' })[0]).toMatch(/^MLOPS_SCRATCH_BUDGET: expected a number of bytes above 0/);
  });
});
