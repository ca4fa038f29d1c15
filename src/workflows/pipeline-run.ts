/**
 * `pipelineRun`: one pass through a model's lifecycle.
 *
 *   ingest -> train -> validate -> servability -> approve -> deploy -> monitor
 *
 * Deterministic orchestration only: every stage is an activity that receives and returns references.
 * A failed validation ends the run with its report and asks no one; the approval gate waits for
 * signals (or the `decide` Update) from the Temporal UI or the CLI.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  approveSignal,
  decideUpdate,
  type EvaluateResult,
  type IngestResult,
  type PipelineRunInput,
  type PipelineRunResult,
  type PipelineRunStatus,
  pipelineStatusQuery,
  rejectSignal,
  type StageName,
  type TrainResult,
} from '../contracts';
import { mlopsActivities } from './activity-names';
import { stageActivity, trainingActivity } from './options';
import { ApprovalGate } from './approval-gate';
import { approvalDetails } from './details';
import { Timeline } from './timeline';

type Activities = ReturnType<typeof createActivities>;

const { ingestDataset, evaluateCandidate, checkServability, deployCandidate, ensureMonitor } = mlopsActivities<Activities>(stageActivity);

/** Runs the lifecycle once and returns how it ended. */
export async function pipelineRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const { spec } = input;
  // A worker that dies mid-training is noticed within seconds; the retry resumes from the last checkpoint.
  const { trainModel } = mlopsActivities<Activities>(trainingActivity(input.trainingTaskQueue ?? 'mlops-training'));
  const timeline = new Timeline();
  const status: PipelineRunStatus = {
    model: spec.model,
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    reason: input.reason,
    stage: 'ingest',
    stages: timeline.stages,
  };
  setHandler(pipelineStatusQuery, () => ({ ...status, stage: timeline.current }), {
    description: 'Stage timeline with timings, candidate vs champion metrics, and the approval state.',
  });

  const finish = (result: PipelineRunResult): PipelineRunResult => {
    timeline.finish(`run ended: ${result.status}`);
    status.result = result;
    setCurrentDetails(finalDetails(spec.model, result, status));
    return result;
  };
  /** Runs one stage, recording it in the timeline; a failure ends the run as `failed`. */
  const stage = async <T>(name: StageName, run: () => Promise<T>): Promise<T | PipelineRunResult> => {
    timeline.start(name, new Date());
    try {
      const out = await run();
      timeline.end(name, 'done', new Date());
      return out;
    } catch (err) {
      const reason = failureMessage(err);
      timeline.end(name, 'failed', new Date(), reason);
      log.warn('stage failed', { stage: name, reason });
      return finish({ status: 'failed', model: spec.model, reason: `${name} failed: ${reason}` });
    }
  };
  const isResult = (v: unknown): v is PipelineRunResult => typeof v === 'object' && v !== null && 'status' in v && 'model' in v;

  // ingest: snapshot, validation, profile
  const ingest = await stage('ingest', () => ingestDataset({ model: spec.model, dataset: spec.dataset, window: input.window }));
  if (isResult(ingest)) return ingest;
  const data: IngestResult = ingest;
  status.data = { rows: data.rowCount, snapshot: data.snapshot.sha256, classCounts: data.summary.classCounts };
  if (data.summary.droppedMissingTarget !== undefined) status.data.droppedMissingTarget = data.summary.droppedMissingTarget;
  if (data.validation.warningMessages?.length) status.data.warnings = data.validation.warningMessages;
  // Seen in the Temporal UI while the run goes on, not only once it ends.
  const dataNotes = dataDetails(status);
  if (dataNotes) setCurrentDetails(`**${spec.model}**: running\n\n${dataNotes}`);
  if (!data.validation.ok) {
    // The ingest ran, but its data blocks the run: the stage is shown failed, not done.
    timeline.stages[0]!.state = 'failed';
    timeline.stages[0]!.note = 'blocking data validation issues';
    return finish({ status: 'failed', model: spec.model, report: data.validation.report, reason: `data validation failed: ${data.validation.blocking.join('; ')}` });
  }

  // train, on the training task queue
  const trained = await stage('train', () => trainModel({ model: spec.model, snapshot: data.snapshot, schema: data.schema, split: spec.dataset.split, trainer: spec.trainer }));
  if (isResult(trained)) return trained;
  const training: TrainResult = trained;
  if (training.resumedFrom) {
    timeline.stages[1]!.note = `resumed from a checkpoint at ${Math.round(training.resumedFrom.progress * 100)}% after a retry`;
  }

  // validate: holdout metrics, thresholds, champion/challenger
  const evaluated = await stage('validate', () =>
    evaluateCandidate({
      ...{ model: spec.model, candidate: training.model, snapshot: data.snapshot, schema: data.schema, split: spec.dataset.split },
      ...{ policy: spec.validation, alias: spec.deploy.alias, profile: data.profile, validationReport: data.validation.report },
      ...(data.summary.droppedMissingTarget ? { droppedMissingTarget: data.summary.droppedMissingTarget } : {}),
    }),
  );
  if (isResult(evaluated)) return evaluated;
  const evaluation: EvaluateResult = evaluated;
  status.candidate = evaluation.metrics;
  status.champion = evaluation.champion;
  status.report = evaluation.report;
  status.card = evaluation.card;
  if (evaluation.notes?.length) status.validationNotes = evaluation.notes;
  if (evaluation.claimMismatches?.length) status.claimMismatches = evaluation.claimMismatches;
  if (!evaluation.passed) {
    status.validationFailures = evaluation.failures;
    timeline.end('validate', 'failed', new Date(), evaluation.failures.join('; '));
    return finish({
      status: 'validation-failed',
      model: spec.model,
      metrics: evaluation.metrics,
      championMetrics: evaluation.champion?.metrics,
      report: evaluation.report,
      reason: evaluation.failures.join('; '),
    });
  }

  // servability: load the candidate as the server will and check its answers, before anyone is asked to approve.
  // Runs started before this stage existed replay without it (their history has no marker).
  if (patched('servability-check')) {
    const checked = await stage('servability', () =>
      checkServability({ model: spec.model, candidate: training.model, snapshot: data.snapshot, schema: data.schema, split: spec.dataset.split }),
    );
    if (isResult(checked)) return checked;
    const { passed, problems, notes, report, flavor, sampleRows, checkRows, disagreeing } = checked;
    status.servability = { passed, problems, notes, report, flavor, sampleRows, checkRows, disagreeing };
    if (!passed) {
      timeline.end('servability', 'failed', new Date(), problems.join('; '));
      return finish({
        status: 'failed',
        model: spec.model,
        metrics: evaluation.metrics,
        championMetrics: evaluation.champion?.metrics,
        report,
        reason: `servability check failed: ${problems.join('; ')}`,
      });
    }
    const agreed = checkRows ? `, agrees with its program on ${checkRows} check rows` : '';
    timeline.note('servability', `${flavor} model loads as the server loads it; ${sampleRows} holdout rows predicted${agreed}`);
  } else {
    timeline.skip('servability', 'not run: this run started before the servability check existed');
  }

  // approve: the human gate
  const gate = new ApprovalGate(spec.approval, input.requestedBy);
  timeline.start('approve', new Date());
  if (spec.approval.required) {
    status.approval = gate.status();
    const refresh = () => {
      status.approval = gate.status();
      setCurrentDetails(approvalDetails({ spec, workflowId: workflowInfo().workflowId, status, gate: gate.status() }));
    };
    setHandler(approveSignal, (req) => void (gate.approve(req, new Date().toISOString()), refresh()), {
      description: 'Approve the candidate model. Input: {"approver": "alice", "comment": "optional"}',
    });
    setHandler(rejectSignal, (req) => void (gate.reject(req, new Date().toISOString()), refresh()), {
      description: 'Reject the candidate model. Input: {"approver": "bob", "reason": "why"}',
    });
    setHandler(
      decideUpdate,
      (req) => {
        const now = new Date().toISOString();
        const payload = req && typeof req === 'object' ? req : {};
        const answer = (payload as { decision?: string }).decision === 'reject' ? gate.reject(payload, now) : gate.approve(payload, now);
        refresh();
        return answer;
      },
      { description: 'Approve or reject, answering whether the decision was accepted and why not. Input: {"decision": "approve", "approver": "alice"}' },
    );
    let timeout: number | undefined = spec.approval.timeout;
    while (timeout !== undefined) {
      gate.setDeadline(new Date(Date.now() + timeout).toISOString());
      refresh();
      if (await condition(() => gate.decided, timeout)) break;
      timeout = gate.expire(new Date().toISOString());
    }
    refresh();
    const decision = gate.status();
    if (decision.state !== 'approved') {
      timeline.end('approve', 'failed', new Date(), decision.decidedBy);
      return finish({
        status: decision.state === 'rejected' ? 'rejected' : 'approval-timed-out',
        model: spec.model,
        metrics: evaluation.metrics,
        championMetrics: evaluation.champion?.metrics,
        report: evaluation.report,
        reason: decision.decidedBy,
      });
    }
    timeline.end('approve', 'done', new Date(), decision.decidedBy);
  } else {
    timeline.end('approve', 'done', new Date(), 'approval not required by the spec');
  }

  // deploy: register the version (with its approvals) and move the alias by compare-and-swap
  const { workflowId, runId } = workflowInfo();
  const deployed = await stage('deploy', () =>
    deployCandidate({
      model: spec.model,
      alias: spec.deploy.alias,
      candidate: training.model,
      snapshot: data.snapshot,
      schema: data.schema,
      profile: data.profile,
      trainer: training.trainer,
      params: training.params,
      metrics: evaluation.metrics,
      approvals: gate.approvedBy,
      requestedBy: input.requestedBy,
      trigger: input.trigger,
      reason: input.reason,
      workflowId,
      runId,
      report: evaluation.card ?? evaluation.report,
    }),
  );
  if (isResult(deployed)) return deployed;

  // monitor: make sure the model's monitor watches the new version
  if (spec.monitor?.enabled) {
    const monitored = await stage('monitor', () =>
      ensureMonitor({ model: spec.model, alias: spec.deploy.alias, version: deployed.version, previousVersion: deployed.previousVersion, spec, workflowId }),
    );
    if (isResult(monitored)) return monitored;
  }

  return finish({
    status: 'deployed',
    model: spec.model,
    version: deployed.version,
    previousVersion: deployed.previousVersion,
    metrics: evaluation.metrics,
    championMetrics: evaluation.champion?.metrics,
    report: evaluation.report,
    card: evaluation.card,
    reason: input.reason,
  });
}

