/**
 * The end-to-end demo (`npm start`, `mlops demo`): the whole closed loop on the local stack.
 *
 *   stack up -> worker + model server -> seattle-weather trained on 2012-2013 -> approval -> deploy (direct)
 *   -> 2014-2015 replayed day by day through the model server, the observed weather sent as feedback
 *   -> the monitor sees drift -> a retraining run -> approval -> canary: 20 %, 50 %, 100 % on the replayed traffic
 *   -> a candidate trained on one winter only -> approval -> canary: rolled back -> summary
 *
 * A rollout needs traffic, so the replay goes on while it runs, in lockstep (./canary.ts).
 */
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient, decide, describeRun, startRun } from '../client';
import { loadConfig, type MlopsConfig } from '../config';
import { commandLogFormat, createLogger } from '../logger';
import { headlineMetric } from '../ml/metric-catalog';
import { readRows } from '../ml/readers';
import { stackUp } from '../dev/stack';
import { stageDataset } from '../cli/upload';
import { uiLink } from '../cli/runs';
import { loadSpecFile } from '../spec/load';
import { instanceFor, registrySource, startModelServer, type ModelServer } from '../serving';
import { createStorage, type Storage } from '../storage';
import {
  checkNowSignal,
  type MonitorStatus,
  monitorStatusQuery,
  monitorWorkflowId,
  type PipelineRunResult,
  retrainWorkflowId,
} from '../contracts';
import type { PipelineSpec } from '../spec/pipeline';
import {
  awaitJudgement,
  canaryLine,
  type DemoRollout,
  formatRollouts,
  rolloutAccount,
  rolloutEnded,
  rolloutProgress,
  withDemoCanary,
} from './canary';

export type { DemoRollout, DemoRolloutStep, StepSide } from './canary';

/** Options of the demo. */
export interface DemoOptions {
  /** Approve every candidate as "alice" instead of waiting for a human. */
  autoApprove: boolean;
  /** Port of the model server. */
  port: number;
  /** The pipeline spec to run. */
  specPath: string;
  say: (line: string) => void;
}

/** One production version in the summary. */
export interface DemoVersion {
  version: number;
  trigger: string;
  /** The headline metric for these imbalanced classes (see the model card). */
  balancedAccuracy?: number;
  accuracy?: number;
  macroF1?: number;
  reason?: string;
  workflowId: string;
  report?: string;
}

