/**
 * The monitor stage and the monitor's activities. The stage (`ensureMonitor`) starts the model's monitor workflow, or
 * tells the running one about the newly deployed version. The check: gather the window of new data (objects landed under an s3:// prefix, or the model
 * server's prediction logs joined with feedback), and assess it against the production version's
 * training profile. Labelled rows of the window are stored, so a retraining run can train on them.
 */
import { join } from 'node:path';
import { FailureType, MlopsError, isMlopsError } from '../errors';
import { assessWindow, VersionRows, type MonitorThresholds } from '../ml/monitor';
import type { DatasetProfile } from '../ml/profile';
import { readRows, type Row } from '../ml/readers';
import { readFrame } from '../data/read';
import { loadPredictor, MODEL_FILE_MAX_BYTES } from '../ml/predictor';
import type { DatasetSchema } from '../ml/types';
import { parseS3Uri, type ArtifactRef } from '../storage/refs';
import { registerDriftGauge } from '../serving/metrics';
import { initModelSeries, lifecycleMetrics } from './lifecycle-metrics';
import { readPredictionWindow } from '../serving/prediction-log';
import type { MlopsDependencies } from './dependencies';
import { withHeartbeat, type Heartbeat } from './heartbeat';
import { Context } from '@temporalio/activity';
import {
  deployedSignal,
  modelMonitorWorkflow,
  monitorWorkflowId,
  windowStart,
  type CheckModelInput,
  type CheckModelResult,
  type DeployedNotice,
  type EnsureMonitorInput,
  type MonitorSpecSource,
  type SpecRef,
} from '../contracts';
import type { PipelineSpec } from '../spec/pipeline';
import { withWorkdir } from './workdir';

/** Training values kept per numeric feature for the KS test. */
const REFERENCE_SAMPLE = 5000;

/** What the check's heartbeats say: the step it is on and the rows read so far. */
interface CheckProgress {
  step: 'model' | 'window' | 'reference' | 'assess';
  rows: number;
  objects?: number;
}

/** A window of new rows, and the stored objects they came from. */
interface Window {
  rows: Row[];
  sources: string[];
  /** The format of the sources when their names do not tell it. */
  format?: 'jsonl';
  /** Rows other versions answered during a rollout, by version, left out of `rows`. */
  otherVersions?: Record<string, number>;
}

