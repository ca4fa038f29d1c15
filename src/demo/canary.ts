/**
 * The demo's canary: the rollout settings its retraining deploys use, the replay's lockstep with a running rollout, and
 * each rollout's account for the summary.
 *
 * The replay sends one request a day, so a step's evidence is counted in days. Two years replay in about a minute, so
 * the rollout could judge whatever happened to be logged when its timer fired; instead the replay pauses at the middle and
 * the end of each month until the rollout has judged every day served so far (and the model server routes by its latest share). The
 * outcome then depends on the days and the routing hash only, not on the machine's speed.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { rolloutStatusQuery, sharePercent, type RolloutDecision, type RolloutRunStatus, type VersionEvidence } from '../contracts';
import { parsePipelineSpec, type PipelineSpec } from '../spec/pipeline';

/** The retraining deploys' canary: evidence in days of traffic, time bounds in seconds of replay. */
export const DEMO_CANARY = {
  strategy: 'canary' as const,
  rollout: {
    steps: [0.2, 0.5, 1],
    evidence: { minRequests: 10, minLabelled: 10, maxWait: '5m', checkEvery: '100ms' },
    // Latency decides nothing here: every version is a small tree model on a machine that may be busy.
    compare: { metric: 'accuracy', tolerance: 0.15, maxErrorRateIncrease: 0.05, maxP99Ratio: 10, p99SlackMs: 250 },
    lateLabels: { bound: '5m', onExpiry: 'rollback' as const },
  },
};

/** The spec with the demo's canary as its deploy (the first deploy is direct all the same: there is no champion yet). */
export function withDemoCanary(spec: PipelineSpec): PipelineSpec {
  const { deploy } = parsePipelineSpec({
    model: spec.model,
    // Parsed on its own, so the spec's checks of the section apply; only its deploy section is kept.
    dataset: { source: 'unused.csv', target: 'unused' },
    trainer: { name: 'gbdt' },
    deploy: { alias: spec.deploy.alias, onChampionChanged: spec.deploy.onChampionChanged, ...DEMO_CANARY },
  });
  return { ...spec, deploy };
}

/** One line describing the canary, for the demo's settings line. */
export function canaryLine(): string {
  const r = DEMO_CANARY.rollout;
  return (
    `canary ${r.steps.map(sharePercent).join(' -> ')}; each step waits for ${r.evidence.minLabelled} labelled days per version, then ` +
    `${r.compare.metric} may be at most ${r.compare.tolerance} below production's`
  );
}

/** What a step of a rollout saw, and what it decided. */
export interface DemoRolloutStep {
  step: number;
  share: number;
  candidate: StepSide;
  champion: StepSide;
  decision: 'pass' | 'fail' | 'expired' | 'stopped';
}

/** One version's evidence in a step. */
export interface StepSide {
  version: number;
  requests: number;
  labelled: number;
  metric?: number;
}

/** One rollout of the demo, as the summary shows it. */
export interface DemoRollout {
  rolloutId: string;
  runWorkflowId: string;
  candidate: number;
  champion: number;
  /** What the candidate is: why it was trained. */
  about: string;
  metric?: string;
  steps: DemoRolloutStep[];
  outcome: 'promoted' | 'rolled-back' | 'failed' | 'running';
  by: string;
  reason: string;
  /** The replayed day on which it ended. */
  endedOn?: string;
}

const ENDS: RolloutDecision['action'][] = ['promoted', 'rolled-back', 'failed'];

/** Whether the rollout has ended and written its last document. */
export function rolloutEnded(s: RolloutRunStatus): boolean {
  return ENDS.includes(s.decisions.at(-1)?.action as RolloutDecision['action']) && s.registry?.status === 'finished';
}

/**
 * Whether the rollout has judged everything logged before `after` and waits for more, or began a step after it (its
 * document written, so the model server can route by it), or has ended.
 */
