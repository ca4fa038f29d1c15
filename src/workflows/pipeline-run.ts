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
  ChildWorkflowFailure,
  ParentClosePolicy,
  executeChild,
  log,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  pipelineStatusQuery,
  rolloutPolicyOf,
  rolloutWorkflowId,
  type RolloutRunResult,
  type Approval,
  type ChampionChange,
  type DeployInput,
  type EvaluateResult,
  type IngestResult,
  type TrainResult,
  type PipelineRunInput,
  type PipelineRunResult,
  type PipelineRunStatus,
  type ReportRef,
  type SpecRef,
  type StageName,
} from '../contracts';
import { mlopsActivities } from './activity-names';
import { awaitApproval } from './approval-wait';
import { approvalDetails, decisionDetails } from './details';
import { championChanged, comparedWith, deployByCompareAndSwap } from './deploy';
import { lifecycle } from './lifecycle-sink';
import { stageActivity, trainingActivity } from './options';
import { DEPLOY_CAS_PATCH, pipelinePatched } from './patches';
import { rolloutRun } from './rollout';
import { Timeline } from './timeline';

type Activities = ReturnType<typeof createActivities>;

const { ingestDataset, evaluateCandidate, checkServability, deployCandidate, ensureMonitor } = mlopsActivities<Activities>(
  stageActivity,
  pipelinePatched,
);