/** Creates the monitor stage's activity and the monitor workflow's check and rollback. */
export function createMonitorActivities(deps: MlopsDependencies) {
  const { store, registry, config } = deps;

  /** Rows of objects that landed under an s3:// prefix of the artifact bucket in (since, until]. */
  async function landedWindow(
    prefixUri: string,
    since: string | undefined,
    until: string,
    beat: Heartbeat<CheckProgress>,
  ): Promise<Window> {
    const loc = parseS3Uri(prefixUri);
    if (!loc || loc.bucket !== store.bucket) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `monitor.source ${prefixUri}: new batches must land under a prefix of the artifact bucket s3://${store.bucket}/`,
      );
    }
    const from = since ? Date.parse(since) : -Infinity;
    const to = Date.parse(until);
    const objects = (await store.list(loc.key)).filter(
      (o) => o.lastModified.getTime() > from && o.lastModified.getTime() <= to && !o.key.endsWith('/'),
    );
    const rows: Row[] = [];
    for (const o of objects) {
      for await (const row of readRows(o.uri, { openS3: (b, k) => store.openObject(b, k) })) {
        rows.push(row);
        if (rows.length % 10_000 === 0) beat.details.rows = rows.length;
      }
      beat.update({ objects: objects.length, rows: rows.length });
    }
    return { rows, sources: objects.map((o) => o.uri) };
  }

  /**
   * The model server's predictions in (since, until], each with its ground-truth label once feedback
   * arrived: the judged version's rows, those another version answered during a rollout left out and counted.
   * Every labelled row (whichever version answered it) is stored as one JSON-lines object so a retraining run can
   * use them: a label is the truth about the row, not about the version.
   */
  async function predictionWindow(
    model: string,
    version: number,
    target: string,
    since: string | undefined,
    until: string,
    beat: Heartbeat<CheckProgress>,
  ): Promise<Window> {
    const rows: Row[] = [];
    const judged = new VersionRows(version);
    let labelled = '';
    for await (const p of readPredictionWindow(store, model, { since, until })) {
      const row: Row = { ...p.features };
      if (p.label !== undefined && p.label !== null) {
        row[target] = p.label;
        labelled += `${JSON.stringify(row)}\n`;
      }
      if (!judged.keep(p)) continue;
      rows.push(row);
      if (rows.length % 10_000 === 0) beat.details.rows = rows.length;
    }
    const otherVersions = judged.leftOut();
    if (!labelled) return { rows, sources: [], ...(otherVersions ? { otherVersions } : {}) };
    const ref = await store.putBuffer(Buffer.from(labelled), { contentType: 'application/x-ndjson' });
    return { rows, sources: [ref.uri], format: 'jsonl', ...(otherVersions ? { otherVersions } : {}) };
  }

  /** A sample of the training values of each numeric feature, for KS and Wasserstein. */
  async function referenceValues(
    snapshot: { uri: string; sha256: string; size?: number } | undefined,
    schema: DatasetSchema,
  ): Promise<Record<string, Float64Array>> {
    if (!snapshot) return {};
    return withWorkdir(async (dir) => {
      const file = join(dir, 'reference.jsonl');
      await store.getFile(snapshot, file);
      const numeric = schema.features.filter((f) => schema.columns.find((c) => c.name === f)?.type === 'numeric');
      const frame = await readFrame(file, schema, { format: 'jsonl', columns: numeric });
      return Object.fromEntries(numeric.map((name) => [name, (frame.columns[name] as Float64Array).subarray(0, REFERENCE_SAMPLE)]));
    });
  }

  /** The production version's model through the seam; a refusal names the version, so the monitor's status says which. */
  async function loadProduction(model: string, alias: string, version: number, artifact: ArtifactRef) {
    try {
      return await loadPredictor(await store.getJson(artifact), (ref) => store.getBuffer(ref, MODEL_FILE_MAX_BYTES));
    } catch (err) {
      if (!isMlopsError(err)) throw err;
      throw new MlopsError(err.type, `${model} v${version} (${alias}) cannot be loaded for the check: ${err.message}`, err.details, {
        cause: err,
      });
    }
  }

  return {
    /**
     * Starts the model's monitor, or tells the running one about the new version (signal-with-start), with the
     * version's stored spec: the monitor judges by it from then on.
     */
    async ensureMonitor(input: EnsureMonitorInput): Promise<void> {
      const { client } = Context.current();
      const specSource: MonitorSpecSource | undefined = input.specRef && {
        workflowId: input.workflowId,
        ...(input.runId ? { runId: input.runId } : {}),
        version: input.version,
        ref: input.specRef,
      };
      const notice: DeployedNotice = {
        version: input.version,
        previousVersion: input.previousVersion,
        at: new Date().toISOString(),
        workflowId: input.workflowId,
        ...(input.runId ? { runId: input.runId } : {}),
        ...(input.specRef ? { spec: input.specRef } : {}),
      };
      await client.workflow.signalWithStart(modelMonitorWorkflow, {
        workflowId: monitorWorkflowId(input.model),
        taskQueue: config.taskQueue,
        args: [{ spec: input.spec, specSource, alias: input.alias, version: input.version, trainingTaskQueue: config.trainingTaskQueue }],
        signal: deployedSignal,
        signalArgs: [notice],
        staticSummary: `Monitor of ${input.model} (${input.alias})`,
      });
    },

    /** Reads the spec stored with a deployed version (digest-checked), for the monitor to judge by. */
    async readDeployedSpec(input: { model: string; ref: SpecRef }): Promise<PipelineSpec> {
      const spec = await store.getJson<PipelineSpec>(input.ref);
      if (typeof spec !== 'object' || spec === null || spec.model !== input.model || typeof spec.monitor !== 'object') {
        throw new MlopsError(
          FailureType.InvalidInput,
          `${input.ref.uri} is not a pipeline spec of model "${input.model}" with a monitor section; the monitor keeps the spec it has.`,
          { uri: input.ref.uri },
        );
      }
      return spec;
    },

    /** Moves the alias back to the previous version (the guardrail), unless it was moved meanwhile. */
    async rollbackModel(input: {
      model: string;
      alias: string;
      from: number;
      to: number;
      reason: string;
      workflowId: string;
    }): Promise<{ changed: boolean }> {
      try {
        const { changed } = await registry.moveAlias({
          model: input.model,
          alias: input.alias,
          version: input.to,
          expectedVersion: input.from,
          by: `monitor-${input.model}`,
          reason: input.reason,
          workflowId: input.workflowId,
        });
        if (changed) lifecycleMetrics().rollbacks.inc({ model: input.model });
        return { changed };
      } catch (err) {
        // Someone moved the alias since (a new deploy, a manual promote): theirs is the newer decision.
        if (isMlopsError(err) && err.type === FailureType.Conflict) return { changed: false };
        throw err;
      }
    },

    /**
     * Checks drift and performance of the new data window against the production version, heartbeating
     * on a timer throughout (loading the model, reading a large window or the reference snapshot).
     */
    async checkModel(input: CheckModelInput): Promise<CheckModelResult> {
      return withHeartbeat<CheckProgress, CheckModelResult>({ step: 'model', rows: 0 }, async (beat) => {
        const { version } = await registry.resolveAlias(input.model, input.alias);
        if (!version.dataset.profile)
          throw new MlopsError(
            FailureType.NotFound,
            `Version ${version.version} of ${input.model} has no training profile to compare drift against`,
          );
        const profile = await store.getJson<DatasetProfile>(version.dataset.profile);
        const model = await loadProduction(input.model, input.alias, version.version, version.artifact);
        const from = windowStart(input.since, input.until, input.monitor.window);
        let assessment;
        let window: Window;
        try {
          beat.update({ step: 'window' });
          window =
            input.monitor.source === 'predictions'
              ? await predictionWindow(input.model, version.version, model.schema.target, from, input.until, beat)
              : await landedWindow(input.monitor.source, from, input.until, beat);
          beat.update({ step: 'reference', rows: window.rows.length });
          const refs = needsReferenceValues(input.monitor) ? await referenceValues(version.dataset.snapshot, model.schema) : {};
          beat.update({ step: 'assess' });
          assessment = await assessWindow(model, profile, window.rows, thresholds(input.monitor), refs);
        } finally {
          await model.release();
        }
        initModelSeries(lifecycleMetrics(), input.model);
        const gauge = registerDriftGauge();
        for (const [feature, d] of Object.entries(assessment.drift)) gauge.set({ model: input.model, feature }, d.psi);
        return {
          at: input.until,
          version: version.version,
          window: { from, to: input.until },
          sources: window.sources,
          sourcesFormat: window.format,
          ...assessment,
          ...(window.otherVersions ? { otherVersions: window.otherVersions } : {}),
        };
      });
    },
  };
}

/**
 * The assessment's limits from the spec's monitor section. Live performance is measured for the
 * performance bound, and for the guardrail's metric (unbounded) when it is another one.
 */
function thresholds(monitor: CheckModelInput['monitor']): MonitorThresholds {
  const guardrail = monitor.guardrail?.metric;
  const performance = monitor.performance ?? (guardrail ? { metric: guardrail } : undefined);
  return {
    psi: monitor.drift.psi,
    ksPValue: monitor.drift.ksPValue,
    chiSquarePValue: monitor.drift.chiSquarePValue,
    features: monitor.drift.features,
    performance,
    alsoMeasure: guardrail !== undefined && guardrail !== performance?.metric ? guardrail : undefined,
  };
}

/** Whether a limit needs training values, not just the profile's histogram: KS and Wasserstein compare samples. */
function needsReferenceValues(monitor: CheckModelInput['monitor']): boolean {
  return monitor.drift.ksPValue !== undefined || Object.values(monitor.drift.features).some((f) => f.wasserstein !== undefined);
}
