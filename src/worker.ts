/**
 * The ready-made worker: connects to Temporal as configured, and runs the plugin's workflows and
 * activities on the orchestration task queue and the training task queue. Stops cleanly on SIGINT/SIGTERM.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
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

/** Creates and runs the workers until shutdown. */
export async function runWorker(options: RunWorkerOptions = {}): Promise<void> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.log);
  installRuntimeLogger(logger);
  const connection = await NativeConnection.connect(config.temporal.connection);
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
    await connection.close();
  }
}

if (require.main === module) {
  runWorker().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
