/** `mlops run|status|approve|reject|check|worker`: starting and following pipeline runs, and deciding approvals. */
import type { Command } from 'commander';
import { connectClient, decide, describeRun, hasPollers, noWorkerMessage, requireWorkers, startRun, type RunView } from '../client';
import { loadConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { artifactRoundTripWorkflow } from '../contracts';
import { loadSpecFile } from '../spec/load';
import { emit, UsageError } from './output';
import { checkDatasetSql, stageDataset } from './upload';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { renderRun } from './render';
import { clientFor, withCodecOptions, type CodecOptions } from './codec';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls a run until it ends, however it ends (deployed, failed, terminated, cancelled, timed out),
 * redrawing the stage view when it changes (or printing JSON once at the end).
 */
export async function followRun(
  json: boolean,
  workflowId: string,
  client: Awaited<ReturnType<typeof connectClient>>,
  trainingTaskQueue?: string,
): Promise<RunView> {
  let last = '';
  for (;;) {
    const view = await describeRun(client, workflowId, { trainingTaskQueue });
    if (!json) {
      const text = renderRun(view);
      if (text !== last) {
        process.stdout.write(`${process.stdout.isTTY && last ? '\x1b[2J\x1b[H' : ''}${text}\n`);
        last = text;
      }
    }
    if (view.execution !== 'RUNNING') return view;
    await sleep(1000);
  }
}

/** The exit status of a finished run: 0 when deployed, 1 otherwise. */
function outcomeFailed(view: RunView): boolean {
  return view.execution !== 'RUNNING' && view.result?.status !== 'deployed';
}

/** Registers the run-related commands. */
export function registerRuns(program: Command, run: Runner): void {
  const runCmd = program.command('run <spec>');
  withCodecOptions(runCmd)
    .description('Start a pipeline run of the spec (YAML or JSON): ingest, train, validate, servability check, approve, deploy, monitor')
    .option('--follow', 'follow the run until it ends, with a live stage view')
    .option('--requested-by <name>', 'who asks for the run (they cannot approve it)', process.env.USER ?? 'cli')
    .option('--reason <text>', 'why the run is started (shown to approvers)')
    .option('--workflow-id <id>', 'use this workflow id instead of a generated one')
    .option('--json', 'print {"workflowId", "runId"} as JSON (with --follow, the final status)')
    .action(
      run(
        async (
          json,
          specPath: string,
          opts: { follow?: boolean; requestedBy: string; reason?: string; workflowId?: string } & CodecOptions,
        ) => {
          const config = loadConfig();
          const spec = loadSpecFile(specPath);
          await checkDatasetSql(spec.dataset);
          // Temporal must answer before anything is uploaded: an unreachable server leaves no orphaned upload.
          const { client } = await clientFor(config, opts);
          try {
            spec.dataset = await stageDataset(config, spec.dataset, (line: string) => void (json || process.stderr.write(`${line}\n`)));
            const started = await startRun(client, config, spec, {
              requestedBy: opts.requestedBy,
              reason: opts.reason,
              workflowId: opts.workflowId,
            });
            if (!(await hasPollers(client, config.taskQueue, 'workflow').catch(() => true)))
              process.stderr.write(`Warning: ${noWorkerMessage(config.taskQueue, 'workflow')}\n`);
            if (!opts.follow) {
              emit(
                json,
                started,
                `Started ${started.workflowId}\nFollow it: mlops status ${started.workflowId} --follow\nTemporal UI: ${uiLink(config, started.workflowId)}`,
              );
              return;
            }
            if (!json) process.stdout.write(`Started ${started.workflowId}  (Temporal UI: ${uiLink(config, started.workflowId)})\n`);
            const view = await followRun(json, started.workflowId, client, config.trainingTaskQueue);
            if (json) emit(true, { ...started, ...view }, '');
            if (outcomeFailed(view))
              throw new MlopsError(
                FailureType.InvalidInput,
                `run ended ${view.outcome}${view.result?.reason ? `: ${view.result.reason}` : view.failure ? `: ${view.failure}` : ''}`,
              );
          } finally {
            await client.connection.close();
          }
        },
      ),
    );

  program
    .command('status <workflowId>')
    .description("Show a run's stages, timings, training progress, metrics and approval state")
    .option('--follow', 'keep the view live until the run ends')
    .option('--json', 'print the status as JSON')
    .action(
      run(async (json, workflowId: string, opts: { follow?: boolean }) => {
        const config = loadConfig();
        const client = await connectClient(config);
        try {
          const view = opts.follow
            ? await followRun(json, workflowId, client, config.trainingTaskQueue)
            : await describeRun(client, workflowId, { trainingTaskQueue: config.trainingTaskQueue });
          if (view.status?.card) {
            const store = new ArtifactStore(createMinioClient(config.minio), config.minio.bucket);
            view.cardUrl = await store.presignedGetUrl(view.status.card, 24 * 3600).catch(() => undefined);
          }
          if (json) emit(true, view, '');
          else if (!opts.follow) emit(false, view, renderRun(view));
        } finally {
          await client.connection.close();
        }
      }),
    );

  for (const decision of ['approve', 'reject'] as const) {
    const cmd = program
      .command(`${decision} <workflowId>`)
      .description(
        decision === 'approve'
          ? 'Approve the candidate model of a run waiting at its approval gate'
          : 'Reject the candidate model of a run waiting at its approval gate',
      )
      .option('--as <name>', 'who decides (must be an allowed approver); with a token, the name the token proves counts instead');
    if (decision === 'approve') cmd.option('--comment <text>', 'a note stored with the approval in the version manifest');
    else cmd.option('--reason <text>', 'why the candidate is rejected');
    withCodecOptions(cmd);
    cmd.option('--json', 'print the answer as JSON').action(
      run(async (json, workflowId: string, opts: { as?: string; comment?: string; reason?: string } & CodecOptions) => {
        if (decision === 'reject' && !opts.reason) throw new UsageError('reject needs --reason <text>');
        const config = loadConfig();
        const { client, token } = await clientFor(config, opts);
        if (!opts.as && !token) {
          await client.connection.close();
          throw new UsageError(`${decision} needs --as <name>, or a token (MLOPS_TOKEN) and a codec server that proves who you are`);
        }
        try {
          // The workflow id binds a stamped decision to this run: the stamp cannot be replayed on another.
          const answer = await decide(client, workflowId, {
            decision,
            approver: opts.as ?? '',
            comment: opts.comment,
            reason: opts.reason,
            workflowId,
          });
          // A refusal is an error, said once: on stderr, or as the one JSON document with --json.
          if (!answer.accepted)
            throw new MlopsError(FailureType.InvalidInput, `${decision} refused: ${answer.reason} (gate: ${answer.state})`, { answer });
          emit(json, answer, `Accepted: ${answer.reason} (gate: ${answer.state})`);
        } finally {
          await client.connection.close();
        }
      }),
    );
  }

  program
    .command('check')
    .description('Prove the wiring: a workflow writes an artifact to MinIO and reads it back, verified by its sha256')
    .option('--size <bytes>', 'artifact size in bytes', '1048576')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json, opts: { size: string }) => {
        const size = Number(opts.size);
        if (!Number.isInteger(size) || size < 0) throw new UsageError(`--size must be a whole number of bytes, got "${opts.size}"`);
        const config = loadConfig();
        const client = await connectClient(config);
        try {
          // Without a worker the round trip would wait for ever: say so at once instead.
          await requireWorkers(client, config);
          const result = await client.workflow.execute(artifactRoundTripWorkflow, {
            taskQueue: config.taskQueue,
            workflowId: `check-${Date.now()}`,
            args: [{ sizeBytes: size, seed: Date.now() % 1000 }],
          });
          emit(
            json,
            result,
            `Round trip ${result.verified ? 'verified' : 'FAILED'}: ${result.artifact.uri} (${result.readBytes} bytes, sha256 ${result.artifact.sha256})`,
          );
        } finally {
          await client.connection.close();
        }
      }),
    );

  program
    .command('worker')
    .description('Run the worker: the workflows and activities on the orchestration and training task queues')
    .action(
      run(async () => {
        const { runWorker } = await import('../worker');
        await runWorker();
        // Activities handed back at shutdown may still hold a socket or a timer: the process is done anyway.
        setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
      }),
    );
}

/** A link to a workflow in the Temporal Web UI of the local stack. */
export function uiLink(config: ReturnType<typeof loadConfig>, workflowId: string): string {
  const base = config.temporal.external ? `(your Temporal UI)` : `http://127.0.0.1:${config.stack.temporalUiPort}`;
  return `${base}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
