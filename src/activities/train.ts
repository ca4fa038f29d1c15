/**
 * The train stage, on its own task queue: fit the spec's trainer on the training side of the snapshot
 * and store the model. Built-in trainers write a JSON model; the `command` trainer runs an external
 * program under contract v2 and its output becomes an ONNX model manifest; unless `trainer.data: local`,
 * that program also gets the training rows as presigned Parquet parts in MinIO, for a cluster to read.
 *
 * A built-in trainer reads the rows and fits on a thread of its own (ml/trainers/threaded.ts), so this
 * thread's event loop stays free for the heartbeat and cancellation however long a round takes.
 * Heartbeats go out on a timer for the whole stage (download, split, a silent external program), and
 * carry progress and the latest checkpoint reference, so when a worker dies the retry on another
 * worker resumes from that checkpoint instead of starting over.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { writeTrainingRows } from '../ml/dataset';
import { OUTPUT_FILES, runExternalTrainer } from '../ml/external/command';
import { onnxManifest } from '../ml/external/model';
import { publishTrainingParts, urlExpirySeconds, writeTrainingParts } from '../ml/external/remote-data';
import { trainInThread } from '../ml/trainers/threaded';
import type { CheckpointStore } from '../ml/types';
import type { ArtifactRef } from '../storage/refs';
import type { MlopsDependencies } from './dependencies';
import { withHeartbeat, type Heartbeat } from './heartbeat';
import type { TrainHeartbeat, TrainInput, TrainResult } from '../contracts';
import { withWorkdir } from './workdir';

type CommandTrainer = Extract<TrainInput['trainer'], { name: 'command' }>;

/** A checkpoint store in MinIO whose latest reference travels in the activity's heartbeat. */
function heartbeatCheckpoints(
  store: MlopsDependencies['store'],
  previous: ArtifactRef | undefined,
  beat: Heartbeat<TrainHeartbeat>,
): CheckpointStore & { resumedFrom?: ArtifactRef } {
  return {
    resumedFrom: undefined as ArtifactRef | undefined,
    async load() {
      if (!previous) return undefined;
      this.resumedFrom = previous;
      return store.getJson(previous);
    },
    async save(checkpoint: unknown) {
      beat.update({ checkpoint: await store.putJson(checkpoint, { contentType: 'application/json' }) });
    },
  };
}

/** Creates the train activity. */
export function createTrainActivities({ store, logger }: MlopsDependencies) {
  /** Runs an external program on the training rows and stores its output under one ONNX model manifest. */
  async function trainExternal(
    input: TrainInput,
    trainer: CommandTrainer,
    file: string,
    dir: string,
    beat: Heartbeat<TrainHeartbeat>,
    started: number,
  ) {
    const ctx = Context.current();
    const trainFile = join(dir, 'train.jsonl');
    beat.update({ message: 'writing the training rows' });
    const { trainRows } = await writeTrainingRows(file, input.schema, input.split, trainFile);
    const data = trainer.data ?? 'both';
    let trainUris: string | undefined;
    if (data !== 'local') {
      beat.update({ message: `writing the ${trainRows} training rows as Parquet parts` });
      const local = await writeTrainingParts(trainFile, trainRows, input.schema, join(dir, 'parts'));
      const parts = await publishTrainingParts(store, local, input.schema, urlExpirySeconds(trainer.timeout));
      trainUris = join(dir, 'train-uris.json');
      // The URLs are credentials: they go to the program in this private file, never into a log or an artifact.
      await writeFile(trainUris, JSON.stringify(parts, null, 2), { mode: 0o600 });
      await rm(join(dir, 'parts'), { recursive: true, force: true });
      ctx.log.info('training parts stored', {
        model: input.model,
        parts: parts.parts.map((p) => p.uri),
        rows: parts.rows,
        expires: parts.expires,
      });
    }
    beat.update({ message: `running ${trainer.command.join(' ')} on ${trainRows} rows` });
    const result = await runExternalTrainer(
      {
        command: trainer.command,
        cwd: trainer.workingDirectory,
        env: trainer.env,
        timeoutMs: trainer.timeout,
        killGraceMs: trainer.killGrace,
      },
      {
        trainData: trainFile,
        localTrainData: data !== 'remote',
        trainUris,
        schema: input.schema,
        params: trainer.params,
        seed: input.split.seed,
        workDir: join(dir, 'work'),
        signal: ctx.cancellationSignal,
        onLog: (line, stream) => logger.info({ model: input.model, stream }, line),
        onProgress: (progress) => beat.update({ progress }),
      },
    );
    beat.update({ message: `storing ${result.files.length} files` });
    const files: Record<string, ArtifactRef> = {};
    for (const name of result.files) files[name] = await store.putFile(join(result.outputDir, name));
    const manifest = onnxManifest({
      schema: input.schema,
      signature: result.signature,
      command: trainer.command,
      params: trainer.params,
      files,
      claimedMetrics: result.claimedMetrics,
      checkRows: await store.putFile(result.checkData, { contentType: 'application/x-ndjson' }),
      checkPredictions: result.checkPredictions ? files[OUTPUT_FILES.checkPredictions] : undefined,
    });
    ctx.log.info('model trained', { model: input.model, trainer: 'command', rows: trainRows, files: result.files.length });
    return {
      model: await store.putJson(manifest, { contentType: 'application/json' }),
      trainer: 'command',
      params: trainer.params,
      trainRows,
      durationMs: Date.now() - started,
      claimedMetrics: result.claimedMetrics,
    };
  }

  return {
    /** Fits the spec's trainer on the training side of the split and stores the model. */
    async trainModel(input: TrainInput): Promise<TrainResult> {
      const ctx = Context.current();
      const started = Date.now();
      const previous = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
      const initial: TrainHeartbeat = {
        progress: previous?.progress ?? 0,
        checkpoint: previous?.checkpoint,
        message: 'downloading the snapshot',
      };
      return withHeartbeat<TrainHeartbeat, TrainResult>(initial, (beat) =>
        withWorkdir(async (dir) => {
          const file = join(dir, 'snapshot.jsonl');
          await store.getFile(input.snapshot, file);
          if (input.trainer.name === 'command') return trainExternal(input, input.trainer, file, dir, beat, started);
          beat.update({ message: 'reading the training rows' });
          const checkpoints = heartbeatCheckpoints(store, previous?.checkpoint, beat);
          // The fit runs on a thread of its own: this thread's event loop keeps the heartbeat and cancellation going.
          const { model, rows } = await trainInThread(
            {
              snapshot: file,
              schema: input.schema,
              split: input.split,
              trainer: input.trainer.name,
              params: input.trainer.params,
              seed: input.split.seed,
              checkpointEvery: { iterations: 10, seconds: 3 },
              checkpoint: true,
            },
            {
              signal: ctx.cancellationSignal,
              checkpoint: checkpoints,
              onLoaded: (n) => beat.update({ message: `training ${input.trainer.name} on ${n} rows` }),
              onProgress: (progress) => beat.update({ progress }),
            },
          );
          const ref = await store.putJson(model, { contentType: 'application/json' });
          ctx.log.info('model trained', {
            model: input.model,
            trainer: input.trainer.name,
            rows,
            resumed: Boolean(checkpoints.resumedFrom),
          });
          return {
            model: ref,
            trainer: input.trainer.name,
            params: model.params,
            resumedFrom: checkpoints.resumedFrom ? { checkpoint: checkpoints.resumedFrom, progress: previous?.progress ?? 0 } : undefined,
            trainRows: rows,
            durationMs: Date.now() - started,
          };
        }),
      );
    },
  };
}