/** Runs the lifecycle once and returns how it ended. */
export async function pipelineRun(input: PipelineRunInput): Promise<PipelineRunResult> {
  const { spec } = input;
  // A worker that dies mid-training is noticed within seconds; the retry resumes from the last checkpoint.
  const { trainModel } = mlopsActivities<Activities>(trainingActivity(input.trainingTaskQueue ?? 'mlops-training'), pipelinePatched);
  const timeline = new Timeline();
  const status: PipelineRunStatus = {
    model: spec.model,
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    reason: input.reason,
    stage: 'ingest',
    stages: timeline.stages,
  };
  lifecycle.runStarted(spec.model);
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
  const stage = async <T>(name: StageName, run: () => Promise<T>): Promise<StageOutcome<T>> => {
    timeline.start(name, new Date());
    try {
      const output = await run();
      timeline.end(name, 'done', new Date());
      return { done: true, output };
    } catch (err) {
      const reason = failureMessage(err);
      timeline.end(name, 'failed', new Date(), reason);
      log.warn('stage failed', { stage: name, reason });
      return { done: false, ended: finish({ status: 'failed', model: spec.model, reason: `${name} failed: ${reason}` }) };
    }
  };
  /** How a run that ends after validation reports itself: the measured metrics and the report beside the reason. */
  const endAfterValidation = (evaluation: EvaluateResult, ending: Pick<PipelineRunResult, 'status' | 'reason'> & { report?: ReportRef }) =>
    finish({
      model: spec.model,
      metrics: evaluation.metrics,
      championMetrics: evaluation.champion?.metrics,
      report: evaluation.report,
      ...ending,
    });

  // ingest: snapshot, validation, profile
  const ingest = await stage('ingest', () => ingestDataset({ model: spec.model, dataset: spec.dataset, window: input.window }));
  if (!ingest.done) return ingest.ended;
  const data = ingest.output;
  status.data = { rows: data.rowCount, snapshot: data.snapshot.sha256, classCounts: data.summary.classCounts };
  if (data.summary.droppedMissingTarget !== undefined) status.data.droppedMissingTarget = data.summary.droppedMissingTarget;
  if (data.validation.warningMessages?.length) status.data.warnings = data.validation.warningMessages;
  // Seen in the Temporal UI while the run goes on, not only once it ends.
  const dataNotes = dataDetails(status);
  if (dataNotes) setCurrentDetails(`**${spec.model}**: running\n\n${dataNotes}`);
  if (!data.validation.ok) {
    // The ingest ran, but its data blocks the run: the stage is shown failed, not done.
    timeline.mark('ingest', 'failed', 'blocking data validation issues');
    return finish({
      status: 'failed',
      model: spec.model,
      report: data.validation.report,
      reason: `data validation failed: ${data.validation.blocking.join('; ')}`,
    });
  }

  // train, on the training task queue
  const trained = await stage('train', () =>
    trainModel({ model: spec.model, snapshot: data.snapshot, schema: data.schema, split: spec.dataset.split, trainer: spec.trainer }),
  );
  if (!trained.done) return trained.ended;
  const training = trained.output;
  if (training.resumedFrom) {
    timeline.note('train', `resumed from a checkpoint at ${Math.round(training.resumedFrom.progress * 100)}% after a retry`);
  }

  // validate: holdout metrics, thresholds, champion/challenger
  const validate = () =>
    evaluateCandidate({
      ...{ model: spec.model, candidate: training.model, snapshot: data.snapshot, schema: data.schema, split: spec.dataset.split },
      ...{ policy: spec.validation, alias: spec.deploy.alias, profile: data.profile, validationReport: data.validation.report },
      ...(data.summary.droppedMissingTarget ? { droppedMissingTarget: data.summary.droppedMissingTarget } : {}),
      ...(spec.description ? { description: spec.description } : {}),
    });
  /** What the status shows of a validation: the metrics against the champion's, the report and the card. */
  const showValidation = (evaluation: EvaluateResult) => {
    status.candidate = evaluation.metrics;
    status.champion = evaluation.champion;
    status.report = evaluation.report;
    status.card = evaluation.card;
    if (evaluation.notes?.length) status.validationNotes = evaluation.notes;
    if (evaluation.claimMismatches?.length) status.claimMismatches = evaluation.claimMismatches;
  };
  const run: RunContext = { spec, input, status, timeline, stage, finish, endAfterValidation, validate, showValidation };
  const evaluated = await stage('validate', validate);
  if (!evaluated.done) return evaluated.ended;
  let evaluation = evaluated.output;
  showValidation(evaluation);
  if (!evaluation.passed) {
    status.validationFailures = evaluation.failures;
    timeline.end('validate', 'failed', new Date(), evaluation.failures.join('; '));
    return endAfterValidation(evaluation, { status: 'validation-failed', reason: evaluation.failures.join('; ') });
  }

  // servability: load the candidate as the server will and check its answers, before anyone is asked to approve
  const unservable = await servabilityStage(run, { data, training, evaluation });
  if (unservable) return unservable;

  // approve: the human gate
  const approved = await approveStage(run, evaluation);
  if ('ended' in approved) return approved.ended;

  // deploy: register the version, then move the alias by compare-and-swap or hand it to a rollout
  const deployed = await deployStage(run, { data, training, evaluation, approvals: approved.approvals });
  if ('ended' in deployed) return deployed.ended;
  const { version, previousVersion, specRef, workflowId, runId } = deployed;
  evaluation = deployed.evaluation;

  // monitor: make sure the model's monitor watches the new version, judged by this run's spec
  if (spec.monitor?.enabled) {
    const monitored = await stage('monitor', () =>
      ensureMonitor({ model: spec.model, alias: spec.deploy.alias, version, previousVersion, spec, workflowId, runId, specRef }),
    );
    if (!monitored.done) return monitored.ended;
  }

  return finish({
    status: 'deployed',
    model: spec.model,
    version,
    previousVersion,
    metrics: evaluation.metrics,
    championMetrics: evaluation.champion?.metrics,
    report: evaluation.report,
    card: evaluation.card,
    reason: input.reason,
  });
}

/** What a stage function shares with `pipelineRun`: the spec, the status the query shows, the timeline and how a run ends. */
interface RunContext {
  spec: PipelineRunInput['spec'];
  input: PipelineRunInput;
  status: PipelineRunStatus;
  timeline: Timeline;
  stage: <T>(name: StageName, run: () => Promise<T>) => Promise<StageOutcome<T>>;
  finish: (result: PipelineRunResult) => PipelineRunResult;
  endAfterValidation: (
    evaluation: EvaluateResult,
    ending: Pick<PipelineRunResult, 'status' | 'reason'> & { report?: ReportRef },
  ) => PipelineRunResult;
  validate: () => Promise<EvaluateResult>;
  showValidation: (evaluation: EvaluateResult) => void;
}

