/**
 * The train stage, on its own task queue: load the snapshot's training split, fit the trainer, store
 * the model. Heartbeats carry progress and the latest checkpoint reference, so when a worker dies the
 * retry on another worker resumes from that checkpoint instead of starting over.
 */
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { loadSplit, writeSplitFiles } from '../ml/dataset';
import { runExternalTrainer } from '../ml/external/command';
import { EXTERNAL_MODEL_FORMAT, type ExternalModel } from '../ml/external/model';
import { trainModel as fitBuiltIn } from '../ml/trainers';
import type { CheckpointStore } from '../ml/types';
import type { ArtifactRef } from '../storage/refs';
import type { MlopsDependencies } from './dependencies';
import type { TrainHeartbeat, TrainInput, TrainResult } from './types';
import { withWorkdir } from './workdir';

/** A checkpoint store in MinIO whose latest reference travels in the activity's heartbeat. */
function heartbeatCheckpoints(store: MlopsDependencies['store'], ctx: Context, state: TrainHeartbeat): CheckpointStore & { resumedFrom?: ArtifactRef } {
  const previous = (ctx.info.heartbeatDetails as TrainHeartbeat | undefined)?.checkpoint;
  return {
    resumedFrom: undefined as ArtifactRef | undefined,
    async load() {
      if (!previous) return undefined;
      this.resumedFrom = previous;
      return store.getJson(previous);
    },
    async save(checkpoint: unknown) {
      state.checkpoint = await store.putJson(checkpoint, { contentType: 'application/json' });
      ctx.heartbeat({ ...state });
    },
  };
}

/** Creates the train activity. */
export function createTrainActivities({ store, logger }: MlopsDependencies) {
  /** Runs an external training program on the split files, and stores its output files under one manifest. */
  async function trainExternal(input: TrainInput, trainer: { command: string[]; params: Record<string, unknown>; workingDirectory?: string }, file: string, dir: string, started: number): Promise<TrainResult> {
    const ctx = Context.current();
    const trainFile = join(dir, 'train.jsonl');
    const testFile = join(dir, 'validation.jsonl');
    const { trainRows } = await writeSplitFiles(file, input.schema, input.split, trainFile, testFile);
    const result = await runExternalTrainer(
      { command: trainer.command, cwd: trainer.workingDirectory },
      {
        trainData: trainFile,
        validationData: testFile,
        schema: input.schema,
        params: trainer.params,
        seed: input.split.seed,
        workDir: join(dir, 'work'),
        signal: ctx.cancellationSignal,
        onLog: (line, stream) => logger.info({ model: input.model, stream }, line),
        onProgress: (progress) => ctx.heartbeat({ progress }),
      },
    );
    const files: Record<string, ArtifactRef> = {};
    for (const name of result.files) files[name] = await store.putFile(join(result.outputDir, name));
    const manifest: ExternalModel = { format: EXTERNAL_MODEL_FORMAT, command: trainer.command, files, metrics: result.metrics };
    return { model: await store.putJson(manifest, { contentType: 'application/json' }), trainer: 'command', params: trainer.params, trainRows, durationMs: Date.now() - started };
  }

  return {
    /** Fits the spec's trainer on the training split and stores the model (JSON, with its preprocessing). */
    async trainModel(input: TrainInput): Promise<TrainResult> {
      const ctx = Context.current();
      const started = Date.now();
      const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
      const state: TrainHeartbeat = { progress: previous?.progress ?? 0, checkpoint: previous?.checkpoint };
      const checkpoints = heartbeatCheckpoints(store, ctx, state);
      return withWorkdir(async (dir) => {
        const file = join(dir, 'snapshot.jsonl');
        await store.getFile(input.snapshot, file);
        if (input.trainer.name === 'command') return trainExternal(input, input.trainer, file, dir, started);
        const { train } = await loadSplit(file, input.schema, input.split);
        ctx.heartbeat({ ...state, message: `training ${input.trainer.name} on ${train.rowCount} rows` });
        const model = await fitBuiltIn(input.trainer.name, {
          train,
          schema: input.schema,
          params: input.trainer.params,
          seed: input.split.seed,
          signal: ctx.cancellationSignal,
          checkpoint: checkpoints,
          checkpointEvery: { iterations: 10, seconds: 3 },
          onProgress: (fraction) => {
            state.progress = fraction;
            ctx.heartbeat({ ...state });
          },
        });
        const ref = await store.putJson(model, { contentType: 'application/json' });
        ctx.log.info('model trained', { model: input.model, trainer: input.trainer.name, rows: train.rowCount, resumed: Boolean(checkpoints.resumedFrom) });
        return {
          model: ref,
          trainer: input.trainer.name,
          params: model.params,
          resumedFrom: checkpoints.resumedFrom ? { checkpoint: checkpoints.resumedFrom, progress: previous?.progress ?? 0 } : undefined,
          trainRows: train.rowCount,
          durationMs: Date.now() - started,
        };
      });
    },
  };
}