/** What the demo did. */
export interface DemoSummary {
  model: string;
  versions: DemoVersion[];
  productionVersion?: number;
  /** Each retraining deploy's canary: its steps with their evidence, and how it ended. */
  rollouts: DemoRollout[];
  served: number;
  feedback: number;
  temporalUi: string;
  modelServer: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How far `followRun` saw a run go: to its end, or to the rollout its deploy started. */
type Followed = { result: PipelineRunResult; rollout?: undefined } | { result?: undefined; rollout: { workflowId: string } };

/**
 * Follows a run until it ends or its deploy starts a rollout (which needs the traffic the replay sends), approving it
 * at its gate (as alice) or telling a human how to.
 */
async function followRun(client: Client, config: MlopsConfig, workflowId: string, o: DemoOptions): Promise<Followed> {
  let told = false;
  for (;;) {
    const view = await describeRun(client, workflowId);
    if (view.result) return { result: view.result };
    if (view.status?.rollout && view.execution === 'RUNNING') return { rollout: { workflowId: view.status.rollout.workflowId } };
    if (view.execution !== 'RUNNING') throw new Error(`run ${workflowId} ended ${view.execution}: ${view.failure ?? ''}`);
    if (view.status?.approval?.state === 'waiting' && !told) {
      const m = view.status.candidate ?? {};
      const headline = headlineMetric('classification', view.status.data?.classCounts).metric;
      const others = ['balancedAccuracy', 'accuracy', 'macroF1'].filter((n) => n !== headline && m[n] !== undefined);
      const champion = view.status.champion;
      const against = champion ? ` (production v${champion.version}: ${champion.metrics[headline]?.toFixed(3) ?? '-'})` : '';
      o.say(
        `  candidate: ${headline} ${m[headline]?.toFixed(3) ?? '-'}${against}; ${others.map((n) => `${n} ${m[n]!.toFixed(3)}`).join(', ')}`,
      );
      if (o.autoApprove) {
        const answer = await decide(client, workflowId, {
          decision: 'approve',
          approver: 'alice',
          comment: 'approved by the demo (--auto-approve)',
        });
        o.say(`  approved as alice: ${answer.reason}`);
      } else {
        o.say(
          `  Waiting for an approval. In the Temporal UI (${uiLink(config, workflowId)}) send the signal "approve" with {"approver": "alice"},`,
        );
        o.say(`  or run: npx mlops approve ${workflowId} --as alice`);
      }
      told = true;
    }
    await sleep(300);
  }
}

/** Waits for a run to end (its rollout, if any, has ended). */
async function runResult(client: Client, workflowId: string): Promise<PipelineRunResult> {
  for (;;) {
    const view = await describeRun(client, workflowId);
    if (view.result) return view.result;
    if (view.execution !== 'RUNNING') throw new Error(`run ${workflowId} ended ${view.execution}: ${view.failure ?? ''}`);
    await sleep(200);
  }
}

/**
 * The demo's worse candidate, trained on purpose on one winter only (December 2014 to February 2015, the foggiest
 * January of the data): on its own held-out winter days it does as well as production or better, so it passes validation
 * and is approved; on spring's traffic, where dry days are sunny rather than foggy, it is worse, and the canary sees it.
 */
const WINTER_ONLY = { from: '2014-12-01', to: '2015-02-28', startAfter: '2015-03' };

function winterOnly(spec: PipelineSpec): PipelineSpec {
  return { ...spec, dataset: { ...spec.dataset, filter: { column: 'date', from: WINTER_ONLY.from, to: WINTER_ONLY.to } } };
}

/** The days of 2014-2015, grouped by month, from the same real dataset. */
async function trafficByMonth(source: string): Promise<Map<string, Record<string, unknown>[]>> {
  const months = new Map<string, Record<string, unknown>[]>();
  for await (const row of readRows(source)) {
    const date = String(row.date);
    if (date < '2014-01-01') continue;
    const month = date.slice(0, 7);
    if (!months.has(month)) months.set(month, []);
    months.get(month)!.push(row);
  }
  return months;
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Runs the demo to its summary; the stack stays up afterwards. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  o.say('1/5 Starting the local stack (Temporal + MinIO)...');
  await stackUp((l) => o.say(`  ${l}`));
  const config = loadConfig();
  // The demo's progress is for a person (on stderr with --json), so its logs are readable lines too.
  const logger = createLogger({ level: 'warn', format: commandLogFormat(false) });
  const storage: Storage = createStorage(config.minio);
  const client = await connectClient(config);
  const abort = new AbortController();
  let server: ModelServer | undefined;
  let worker: Promise<void> | undefined;
  try {
    o.say('2/5 Starting the worker and the first pipeline run...');
    const { runWorker } = await import('../worker');
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    worker = runWorker({ config, logger, signal: abort.signal, onReady: ready });
    await Promise.race([started, worker]);

    let spec = loadSpecFile(o.specPath);
    if (spec.monitor) {
      // Two years of traffic replay in minutes here, so a cooldown measured in hours would hold every retrain.
      spec.monitor.cooldown = 0;
      spec.monitor.minRows = Math.max(spec.monitor.minRows, 120);
      o.say('  (demo settings: monitor cooldown 0 and windows of at least 120 days, since two years of traffic replay in minutes)');
      if (spec.monitor.guardrail) {
        // Seasonal weather: a version's accuracy in October says little against its predecessor's in April.
        spec.monitor.guardrail = undefined;
        o.say(
          "  (demo settings: no guardrail; the canary compares each retrained version with production on the same days, where the guardrail compares a version's live accuracy with its predecessor's in earlier months)",
        );
      }
    }
    // The monitor's retraining runs deploy with the deployed version's spec: this one.
    spec = withDemoCanary(spec);
    o.say(`  (demo settings: retraining deploys by ${canaryLine()})`);
    const rawSource = spec.dataset.source;
    spec.dataset = await stageDataset(config, spec.dataset);
    const requestedBy = process.env.USER && process.env.USER !== 'alice' ? process.env.USER : 'demo';
    const first = await startRun(client, config, spec, { requestedBy, reason: 'first model, trained on 2012-2013' });
    o.say(`  run ${first.workflowId}  (${uiLink(config, first.workflowId)})`);
    const firstResult = (await followRun(client, config, first.workflowId, o)).result;
    if (!firstResult) throw new Error('the first run started a rollout, but there was no production version to compare with');
    o.say(
      `  -> ${firstResult.status}${firstResult.version ? `, version ${firstResult.version}` : ''} (the first deploy is direct: nothing to compare with)`,
    );
    if (firstResult.status !== 'deployed') throw new Error(`the first run ended ${firstResult.status}: ${firstResult.reason ?? ''}`);

    o.say(`3/5 Serving the production version on http://127.0.0.1:${o.port} ...`);
    const served = await startModelServer({
      store: storage.store,
      source: registrySource(storage.registry),
      models: [spec.model],
      port: o.port,
      pollMs: 1000,
      logger,
      predictionLog: { flushIntervalMs: 500 },
    });
    server = served;

    o.say('4/5 Replaying 2014-2015 day by day as traffic, with the observed weather as feedback...');
    const months = await trafficByMonth(rawSource);
    const monitor = client.workflow.getHandle(monitorWorkflowId(spec.model));
    let requests = 0;
    let feedback = 0;
    const retrains = new Set<string>();
    const rollouts: DemoRollout[] = [];
    /** The rollout under way: the replay moves in lockstep with it. */
    let active: { workflowId: string; runWorkflowId: string; about: string } | undefined;
    let winterTried = false;
    let lastDay = '';
    // The server takes exactly the model's features, typed as its metadata says (CSV values are text).
    const { inputs } = (await (await fetch(`${served.url}/v2/models/${spec.model}`)).json()) as {
      inputs: { name: string; datatype: string }[];
    };
    const flushLogs = async () => {
      await served.predictionLog?.flush();
      await served.feedbackLog?.flush();
    };

    /** Waits until the rollout has judged every day served so far; notes its end. */
    const judge = async () => {
      if (!active) return;
      await flushLogs();
      const status = await awaitJudgement(client, active.workflowId, Date.now(), o.say);
      // The server routes by the rollout's latest share (or, once it ended, by the alias) before the next day.
      await served.reload();
      if (!rolloutEnded(status)) return;
      const account = rolloutAccount(status, active.about, lastDay);
      rollouts.push(account);
      const result = await runResult(client, active.runWorkflowId);
      o.say(`  ${lastDay}: the canary of v${account.candidate} ${account.outcome} (by ${account.by}): ${account.reason}`);
      o.say(`  -> run ${active.runWorkflowId}: ${result.status}${result.version ? `, version ${result.version}` : ''}`);
      active = undefined;
    };

    /** Follows a run to its rollout (then serves on) or its end. */
    const follow = async (workflowId: string, about: string) => {
      const followed = await followRun(client, config, workflowId, o);
      if (followed.result) {
        const r = followed.result;
        o.say(`  -> ${r.status}${r.version ? `, version ${r.version}` : ''}${r.reason ? ` (${r.reason})` : ''}`);
        await served.reload();
        return;
      }
      active = { workflowId: followed.rollout.workflowId, runWorkflowId: workflowId, about };
      o.say(
        `  -> canary ${active.workflowId} begins; the replay goes on, pausing at the middle and the end of each month until the canary has judged the days so far`,
      );
      // Its first share is in effect before the next day is served.
      await judge();
    };

    for (const [month, days] of months) {
      // Half a month at a time: a rollout checks about once a second however short its checkEvery (the Temporal server
      // fires timers with about a second's precision), so this keeps the replay quick while each step is still judged
      // within days of having its evidence.
      for (const half of [days.slice(0, 15), days.slice(15)]) {
        for (const day of half) {
          const id = `${spec.model}-${day.date}`;
          await post(`${served.url}/v1/models/${spec.model}:predict`, { id, instances: [instanceFor(inputs, day)] });
          await post(`${served.url}/v2/models/${spec.model}/feedback`, { id, label: day.weather });
          requests++;
          feedback++;
          lastDay = String(day.date);
        }
        await judge();
      }
      if (active) {
        const status = await awaitJudgement(client, active.workflowId, 0, o.say);
        o.say(`  ${month}: ${days.length} days served; ${rolloutProgress(status)} (no monitor check while a canary runs)`);
        continue;
      }
      await flushLogs();
      const lastCheck = (s: MonitorStatus) => s.checks[s.checks.length - 1]?.at;
      const before = lastCheck(await monitor.query(monitorStatusQuery));
      await monitor.signal(checkNowSignal);
      let status: MonitorStatus;
      do {
        await sleep(300);
        status = await monitor.query(monitorStatusQuery);
      } while (lastCheck(status) === before);
      const check = status.checks[status.checks.length - 1]!;
      const psi = Object.entries(check.drift)
        .map(([f, d]) => `${f} ${d.psi.toFixed(2)}`)
        .join(', ');
      o.say(`  ${month}: ${days.length} days served; monitor: ${check.rows} rows, PSI ${psi || '-'} -> ${check.action}`);
      if (check.action === 'retrain-started') {
        const id = retrainWorkflowId(spec.model);
        const run = (await client.workflow.getHandle(id).describe()).runId;
        if (!retrains.has(run)) {
          retrains.add(run);
          o.say(`  drift triggered a retraining run: ${id}`);
          await follow(id, `retrained on drift (${check.breachedFeatures.join(', ')}) with the ${check.rows} new days`);
        }
      } else if (!winterTried && month >= WINTER_ONLY.startAfter) {
        winterTried = true;
        const about = `trained on winter ${WINTER_ONLY.from} to ${WINTER_ONLY.to} only (a worse candidate, on purpose)`;
        o.say(
          `  A retraining on winter data only (${WINTER_ONLY.from} to ${WINTER_ONLY.to}, the foggiest January of the data): on its own ` +
            'held-out days are winter days too, so validation judges it on winter, where it can look as good as production; ' +
            "spring's dry days are sunny, not foggy, so it should do worse on live traffic. The canary is there to see it.",
        );
        const run = await startRun(client, config, winterOnly(spec), { requestedBy, reason: about });
        o.say(`  run ${run.workflowId}  (${uiLink(config, run.workflowId)})`);
        await follow(run.workflowId, about);
      }
    }
    if (active) {
      const status = await awaitJudgement(client, active.workflowId, 0, o.say);
      rollouts.push(rolloutAccount(status, active.about));
      o.say(`  the replay ended during ${rolloutProgress(status)}; it goes on when traffic comes (mlops rollout status ${spec.model})`);
    }

    o.say('5/5 Summary');
    const versions = await storage.registry.listVersions(spec.model);
    const production = await storage.registry.findAlias(spec.model, spec.deploy.alias);
    const summary: DemoSummary = {
      model: spec.model,
      versions: await Promise.all(
        versions.map(async (v) => ({
          version: v.version,
          trigger: v.trigger ?? 'manual',
          balancedAccuracy: v.metrics.balancedAccuracy,
          accuracy: v.metrics.accuracy,
          macroF1: v.metrics.macroF1,
          reason: v.description,
          workflowId: v.workflowId,
          report: v.report ? await storage.store.presignedGetUrl(v.report, 7 * 24 * 3600) : undefined,
        })),
      ),
      productionVersion: production?.to,
      rollouts,
      served: requests,
      feedback,
      temporalUi: `http://127.0.0.1:${config.stack.temporalUiPort}`,
      modelServer: served.url,
    };
    return summary;
  } finally {
    await server?.close();
    abort.abort();
    await worker?.catch(() => undefined);
    await client.connection.close();
  }
}

/** The summary as a table. */
export function formatSummary(s: DemoSummary): string {
  const cell = (x: number | undefined) => (x?.toFixed(3) ?? '-').padEnd(9);
  const rolledBack = new Set(s.rollouts.filter((r) => r.outcome === 'rolled-back').map((r) => r.candidate));
  const where = (v: number) => (v === s.productionVersion ? 'production' : rolledBack.has(v) ? 'rolled back' : '');
  const rows = s.versions.map((v) =>
    [
      `  v${String(v.version).padEnd(3)} ${v.trigger.padEnd(9)} ${cell(v.balancedAccuracy)} ${cell(v.accuracy)} ${cell(v.macroF1)}`,
      `${where(v.version).padEnd(11)} ${v.reason ?? ''}`,
    ].join(' '),
  );
  return [
    `Model ${s.model}: ${s.versions.length} version(s), production is v${s.productionVersion}. ${s.served} days served, ${s.feedback} labels fed back.`,
    '  ver  trigger   bal.acc   accuracy  macro-F1  alias       why',
    ...rows,
    '',
    '  bal.acc is balanced accuracy (the mean of per-class recall), the headline when classes are imbalanced; each model card says why.',
    ...s.versions.filter((v) => v.report).map((v) => `  model card v${v.version}: ${v.report}`),
    '',
    ...formatRollouts(s.rollouts),
    '',
    `The stack keeps running: Temporal UI ${s.temporalUi} (runs, approvals, the monitor), MinIO console from "npm run stack:status".`,
    'Stop it with: npm run stack:down',
  ].join('\n');
}

/** The example spec shipped with the package. */
export const DEFAULT_DEMO_SPEC = path.resolve(__dirname, '../../examples/seattle-weather/pipeline.yaml');