/** servability: the candidate loaded as the server will load it, its answers checked; ends the run when it fails. */
async function servabilityStage(
  run: RunContext,
  made: Pick<Made, 'data' | 'training' | 'evaluation'>,
): Promise<PipelineRunResult | undefined> {
  const { data, training, evaluation } = made;
  // Runs started before this stage existed replay without it (their history has no marker).
  if (pipelinePatched('servability-check')) {
    const checked = await run.stage('servability', () =>
      checkServability({
        model: run.spec.model,
        candidate: training.model,
        snapshot: data.snapshot,
        schema: data.schema,
        split: run.spec.dataset.split,
      }),
    );
    if (!checked.done) return checked.ended;
    const { passed, problems, notes, report, flavor, sampleRows, checkRows, disagreeing } = checked.output;
    run.status.servability = { passed, problems, notes, report, flavor, sampleRows, checkRows, disagreeing };
    if (!passed) {
      run.timeline.end('servability', 'failed', new Date(), problems.join('; '));
      return run.endAfterValidation(evaluation, { status: 'failed', report, reason: `servability check failed: ${problems.join('; ')}` });
    }
    const agreed = checkRows ? `, agrees with its program on ${checkRows} check rows` : '';
    run.timeline.note('servability', `${flavor} model loads as the server loads it; ${sampleRows} holdout rows predicted${agreed}`);
  } else {
    run.timeline.skip('servability', 'not run: this run started before the servability check existed');
  }
  return undefined;
}

/** approve: the human gate. Ends the run when the candidate is rejected or nobody decides in time. */
async function approveStage(
  run: RunContext,
  evaluation: EvaluateResult,
): Promise<{ approvals: Approval[] } | { ended: PipelineRunResult }> {
  const { spec, input } = run;
  run.timeline.start('approve', new Date());
  if (spec.approval.required) {
    const asked = Date.now();
    const gate = await awaitApproval(
      spec.approval,
      input.requestedBy,
      (approval) => {
        run.status.approval = approval;
        setCurrentDetails(
          approvalDetails({
            spec,
            workflowId: workflowInfo().workflowId,
            status: run.status,
            gate: approval,
            cardBaseUrl: input.cardBaseUrl,
          }),
        );
      },
      { requester: input.$identity, patched: pipelinePatched },
    );
    const decision = gate.status();
    lifecycle.approvalDecided(spec.model, decision.state, (Date.now() - asked) / 1000);
    if (decision.state !== 'approved') {
      run.timeline.end('approve', 'failed', new Date(), decision.decidedBy);
      return {
        ended: run.endAfterValidation(evaluation, {
          status: decision.state === 'rejected' ? 'rejected' : 'approval-timed-out',
          reason: decision.decidedBy,
        }),
      };
    }
    run.timeline.end('approve', 'done', new Date(), decision.decidedBy);
    return { approvals: gate.approvedBy };
  }
  run.timeline.end('approve', 'done', new Date(), 'approval not required by the spec');
  return { approvals: [] };
}

/** What the deploy stage needs from the stages before it. */
interface Made {
  data: IngestResult;
  training: TrainResult;
  evaluation: EvaluateResult;
  approvals: Approval[];
}

/** What a deploy leaves for the monitor and the result. */
interface Deployed {
  version: number;
  previousVersion?: number;
  specRef?: SpecRef;
  evaluation: EvaluateResult;
  workflowId: string;
  runId: string;
}

