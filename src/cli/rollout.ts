/** `mlops rollout status|pause|resume|promote|abort <model-or-run>`: a model's shadow or canary rollout. */
import type { Command } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { connectClient } from '../client';
import { loadConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import {
  pipelineStatusQuery,
  rolloutControlUpdate,
  rolloutStatusQuery,
  type RolloutControl,
  type RolloutControlAnswer,
  type RolloutRunStatus,
  type RolloutState,
} from '../contracts';
import { createStorage } from '../storage';
import { emit } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** What `mlops rollout status` shows: the rollout workflow's execution state and its status query, beside the registry's document. */
export interface RolloutView {
  workflowId: string;
  /** RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  execution: string;
  /** The status query; absent when no worker answered it (a closed rollout with no worker running). */
  status?: RolloutRunStatus;
  /** The registry's rollout document of the model, as the model server reads it. */
  registry?: RolloutState;
}

/**
 * The rollout workflow a user means: a model's current (or latest) rollout, named by the model; a rollout's own
 * workflow id; or the rollout a pipeline run started, named by the run's workflow id.
 */
export async function resolveRollout(client: Client, target: string): Promise<{ workflowId: string; registry?: RolloutState }> {
  const { registry } = createStorage(loadConfig().minio);
  const byModel = /^[a-z0-9][a-z0-9._-]*$/.test(target) ? await registry.getRollout(target).catch(() => undefined) : undefined;
  if (byModel) return { workflowId: byModel.rolloutId, registry: byModel };
  if (target.startsWith('rollout-') && (await exists(client, target))) return { workflowId: target };
  if (await exists(client, target)) {
    const run = await client.workflow
      .getHandle(target)
      .query(pipelineStatusQuery)
      .catch(() => undefined);
    if (run?.rollout) return { workflowId: run.rollout.workflowId, registry: await registry.getRollout(run.model).catch(() => undefined) };
    throw new MlopsError(
      FailureType.NotFound,
      `Run "${target}" started no rollout (its spec's deploy.strategy is direct, it has not reached deploy, or its model had no production version yet).`,
    );
  }
  throw new MlopsError(
    FailureType.NotFound,
    `No rollout found for "${target}": give a model that has had a shadow or canary rollout, a rollout's workflow id ` +
      `(rollout-<model>-v<n>), or the run that started one.`,
  );
}

async function exists(client: Client, workflowId: string): Promise<boolean> {
  return client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      () => true,
      () => false,
    );
}

/** Reads a rollout's execution state, its status query when it answers, and the registry's document. */
export async function rolloutView(client: Client, target: string): Promise<RolloutView> {
  const { workflowId, registry } = await resolveRollout(client, target);
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const status = await handle.query(rolloutStatusQuery).catch(() => undefined);
  return { workflowId, execution: description.status.name, ...(status ? { status } : {}), ...(registry ? { registry } : {}) };
}

