/** `mlops monitor status|pause|resume|check <model>`: the model's monitor workflow. */
import type { Command } from 'commander';
import { QueryNotRegisteredError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { connectClient } from '../client';
import { loadConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { checkNowSignal, type MonitorStatus, monitorStatusQuery, monitorWorkflowId, pauseSignal, resumeSignal } from '../contracts';
import { emit } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/**
 * What `mlops monitor status` shows: the monitor workflow's real execution state (a monitor that
 * failed or was terminated is not "active"), how it ended, and its status query when it answers.
 */
export interface MonitorView {
  model: string;
  workflowId: string;
  /** RUNNING, FAILED, TERMINATED, COMPLETED, CANCELED, TIMED_OUT or CONTINUED_AS_NEW. */
  execution: string;
  /** How a closed monitor ended. */
  closedAt?: string;
  failure?: string;
  /** The monitor's status query; absent when it could not answer (no worker for a closed monitor). */
  status?: MonitorStatus;
  /** The latest check, when it failed: why. */
  lastCheckFailure?: { at: string; version: number; type?: string; message: string };
}

/** Reads a monitor's execution state and, when it answers, its status query. */
export async function monitorView(client: Client, model: string): Promise<MonitorView> {
  const handle = client.workflow.getHandle(monitorWorkflowId(model));
  const description = await handle.describe();
  const view: MonitorView = { model, workflowId: handle.workflowId, execution: description.status.name };
  if (view.execution === 'RUNNING') {
    view.status = await handle.query(monitorStatusQuery);
  } else {
    view.closedAt = description.closeTime?.toISOString();
    view.failure = await handle.result().then(
      () => undefined,
      (err: Error) => (err.cause as Error | undefined)?.message ?? err.message,
    );
    // A closed workflow answers queries only when a worker replays it; its checks are worth showing if so.
    view.status = await handle.query(monitorStatusQuery).catch(() => undefined);
  }
  const last = view.status?.checks[view.status.checks.length - 1];
  if (last?.failure && last.action === 'check-failed') view.lastCheckFailure = { at: last.at, version: last.version, ...last.failure };
  return view;
}

function state(v: MonitorView): string {
  if (v.execution !== 'RUNNING')
    return `${v.execution} (not checking)${v.closedAt ? ` since ${v.closedAt}` : ''}${v.failure ? `: ${v.failure}` : ''}`;
  if (v.status?.paused) return 'PAUSED';
  return v.lastCheckFailure ? `active, last check FAILED (${v.status!.failingChecks} in a row)` : 'active';
}

/** The human text of `mlops monitor status`. */
export function renderMonitor(v: MonitorView): string {
  const s = v.status;
  if (!s)
    return `monitor-${v.model}: ${state(v)}\n  (its checks cannot be read: the workflow is closed and no worker answered its status query)`;
  const lines = [
    `monitor-${s.model}: ${state(v)}, watching ${s.alias} = v${s.version}, every ${Math.round(s.intervalMs / 60_000)} min` +
      (s.nextCheckAt && v.execution === 'RUNNING' ? `, next check ${s.nextCheckAt}` : ''),
    `  retraining runs started: ${s.retrainCount}${s.lastRetrainAt ? ` (last ${s.lastRetrainAt})` : ''}`,
    s.spec
      ? `  judged by the spec of v${s.spec.version} (run ${s.spec.workflowId}, sha256 ${s.spec.sha256.slice(0, 12)})`
      : '  judged by the spec it was started with (the deploy that started it stored none)',
  ];
  if (s.specProblem) lines.push(`  the latest deploy's spec is not followed: ${s.specProblem}`);
  if (v.lastCheckFailure)
    lines.push(`  last check failed at ${v.lastCheckFailure.at} on v${v.lastCheckFailure.version}: ${v.lastCheckFailure.message}`);
  for (const c of s.checks.slice(-10)) {
    if (c.action === 'check-failed') {
      lines.push(`  ${c.at}  v${c.version}  check FAILED: ${c.failure?.message ?? 'no reason recorded'}`);
      continue;
    }
    const drift = Object.entries(c.drift)
      .map(([f, d]) => `${f} ${d.psi.toFixed(2)}${d.breached ? '!' : ''}`)
      .join(', ');
    const also = c.also ? ` (${c.also.metric} ${c.also.value.toFixed(3)})` : '';
    const p = c.performance;
    const perf = p ? `, ${p.metric} ${p.value.toFixed(3)}${p.breached ? '!' : ''}${also} on ${p.labelled} labels` : '';
    const why = c.rollback ? ` (${c.rollback.reason})` : c.failure ? ` (${c.failure.message})` : '';
    const others = Object.entries(c.otherVersions ?? {})
      .map(([version, n]) => `${n} of v${version}`)
      .join(', ');
    const left = others ? ` (left out: ${others})` : '';
    lines.push(`  ${c.at}  v${c.version}  ${c.rows} rows${left}  PSI ${drift || '-'}${perf}  -> ${c.action}${why}`);
  }
  return lines.join('\n');
}

/** Registers the monitor commands. */
export function registerMonitor(program: Command, run: Runner): void {
  const monitor = program.command('monitor').description("See and steer a deployed model's monitor (drift checks, retraining, guardrail)");
  const withMonitor = async (model: string, fn: (h: ReturnType<Client['workflow']['getHandle']>, client: Client) => Promise<void>) => {
    const client = await connectClient(loadConfig());
    try {
      await fn(client.workflow.getHandle(monitorWorkflowId(model)), client);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // A signal to a monitor that has ended finds no running workflow, but the monitor did exist: say how it ended.
        const ended = await client.workflow
          .getHandle(monitorWorkflowId(model))
          .describe()
          .then(
            (d) => d.status.name,
            () => undefined,
          );
        if (ended) {
          throw new MlopsError(
            FailureType.InvalidInput,
            `The monitor of "${model}" has ended (${ended}); see why with "mlops monitor status ${model}". Deploying a version of the model starts it again.`,
          );
        }
        throw new MlopsError(
          FailureType.NotFound,
          `No monitor runs for model "${model}": it starts when a version of the model is deployed with a monitor section in its spec.`,
        );
      }
      if (err instanceof QueryNotRegisteredError || /failed to query/i.test((err as Error).message)) {
        throw new MlopsError(
          FailureType.Unavailable,
          `The monitor of "${model}" did not answer: is a worker running? Start one with "mlops worker".`,
        );
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
    .action(
      run(async (json, model: string) =>
        withMonitor(model, async (_h, client) => {
          const view = await monitorView(client, model);
          // JSON keeps the status query's fields at the top (as before), with the execution state beside them.
          const { status, ...rest } = view;
          emit(json, { ...status, ...rest }, renderMonitor(view));
        }),
      ),
    );
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
