/**
 * The ready-made worker: connects to Temporal as configured, and runs the plugin's workflows and
 * activities on the orchestration task queue and the training task queue. Stops cleanly on SIGINT/SIGTERM.
 */
import { createServer, type Server } from 'node:http';
import { NativeConnection, Worker } from '@temporalio/worker';
import { register } from 'prom-client';
import { loadConfig, type MlopsConfig } from './config';
import { FailureType, MlopsError, isMlopsError } from './errors';
import { ArtifactStore } from './storage/artifact-store';
import { createLogger, installRuntimeLogger, type Logger } from './logger';
import { createDependencies } from './activities/dependencies';
import { MlopsPlugin } from './plugin';

/** Options of `runWorker`. */
export interface RunWorkerOptions {
  config?: MlopsConfig;
  logger?: Logger;
  /** Stops the workers when aborted (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once both workers are polling. */
  onReady?: () => void;
  /** The prebundled workflow code to use, or false to bundle at start (default: dist/workflow-bundle.js when it matches). */
  workflowBundle?: string | false;
}

/** Serves prom-client's default registry (the monitor's drift per feature, process metrics) on 127.0.0.1. */
function serveMetrics(port: number, logger: Logger): Server | undefined {
  if (port === 0) return undefined;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  server.on('error', (err) =>
    logger.warn({ err: err.message, port }, 'worker metrics endpoint not started (set MLOPS_WORKER_METRICS_PORT, or 0 to turn it off)'),
  );
  server.listen(port, '127.0.0.1');
  return server;
}

/** The gist of a connection error, without the transport library's wrapping (`tonic::transport::Error(...)`). */
function connectionProblem(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/connection refused/i.test(text)) return 'connection refused (nothing listens there)';
  if (/dns error|failed to lookup|name or service not known|no such host/i.test(text)) return 'the host name does not resolve';
  if (/timed? ?out|deadline/i.test(text)) return 'no answer in time';
  if (/certificate|tls|handshake/i.test(text)) return 'the TLS handshake failed (check TEMPORAL_TLS* settings)';
  if (/unauthenticated|permission denied|api key/i.test(text)) return 'the server refused the credentials (check TEMPORAL_API_KEY)';
  return text
    .split('\n')[0]!
    .replace(/tonic::transport::Error\(|\)+$/g, '')
    .slice(0, 200);
}

/**
 * Connects to Temporal and checks its namespace, within seconds; on failure, one line that says what is
 * wrong and what to set, instead of the transport's raw error.
 */
export async function connectTemporal(config: MlopsConfig): Promise<NativeConnection> {
  const { address } = config.temporal.connection;
  const { namespace } = config.temporal;
  let connection: NativeConnection;
  try {
    connection = await withTimeout(NativeConnection.connect(config.temporal.connection), 15_000);
  } catch (err) {
    throw new MlopsError(
      FailureType.Unavailable,
      `Cannot reach Temporal at ${address}: ${connectionProblem(err)}. Start it (npm run stack:up), or set TEMPORAL_ADDRESS.`,
    );
  }
  try {
    await withTimeout(connection.workflowService.describeNamespace({ namespace }), 10_000);
  } catch (err) {
    await connection.close().catch(() => undefined);
    if ((err as { code?: number }).code === 5) {
      throw new MlopsError(
        FailureType.Configuration,
        `Temporal at ${address} has no namespace "${namespace}": create it (temporal operator namespace create ${namespace}) or set TEMPORAL_NAMESPACE.`,
      );
    }
    throw new MlopsError(
      FailureType.Unavailable,
      `Temporal at ${address} did not answer for namespace "${namespace}": ${connectionProblem(err)}.`,
    );
  }
  return connection;
}

/**
 * Checks that MinIO answers and accepts the credentials (by creating or finding the bucket), so a
 * worker with a wrong key stops at start, saying so, rather than failing its first stage later.
 */
export async function checkStorage(config: MlopsConfig): Promise<void> {
  const store = ArtifactStore.connect(config.minio);
  try {
    await withTimeout(store.ensureBucket(), 15_000);
    await withTimeout(store.list('blobs/sha256/00/'), 15_000);
  } catch (err) {
    const where = `MinIO at ${store.endpoint} (bucket ${config.minio.bucket})`;
    if (isMlopsError(err) && err.type === FailureType.AccessDenied)
      throw new MlopsError(FailureType.AccessDenied, `${where} refused the credentials: check MINIO_ACCESS_KEY and MINIO_SECRET_KEY.`);
    if (isMlopsError(err) && err.type === FailureType.Configuration) throw err;
    const code = isMlopsError(err) ? (err.details?.code as string | undefined) : undefined;
    const why =
      code === 'ECONNREFUSED'
        ? 'connection refused (nothing listens there)'
        : code
          ? code
          : err instanceof Error
            ? err.message.split('\n')[0]
            : String(err);
    throw new MlopsError(FailureType.Unavailable, `Cannot use ${where}: ${why}. Start it (npm run stack:up), or set MINIO_ENDPOINT.`);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s`)), ms)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Creates and runs the workers until shutdown. */
export async function runWorker(options: RunWorkerOptions = {}): Promise<void> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.log);
  // Both servers are checked before anything starts: a wrong address or key is one clear line, at once.
  await checkStorage(config);
  installRuntimeLogger(logger);
  const connection = await connectTemporal(config);
  const metrics = serveMetrics(config.workerMetricsPort, logger);
  try {
    const dependencies = createDependencies(config, logger);
    const common = { connection, namespace: config.temporal.namespace };
    // One plugin for both queues: workflows and the short stages on one, training on the other.
    const plugin = new MlopsPlugin({
      dependencies,
      ...(options.workflowBundle !== undefined ? { workflowBundle: options.workflowBundle } : {}),
    });
    const orchestration = await Worker.create({ ...common, taskQueue: config.taskQueue, plugins: [plugin] });
    // Training runs one activity at a time per worker: scale training by adding workers on this queue.
    const training = await Worker.create({
      ...common,
      taskQueue: config.trainingTaskQueue,
      plugins: [plugin],
      maxConcurrentActivityTaskExecutions: 1,
    });
    const stop = () => {
      orchestration.shutdown();
      training.shutdown();
    };
    options.signal?.addEventListener('abort', stop);
    logger.info(
      {
        address: config.temporal.connection.address,
        namespace: config.temporal.namespace,
        taskQueues: [config.taskQueue, config.trainingTaskQueue],
      },
      'worker started',
    );
    const running = Promise.all([orchestration.run(), training.run()]);
    options.onReady?.();
    await running;
  } finally {
    metrics?.close();
    await connection.close();
  }
}

if (require.main === module) {
  runWorker().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
