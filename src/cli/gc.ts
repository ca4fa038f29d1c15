/**
 * `mlops gc`: removes uploaded dataset files that nothing refers to, such as the upload of a run whose
 * ingest failed. What is still in use is asked of Temporal (running workflows' inputs, schedules' actions)
 * and of MinIO (snapshot manifests and the model registry); see docs/operations.md.
 */
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { connectClient } from '../client';
import { loadConfig } from '../config';
import { durationMs } from '../spec/pipeline';
import { ArtifactStore } from '../storage/artifact-store';
import { collectOrphanedUploads } from '../storage/gc';
import { emit, UsageError } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** The inputs of every running workflow and every schedule's action, as one text to search for sources. */
export async function sourcesInUse(client: Client): Promise<string> {
  const converter = client.options.loadedDataConverter.payloadConverter;
  const parts: string[] = [];
  for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    for (const p of payloads) parts.push(JSON.stringify(converter.fromPayload(p)));
  }
  for await (const summary of client.schedule.list()) {
    const d = await client.schedule.getHandle(summary.scheduleId).describe();
    if (d.action.type === 'startWorkflow') parts.push(JSON.stringify(d.action.args ?? []));
  }
  return parts.join('\n');
}

/** Registers `mlops gc`. */
export function registerGc(program: Command, run: Runner): void {
  program
    .command('gc')
    .description(
      'Remove uploaded dataset files that no snapshot, model version, running workflow or schedule refers to (e.g. uploads of failed ingests)',
    )
    .option('--older-than <duration>', 'keep uploads younger than this (their run may not have ingested them yet)', '24h')
    .option('--dry-run', 'only list what would be removed')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json, opts: { olderThan: string; dryRun?: boolean }) => {
        let olderThanMs: number;
        try {
          olderThanMs = durationMs(opts.olderThan);
        } catch (err) {
          throw new UsageError(`--older-than: ${(err as Error).message}`);
        }
        const config = loadConfig();
        const client = await connectClient(config);
        try {
          const inUse = await sourcesInUse(client);
          const store = ArtifactStore.connect(config.minio);
          const result = await collectOrphanedUploads(store, { olderThanMs, inUse, dryRun: opts.dryRun });
          const verb = opts.dryRun ? 'Would remove' : 'Removed';
          const lines = [
            `${verb} ${result.removed.length} unreferenced upload(s), ${(result.freedBytes / 2 ** 20).toFixed(1)} MiB; kept ${result.kept.length}.`,
            ...result.removed.map((u) => `  - ${u.uri} (${u.file}, uploaded ${u.uploadedAt})`),
          ];
          emit(json, { dryRun: Boolean(opts.dryRun), ...result }, lines.join('\n'));
        } finally {
          await client.connection.close();
        }
      }),
    );
}
