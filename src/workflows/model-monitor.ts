/**
 * `modelMonitor`: one long-running workflow per deployed model (id `monitor-<model>`).
 *
 *   every interval (or on checkNow): check drift and performance of new data against the production
 *   version's training profile -> record -> on a breach, start a retraining pipelineRun
 *   (unless one is running or the cooldown holds) -> continue-as-new to keep history bounded.
 *
 * A check that fails (the production model cannot be loaded, the window cannot be read) is recorded
 * with its reason and the monitor waits for the next interval: one bad model never ends the monitor.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ParentClosePolicy,
  condition,
  continueAsNew,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createActivities } from '../activities';
import {
  checkNowSignal,
  deployedSignal,
  type ModelMonitorInput,
  type MonitorCarry,
  type MonitorCheck,
  type MonitorSpecSource,
  type MonitorStatus,
  type DeployedNotice,
  monitorStatusQuery,
  monitorWorkflowId,
  pauseSignal,
  resumeSignal,
  retrainWorkflowId,
  windowStart,
} from '../contracts';
import { lifecycle } from './lifecycle-sink';
import { mlopsActivities } from './activity-names';
import { stageActivity } from './options';
import { pipelineRun } from './pipeline-run';

type Activities = ReturnType<typeof createActivities>;

const { checkModel, rollbackModel, readDeployedSpec } = mlopsActivities<Activities>(stageActivity);

/** The patch id under which the monitor judges by the spec of the version deployed last (before: by the one it started with). */
export const MONITOR_SPEC_PATCH = 'monitor-follows-deploy';

/** Checks kept in status (and carried across continue-as-new). */
const KEPT_CHECKS = 20;
/** Labelled data objects remembered for retraining. */
const MAX_WINDOW_SOURCES = 500;
/** Checks per run before continuing as new. */
const CHECKS_PER_RUN = 100;

