/**
 * The workflow-side entry point (`temporal-mlops/workflow`): safe inside the workflow sandbox.
 * Workers load it as their workflowsPath; clients import its definitions (re-exported from src/contracts) to signal and query.
 */
export { pipelineRun } from './pipeline-run';
export { modelMonitor } from './model-monitor';
export { artifactRoundTrip } from './artifact-round-trip';
export * from '../contracts';
export { NON_RETRYABLE_FAILURE_TYPES, FailureType } from '../errors';
