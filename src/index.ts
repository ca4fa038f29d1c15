/**
 * temporal-mlops, worker side: the plugin, the ready-made worker, configuration, logging, the client
 * helpers, and the core (ML and storage) for scripts. Workflow-side definitions are in
 * `temporal-mlops/workflow`.
 */
export { MlopsPlugin, type MlopsPluginOptions } from './plugin';
export { runWorker, collectWorkerMetrics, type RunWorkerOptions } from './worker';
export { workflowBundleStatus, writeWorkflowBundle, type WorkflowBundleManifest, type WorkflowBundleStatus } from './prebundle';
/** prom-client's default registry, where the plugin's metrics are: a host worker serves it from its own /metrics. */
export { register as metricsRegistry } from 'prom-client';
export { createActivities } from './activities';
export { createDependencies, type MlopsDependencies } from './activities/dependencies';
export { loadConfig, type MlopsConfig, type LoadConfigOptions } from './config';
export { createLogger, installRuntime, installRuntimeLogger, runtimeInstalled, type Logger, type RuntimeTelemetry } from './logger';
export { tracingPlugin, LogSpanExporter, type Tracing } from './tracing';
export { connectClient, startRun, describeRun, decide, createSchedule, scheduleIdFor, type RunView } from './client';
export { loadSpecFile } from './spec/load';
export { parsePipelineSpec, pipelineSpecSchema, type PipelineSpec, type PipelineSpecInput } from './spec/pipeline';
export { FailureType, MlopsError, NON_RETRYABLE_FAILURE_TYPES, isMlopsError, type FailureTypeName } from './errors';
export * from './storage';
