/**
 * The sink through which the workflows report lifecycle events for metrics (a retrain started, an approval decided).
 * Workflows cannot touch a metrics registry; a sink call leaves the sandbox to the worker, is never made while a
 * history replays, and adds no command to the history, so adding or removing one needs no `patched()`.
 */
import type { Sinks } from '@temporalio/workflow';

/** The name the plugin registers the sink under (prefixed, so it cannot clash with a host's sinks). */
export const LIFECYCLE_SINK = 'mlopsLifecycle';

/** What the workflows report; the plugin's implementation counts it in the worker's metrics. */
export interface LifecycleSinks extends Sinks {
  [LIFECYCLE_SINK]: {
    /** A pipeline run of `model` started: its series start at zero, so the first event shows as an increase. */
    runStarted(model: string): void;
    /** The monitor started a retraining run of `model`. */
    retrainStarted(model: string): void;
    /** The approval gate of a run of `model` decided (`approved`, `rejected`, `timed-out`) after `seconds` of waiting. */
    approvalDecided(model: string, decision: string, seconds: number): void;
  };
}