function judgedSince(s: RolloutRunStatus, after: string): boolean {
  if (rolloutEnded(s)) return true;
  if (s.state !== 'running' || s.registry?.status !== 'running' || s.registry.step !== s.step) return false;
  if (s.evidenceAt !== undefined) return s.evidenceAt >= after && s.verdict?.decision === 'wait';
  return s.stepStartedAt !== undefined && s.stepStartedAt >= after;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the rollout has judged the predictions logged before `since` (epoch ms): it waits for more traffic,
 * began its next step, or ended. A paused rollout is waited for as long as it stays paused.
 */
export async function awaitJudgement(
  client: Client,
  rolloutId: string,
  since: number,
  say: (l: string) => void,
): Promise<RolloutRunStatus> {
  const handle = client.workflow.getHandle(rolloutId);
  const after = new Date(since).toISOString();
  let deadline = Date.now() + 5 * 60_000;
  let told = false;
  for (;;) {
    let s: RolloutRunStatus | undefined;
    try {
      s = await handle.query(rolloutStatusQuery);
    } catch (err) {
      // The run names its rollout just before starting it.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    if (s && judgedSince(s, after)) return s;
    if (s && (s.state === 'paused' || s.state === 'awaiting-approval')) {
      if (!told) say(`  rollout ${rolloutId} is ${s.state}: the replay waits (see "npx mlops rollout status ${s.model}")`);
      told = true;
      deadline = Date.now() + 5 * 60_000;
    } else if (Date.now() > deadline) {
      throw new Error(
        `rollout ${rolloutId} did not judge the traffic served before ${after} within 5 minutes ` +
          `(state ${s?.state ?? 'not started'}); see "npx mlops rollout status ${rolloutId}"`,
      );
    }
    await sleep(25);
  }
}

/** The rollout's account, from its status once it ended (or as it stands). */
export function rolloutAccount(s: RolloutRunStatus, about: string, endedOn?: string): DemoRollout {
  const steps: DemoRolloutStep[] = [];
  for (const d of s.decisions) {
    if (d.action === 'next-step' && d.evidence) steps.push(stepOf(d.step, d.share, d.evidence, 'pass'));
  }
  const last = s.decisions.at(-1);
  const ended = rolloutEnded(s);
  // The step it ended in, when that step did not pass (a promotion comes after the last step's pass).
  if (s.evidence && !(ended && last?.action === 'promoted')) {
    const judged = s.verdict?.decision;
    const decision = judged === 'fail' || judged === 'expired' ? judged : judged === 'pass' ? 'pass' : 'stopped';
    if (!steps.some((x) => x.step === s.step)) steps.push(stepOf(s.step, s.share, s.evidence, decision));
  }
  return {
    rolloutId: s.rolloutId,
    runWorkflowId: s.runWorkflowId,
    candidate: s.candidate,
    champion: s.champion,
    about,
    metric: s.evidence?.metric ?? s.decisions.find((d) => d.evidence)?.evidence?.metric,
    steps,
    outcome: ended ? (last!.action as DemoRollout['outcome']) : 'running',
    by: ended ? last!.by : 'rollout',
    reason: ended ? last!.reason : `still at step ${s.step + 1} (${sharePercent(s.share)})`,
    ...(endedOn ? { endedOn } : {}),
  };
}

function stepOf(
  step: number,
  share: number,
  e: { candidate: VersionEvidence; champion: VersionEvidence },
  decision: DemoRolloutStep['decision'],
): DemoRolloutStep {
  const side = (v: VersionEvidence): StepSide => ({
    version: v.version,
    requests: v.requests,
    labelled: v.labelled,
    ...(v.metric !== undefined ? { metric: v.metric } : {}),
  });
  return { step, share, candidate: side(e.candidate), champion: side(e.champion), decision };
}

/** Where a running rollout stands, in one line. */
export function rolloutProgress(s: RolloutRunStatus): string {
  const e = s.evidence;
  const seen = e
    ? `v${e.candidate.version} ${e.candidate.labelled} labelled day(s)${e.candidate.metric !== undefined ? ` (${e.metric} ${e.candidate.metric.toFixed(3)})` : ''}, ` +
      `v${e.champion.version} ${e.champion.labelled}${e.champion.metric !== undefined ? ` (${e.champion.metric.toFixed(3)})` : ''}`
    : 'no evidence yet';
  return `canary of v${s.candidate} at ${sharePercent(s.share)} (step ${s.step + 1}): ${seen}`;
}

/** The rollouts' part of the summary. */
export function formatRollouts(rollouts: DemoRollout[]): string[] {
  if (rollouts.length === 0) return [];
  const lines = [`Rollouts (${canaryLine()}):`];
  for (const r of rollouts) {
    const outcome = r.outcome === 'rolled-back' ? 'ROLLED BACK' : r.outcome.toUpperCase();
    lines.push(`  v${r.candidate} against v${r.champion}: ${outcome}${r.endedOn ? ` on ${r.endedOn}` : ''}. ${r.about}`);
    for (const st of r.steps) {
      const m = (x: StepSide) => (x.metric !== undefined ? ` ${r.metric ?? 'metric'} ${x.metric.toFixed(3)}` : '');
      lines.push(
        `    step ${st.step + 1} at ${sharePercent(st.share).padEnd(5)} candidate v${st.candidate.version}: ${st.candidate.requests} requests, ` +
          `${st.candidate.labelled} labelled,${m(st.candidate)} | champion v${st.champion.version}: ${st.champion.requests} requests, ` +
          `${st.champion.labelled} labelled,${m(st.champion)} -> ${st.decision}`,
      );
    }
    lines.push(`    ${r.outcome} by ${r.by}: ${r.reason}`);
  }
  return lines;
}
