/** `mlops schedule create|list|describe|pause|unpause|trigger|backfill|delete`: continuous retraining with Temporal Schedules. */
import type { Command } from 'commander';
import { ScheduleNotFoundError } from '@temporalio/client';
import { connectClient, createSchedule, scheduleIdFor, scheduleView } from '../client';
import { loadConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { loadSpecFile } from '../spec/load';
import { emit, UsageError } from './output';
import { checkDatasetSql, stageDataset } from './upload';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** Accepts a model name or a schedule id. */
const idOf = (modelOrId: string) => (modelOrId.startsWith('retrain-schedule-') ? modelOrId : scheduleIdFor(modelOrId));

async function withClient<T>(
  fn: (client: Awaited<ReturnType<typeof connectClient>>, config: ReturnType<typeof loadConfig>) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const client = await connectClient(config);
  try {
    return await fn(client, config);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new MlopsError(FailureType.NotFound, `No such schedule: ${err.message}. List them with "mlops schedule list".`);
    throw err;
  } finally {
    await client.connection.close();
  }
}

/** Registers the schedule commands. */
export function registerSchedules(program: Command, run: Runner): void {
  const schedule = program
    .command('schedule')
    .description('Continuous retraining with Temporal Schedules (visible on the Temporal UI Schedules page)');
  schedule
    .command('create <spec>')
    .description("Create a schedule that starts pipelineRun (trigger schedule) as the spec's schedule section says")
    .option('--json', 'print {"scheduleId"} as JSON')
    .action(
      run(async (json, specPath: string) => {
        const spec = loadSpecFile(specPath);
        await checkDatasetSql(spec.dataset);
        await withClient(async (client, config) => {
          spec.dataset = await stageDataset(config, spec.dataset);
          const scheduleId = await createSchedule(client, config, spec);
          emit(json, { scheduleId }, `Created schedule ${scheduleId}`);
        });
      }),
    );
  schedule
    .command('list')
    .description('List schedules')
    .option('--json', 'print as JSON')
    .action(
      run(async (json) =>
        withClient(async (client) => {
          const out: { scheduleId: string; paused: boolean; next?: string }[] = [];
          for await (const s of client.schedule.list())
            out.push({ scheduleId: s.scheduleId, paused: s.state.paused, next: s.info.nextActionTimes[0]?.toISOString() });
          emit(
            json,
            out,
            out.length
              ? out.map((s) => `${s.scheduleId}  ${s.paused ? 'paused' : 'active'}  next ${s.next ?? '-'}`).join('\n')
              : 'No schedules.',
          );
        }),
      ),
    );
  schedule
    .command('describe <model>')
    .description('Show a schedule: spec, state, next and recent runs')
    .option('--json', 'print as JSON')
    .action(
      run(async (json, model: string) =>
        withClient(async (client) => {
          const id = idOf(model);
          const view = scheduleView(id, await client.schedule.getHandle(id).describe());
          emit(
            json,
            view,
            `${id}  ${view.paused ? 'paused' : 'active'}${view.note ? ` (${view.note})` : ''}\n` +
              `  next: ${view.nextActionTimes.join(', ') || '-'}\n  recent: ` +
              `${view.recentActions.map((a) => `${a.scheduledAt} ${a.workflowId ?? ''}`).join('; ') || '-'}`,
          );
        }),
      ),
    );
  for (const [name, description] of [
    ['pause', 'Pause a schedule'],
    ['unpause', 'Unpause a schedule'],
    ['trigger', 'Start a run now (overlap policy applies)'],
    ['delete', 'Delete a schedule (runs it started are kept)'],
  ] as const) {
    schedule
      .command(`${name} <model>`)
      .description(description)
      .option('--note <text>', 'a note (pause/unpause)')
      .option('--json', 'print the result as JSON')
      .action(
        run(async (json, model: string, opts: { note?: string }) =>
          withClient(async (client) => {
            const id = idOf(model);
            const handle = client.schedule.getHandle(id);
            if (name === 'pause') await handle.pause(opts.note);
            else if (name === 'unpause') await handle.unpause(opts.note);
            else if (name === 'trigger') await handle.trigger();
            else await handle.delete();
            emit(json, { scheduleId: id, done: name }, `${id}: ${name} done`);
          }),
        ),
      );
  }
  schedule
    .command('backfill <model>')
    .description('Run the schedule for past times, as if it had been running')
    .requiredOption('--from <iso>', 'start of the backfill window (ISO time)')
    .requiredOption('--to <iso>', 'end of the backfill window (ISO time)')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json, model: string, opts: { from: string; to: string }) => {
        const start = new Date(opts.from);
        const end = new Date(opts.to);
        if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end)
          throw new UsageError('--from and --to must be ISO times with --from before --to');
        await withClient(async (client) => {
          const id = idOf(model);
          await client.schedule.getHandle(id).backfill({ start, end });
          emit(
            json,
            { scheduleId: id, from: start.toISOString(), to: end.toISOString() },
            `${id}: backfill ${start.toISOString()} .. ${end.toISOString()} requested`,
          );
        });
      }),
    );
}
