/**
 * The workflow-side entry point (`temporal-mlops/workflow`): safe inside the workflow sandbox.
 * Workers load it as their workflowsPath; clients import its definitions to signal and query.
 */
export { pipelineRun } from './pipeline-run';
export { modelMonitor, monitorWorkflowId, retrainWorkflowId } from './model-monitor';
export { artifactRoundTrip } from './artifact-round-trip';
export * from './definitions';
export type * from './types';
export type { Approval, ApprovalPolicy, ApprovalStatus, ApproveRequest, GateAnswer, RejectRequest } from './approval-gate';
export { NON_RETRYABLE_FAILURE_TYPES, FailureType } from '../errors';
