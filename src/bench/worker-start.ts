/**
 * A child process of the orchestration benchmark: starts the ready-made worker (both task queues) with the prebundled
 * workflow code or bundling at start, tells the parent once it is ready, and stops. The parent times fork to ready.
 */
import type { MlopsConfig } from '../config';
import { createLogger } from '../logger';
import { workflowBundleStatus } from '../prebundle';
import { runWorker } from '../worker';

async function main(): Promise<void> {
  const config = JSON.parse(process.env.MLOPS_BENCH_CONFIG ?? '') as MlopsConfig;
  const mode = process.argv[2] ?? '';
  const workflowBundle = mode === 'unbundled' ? false : mode;
  if (workflowBundle !== false) {
    const status = workflowBundleStatus(workflowBundle);
    if (!status.usable) throw new Error(`the prebundle cannot be used: ${status.reason}`);
  }
  const stop = new AbortController();
  await runWorker({
    config,
    workflowBundle,
    logger: createLogger({ level: 'warn', format: 'json' }),
    signal: stop.signal,
    onReady: () => {
      process.send!({ ready: true });
      stop.abort();
    },
  });
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
