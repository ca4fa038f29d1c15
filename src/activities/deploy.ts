/**
 * The deploy stage: register the approved candidate as a new immutable version (with its approvals, lineage and the
 * spec the run ran by), then move the alias to it by compare-and-swap against the champion the candidate was compared
 * with (`promoteVersion`, also what a rollout's final promotion calls). Both steps are idempotent under retry: the
 * workflowId and runId are the registration key, and a move to where the alias already points changes nothing.
 */
import { Context } from '@temporalio/activity';
import { FailureType, isMlopsError } from '../errors';
import { buildModelCard, MODEL_CARD_CONTENT_TYPE, type CardDeployment, type ModelCardInput } from '../report';
import type { ModelRegistry } from '../storage/registry';
import type { MlopsDependencies } from './dependencies';
import type { DeployInput, DeployResult, PromoteInput, PromoteResult, RegisterCandidateInput, RegisterCandidateResult } from '../contracts';
import type { ArtifactRef } from '../storage/refs';

/** Creates the deploy activities. */
export function createDeployActivities({ registry, store }: MlopsDependencies) {
  /**
   * The validate stage's card drawn again for version `version` with its approvals and how it is deployed; the
   * validate stage's card when there is nothing to draw it from (runs validated before this existed) or drawing fails.
   */
  function cardFor(input: Omit<DeployInput, 'spec'>, strategy: CardDeployment['strategy']) {
    return async (version: number): Promise<ArtifactRef | undefined> => {
      if (!input.cardInput) return input.report;
      try {
        const card = await store.getJson<ModelCardInput>(input.cardInput);
        const champion = (await registry.findAlias(input.model, input.alias))?.to;
        const deployment: CardDeployment = {
          ...{ version, alias: input.alias, strategy, at: new Date().toISOString(), approvals: input.approvals },
          ...{ requestedBy: input.requestedBy, trigger: input.trigger, reason: input.reason },
          ...(champion !== undefined && champion !== version ? { previousVersion: champion } : {}),
        };
        const html = buildModelCard({ ...card, deployment });
        return await store.putBuffer(Buffer.from(html, 'utf8'), { contentType: MODEL_CARD_CONTENT_TYPE });
      } catch (err) {
        if (isMlopsError(err) && err.type === FailureType.Unavailable) throw err;
        Context.current().log.warn('version model card not drawn', { model: input.model, error: (err as Error).message });
        return input.report;
      }
    };
  }

  return {
    /**
     * Registers the version and moves the alias to it, whatever the alias points at (`moveAlias: false`: leaves it,
     * for a rollout to move). Direct deploys of runs started before the compare-and-swap use it; new ones call
     * registerCandidate, then promoteVersion.
     */
    async deployCandidate(input: DeployInput): Promise<DeployResult> {
      const ctx = Context.current();
      const spec = input.spec && (await store.putJson(input.spec));
      const strategy = input.moveAlias === false ? (input.spec?.deploy.strategy ?? 'rollout') : 'direct';
      const version = await register(registry, input, spec, cardFor(input, strategy));
      const before = (await registry.findAlias(input.model, input.alias))?.to;
      // A rollout moves the alias itself, once live evidence says so; the champion is where the alias points now.
      if (input.moveAlias === false) return { version, previousVersion: before ?? undefined, ...(spec ? { spec } : {}) };
      const { move } = await registry.moveAlias({
        model: input.model,
        alias: input.alias,
        version,
        by: movedBy(input),
        reason: `${input.trigger} run ${input.workflowId}`,
        workflowId: input.workflowId,
      });
      const previousVersion = move.to === version && move.from !== null ? move.from : before !== version ? before : undefined;
      ctx.log.info('version deployed', { model: input.model, version, alias: input.alias, previousVersion });
      return { version, previousVersion: previousVersion ?? undefined, ...(spec ? { spec } : {}) };
    },

    /** Stores the run's spec and registers the candidate as a version carrying it; the alias does not move. */
    async registerCandidate(input: RegisterCandidateInput): Promise<RegisterCandidateResult> {
      const { spec: runSpec, ...deploy } = input;
      // Content-addressed: the same spec deployed twice is one blob.
      const spec = await store.putJson(runSpec);
      const version = await register(registry, deploy, spec, cardFor(deploy, runSpec.deploy.strategy ?? 'direct'));
      Context.current().log.info('version registered', { model: input.model, version, spec: spec.sha256 });
      return { version, spec };
    },

    /**
     * Moves the alias to the version only if it still points at `expectedVersion`: the champion the candidate was
     * compared with. When it was moved meanwhile, nothing changes and the answer says where it points now.
     */
    async promoteVersion(input: PromoteInput): Promise<PromoteResult> {
      const ctx = Context.current();
      try {
        const { move, changed } = await registry.moveAlias({
          model: input.model,
          alias: input.alias,
          version: input.version,
          expectedVersion: input.expectedVersion,
          by: input.by,
          reason: input.reason,
          workflowId: input.workflowId,
        });
        // Not changed: a retry of a move that took effect, which went from the expected version.
        const previousVersion = (changed ? move.from : input.expectedVersion) ?? undefined;
        ctx.log.info('version promoted', { model: input.model, version: input.version, alias: input.alias, previousVersion, changed });
        return { moved: true, version: input.version, previousVersion, changed };
      } catch (err) {
        if (!isMlopsError(err) || err.type !== FailureType.Conflict || !('current' in (err.details ?? {}))) throw err;
        const current = (err.details as { current: number | null }).current;
        ctx.log.info('alias moved since validation', { model: input.model, alias: input.alias, expected: input.expectedVersion, current });
        return { moved: false, expected: input.expectedVersion, current };
      }
    },
  };
}

/** Registers the candidate (idempotent per pipeline run) and returns its version number. */
async function register(
  registry: ModelRegistry,
  input: Omit<DeployInput, 'spec'>,
  spec?: ArtifactRef,
  reportFor?: (version: number) => Promise<ArtifactRef | undefined>,
): Promise<number> {
  const { version } = await registry.registerVersion({
    model: input.model,
    artifact: input.candidate,
    dataset: { sha256: input.snapshot.sha256, name: input.model, snapshot: input.snapshot, profile: input.profile },
    trainer: { name: input.trainer, params: input.params },
    metrics: input.metrics,
    workflowId: input.workflowId,
    runId: input.runId,
    gitCommit: process.env.MLOPS_GIT_COMMIT,
    approvals: input.approvals,
    schema: input.schema,
    report: input.report,
    ...(reportFor ? { reportFor } : {}),
    ...(spec ? { spec } : {}),
    requestedBy: input.requestedBy,
    trigger: input.trigger,
    description: input.reason,
  });
  return version.version;
}

/** Who a deploy's alias move is recorded as made by: the approvers, else who asked for the run. */
function movedBy(input: Pick<DeployInput, 'approvals' | 'requestedBy'>): string {
  return input.approvals.map((a) => a.approver).join(', ') || input.requestedBy;
}
