/**
 * The lifecycle's metrics on the worker, in prom-client's default registry (what the worker's /metrics serves, and
 * what a host that embeds the plugin exposes from `metricsRegistry`): retraining runs the monitor started,
 * guardrail rollbacks, and the time each approval gate waited. The workflows report through the lifecycle sink
 * (src/contracts/sinks.ts); the rollback activity counts its own moves. Each model's series start at zero when its
 * run starts or its monitor checks, so a panel or an alert on an event that has not happened yet reads 0.
 */
import type { InjectedSinks } from '@temporalio/worker';
import { Counter, Histogram, register, type Registry } from 'prom-client';
import { LIFECYCLE_SINK, type LifecycleSinks } from '../contracts';

/** The approval gate's outcomes, the `decision` label of `mlops_approval_wait_seconds`. */
const DECISIONS = ['approved', 'rejected', 'timed-out'] as const;

/** The lifecycle's counters and the approval wait histogram. */
export interface LifecycleMetrics {
  /** Retraining runs the monitor started, by model. */
  retrains: Counter<'model'>;
  /** Times the guardrail moved an alias back, by model. */
  rollbacks: Counter<'model'>;
  /** Seconds from asking for approval to the gate's decision, by model and decision. */
  approvalWait: Histogram<'model' | 'decision'>;
}

function counter(registry: Registry, name: string, help: string): Counter<'model'> {
  const existing = registry.getSingleMetric(name);
  return (existing as Counter<'model'>) ?? new Counter({ name, help, labelNames: ['model'], registers: [registry] });
}

/** The lifecycle metrics registered once in `registry` (prom-client's default registry unless given). */
export function lifecycleMetrics(registry: Registry = register): LifecycleMetrics {
  const name = 'mlops_approval_wait_seconds';
  const approvalWait =
    (registry.getSingleMetric(name) as Histogram<'model' | 'decision'> | undefined) ??
    new Histogram({
      name,
      help: 'Time from asking for approval to the decision, by model and decision (approved, rejected, timed-out).',
      labelNames: ['model', 'decision'],
      // A person answers in minutes to days; an automated approver in under a second.
      buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600],
      registers: [registry],
    });
  return {
    retrains: counter(
      registry,
      'mlops_retrains_started_total',
      'Retraining runs the monitor started on drift or worse live performance, by model.',
    ),
    rollbacks: counter(
      registry,
      'mlops_rollbacks_total',
      "Times the monitor's guardrail moved an alias back to the previous version, by model.",
    ),
    approvalWait,
  };
}

/** The models whose approval wait series exist, per histogram (prom-client's `zero` would reset them). */
const startedWaits = new WeakMap<Histogram<'model' | 'decision'>, Set<string>>();

/** Starts a model's lifecycle series at zero (leaving those that exist as they are). */
export function initModelSeries(metrics: LifecycleMetrics, model: string): void {
  metrics.retrains.inc({ model }, 0);
  metrics.rollbacks.inc({ model }, 0);
  const started = startedWaits.get(metrics.approvalWait) ?? new Set<string>();
  startedWaits.set(metrics.approvalWait, started);
  if (started.has(model)) return;
  started.add(model);
  for (const decision of DECISIONS) metrics.approvalWait.zero({ model, decision });
}

/** The worker side of the lifecycle sink: counts what the workflows report (never called during replay). */
export function lifecycleSinks(metrics: LifecycleMetrics = lifecycleMetrics()): InjectedSinks<LifecycleSinks> {
  return {
    [LIFECYCLE_SINK]: {
      runStarted: { fn: (_info, model) => initModelSeries(metrics, model), callDuringReplay: false },
      retrainStarted: { fn: (_info, model) => metrics.retrains.inc({ model }), callDuringReplay: false },
      approvalDecided: {
        fn: (_info, model, decision, seconds) => {
          initModelSeries(metrics, model);
          metrics.approvalWait.observe({ model, decision }, seconds);
        },
        callDuringReplay: false,
      },
    },
  };
}