async function deployStage(run: RunContext, made: Made): Promise<Deployed | { ended: PipelineRunResult }> {
  // deploy: register the version (with its approvals and spec) and move the alias by compare-and-swap, only onto the
  // champion the candidate was compared with; with a shadow or canary strategy the alias stays, and a rollout (a child
  // workflow) moves it once live evidence says so. A model with no production version yet has nothing to compare
  // with, so it is deployed directly. Runs started before rollouts (or the compare-and-swap) replay without the marker.
  const { spec, input, status, timeline, stage, finish, endAfterValidation } = run;
  const { workflowId, runId } = workflowInfo();
  const { data, training, approvals } = made;
  let { evaluation } = made;
  const deployInput: DeployInput = {
    ...{ model: spec.model, alias: spec.deploy.alias, candidate: training.model, snapshot: data.snapshot, schema: data.schema },
    ...{ profile: data.profile, trainer: training.trainer, params: training.params, metrics: evaluation.metrics, approvals },
    ...{ requestedBy: input.requestedBy, trigger: input.trigger, reason: input.reason, workflowId, runId },
    report: evaluation.card ?? evaluation.report,
    ...(evaluation.cardInput ? { cardInput: evaluation.cardInput } : {}),
  };
  const policy = rolloutPolicyOf(spec);
  const rollout = policy !== undefined && evaluation.champion !== undefined && pipelinePatched('rollout-strategy');
  let version: number;
  let previousVersion: number | undefined;
  let specRef: SpecRef | undefined;
  // When production moved after validation: judged again against the new champion, or stopped (deploy.onChampionChanged).
  const onChampionChanged = (change: ChampionChange, again?: EvaluateResult) => {
    status.deploy!.championChanges.push(change);
    if (again) {
      run.showValidation(again);
      status.deploy!.comparedWith = comparedWith(again);
      if (!again.passed) status.validationFailures = again.failures;
    }
  };
  if (!rollout && pipelinePatched(DEPLOY_CAS_PATCH)) {
    status.deploy = { comparedWith: comparedWith(evaluation), championChanges: [] };
    const deployed = await stage('deploy', () =>
      deployByCompareAndSwap({ spec, deploy: deployInput, evaluation, revalidate: run.validate, onChampionChanged }),
    );
    if (!deployed.done) return { ended: deployed.ended };
    const outcome = deployed.output;
    evaluation = outcome.evaluation;
    if (!outcome.deployed) {
      timeline.mark('deploy', 'failed', outcome.reason);
      return { ended: endAfterValidation(evaluation, { status: outcome.status, reason: outcome.reason }) };
    }
    if (status.deploy.championChanges.length) timeline.note('deploy', championNote(status.deploy.championChanges, outcome.version));
    ({ version, previousVersion, spec: specRef } = outcome);
  } else {
    if (rollout) status.deploy = { comparedWith: comparedWith(evaluation), championChanges: [] };
    const deployed = await stage('deploy', () => deployCandidate({ ...(rollout ? { moveAlias: false, spec } : {}), ...deployInput }));
    if (!deployed.done) return { ended: deployed.ended };
    ({ version, previousVersion, spec: specRef } = deployed.output);
  }
  // A rollout runs against the champion the candidate was compared with: when production moved after validation, the
  // candidate is judged again against the new one (or the run stops) before any request reaches it.
  const expected = comparedWith(evaluation);
  if (rollout && previousVersion !== undefined && previousVersion !== expected && pipelinePatched(DEPLOY_CAS_PATCH)) {
    const changes = { version, changes: 0, expected, current: previousVersion };
    const checked = await stage('deploy', () =>
      championChanged({ spec, evaluation, revalidate: run.validate, onChampionChanged }, changes),
    );
    if (!checked.done) return { ended: checked.ended };
    evaluation = checked.output.evaluation;
    if (!checked.output.passed) {
      timeline.mark('deploy', 'failed', checked.output.reason);
      return { ended: endAfterValidation(evaluation, { status: checked.output.status, reason: checked.output.reason }) };
    }
    previousVersion = comparedWith(evaluation) ?? undefined;
  }

  if (rollout && previousVersion === undefined) {
    // The alias was removed after validation: there is no champion left to roll out against.
    const reason = `${spec.deploy.alias} pointed at no version at deploy, so v${version} has no champion to be rolled out against; run again to deploy it`;
    timeline.end('deploy', 'failed', new Date(), reason);
    return { ended: finish({ status: 'failed', model: spec.model, version, reason }) };
  }
  if (rollout && previousVersion !== undefined) {
    const rolloutId = rolloutWorkflowId(spec.model, version);
    status.rollout = { workflowId: rolloutId, strategy: policy.strategy, champion: previousVersion, candidate: version };
    timeline.start('deploy', new Date());
    timeline.note('deploy', `v${version} registered; ${policy.strategy} rollout ${rolloutId} against v${previousVersion} decides`);
    setCurrentDetails(
      `**${spec.model}**: v${version} in a ${policy.strategy} rollout against v${previousVersion}: ` +
        `see \`mlops rollout status ${spec.model}\` or the workflow ${rolloutId}.`,
    );
    let ended: RolloutRunResult;
    try {
      ended = await executeChild(rolloutRun, {
        workflowId: rolloutId,
        args: [
          {
            model: spec.model,
            alias: spec.deploy.alias,
            champion: previousVersion,
            candidate: version,
            policy,
            requestedBy: input.requestedBy,
            runWorkflowId: workflowId,
          },
        ],
        // The rollout finishes what it began (a share of traffic on the candidate) even if this run is cancelled.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `${policy.strategy} rollout of ${spec.model} v${version} against v${previousVersion}`,
      });
    } catch (err) {
      const reason = err instanceof ChildWorkflowFailure && err.cause ? failureMessage(err.cause) : failureMessage(err);
      timeline.end('deploy', 'failed', new Date(), `rollout ${rolloutId} failed: ${reason}`);
      return { ended: finish({ status: 'failed', model: spec.model, version, previousVersion, reason: `rollout failed: ${reason}` }) };
    }
    status.rollout.outcome = ended.outcome;
    status.rollout.reason = ended.reason;
    if (ended.outcome !== 'promoted') {
      timeline.end('deploy', 'failed', new Date(), `${policy.strategy} rollout ${ended.outcome}: ${ended.reason}`);
      return {
        ended: endAfterValidation(evaluation, {
          status: ended.outcome === 'rolled-back' ? 'rolled-back' : 'failed',
          reason: `${policy.strategy} rollout of v${version} ${ended.outcome}: ${ended.reason}`,
        }),
      };
    }
    timeline.end('deploy', 'done', new Date(), `v${version} promoted by its ${policy.strategy} rollout: ${ended.reason}`);
  }
  return { version, previousVersion, specRef, evaluation, workflowId, runId };
}