/** The Temporal UI details of a finished run: the outcome, and what the validate stage wants read. */
function finalDetails(model: string, result: PipelineRunResult, status: PipelineRunStatus): string {
  const parts = [`**${model}**: ${result.status}${result.version ? ` (version ${result.version})` : ''}`];
  if (result.reason) parts.push(result.reason);
  const dataNotes = dataDetails(status);
  if (dataNotes) parts.push(dataNotes);
  if (status.claimMismatches?.length) parts.push(`**Claimed vs measured**: ${status.claimMismatches.join('; ')}.`);
  if (status.validationNotes?.length) parts.push(`**Notes**: ${status.validationNotes.join(' ')}`);
  return parts.join('\n\n');
}

/** The data's validation warnings and dropped rows as markdown for the Temporal UI; empty when there are none. */
function dataDetails(status: PipelineRunStatus): string {
  const parts: string[] = [];
  if (status.data?.droppedMissingTarget) parts.push(`**Dropped**: ${status.data.droppedMissingTarget} rows whose target is missing (dataset.dropMissingTarget).`);
  for (const w of status.data?.warnings ?? []) parts.push(`**Data warning**: ${w}`);
  return parts.join('\n\n');
}

/** The most useful message of an activity failure: its cause's message. */
function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof ApplicationFailure) return err.message;
  return err instanceof Error ? err.message : String(err);
}
