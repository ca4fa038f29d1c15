/**
 * The ready-made worker: connects to Temporal as configured, and runs the plugin's workflows and
 * activities on the orchestration task queue and the training task queue. Stops cleanly on SIGINT/SIGTERM.
 */
import { createServer, type Server } from 'node:http';
import { NativeConnection, Worker } from '@temporalio/worker';
import { register } from 'prom-client';
import { loadConfig, type MlopsConfig } from './config';
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
  server.on('error', (err) => logger.warn({ err: err.message, port }, 'worker metrics endpoint not started (set MLOPS_WORKER_METRICS_PORT, or 0 to turn it off)'));
  server.listen(port, '127.0.0.1');
  return server;
}

/** Creates and runs the workers until shutdown. */
export async function runWorker(options: RunWorkerOptions = {}): Promise<void> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.log);
  installRuntimeLogger(logger);
  const connection = await NativeConnection.connect(config.temporal.connection);
  const metrics = serveMetrics(config.workerMetricsPort, logger);
  try {
    const dependencies = createDependencies(config, logger);
    const common = { connection, namespace: config.temporal.namespace };
    const orchestration = await Worker.create({ ...common, taskQueue: config.taskQueue, plugins: [new MlopsPlugin({ dependencies })] });
    // Training runs one activity at a time per worker: scale training by adding workers on this queue.
    const training = await Worker.create({
      ...common,
      taskQueue: config.trainingTaskQueue,
      plugins: [new MlopsPlugin({ dependencies, workflows: false })],
      maxConcurrentActivityTaskExecutions: 1,
    });
    const stop = () => {
      orchestration.shutdown();
      training.shutdown();
    };
    options.signal?.addEventListener('abort', stop);
    logger.info({ address: config.temporal.connection.address, namespace: config.temporal.namespace, taskQueues: [config.taskQueue, config.trainingTaskQueue] }, 'worker started');
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