/** Watches one deployed model and closes the loop by starting retraining on drift. */
export async function modelMonitor(input: ModelMonitorInput): Promise<void> {
  const { alias } = input;
  // The spec judged by: thresholds, interval, cooldown, guardrail, and what a retraining run runs. A deploy replaces it.
  let spec = input.spec;
  let policy = spec.monitor!;
  let specSource = input.specSource;
  let specProblem: string | undefined;
  /** A deploy whose spec differs from the one judged by, to be read before the next check. */
  let pendingSpec: { notice: DeployedNotice; source: MonitorSpecSource } | undefined;
  const carry: MonitorCarry = input.state ?? { paused: false, retrainCount: 0, checks: [] };
  let version = input.version;
  let checkNow = false;
  let nextCheckAt: string | undefined;
  const status = (): MonitorStatus => ({
    failingChecks: carry.failingChecks ?? 0,
    model: spec.model,
    alias,
    version,
    paused: carry.paused,
    intervalMs: policy.interval,
    nextCheckAt,
    lastRetrainAt: carry.lastRetrainAt,
    retrainCount: carry.retrainCount,
    checks: carry.checks,
    ...(specSource ? { spec: specView(specSource) } : {}),
    ...(specProblem ? { specProblem } : {}),
  });

  setHandler(
    pauseSignal,
    (req) => {
      carry.paused = true;
      log.info('monitor paused', { by: req?.by, reason: req?.reason });
    },
    { description: 'Pause drift checks. Input (optional): {"by": "alice", "reason": "..."}' },
  );
  setHandler(
    resumeSignal,
    () => {
      carry.paused = false;
    },
    { description: 'Resume drift checks.' },
  );
  setHandler(
    checkNowSignal,
    () => {
      checkNow = true;
    },
    { description: 'Run a drift and performance check now.' },
  );
  setHandler(
    deployedSignal,
    (notice) => {
      if (notice && typeof notice.version === 'number' && notice.version !== version) {
        version = notice.version;
        // The new version was trained on the data seen so far: judge drift from now on.
        carry.since = notice.at;
        if (policy.guardrail && notice.previousVersion !== undefined) {
          carry.watch = {
            version: notice.version,
            previous: notice.previousVersion,
            until: new Date(Date.parse(notice.at) + policy.guardrail.watch).toISOString(),
          };
        }
      }
      // Runs before the spec was stored send none; their monitors keep the spec they started with.
      if (notice?.spec && patched(MONITOR_SPEC_PATCH)) followSpec(notice);
    },
    { description: 'Sent on deploy: watch this version from now on. Input: {"version": 2, "at": "...", "workflowId": "..."}' },
  );
  setHandler(monitorStatusQuery, status, {
    description: 'Recent drift and performance checks, which spec they are judged by, and whether the monitor is paused.',
  });
  setCurrentDetails(monitorDetails(status()));

  for (let i = 0; i < CHECKS_PER_RUN && !workflowInfo().continueAsNewSuggested; i++) {
    nextCheckAt = new Date(Date.now() + policy.interval).toISOString();
    const woken = await condition(() => checkNow || pendingSpec !== undefined, policy.interval);
    if (pendingSpec) {
      await adoptSpec(pendingSpec);
      // Woken by the deploy alone: wait again, by the new spec's interval.
      if (woken && !checkNow) continue;
    }
    const forced = checkNow;
    checkNow = false;
    if (carry.paused && !forced) continue;

    const now = new Date().toISOString();
    let observed;
    try {
      const { schema, target } = spec.dataset;
      observed = await checkModel({ model: spec.model, alias, version, monitor: policy, schema, target, since: carry.since, until: now });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // Retries (bounded) are spent or the failure is not retryable: record it; the window waits for the next check.
      const failure = failureOf(err);
      record({
        at: now,
        version,
        rows: 0,
        window: { from: windowStart(carry.since, now, policy.window), to: now },
        drift: {},
        breachedFeatures: [],
        action: 'check-failed',
        failure,
      });
      carry.failingChecks = (carry.failingChecks ?? 0) + 1;
      log.warn('monitor check failed', { model: spec.model, version, reason: failure.message });
      continue;
    }
    carry.failingChecks = 0;
    const check: MonitorCheck = { ...observed, action: 'none' };
    const breached = observed.breachedFeatures.length >= policy.drift.minFeatures || observed.performance?.breached === true;
    if (await guardrail(check, now)) {
      // Rolled back (or trying to): the window judged the version that no longer serves.
      carry.since = now;
    } else if (observed.rows < policy.minRows) {
      // The window keeps growing until it is big enough to judge.
      check.action = 'too-few-rows';
    } else {
      remember(observed.sources ?? [], observed.sourcesFormat);
      carry.since = now;
      if (breached) await retrain(check, now);
    }
    record(check);
  }
  await continueAsNew<typeof modelMonitor>({ ...input, spec, specSource, version, state: carry });

  /** Takes the deployed version's spec as the one judged by: at once when it is the same document, else read before the next check. */
  function followSpec(notice: DeployedNotice): void {
    const source: MonitorSpecSource = {
      workflowId: notice.workflowId,
      ...(notice.runId ? { runId: notice.runId } : {}),
      version: notice.version,
      ref: notice.spec!,
    };
    if (specSource?.ref.sha256 === source.ref.sha256) {
      specSource = source;
      pendingSpec = undefined;
      setCurrentDetails(monitorDetails(status()));
    } else {
      pendingSpec = { notice, source };
    }
  }

  /** Reads the deployed spec and judges by it; one that cannot be read is reported, and the spec before is kept. */
  async function adoptSpec(pending: NonNullable<typeof pendingSpec>): Promise<void> {
    try {
      const next = await readDeployedSpec({ model: spec.model, ref: pending.source.ref });
      if (pendingSpec === pending) pendingSpec = undefined;
      spec = next;
      policy = next.monitor!;
      specSource = pending.source;
      specProblem = undefined;
      // The guardrail's watch over this deploy follows the new spec's guardrail.
      const { notice } = pending;
      if (notice.version === version && notice.previousVersion !== undefined) {
        carry.watch = policy.guardrail
          ? {
              version: notice.version,
              previous: notice.previousVersion,
              until: new Date(Date.parse(notice.at) + policy.guardrail.watch).toISOString(),
            }
          : undefined;
      }
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      if (pendingSpec === pending) pendingSpec = undefined;
      specProblem = `the spec of v${pending.source.version} (run ${pending.source.workflowId}) could not be read: ${failureOf(err).message}`;
      log.warn('deployed spec not read', { model: spec.model, reason: specProblem });
    }
    setCurrentDetails(monitorDetails(status()));
  }

  async function retrain(check: MonitorCheck, now: string): Promise<void> {
    if (!policy.retrain) {
      check.action = 'retrain-disabled';
      return;
    }
    if (carry.lastRetrainAt && Date.parse(now) - Date.parse(carry.lastRetrainAt) < policy.cooldown) {
      check.action = 'retrain-skipped-cooldown';
      return;
    }
    const reason = driftReason(check);
    try {
      await startChild(pipelineRun, {
        workflowId: retrainWorkflowId(spec.model),
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [
          {
            spec,
            requestedBy: `monitor-${spec.model}`,
            trigger: 'drift',
            reason,
            trainingTaskQueue: input.trainingTaskQueue,
            window: {
              sources: carry.windowSources ?? [],
              format: carry.windowFormat,
              from: check.window.from,
              to: check.window.to,
              reason,
            },
          },
        ],
      });
      carry.lastRetrainAt = now;
      carry.retrainCount += 1;
      lifecycle.retrainStarted(spec.model);
      check.action = 'retrain-started';
      check.retrainWorkflowId = retrainWorkflowId(spec.model);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      check.action = 'retrain-skipped-running';
    }
  }

  /**
   * Records the serving version's live performance and, within the watch after a deploy, moves the
   * alias back when the new version does worse than the previous one by more than the margin, in the
   * metric's direction (lower accuracy, higher rmse).
   */
  async function guardrail(check: MonitorCheck, now: string): Promise<boolean> {
    const g = policy.guardrail;
    const live = liveMetric(check, g?.metric);
    if (!g || !live || check.performance!.labelled < g.minLabelled) return false;
    carry.livePerformance = { ...carry.livePerformance, [String(check.version)]: live.value };
    const watch = carry.watch;
    if (!watch || watch.version !== check.version || now > watch.until) return false;
    const before = carry.livePerformance[String(watch.previous)];
    if (before === undefined) return false;
    const worseBy = live.higherIsBetter ? before - live.value : live.value - before;
    if (worseBy <= g.margin) return false;
    const side = live.higherIsBetter ? 'below' : 'above';
    const better = live.higherIsBetter ? 'higher' : 'lower';
    const reason =
      `guardrail: live ${g.metric} of v${watch.version} is ${live.value.toFixed(3)}, ` +
      `${side} v${watch.previous}'s ${before.toFixed(3)} by more than ${g.margin} (${better} is better)`;
    let changed: boolean;
    try {
      ({ changed } = await rollbackModel({
        model: spec.model,
        alias,
        from: watch.version,
        to: watch.previous,
        reason,
        workflowId: workflowInfo().workflowId,
      }));
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // The watch stays: the next check judges again and tries the rollback again.
      check.action = 'rollback-failed';
      check.failure = failureOf(err);
      return true;
    }
    carry.watch = undefined;
    if (!changed) return false;
    version = watch.previous;
    check.action = 'rolled-back';
    check.rollback = { from: watch.version, to: watch.previous, reason };
    return true;
  }

  /** Keeps the labelled new data, so a retraining run trains on everything seen since deploy. */
  function remember(sources: string[], format: 'jsonl' | undefined): void {
    carry.windowSources = [...(carry.windowSources ?? []), ...sources].slice(-MAX_WINDOW_SOURCES);
    if (format) carry.windowFormat = format;
  }

  function record(check: MonitorCheck): void {
    carry.checks.push(check);
    if (carry.checks.length > KEPT_CHECKS) carry.checks.splice(0, carry.checks.length - KEPT_CHECKS);
  }
}

