/**
 * The workflow-side entry point (`temporal-mlops/workflow`): safe inside the workflow sandbox.
 * Workers load it as their workflowsPath; clients import its definitions (re-exported from src/contracts) to signal and query.
 */
import type { MlopsWorkflows } from '../contracts/workflows';
import { artifactRoundTrip } from './artifact-round-trip';
import { modelMonitor } from './model-monitor';
import { pipelineRun } from './pipeline-run';
import { rolloutRun } from './rollout';

export { pipelineRun, modelMonitor, rolloutRun, artifactRoundTrip };
export * from '../contracts';
export { NON_RETRYABLE_FAILURE_TYPES, FailureType } from '../errors';

/**
 * Our workflows, checked at compile time against the signatures their typed references (src/contracts/workflows.ts)
 * promise clients: a workflow whose input or result drifts from its reference does not compile.
 */
export type ImplementedWorkflows = Implements<
  MlopsWorkflows,
  {
    pipelineRun: typeof pipelineRun;
    modelMonitor: typeof modelMonitor;
    rolloutRun: typeof rolloutRun;
    artifactRoundTrip: typeof artifactRoundTrip;
  }
>;
type Implements<Promised, Actual extends Promised> = Actual;
