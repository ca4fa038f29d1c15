/**
 * The end-to-end demo (`npm start`, `mlops demo`): the whole closed loop on the local stack.
 *
 *   stack up -> worker + model server -> seattle-weather trained on 2012-2013 -> approval -> deploy
 *   -> 2014-2015 replayed day by day through the model server, the observed weather sent as feedback
 *   -> the monitor sees drift -> a retraining run -> approval -> deploy -> summary
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
  served: number;
  feedback: number;
  temporalUi: string;
  modelServer: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for a run to end, approving it at its gate (as alice) or telling a human how to. */
async function seeThrough(client: Client, config: MlopsConfig, workflowId: string, o: DemoOptions): Promise<PipelineRunResult> {
  let told = false;
  for (;;) {
    const view = await describeRun(client, workflowId);
    if (view.result) return view.result;
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
    await sleep(500);
  }
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

    const spec = loadSpecFile(o.specPath);
    if (spec.monitor) {
      // Two years of traffic replay in minutes here, so a cooldown measured in hours would hold every retrain.
      spec.monitor.cooldown = 0;
      spec.monitor.minRows = Math.max(spec.monitor.minRows, 120);
      o.say('  (demo settings: monitor cooldown 0 and windows of at least 120 days, since two years of traffic replay in minutes)');
    }
    const rawSource = spec.dataset.source;
    spec.dataset = await stageDataset(config, spec.dataset);
    const first = await startRun(client, config, spec, {
      requestedBy: process.env.USER && process.env.USER !== 'alice' ? process.env.USER : 'demo',
      reason: 'first model, trained on 2012-2013',
    });
    o.say(`  run ${first.workflowId}  (${uiLink(config, first.workflowId)})`);
    const firstResult = await seeThrough(client, config, first.workflowId, o);
    o.say(`  -> ${firstResult.status}${firstResult.version ? `, version ${firstResult.version}` : ''}`);
    if (firstResult.status !== 'deployed') throw new Error(`the first run ended ${firstResult.status}: ${firstResult.reason ?? ''}`);

    o.say(`3/5 Serving the production version on http://127.0.0.1:${o.port} ...`);
    server = await startModelServer({
      store: storage.store,
      source: registrySource(storage.registry),
      models: [spec.model],
      port: o.port,
      pollMs: 1000,
      logger,
      predictionLog: { flushIntervalMs: 500 },
    });

    o.say('4/5 Replaying 2014-2015 day by day as traffic, with the observed weather as feedback...');
    const months = await trafficByMonth(rawSource);
    const monitor = client.workflow.getHandle(monitorWorkflowId(spec.model));
    let served = 0;
    let feedback = 0;
    const retrains = new Set<string>();
    // The server takes exactly the model's features, typed as its metadata says (CSV values are text).
    const { inputs } = (await (await fetch(`${server.url}/v2/models/${spec.model}`)).json()) as {
      inputs: { name: string; datatype: string }[];
    };
    for (const [month, days] of months) {
      for (const day of days) {
        const id = `${spec.model}-${day.date}`;
        await post(`${server.url}/v1/models/${spec.model}:predict`, { id, instances: [instanceFor(inputs, day)] });
        await post(`${server.url}/v2/models/${spec.model}/feedback`, { id, label: day.weather });
        served++;
        feedback++;
      }
      await server.predictionLog?.flush();
      await server.feedbackLog?.flush();
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
          const result = await seeThrough(client, config, id, o);
          o.say(`  -> ${result.status}${result.version ? `, version ${result.version}` : ''}${result.reason ? ` (${result.reason})` : ''}`);
          await server.reload();
        }
      }
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
      served,
      feedback,
      temporalUi: `http://127.0.0.1:${config.stack.temporalUiPort}`,
      modelServer: server.url,
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
  const rows = s.versions.map((v) =>
    [
      `  v${String(v.version).padEnd(3)} ${v.trigger.padEnd(9)} ${cell(v.balancedAccuracy)} ${cell(v.accuracy)} ${cell(v.macroF1)}`,
      `${v.version === s.productionVersion ? 'production' : ''.padEnd(10)}  ${v.reason ?? ''}`,
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
    `The stack keeps running: Temporal UI ${s.temporalUi} (runs, approvals, the monitor), MinIO console from "npm run stack:status".`,
    'Stop it with: npm run stack:down',
  ].join('\n');
}

/** The example spec shipped with the package. */
export const DEFAULT_DEMO_SPEC = path.resolve(__dirname, '../../examples/seattle-weather/pipeline.yaml');
