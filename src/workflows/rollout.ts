/**
 * `rolloutRun`: one candidate's shadow or canary rollout, started by `pipelineRun` at deploy.
 *
 *   begin -> for each step below 1: write the share, wait for evidence, judge -> next step | roll back
 *         -> (approval, when the spec asks for it) -> promote: move the alias by compare-and-swap
 *
 * Waiting is durable: a step checks the prediction log every `checkEvery` on a timer, for days if labels are late.
 * People steer it with signals (pause, resume, promote, abort) or the `control` Update; every decision is kept with
 * its evidence in the status, the Temporal UI details and the registry's rollout history.
 */
import { condition, log, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  abortSignal,
  pauseSignal,
  promoteSignal,
  resumeSignal,
  rolloutControlUpdate,
  rolloutStatusQuery,
  sharePercent,
  type RolloutControl,
  type RolloutControlAnswer,
  type RolloutDecision,
  type RolloutEvidence,
  type RolloutRunInput,
  type RolloutRunResult,
  type RolloutRunStatus,
  type RolloutState,
} from '../contracts';
import { mlopsActivities } from './activity-names';
import { awaitApproval } from './approval-wait';
import { rolloutDetails } from './rollout-details';
import { storageActivity } from './options';

type Activities = ReturnType<typeof createActivities>;

const { beginRollout, setRolloutStep, assessRolloutStep, promoteVersion } = mlopsActivities<Activities>(storageActivity);

/** Most decisions kept in the status (the registry's history keeps every change). */
const MAX_DECISIONS = 200;

/** What ends a step: the candidate goes on, or back. */
type StepEnd = { next: true; promoteNow?: boolean } | { next: false; reason: string; by: string };