/** The deploy stage's note when production moved after validation: each change and what the run did. */
function championNote(changes: ChampionChange[], version: number): string {
  const name = (v: number | null) => (v === null ? 'no version' : `v${v}`);
  const steps = changes.map(
    (c) => `production moved from ${name(c.expected)} to ${name(c.current)} after validation; validated again against it`,
  );
  return `${steps.join('; ')}; v${version} deployed over ${name(changes[changes.length - 1]!.current)}`;
}

/** A stage either produced its output, or failed and so ended the run with this result. */
type StageOutcome<T> = { done: true; output: T } | { done: false; ended: PipelineRunResult };

/** The Temporal UI details of a finished run: the outcome, and what the validate stage wants read. */
function finalDetails(model: string, result: PipelineRunResult, status: PipelineRunStatus): string {
  const parts = [`**${model}**: ${result.status}${result.version ? ` (version ${result.version})` : ''}`];
  if (result.reason) parts.push(result.reason);
  const decided = decisionDetails(status.approval);
  if (decided) parts.push(decided);
  const dataNotes = dataDetails(status);
  if (dataNotes) parts.push(dataNotes);
  if (status.claimMismatches?.length) parts.push(`**Claimed vs measured**: ${status.claimMismatches.join('; ')}.`);
  if (status.validationNotes?.length) parts.push(`**Notes**: ${status.validationNotes.join(' ')}`);
  return parts.join('\n\n');
}

/** The data's validation warnings and dropped rows as markdown for the Temporal UI; empty when there are none. */
function dataDetails(status: PipelineRunStatus): string {
  const parts: string[] = [];
  if (status.data?.droppedMissingTarget)
    parts.push(`**Dropped**: ${status.data.droppedMissingTarget} rows whose target is missing (dataset.dropMissingTarget).`);
  for (const w of status.data?.warnings ?? []) parts.push(`**Data warning**: ${w}`);
  return parts.join('\n\n');
}

/** The most useful message of an activity failure: its cause's message. */
function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof ApplicationFailure) return err.message;
  return err instanceof Error ? err.message : String(err);
}
