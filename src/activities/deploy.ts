/**
 * The deploy stage: register the approved candidate as a new immutable version (with its approvals and
 * lineage), then move the alias to it by compare-and-swap. Both steps are idempotent under retry: the
 * workflowId is the registration key, and a move to where the alias already points changes nothing.
 */
import { Context } from '@temporalio/activity';
import type { MlopsDependencies } from './dependencies';
import type { DeployInput, DeployResult } from '../contracts';

/** Creates the deploy activity. */
export function createDeployActivities({ registry }: MlopsDependencies) {
  return {
    /** Registers the version and moves the alias to it. */
    async deployCandidate(input: DeployInput): Promise<DeployResult> {
      const ctx = Context.current();
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
        requestedBy: input.requestedBy,
        trigger: input.trigger,
        description: input.reason,
      });
      const before = (await registry.findAlias(input.model, input.alias))?.to;
      // A rollout moves the alias itself, once live evidence says so; the champion is where the alias points now.
      if (input.moveAlias === false) return { version: version.version, previousVersion: before ?? undefined };
      const { move } = await registry.moveAlias({
        model: input.model,
        alias: input.alias,
        version: version.version,
        by: input.approvals.map((a) => a.approver).join(', ') || input.requestedBy,
        reason: `${input.trigger} run ${input.workflowId}`,
        workflowId: input.workflowId,
      });
      const previousVersion =
        move.to === version.version && move.from !== null ? move.from : before !== version.version ? before : undefined;
      ctx.log.info('version deployed', { model: input.model, version: version.version, alias: input.alias, previousVersion });
      return { version: version.version, previousVersion: previousVersion ?? undefined };
    },
  };
}
