/**
 * The rollout's shared vocabulary: the per-model document the rollout workflow writes to the registry
 * and the model server reads (strategy, the two versions, the candidate's share, how requests are routed).
 * The shape is the registry's (src/storage/types.ts); it is named here so workflows, activities and the
 * CLI import it from the contracts like everything else that crosses layers. Types only.
 */
export type { RolloutChange, RolloutRouting, RolloutState, RolloutStatus, RolloutStrategy, SetRolloutResult } from '../storage/types';
