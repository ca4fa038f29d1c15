/** The worker's lifecycle metrics: series that exist before their first event, and events that stay counted. */
import { Registry } from 'prom-client';
import { initModelSeries, lifecycleMetrics, lifecycleSinks } from '../../../src/activities/lifecycle-metrics';
import { LIFECYCLE_SINK } from '../../../src/contracts';

const info = {} as never;

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

it("a model's retrains, rollbacks and approval decisions read 0 from its first run on, not 'no data'", async () => {
  const registry = new Registry();
  const sinks = lifecycleSinks(lifecycleMetrics(registry))[LIFECYCLE_SINK];
  sinks.runStarted.fn(info, 'churn');
  const text = await registry.metrics();
  expect(lines(text, 'mlops_retrains_started_total')).toEqual(['mlops_retrains_started_total{model="churn"} 0']);
  expect(lines(text, 'mlops_rollbacks_total')).toEqual(['mlops_rollbacks_total{model="churn"} 0']);
  expect(lines(text, 'mlops_approval_wait_seconds_count')).toEqual([
    'mlops_approval_wait_seconds_count{model="churn",decision="approved"} 0',
    'mlops_approval_wait_seconds_count{model="churn",decision="rejected"} 0',
    'mlops_approval_wait_seconds_count{model="churn",decision="timed-out"} 0',
  ]);
});

it("an approval stays counted when a later run or the monitor's check starts the model's series again", async () => {
  const registry = new Registry();
  const metrics = lifecycleMetrics(registry);
  const sinks = lifecycleSinks(metrics)[LIFECYCLE_SINK];
  sinks.approvalDecided.fn(info, 'churn', 'approved', 420);
  sinks.runStarted.fn(info, 'churn');
  initModelSeries(metrics, 'churn');
  sinks.retrainStarted.fn(info, 'churn');
  const text = await registry.metrics();
  expect(lines(text, 'mlops_approval_wait_seconds_count{model="churn",decision="approved"}')).toEqual([
    'mlops_approval_wait_seconds_count{model="churn",decision="approved"} 1',
  ]);
  expect(lines(text, 'mlops_approval_wait_seconds_sum{model="churn",decision="approved"}')).toEqual([
    'mlops_approval_wait_seconds_sum{model="churn",decision="approved"} 420',
  ]);
  expect(lines(text, 'mlops_retrains_started_total')).toEqual(['mlops_retrains_started_total{model="churn"} 1']);
});

it('registering the metrics twice in one registry gives the same metrics (worker start, then the plugin)', () => {
  const registry = new Registry();
  const a = lifecycleMetrics(registry);
  const b = lifecycleMetrics(registry);
  expect(b.retrains).toBe(a.retrains);
  expect(b.approvalWait).toBe(a.approvalWait);
});
