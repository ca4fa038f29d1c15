/**
 * The deploy stage by compare-and-swap: register the candidate, then move the alias only if it still points at the
 * champion the candidate was compared with. When production moved meanwhile (another run deployed, a rollback, a
 * manual promote), the candidate is judged again against the new champion, or the run stops, as
 * `deploy.onChampionChanged` says; so the alias never ends on a candidate that was compared with an older champion.
 */
import type { createActivities } from '../activities';
import type { ChampionChange, DeployInput, EvaluateResult, PipelineRunInput, SpecRef } from '../contracts';
import { mlopsActivities } from './activity-names';
import { stageActivity } from './options';
import { pipelinePatched } from './patches';

type Activities = ReturnType<typeof createActivities>;

const { registerCandidate, promoteVersion } = mlopsActivities<Activities>(stageActivity, pipelinePatched);

/** Times production may move under one run before it stops trying (each time costs a validation). */
export const MAX_CHAMPION_CHANGES = 5;

/** What the compare-and-swap deploy needs from the run. */
export interface CasDeploy {
  spec: PipelineRunInput['spec'];
  deploy: DeployInput;
  /** The validation the candidate was approved on. */
  evaluation: EvaluateResult;
  /** Runs the validate stage again, against whatever the alias points at now. */
  revalidate: () => Promise<EvaluateResult>;
  /** Told each time the alias had moved, with the new validation when there was one. */
  onChampionChanged: (change: ChampionChange, evaluation?: EvaluateResult) => void;
}

/** How the deploy ended: the version is production, or it is not, with why and the latest validation. */
export type CasDeployOutcome =
  | { deployed: true; version: number; previousVersion?: number; spec: SpecRef; evaluation: EvaluateResult }
  | { deployed: false; status: 'validation-failed' | 'champion-changed'; reason: string; evaluation: EvaluateResult };

/** Registers the candidate and moves the alias to it by compare-and-swap, re-validating or stopping when it moved. */
export async function deployByCompareAndSwap(c: CasDeploy): Promise<CasDeployOutcome> {
  const { model, alias, workflowId, trigger } = c.deploy;
  const { version, spec } = await registerCandidate({ ...c.deploy, spec: c.spec });
  const by = c.deploy.approvals.map((a) => a.approver).join(', ') || c.deploy.requestedBy;
  let evaluation = c.evaluation;
  for (let changes = 0; ; changes++) {
    const expectedVersion = comparedWith(evaluation);
    const reason = `${trigger} run ${workflowId}${expectedVersion === null ? '' : `, compared with v${expectedVersion}`}`;
    const promoted = await promoteVersion({ model, alias, version, expectedVersion, by, reason, workflowId });
    if (promoted.moved) return { deployed: true, version, previousVersion: promoted.previousVersion, spec, evaluation };
    const again = await championChanged({ ...c, evaluation }, { version, changes, expected: promoted.expected, current: promoted.current });
    if (!again.passed) return { deployed: false, ...again };
    evaluation = again.evaluation;
  }
}

/**
 * Production moved from the champion the candidate was compared with (`expected`) to `current`: validates the
 * candidate again against it, or stops, as `deploy.onChampionChanged` says (and after too many changes). Also what a
 * shadow or canary deploy does before its rollout starts, so a rollout never runs against a champion validate never saw.
 */
export async function championChanged(
  c: Omit<CasDeploy, 'deploy'>,
  at: { version: number; changes: number; expected: number | null; current: number | null },
): Promise<
  | { passed: true; evaluation: EvaluateResult }
  | { passed: false; status: 'validation-failed' | 'champion-changed'; reason: string; evaluation: EvaluateResult }
> {
  const { expected, current } = at;
  const now = new Date().toISOString();
  const moved = `${c.spec.deploy.alias} moved from ${named(expected)} to ${named(current)} after v${at.version} was validated against it`;
  const stop = c.spec.deploy.onChampionChanged === 'stop';
  if (stop || at.changes + 1 >= MAX_CHAMPION_CHANGES) {
    c.onChampionChanged({ at: now, expected, current, action: 'stopped' });
    const why = stop ? 'deploy.onChampionChanged is stop' : `production changed ${at.changes + 1} times during this run`;
    return {
      passed: false,
      status: 'champion-changed',
      reason: `${moved}; not deployed (${why}): start a new run to compare with ${named(current)}`,
      evaluation: c.evaluation,
    };
  }
  const evaluation = await c.revalidate();
  c.onChampionChanged({ at: now, expected, current, action: 'revalidated', passed: evaluation.passed }, evaluation);
  if (evaluation.passed) return { passed: true, evaluation };
  return {
    passed: false,
    status: 'validation-failed',
    reason: `${moved}; validated again against ${named(comparedWith(evaluation))}, it failed: ${evaluation.failures.join('; ')}`,
    evaluation,
  };
}

/**
 * The version the candidate was compared with. Validations from before `comparedWith` existed name the champion they
 * scored; one that could not be scored is unknown, and the move then expects an unset alias: at worst one more validation.
 */
export function comparedWith(evaluation: EvaluateResult): number | null {
  return evaluation.comparedWith !== undefined ? evaluation.comparedWith : (evaluation.champion?.version ?? null);
}

function named(version: number | null): string {
  return version === null ? 'no version' : `v${version}`;
}