/** Which spec the monitor judges by, as its status shows it: run, version and digest. */
function specView({ workflowId, runId, version, ref }: MonitorSpecSource): NonNullable<MonitorStatus['spec']> {
  return { workflowId, ...(runId ? { runId } : {}), version, uri: ref.uri, sha256: ref.sha256 };
}

/** The monitor's Temporal UI details: what it watches, and the spec it judges by. */
function monitorDetails(s: MonitorStatus): string {
  const judged = s.spec
    ? `judged by the spec of v${s.spec.version} (run ${s.spec.workflowId}, sha256 ${s.spec.sha256.slice(0, 12)})`
    : 'judged by the spec it was started with';
  const parts = [
    `**Monitor of ${s.model}**: watching ${s.alias} = v${s.version}, ${judged}; checks every ${Math.round(s.intervalMs / 60_000)} min.`,
  ];
  if (s.specProblem) parts.push(`**Spec not followed**: ${s.specProblem}.`);
  parts.push('Steer it with `mlops monitor status|pause|resume|check <model>`, or the signals pause, resume and checkNow.');
  return parts.join('\n\n');
}

/** The live value of `metric` in a check, with its direction, when the check measured it. */
function liveMetric(check: MonitorCheck, metric: string | undefined): { value: number; higherIsBetter: boolean } | undefined {
  const p = check.performance;
  if (!metric || !p) return undefined;
  if (p.metric === metric) return { value: p.value, higherIsBetter: p.higherIsBetter ?? true };
  if (check.also?.metric === metric) return check.also;
  return undefined;
}

/** Why a check failed, as the activity's failure says it (its type and message). */
function failureOf(err: ActivityFailure): { type?: string; message: string } {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? undefined, message: cause.message };
  return { type: cause?.name, message: cause?.message ?? err.message };
}

/** One line saying what triggered a retrain. */
function driftReason(check: MonitorCheck): string {
  const parts = check.breachedFeatures.map((f) => `${f} PSI ${check.drift[f]!.psi.toFixed(3)}`);
  const p = check.performance;
  if (p?.breached) {
    const lower = p.higherIsBetter === false;
    parts.push(`${p.metric} ${p.value.toFixed(3)} ${lower ? `above the maximum ${p.max}` : `below the minimum ${p.min}`}`);
  }
  return `drift on ${check.rows} new rows: ${parts.join(', ')}`;
}
