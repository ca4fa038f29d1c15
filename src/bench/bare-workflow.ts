/**
 * The orchestration benchmark's reference: a plain workflow calling six no-op activities in a row (as many as a pipeline
 * run without approval or monitor), the second on the training task queue as the pipeline's train stage is, with nothing
 * of its own (no status, details, timeline, patches, interceptors or payloads). Its per-activity overhead is Temporal's
 * floor on the same server and worker.
 *
 * The same workflow, given `BareExtras`, adds one of the pipeline's costs at a time (its activity options, its patch
 * markers, its payload sizes), so the benchmark can say what the pipeline's extra cost per stage is made of.
 */
import { patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import { stageActivity, trainingActivity } from '../workflows/options';

/** The one no-op activity the reference calls: takes padding, returns `resultBytes` of padding. */
export interface BareActivities {
  bareStep(input?: BareStepInput): Promise<{ pad: string } | undefined>;
}

/** A padded activity input, sized like one of the pipeline's. */
export interface BareStepInput {
  pad: string;
  resultBytes: number;
}

/** What the reference adds to Temporal's floor; nothing by default. */
export interface BareExtras {
  /** Schedule each activity with the pipeline stages' options (heartbeat timeout, retry policy, timeouts). */
  stageOptions?: boolean;
  /** The patch asked before each activity (by position), as the pipeline asks its patches; none where absent. */
  patches?: (string | null)[];
  /** Bytes of padding in each activity's input and result (by position), to match the pipeline's payload sizes. */
  inputBytes?: number[];
  resultBytes?: number[];
}

const timeouts = { startToCloseTimeout: '1 minute' } as const;

/** Six no-op activities, one at a time: the pipeline's activities without the pipeline. */
export async function bareRun(trainingTaskQueue: string, extras: BareExtras = {}): Promise<void> {
  const options: ActivityOptions = extras.stageOptions ? stageActivity : timeouts;
  const training: ActivityOptions = extras.stageOptions
    ? trainingActivity(trainingTaskQueue)
    : { ...timeouts, taskQueue: trainingTaskQueue };
  const onQueue = proxyActivities<BareActivities>(options).bareStep;
  const onTraining = proxyActivities<BareActivities>(training).bareStep;
  for (let i = 0; i < 6; i++) {
    const patch = extras.patches?.[i];
    if (patch) patched(patch);
    const step = i === 1 ? onTraining : onQueue;
    const inputBytes = extras.inputBytes?.[i];
    await (inputBytes === undefined ? step() : step({ pad: 'x'.repeat(inputBytes), resultBytes: extras.resultBytes?.[i] ?? 0 }));
  }
}
