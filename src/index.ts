/**
 * temporal-mlops, worker side: the plugin, the ready-made worker, configuration, logging, the client
 * helpers, and the core (ML and storage) for scripts. Workflow-side definitions are in
 * `temporal-mlops/workflow`.
 */
export { MlopsPlugin, type MlopsPluginOptions } from './plugin';
export { runWorker, type RunWorkerOptions } from './worker';
export { workflowBundleStatus, writeWorkflowBundle, type WorkflowBundleManifest, type WorkflowBundleStatus } from './prebundle';
export { createActivities } from './activities';
export { createDependencies, type MlopsDependencies } from './activities/dependencies';
export { loadConfig, type MlopsConfig, type LoadConfigOptions } from './config';
export { createLogger, installRuntimeLogger, type Logger } from './logger';
export { connectClient, startRun, describeRun, decide, createSchedule, scheduleIdFor, type RunView } from './client';
export { loadSpecFile } from './spec/load';
export { parsePipelineSpec, pipelineSpecSchema, type PipelineSpec, type PipelineSpecInput } from './spec/pipeline';
export { FailureType, MlopsError, NON_RETRYABLE_FAILURE_TYPES, isMlopsError, type FailureTypeName } from './errors';
export * from './storage';
