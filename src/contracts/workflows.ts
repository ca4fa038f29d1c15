/**
 * Our workflows as clients and activities start them: one typed reference per workflow, carrying its type name and the
 * signature the workflow implements. `client.workflow.start(pipelineRunWorkflow, { args: [input] })` then checks the
 * arguments and types the result, without loading any workflow code; src/workflows/index.ts checks at compile time that
 * each workflow has the signature its reference promises.
 */
import type { Workflow } from '@temporalio/common';
import type { ArtifactRef } from '../storage/refs';
import type { ModelMonitorInput } from './monitor';
import type { PipelineRunInput, PipelineRunResult } from './pipeline-run';
import type { RolloutRunInput, RolloutRunResult } from './rollout-run';

/** What `artifactRoundTrip` is asked to write. */
export interface RoundTripInput {
  sizeBytes: number;
  seed: number;
}

/** What the round trip proved. */
export interface RoundTripResult {
  artifact: ArtifactRef;
  verified: boolean;
  readBytes: number;
}

/** The signatures of our workflows, by workflow type name. */
export interface MlopsWorkflows {
  pipelineRun: (input: PipelineRunInput) => Promise<PipelineRunResult>;
  modelMonitor: (input: ModelMonitorInput) => Promise<void>;
  rolloutRun: (input: RolloutRunInput) => Promise<RolloutRunResult>;
  artifactRoundTrip: (input: RoundTripInput) => Promise<RoundTripResult>;
}

/**
 * A stand-in for the workflow function: the Temporal client takes a function's `name` as the workflow type and its
 * type for the arguments and result; calling it is a mistake, said so.
 */
function workflowReference<N extends keyof MlopsWorkflows>(name: N): MlopsWorkflows[N] & Workflow {
  const reference = () => {
    throw new TypeError(`${name} is a reference to the workflow, not the workflow: start it with a Temporal client`);
  };
  Object.defineProperty(reference, 'name', { value: name });
  return reference as unknown as MlopsWorkflows[N] & Workflow;
}

/** A run through the lifecycle, ingest to monitor. */
export const pipelineRunWorkflow = workflowReference('pipelineRun');
/** The long-running monitor of one deployed model (id from `monitorWorkflowId`). */
export const modelMonitorWorkflow = workflowReference('modelMonitor');
/** The shadow or canary rollout of one candidate (id from `rolloutWorkflowId`), started by a pipeline run at deploy. */
export const rolloutRunWorkflow = workflowReference('rolloutRun');
/** The wiring proof behind `mlops check`. */
export const artifactRoundTripWorkflow = workflowReference('artifactRoundTrip');