/** Runs one candidate's rollout to its promotion or its rollback. */
export async function rolloutRun(input: RolloutRunInput): Promise<RolloutRunResult> {
  const { policy } = input;
  const rolloutId = workflowInfo().workflowId;
  const status: RolloutRunStatus = {
    model: input.model,
    alias: input.alias,
    rolloutId,
    runWorkflowId: input.runWorkflowId,
    strategy: policy.strategy,
    champion: input.champion,
    candidate: input.candidate,
    state: 'running',
    step: 0,
    share: policy.steps[0]!,
    steps: policy.steps,
    decisions: [],
  };
  const controls = { paused: false, abort: undefined as Requested | undefined, promote: undefined as Requested | undefined };
  const now = () => new Date().toISOString();
  const show = () => setCurrentDetails(rolloutDetails(status));
  const decide = (d: Omit<RolloutDecision, 'at' | 'step' | 'share'>) => {
    status.decisions.push({ at: now(), step: status.step, share: status.share, ...d });
    if (status.decisions.length > MAX_DECISIONS) status.decisions.splice(0, status.decisions.length - MAX_DECISIONS);
    show();
  };
  const finished = () => status.state === 'promoted' || status.state === 'rolled-back' || status.state === 'failed';

  /** Applies a control, from a signal or the Update; answers whether it was taken and why not. */
  const control = (c: RolloutControl): RolloutControlAnswer => {
    const by = typeof c?.by === 'string' && c.by.trim() ? c.by.trim().slice(0, 128) : 'unknown';
    const reason = typeof c?.reason === 'string' ? c.reason.slice(0, 2000) : undefined;
    const refuse = (why: string): RolloutControlAnswer => {
      decide({ action: 'refused', by, reason: `${c?.action ?? 'control'} refused: ${why}` });
      return { accepted: false, reason: why, state: status.state };
    };
    if (finished()) return refuse(`the rollout has ended (${status.state})`);
    switch (c?.action) {
      case 'pause':
        if (controls.paused) return refuse('the rollout is already paused');
        controls.paused = true;
        decide({ action: 'paused', by, reason: reason ?? 'paused by a person' });
        return { accepted: true, reason: 'paused: the candidate keeps its share, and no step is judged until resume', state: 'paused' };
      case 'resume':
        if (!controls.paused) return refuse('the rollout is not paused');
        controls.paused = false;
        decide({ action: 'resumed', by, reason: reason ?? 'resumed by a person' });
        return { accepted: true, reason: 'resumed', state: 'running' };
      case 'abort':
        controls.abort = { by, reason: reason ?? `aborted by ${by}` };
        decide({ action: 'abort-requested', by, reason: controls.abort.reason });
        return { accepted: true, reason: 'aborting: the candidate is rolled back', state: status.state };
      case 'promote': {
        const problem = promoteProblem(by);
        if (problem) return refuse(problem);
        controls.promote = { by, reason: reason ?? `promoted now by ${by}` };
        decide({ action: 'promote-requested', by, reason: controls.promote.reason });
        return { accepted: true, reason: 'promoting: the remaining steps are skipped', state: status.state };
      }
      default:
        return refuse('expected an action of pause, resume, promote or abort');
    }
  };
  /** A person who may skip steps: anyone, unless the spec asks a person somewhere; then an approver, not the requester. */
  const promoteProblem = (by: string): string | undefined => {
    const approvers = policy.approval?.approvers;
    if (!approvers) return undefined;
    if (!approvers.includes(by)) return `${by} is not an allowed approver (allowed: ${approvers.join(', ')}), and this rollout asks one`;
    if (by === input.requestedBy) return `${by} requested the run and cannot promote its candidate (no self-approval)`;
    return undefined;
  };
  setHandler(rolloutStatusQuery, () => status, { description: "The rollout's state, step, evidence so far and decisions." });
  setHandler(pauseSignal, (r) => void control({ action: 'pause', ...(r ?? {}) }), {
    description:
      'Pause the rollout: the candidate keeps its share; nothing is judged until resume. Input: {"by": "alice", "reason": "..."}',
  });
  setHandler(resumeSignal, (r) => void control({ action: 'resume', ...(r ?? {}) }), {
    description: 'Resume a paused rollout. Input: {"by": "alice"}',
  });
  setHandler(promoteSignal, (r) => void control({ action: 'promote', ...(r ?? {}) }), {
    description: 'Promote the candidate now, skipping the remaining steps. Input: {"by": "alice", "reason": "..."}',
  });
  setHandler(abortSignal, (r) => void control({ action: 'abort', ...(r ?? {}) }), {
    description: 'Abort: roll the candidate back. Input: {"by": "alice", "reason": "..."}',
  });
  setHandler(rolloutControlUpdate, control, {
    description:
      'Pause, resume, promote or abort, answering whether it was accepted. Input: {"action": "abort", "by": "alice", "reason": "..."}',
  });

  // The registry's document: the model server routes by it.
  let doc!: RolloutState;
  const base = {
    model: input.model,
    rolloutId,
    strategy: policy.strategy,
    champion: input.champion,
    candidate: input.candidate,
    routing: policy.routing,
  };
  const write = async (share: number, state: 'running' | 'paused' | 'finished', by: string, reason: string) => {
    doc = await setRolloutStep({ ...base, share, step: status.step, status: state, by, reason, expectedSeq: doc.seq });
    status.registry = doc;
  };

  const end = async (outcome: RolloutRunResult['outcome'], by: string, reason: string): Promise<RolloutRunResult> => {
    status.state = outcome === 'promoted' ? 'promoted' : outcome === 'rolled-back' ? 'rolled-back' : 'failed';
    // A shadow's document keeps share 0 to the end (it never answered); the alias now says who answers.
    await write(outcome === 'promoted' && policy.strategy === 'canary' ? 1 : 0, 'finished', by, `${outcome}: ${reason}`);
    decide({ action: outcome === 'promoted' ? 'promoted' : outcome === 'rolled-back' ? 'rolled-back' : 'failed', by, reason });
    status.nextCheckAt = undefined;
    show();
    return {
      outcome,
      model: input.model,
      champion: input.champion,
      candidate: input.candidate,
      reason,
      step: status.step,
      decisions: status.decisions,
    };
  };
  const rollBack = (by: string, reason: string) => end('rolled-back', by, reason);

  /** Asks the spec's approvers; true when they approve, false when they reject, time out, or the rollout is aborted. */
  const ask = async (why: string): Promise<boolean> => {
    status.state = 'awaiting-approval';
    decide({ action: 'approval-asked', by: 'rollout', reason: why });
    const gate = await awaitApproval(
      policy.approval!,
      input.requestedBy,
      (approval) => {
        status.approval = approval;
        show();
      },
      { interrupted: () => controls.abort !== undefined || controls.promote !== undefined },
    );
    status.state = controls.paused ? 'paused' : 'running';
    if (controls.promote && !gate.decided) return true;
    return gate.status().state === 'approved';
  };

  /** One evidence step: wait, read, judge, until the step ends. */
  const runStep = async (): Promise<StepEnd> => {
    const startedAt = Date.now();
    status.stepStartedAt = new Date(startedAt).toISOString();
    status.evidence = undefined;
    status.evidenceAt = undefined;
    status.verdict = undefined;
    let pausedMs = 0;
    for (;;) {
      status.nextCheckAt = new Date(Date.now() + policy.checkEveryMs).toISOString();
      show();
      await condition(() => controls.paused || controls.abort !== undefined || controls.promote !== undefined, policy.checkEveryMs);
      if (controls.abort) return { next: false, ...controls.abort };
      if (controls.promote) return { next: true, promoteNow: true };
      if (controls.paused) {
        const pausedAt = Date.now();
        status.state = 'paused';
        status.nextCheckAt = undefined;
        await write(status.share, 'paused', 'rollout', 'paused by a person');
        show();
        await condition(() => !controls.paused || controls.abort !== undefined || controls.promote !== undefined);
        pausedMs += Date.now() - pausedAt;
        status.state = 'running';
        if (!controls.abort) await write(status.share, 'running', 'rollout', 'resumed');
        continue;
      }
      const { until, evidence, verdict } = await assessRolloutStep({
        model: input.model,
        rolloutId,
        strategy: policy.strategy,
        champion: input.champion,
        candidate: input.candidate,
        since: status.stepStartedAt,
        elapsedMs: Date.now() - startedAt - pausedMs,
        policy: policy.step,
      });
      status.evidence = evidence;
      status.evidenceAt = until;
      status.verdict = verdict;
      // A control that came in while the evidence was read wins over the verdict.
      if (controls.abort || controls.promote || controls.paused) continue;
      switch (verdict.decision) {
        case 'wait':
          continue;
        case 'pass':
          decide({ action: 'next-step', by: 'rollout', reason: verdict.reasons.join('; '), evidence });
          return { next: true };
        case 'fail':
          return { next: false, by: 'rollout', reason: `the candidate did worse: ${verdict.reasons.join('; ')}` };
        case 'expired':
          return onExpiry(verdict.reasons.join('; '), evidence);
      }
    }
  };
  const onExpiry = async (why: string, evidence: RolloutEvidence): Promise<StepEnd> => {
    if (policy.onExpiry === 'promote') {
      decide({ action: 'next-step', by: 'rollout', reason: `${why}; lateLabels.onExpiry is promote`, evidence });
      return { next: true };
    }
    if (policy.onExpiry === 'rollback') return { next: false, by: 'rollout', reason: `${why}; lateLabels.onExpiry is rollback` };
    const approved = await ask(`${why}; lateLabels.onExpiry is ask: approve to go on, reject to roll back`);
    if (controls.abort) return { next: false, ...controls.abort };
    if (approved) return { next: true, promoteNow: controls.promote !== undefined };
    return { next: false, by: status.approval?.decidedBy ?? 'approval', reason: `not approved after ${why}` };
  };

  // begin: the candidate gets its first share (a shadow: 0, it predicts every request and answers none)
  const first = policy.steps[0]!;
  if (policy.approveBefore.includes(first) && first < 1) {
    if (!(await ask(`a person must approve step 1 (${sharePercent(first)} of requests) before it starts`)))
      return { ...(await beginAndEnd()), outcome: 'rolled-back' };
  }
  doc = await beginRollout({
    ...base,
    alias: input.alias,
    share: first,
    by: 'rollout',
    reason: `${policy.strategy} of v${input.candidate} against v${input.champion} started by ${input.runWorkflowId}`,
  });
  status.registry = doc;
  decide({ action: 'started', by: 'rollout', reason: `${policy.strategy}: steps ${policy.steps.map(sharePercent).join(', ')}` });

  for (let i = 0; i < policy.steps.length; i++) {
    const share = policy.steps[i]!;
    if (share >= 1) break;
    if (i > 0) {
      if (policy.approveBefore.includes(share) && !controls.promote) {
        if (!(await ask(`a person must approve step ${i + 1} (${sharePercent(share)} of requests) before it starts`))) {
          if (controls.abort) return rollBack(controls.abort.by, controls.abort.reason);
          if (!controls.promote) return rollBack(status.approval?.decidedBy ?? 'approval', `step ${i + 1} was not approved`);
        }
      }
      if (controls.abort) return rollBack(controls.abort.by, controls.abort.reason);
      if (controls.promote) break;
      status.step = i;
      status.share = share;
      await write(
        share,
        controls.paused ? 'paused' : 'running',
        'rollout',
        `step ${i + 1}: ${sharePercent(share)} of requests to v${input.candidate}`,
      );
    }
    const ended = await runStep();
    if (!ended.next) return rollBack(ended.by, ended.reason);
    if (ended.promoteNow) break;
  }

  // promote: every request to the candidate, by moving the alias (only if it still points at the champion)
  // (read through functions: a signal may change the controls while the workflow awaits)
  const aborted = (): Requested | undefined => controls.abort;
  const promoteNow = (): Requested | undefined => controls.promote;
  if (aborted()) return rollBack(aborted()!.by, aborted()!.reason);
  if (policy.approveBefore.includes(1) && !promoteNow()) {
    const approved = await ask('a person must approve the promotion (every request to the candidate)');
    if (aborted()) return rollBack(aborted()!.by, aborted()!.reason);
    if (!approved && !promoteNow()) return rollBack(status.approval?.decidedBy ?? 'approval', 'the promotion was not approved');
  }
  const promotedBy = promoteNow()?.by ?? 'rollout';
  status.step = policy.steps.length - 1;
  status.share = 1;
  const reason = promoteNow()?.reason ?? `every step passed${policy.approveBefore.includes(1) ? ' and the promotion was approved' : ''}`;
  // The deploy's compare-and-swap: the alias moves only if it still points at the champion the candidate was compared with.
  const moved = await promoteVersion({
    model: input.model,
    alias: input.alias,
    version: input.candidate,
    expectedVersion: input.champion,
    by: promotedBy,
    reason: `rollout ${rolloutId}: ${reason}`,
    workflowId: rolloutId,
  });
  if (!moved.moved) {
    log.warn('promotion refused: the alias moved during the rollout', { current: moved.current, champion: input.champion });
    return end(
      'failed',
      'rollout',
      `${input.alias} now points at ${moved.current === null ? 'nothing' : `v${moved.current}`}, not the champion ` +
        `v${input.champion} this candidate was compared with: not promoted; deploy again to compare with the new champion`,
    );
  }
  return end('promoted', promotedBy, reason);

  /** A rollout refused before its first step: nothing was written, so nothing is undone. */
  async function beginAndEnd(): Promise<RolloutRunResult> {
    status.state = 'rolled-back';
    const aborted = controls.abort as Requested | undefined;
    const why = aborted?.reason ?? status.approval?.decidedBy ?? 'the first step was not approved';
    decide({ action: 'rolled-back', by: aborted?.by ?? 'approval', reason: why });
    return {
      outcome: 'rolled-back',
      model: input.model,
      champion: input.champion,
      candidate: input.candidate,
      reason: why,
      step: 0,
      decisions: status.decisions,
    };
  }
}

/** A person's control, kept until the workflow acts on it. */
interface Requested {
  by: string;
  reason: string;
}
