/** The workflows' side of the lifecycle sink (src/contracts/sinks.ts): calls leave the sandbox, never during replay. */
import { proxySinks } from '@temporalio/workflow';
import { LIFECYCLE_SINK, type LifecycleSinks } from '../contracts';

/** Reports lifecycle events to the worker's metrics. */
export const lifecycle = proxySinks<LifecycleSinks>()[LIFECYCLE_SINK];
