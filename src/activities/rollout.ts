/**
 * The rollout's activities, thin adapters over the registry and the prediction log: begin a rollout (refused while
 * another of the model is under way), write its document at each step (a compare-and-swap on the seq it last wrote),
 * read a step's predictions and judge them (src/ml/rollout.ts), and promote the candidate by moving the alias only if
 * it still points at the champion.
 */
import { FailureType, MlopsError, isMlopsError } from '../errors';
import { judgeStep, rolloutEvidence, type RolloutPrediction } from '../ml/rollout';
import type { Task } from '../ml/types';
import { readPredictionWindow } from '../serving/prediction-log';
import type {
  AssessRolloutInput,
  AssessRolloutResult,
  BeginRolloutInput,
  PromoteCandidateInput,
  PromoteCandidateResult,
  RolloutState,
  SetRolloutStepInput,
} from '../contracts';
import type { MlopsDependencies } from './dependencies';

/** Creates the rollout's activities. */
export function createRolloutActivities({ registry, store }: MlopsDependencies) {
  /** Writes the rollout document; a retry of a change that took effect returns it unchanged. */
  async function write(input: SetRolloutStepInput): Promise<RolloutState> {
    const { expectedSeq, share, ...rest } = input;
    const { state } = await registry.setRollout(
      {
        model: rest.model,
        rolloutId: rest.rolloutId,
        strategy: rest.strategy,
        champion: rest.champion,
        candidate: rest.candidate,
        candidateShare: share,
        routing: rest.routing,
        status: rest.status,
        step: rest.step,
        by: rest.by,
        reason: rest.reason,
      },
      expectedSeq,
    );
    return state;
  }

  return {
    /**
     * Begins a rollout: its first document, at step 0. Refused (non-retryable) while another rollout of the model is
     * running or paused, so one model never has two candidates at once. A retry after it took effect returns it.
     */
    async beginRollout(input: BeginRolloutInput): Promise<RolloutState> {
      const current = await registry.getRollout(input.model);
      if (current?.rolloutId === input.rolloutId) return current;
      if (current && current.status !== 'finished') {
        throw new MlopsError(
          FailureType.InvalidInput,
          `Model "${input.model}" already has a rollout under way (${current.rolloutId}: v${current.candidate} against v${current.champion}, ${current.status}): finish it or abort it with "mlops rollout abort ${input.model}", then deploy again.`,
          { model: input.model, rolloutId: current.rolloutId },
        );
      }
      return write({ ...input, step: 0, status: 'running', expectedSeq: current?.seq ?? 0 });
    },

    /** Writes the rollout's step, share and status (a compare-and-swap on the seq the workflow last wrote). */
    async setRolloutStep(input: SetRolloutStepInput): Promise<RolloutState> {
      return write(input);
    },

    /** Reads the step's predictions from the log (and their feedback labels) and judges them. */
    async assessRolloutStep(input: AssessRolloutInput): Promise<AssessRolloutResult> {
      const until = new Date().toISOString();
      const version = await registry.getVersion(input.model, input.candidate);
      const task = ((version.schema as { task?: Task } | undefined)?.task ?? 'classification') as Task;
      const records: RolloutPrediction[] = [];
      const window = readPredictionWindow(store, input.model, { since: input.since, until }, { shadow: true, failed: true });
      for await (const r of window) {
        if (r.rolloutId !== input.rolloutId) continue;
        records.push({
          id: r.id,
          version: r.version,
          role: r.role,
          latencyMs: r.latencyMs,
          ...(r.error ? { error: r.error } : {}),
          output: r.output,
          label: r.label,
        });
      }
      const evidence = rolloutEvidence(records, {
        champion: input.champion,
        candidate: input.candidate,
        task,
        metric: input.policy.metric,
        shadow: input.strategy === 'shadow',
      });
      return { until, evidence, verdict: judgeStep(evidence, input.policy, input.elapsedMs) };
    },

    /** Moves the alias to the candidate only if it still points at the champion it was compared with. */
    async promoteCandidate(input: PromoteCandidateInput): Promise<PromoteCandidateResult> {
      try {
        await registry.moveAlias({
          model: input.model,
          alias: input.alias,
          version: input.candidate,
          expectedVersion: input.champion,
          by: input.by,
          reason: input.reason,
          workflowId: input.workflowId,
        });
        return { promoted: true };
      } catch (err) {
        // Production moved during the rollout (another deploy, a rollback): the candidate was not compared with it.
        if (isMlopsError(err) && err.type === FailureType.Conflict) {
          const current = (await registry.findAlias(input.model, input.alias))?.to ?? undefined;
          return { promoted: false, ...(current !== undefined && current !== null ? { current } : {}) };
        }
        throw err;
      }
    },
  };
}
