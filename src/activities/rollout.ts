/**
 * The rollout's activities, thin adapters over the registry and the prediction log: begin a rollout (refused while
 * another of the model is under way), write its document at each step (a compare-and-swap on the seq it last wrote),
 * and read a step's predictions and judge them (src/ml/rollout.ts). The final promotion is the deploy's compare-and-swap
 * (`promoteVersion`, src/activities/deploy.ts).
 */
import { FailureType, MlopsError } from '../errors';
import { judgeStep, rolloutEvidence, type RolloutPrediction } from '../ml/rollout';
import type { Task } from '../ml/types';
import { readPredictionWindow } from '../serving/prediction-log';
import type { AssessRolloutInput, AssessRolloutResult, BeginRolloutInput, RolloutState, SetRolloutStepInput } from '../contracts';
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
          `Model "${input.model}" already has a rollout under way (${current.rolloutId}: ` +
            `v${current.candidate} against v${current.champion}, ${current.status}): ` +
            `finish it or abort it with "mlops rollout abort ${input.model}", then deploy again.`,
          { model: input.model, rolloutId: current.rolloutId },
        );
      }
      // The champion must still be production: a candidate is rolled out only against the version it was compared with.
      const production = (await registry.findAlias(input.model, input.alias))?.to ?? null;
      if (production !== input.champion) {
        // Not retried: waiting does not bring the champion back.
        throw new MlopsError(
          FailureType.InvalidInput,
          `${input.alias} of "${input.model}" points at ${production === null ? 'nothing' : `v${production}`}, not ` +
            `v${input.champion}, the champion v${input.candidate} was compared with: it was moved after validation; ` +
            `run again to compare with it.`,
          { model: input.model, alias: input.alias, current: production, expected: input.champion },
        );
      }
      const { alias: _alias, ...change } = input;
      return write({ ...change, step: 0, status: 'running', expectedSeq: current?.seq ?? 0 });
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
  };
}
