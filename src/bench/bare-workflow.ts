/**
 * The orchestration benchmark's reference: a plain workflow calling six no-op activities in a row (as many as a pipeline
 * run without approval or monitor), the second on the training task queue as the pipeline's train stage is, with nothing
 * of its own (no status, details, timeline, patches, interceptors or payloads). Its per-activity overhead is Temporal's
 * floor on the same server and worker.
 */
import { proxyActivities } from '@temporalio/workflow';

/** The one no-op activity the reference calls. */
export interface BareActivities {
  bareStep(): Promise<void>;
}

const timeouts = { startToCloseTimeout: '1 minute' } as const;

/** Six no-op activities, one at a time: the pipeline's activities without the pipeline. */
export async function bareRun(trainingTaskQueue: string): Promise<void> {
  const { bareStep } = proxyActivities<BareActivities>(timeouts);
  const training = proxyActivities<BareActivities>({ ...timeouts, taskQueue: trainingTaskQueue });
  await bareStep();
  await training.bareStep();
  await bareStep();
  await bareStep();
  await bareStep();
  await bareStep();
}
