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
import { createLogger, installRuntime, sdkMetricsAddress, type Logger } from './logger';
import { createDependencies } from './activities/dependencies';
import { MlopsPlugin } from './plugin';
import { configuredTracing, type Tracing } from './tracing';
import { lifecycleMetrics } from './activities/lifecycle-metrics';
import { collectProcessMetrics, registerDriftGauge } from './serving/metrics';

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

/**
 * Serves prom-client's default registry: Node's process metrics (from the first scrape), the monitor's drift per
 * feature, and the lifecycle's counters (retrains, rollbacks, approval waits).
 */
function serveMetrics(host: string, port: number, logger: Logger): Server | undefined {
  if (port === 0) return undefined;
  collectWorkerMetrics();
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
  server.listen(port, host);
  return server;
}

/**
 * Registers the worker's metrics in prom-client's default registry, once per process: Node's process metrics under
 * their stock names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_p99_seconds`), the drift gauge and the
 * lifecycle metrics. A host that embeds the plugin calls it and serves `metricsRegistry` from its own endpoint.
 */
export function collectWorkerMetrics(): void {
  collectProcessMetrics(register);
  registerDriftGauge();
  lifecycleMetrics();
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
  const sdkMetrics = config.temporalMetricsPort === 0 ? undefined : `${config.metricsHost}:${config.temporalMetricsPort}`;
  const ownRuntime = installRuntime(logger, { prometheusBindAddress: sdkMetrics });
  if (!ownRuntime && sdkMetrics) {
    logger.info(
      { wanted: sdkMetrics },
      "Temporal's Runtime was installed before the worker started (by the host process): its telemetry settings stay, " +
        'so the SDK metrics are wherever it exports them',
    );
  }
  const connection = await connectTemporal(config);
  const metrics = serveMetrics(config.metricsHost, config.workerMetricsPort, logger);
  let tracing: Tracing | undefined;
  try {
    const dependencies = createDependencies(config, logger);
    const common = { connection, namespace: config.temporal.namespace };
    // One plugin for both queues: workflows and the short stages on one, training on the other.
    // Tracing's workflow interceptors must be inside the workflow bundle, which only a bundle made at start has.
    tracing = await configuredTracing(config, logger);
    const workflowBundle = tracing ? false : options.workflowBundle;
    const plugin = new MlopsPlugin({ dependencies, ...(workflowBundle !== undefined ? { workflowBundle } : {}) });
    const plugins = tracing ? [plugin, tracing.plugin] : [plugin];
    const orchestration = await Worker.create({ ...common, taskQueue: config.taskQueue, plugins });
    // Training runs one activity at a time per worker: scale training by adding workers on this queue.
    const training = await Worker.create({
      ...common,
      taskQueue: config.trainingTaskQueue,
      plugins,
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
        metrics: [
          ...(metrics ? [`http://${config.metricsHost}:${config.workerMetricsPort}/metrics`] : []),
          ...(ownRuntime && sdkMetricsAddress() ? [`http://${sdkMetricsAddress()}/metrics`] : []),
        ],
      },
      'worker started',
    );
    const running = Promise.all([orchestration.run(), training.run()]);
    options.onReady?.();
    await running;
  } finally {
    await tracing?.shutdown().catch((err: Error) => logger.warn({ err: err.message }, 'flushing the last spans failed'));
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
