/**
 * How `pipelineRun` asks its patches. Each `patched()` that returns true records a marker and, through the SDK, an
 * update of the `TemporalChangeVersion` search attribute: two more commands in a workflow task and a visibility write
 * on the server. That was the largest part of what a pipeline run adds to Temporal's own cost per stage (the
 * orchestration benchmark's `extraPatchMarkersMs`, docs/benchmarks.md), and a new run recorded three to five.
 *
 * So a run records one baseline patch instead: `PIPELINE_BASELINE_PATCH` stands for every patch in
 * `PIPELINE_BASELINE`, all of which a run with today's code takes. A history without the baseline's marker (recorded
 * before it, or a run in flight at the upgrade, up to the point where it continues under this code) falls back to
 * each patch's own marker, so it replays as before. A patch added later is asked on its own, until a next baseline
 * folds it in (that baseline then implies this one's list as well).
 */
import { patched } from '@temporalio/workflow';
import { ACTIVITY_NAMES_PATCH } from '../contracts/activity-names';

/** The patch a pipeline run records in place of each patch of `PIPELINE_BASELINE`. */
export const PIPELINE_BASELINE_PATCH = 'pipeline-baseline-1';

/** The patch under which runs deploy by compare-and-swap (runs recorded before it moved the alias unconditionally). */
export const DEPLOY_CAS_PATCH = 'deploy-cas';

/** The patches a pipeline run with the baseline's marker takes without asking each (the order they were added). */
export const PIPELINE_BASELINE: readonly string[] = [
  'servability-check',
  ACTIVITY_NAMES_PATCH,
  DEPLOY_CAS_PATCH,
  'approval-identity',
  'rollout-strategy',
];

/**
 * `patched(patchId)` for a pipeline run: true when the run takes the change. A patch of the baseline is true once the
 * baseline is (and then records nothing of its own); otherwise, and for a history without the baseline, the patch's
 * own marker decides, as `patched()` does.
 */
export function pipelinePatched(patchId: string): boolean {
  return (PIPELINE_BASELINE.includes(patchId) && patched(PIPELINE_BASELINE_PATCH)) || patched(patchId);
}