function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${Math.round(x * 1000) / 10}%`;
}

function num(x: number | undefined, digits = 4): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** The human text of `mlops rollout status`. */
export function renderRollout(v: RolloutView): string {
  const s = v.status;
  if (!s) {
    const r = v.registry;
    return [
      `${v.workflowId}: ${v.execution} (its status cannot be read: no worker answered the query)`,
      r
        ? `  registry: v${r.candidate} against v${r.champion}, ${r.strategy}, share ${pct(r.candidateShare)}, ${r.status}: ${r.reason}`
        : '',
    ]
      .filter(Boolean)
      .join('\n');
  }
  const lines = [
    `${s.rolloutId}: ${s.strategy} of ${s.model} v${s.candidate} against v${s.champion}: ` +
      `${s.state.toUpperCase()}${v.execution !== 'RUNNING' ? ` (workflow ${v.execution})` : ''}`,
    `  step ${s.step + 1} of ${s.steps.length} (steps ${s.steps.map((x) => pct(x)).join(', ')}): ` +
      `candidate answers ${s.strategy === 'shadow' && s.share === 0 ? 'none (shadow)' : pct(s.share)}` +
      (s.nextCheckAt ? `; next check ${s.nextCheckAt}` : ''),
  ];
  const e = s.evidence;
  if (e) {
    lines.push(
      `  evidence since ${s.stepStartedAt ?? '?'}${s.evidenceAt ? `, read ${s.evidenceAt}` : ''}${e.sameRequests ? ' (same requests)' : ''}:`,
    );
    lines.push(
      `    ${'version'.padEnd(12)} ${'requests'.padStart(9)} ${'errors'.padStart(8)} ${'p99 ms'.padStart(8)} ` +
        `${'labelled'.padStart(9)}${e.metric ? ` ${e.metric.padStart(10)}` : ''}`,
    );
    for (const [name, x] of [
      [`candidate v${e.candidate.version}`, e.candidate],
      [`champion v${e.champion.version}`, e.champion],
    ] as const) {
      lines.push(
        `    ${name.padEnd(12)} ${String(x.requests).padStart(9)} ${pct(x.errorRate).padStart(8)} ` +
          `${num(x.p99LatencyMs, 2).padStart(8)} ${String(x.labelled).padStart(9)}${e.metric ? ` ${num(x.metric).padStart(10)}` : ''}`,
      );
    }
  }
  if (s.verdict) lines.push(`  verdict: ${s.verdict.decision}: ${s.verdict.reasons.join('; ')}`);
  if (s.state === 'awaiting-approval' && s.approval)
    lines.push(
      `  approval needed: ${s.approval.approvals.length} of ${s.approval.quorum} from ${s.approval.approvers.join(', ')}; ` +
        `mlops approve ${s.rolloutId} --as <name>`,
    );
  for (const d of s.decisions.slice(-10))
    lines.push(`  ${d.at}  step ${d.step + 1} (${pct(d.share)})  ${d.action} by ${d.by}: ${d.reason}`);
  if (s.state !== 'promoted' && s.state !== 'rolled-back' && s.state !== 'failed')
    lines.push(`  act: mlops rollout pause|resume|promote|abort ${s.model} --as <name> [--reason <text>]`);
  return lines.join('\n');
}

/** Sends a control through the `control` Update; a refused one fails the command with its reason. */
async function sendControl(
  client: Client,
  target: string,
  control: RolloutControl,
): Promise<RolloutControlAnswer & { workflowId: string }> {
  const { workflowId } = await resolveRollout(client, target);
  const handle = client.workflow.getHandle(workflowId);
  try {
    return { workflowId, ...(await handle.executeUpdate(rolloutControlUpdate, { args: [control] })) };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      const state = await handle.describe().then(
        (d) => d.status.name,
        () => undefined,
      );
      throw new MlopsError(
        FailureType.InvalidInput,
        `The rollout ${workflowId} has ended${state ? ` (${state})` : ''}: there is nothing to ${control.action}; ` +
          `see it with "mlops rollout status ${target}".`,
      );
    }
    throw err;
  }
}

/** Registers the rollout commands. */
export function registerRollout(program: Command, run: Runner): void {
  const rollout = program
    .command('rollout')
    .description("See and steer a model's shadow or canary rollout (deploy.strategy): its steps, evidence and decisions");
  const withClient = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = await connectClient(loadConfig());
    try {
      return await fn(client);
    } finally {
      await client.connection.close();
    }
  };
  rollout
    .command('status <model-or-run>')
    .description("A rollout's state, its current step's evidence (requests, error rate, p99 latency, the metric), and its decisions")
    .option('--json', 'print as JSON')
    .action(
      run(async (json, target: string) =>
        withClient(async (client) => {
          const view = await rolloutView(client, target);
          emit(json, view, renderRollout(view));
        }),
      ),
    );
  const controls: [RolloutControl['action'], string][] = [
    ['pause', 'Pause the rollout: the candidate keeps its share, and no step is judged until resume'],
    ['resume', 'Resume a paused rollout'],
    ['promote', 'Promote the candidate now, skipping the remaining steps (an allowed approver, when the spec asks one)'],
    ['abort', 'Abort the rollout: the candidate is rolled back and the alias stays on the champion'],
  ];
  for (const [action, description] of controls) {
    rollout
      .command(`${action} <model-or-run>`)
      .description(description)
      .option('--as <name>', 'who acts (recorded with the decision)', process.env.USER ?? 'cli')
      .option('--reason <text>', 'why (recorded with the decision)')
      .option('--json', 'print the answer as JSON')
      .action(
        run(async (json, target: string, opts: { as: string; reason?: string }) =>
          withClient(async (client) => {
            const answer = await sendControl(client, target, { action, by: opts.as, ...(opts.reason ? { reason: opts.reason } : {}) });
            emit(
              json,
              answer,
              `${answer.accepted ? 'Accepted' : 'Refused'}: ${answer.reason} (rollout ${answer.workflowId}: ${answer.state})`,
            );
            if (!answer.accepted) throw new MlopsError(FailureType.InvalidInput, `${action} refused: ${answer.reason}`);
          }),
        ),
      );
  }
}
