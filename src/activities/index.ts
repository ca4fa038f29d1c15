/**
 * All activities of temporal-mlops, built from injected dependencies (`createActivities(deps)`).
 * One file per lifecycle stage; each is a thin adapter: parse the input, call the core, store
 * artifacts, return references.
 */
import { createCheckActivities } from './check';
import { createDeployActivities } from './deploy';
import type { MlopsDependencies } from './dependencies';
import { createIngestActivities } from './ingest';
import { createMonitorActivities } from './monitor';
import { createRolloutActivities } from './rollout';
import { createServabilityActivities } from './servability';
import { createTrainActivities } from './train';
import { createValidateActivities } from './validate';

/** Creates every activity, bound to its dependencies. */
export function createActivities(deps: MlopsDependencies) {
  return {
    ...createCheckActivities(deps),
    ...createIngestActivities(deps),
    ...createTrainActivities(deps),
    ...createValidateActivities(deps),
    ...createServabilityActivities(deps),
    ...createDeployActivities(deps),
    ...createMonitorActivities(deps),
    ...createRolloutActivities(deps),
  };
}

export type { MlopsDependencies } from './dependencies';
