/** `mlops monitor status|pause|resume|check <model>`: the model's monitor workflow. */
import type { Command } from 'commander';
import { QueryNotRegisteredError, WorkflowNotFoundError } from '@temporalio/client';
import { connectClient } from '../client';
import { loadConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { checkNowSignal, monitorStatusQuery, pauseSignal, resumeSignal } from '../workflows/definitions';
import { monitorWorkflowId } from '../workflows/ids';
import type { MonitorStatus } from '../workflows/types';
import { emit } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

function render(s: MonitorStatus): string {
  const lines = [
    `monitor-${s.model}: ${s.paused ? 'PAUSED' : 'active'}, watching ${s.alias} = v${s.version}, every ${Math.round(s.intervalMs / 60_000)} min${s.nextCheckAt ? `, next check ${s.nextCheckAt}` : ''}`,
    `  retraining runs started: ${s.retrainCount}${s.lastRetrainAt ? ` (last ${s.lastRetrainAt})` : ''}`,
  ];
  for (const c of s.checks.slice(-10)) {
    const drift = Object.entries(c.drift)
      .map(([f, d]) => `${f} ${d.psi.toFixed(2)}${d.breached ? '!' : ''}`)
      .join(', ');
    const perf = c.performance ? `, ${c.performance.metric} ${c.performance.value.toFixed(3)} on ${c.performance.labelled} labels` : '';
    lines.push(`  ${c.at}  v${c.version}  ${c.rows} rows  PSI ${drift || '-'}${perf}  -> ${c.action}${c.rollback ? ` (${c.rollback.reason})` : ''}`);
  }
  return lines.join('\n');
}

/** Registers the monitor commands. */
export function registerMonitor(program: Command, run: Runner): void {
  const monitor = program.command('monitor').description("See and steer a deployed model's monitor (drift checks, retraining, guardrail)");
  const withMonitor = async (model: string, fn: (h: ReturnType<Awaited<ReturnType<typeof connectClient>>['workflow']['getHandle']>) => Promise<void>) => {
    const client = await connectClient(loadConfig());
    try {
      await fn(client.workflow.getHandle(monitorWorkflowId(model)));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new MlopsError(FailureType.NotFound, `No monitor runs for model "${model}": it starts when a version of the model is deployed with a monitor section in its spec.`);
      if (err instanceof QueryNotRegisteredError || /failed to query/i.test((err as Error).message)) {
        throw new MlopsError(FailureType.Unavailable, `The monitor of "${model}" did not answer: is a worker running? Start one with "mlops worker".`);
      }
      throw err;
    } finally {
      await client.connection.close();
    }
  };
  monitor
    .command('status <model>')
    .description('Recent checks: rows, drift per feature, live performance, and the action taken')
    .option('--json', 'print as JSON')
    .action(run(async (json, model: string) => withMonitor(model, async (h) => emit(json, await h.query(monitorStatusQuery), render(await h.query(monitorStatusQuery))))));
  monitor
    .command('pause <model>')
    .description('Pause drift checks')
    .option('--as <name>', 'who pauses', process.env.USER ?? 'cli')
    .option('--reason <text>', 'why')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json, model: string, opts: { as: string; reason?: string }) =>
        withMonitor(model, async (h) => {
          await h.signal(pauseSignal, { by: opts.as, reason: opts.reason });
          emit(json, { model, paused: true }, `Monitor of ${model} paused.`);
        }),
      ),
    );
  monitor
    .command('resume <model>')
    .description('Resume drift checks')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json, model: string) =>
        withMonitor(model, async (h) => {
          await h.signal(resumeSignal, {});
          emit(json, { model, paused: false }, `Monitor of ${model} resumed.`);
        }),
      ),
    );
  monitor
    .command('check <model>')
    .description('Run a check now instead of waiting for the interval')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json, model: string) =>
        withMonitor(model, async (h) => {
          await h.signal(checkNowSignal);
          emit(json, { model, checkRequested: true }, `Check of ${model} requested; see it with: mlops monitor status ${model}`);
        }),
      ),
    );
}
