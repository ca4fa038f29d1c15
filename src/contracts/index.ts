/**
 * What crosses a layer, in one place: stage inputs and outputs, typed artifact references, the workflows' inputs,
 * results and status, their signals, queries and updates, and workflow ids. The CLI and client, the workflows and the
 * activities all import from here, so the dependency arrows run one way: cli/client -> workflows -> activities -> core.
 *
 * Safe in the workflow sandbox: no Node APIs; the only value imports are Temporal's workflow-side definitions.
 */
export * from './approval';
export * from './definitions';
export * from './ids';
export * from './monitor';
export * from './pipeline-run';
export type * from './rollout';
export * from './rollout-run';
export type * from './refs';
export type * from './stages';
export * from './activity-names';
export * from './workflows';
export * from './sinks';
