/** A real worker running the plugin against test servers, for integration tests. */
import { Worker, type WorkerOptions } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDependencies, type MlopsDependencies } from '../../src/activities/dependencies';
import { loadConfig, type MlopsConfig } from '../../src/config';
import { createLogger, installRuntimeLogger } from '../../src/logger';
import { MlopsPlugin } from '../../src/plugin';
import type { TestMinio } from './servers';

/** A configuration pointing at the test servers, with unique task queues. */
export function testConfig(env: TestWorkflowEnvironment, minio: TestMinio, bucket = 'mlops-test'): MlopsConfig {
  const base = loadConfig({
    env: {
      MINIO_ACCESS_KEY: minio.accessKey,
      MINIO_SECRET_KEY: minio.secretKey,
      HOME: process.env.HOME,
      MLOPS_LOG_LEVEL: 'warn',
      MLOPS_LOG_FORMAT: 'json',
    },
  });
  const suffix = Math.random().toString(36).slice(2, 8);
  return {
    ...base,
    temporal: { ...base.temporal, connection: { address: env.address }, external: true },
    minio: minio.config(bucket),
    taskQueue: `mlops-${suffix}`,
    trainingTaskQueue: `mlops-training-${suffix}`,
  };
}

/** Starts workers on both task queues and returns a function that stops them. */
export async function startWorkers(
  env: TestWorkflowEnvironment,
  config: MlopsConfig,
  extra: Partial<WorkerOptions> = {},
): Promise<{ deps: MlopsDependencies; stop: () => Promise<void> }> {
  const logger = createLogger({ level: 'warn', format: 'json' });
  try {
    installRuntimeLogger(logger);
  } catch {
    // Another test file in this jest worker process installed the Runtime already.
  }
  const deps = createDependencies(config, logger);
  const plugin = new MlopsPlugin({ dependencies: deps });
  const orchestration = await Worker.create({ connection: env.nativeConnection, taskQueue: config.taskQueue, plugins: [plugin], ...extra });
  const training = await Worker.create({ connection: env.nativeConnection, taskQueue: config.trainingTaskQueue, plugins: [plugin] });
  const running = Promise.all([orchestration.run(), training.run()]);
  return {
    deps,
    stop: async () => {
      orchestration.shutdown();
      training.shutdown();
      await running;
    },
  };
}
