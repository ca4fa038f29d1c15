/**
 * Activity proxies under our namespaced activity types (src/contracts/activity-names.ts), versioned with
 * patched('mlops-activity-names') so histories recorded before the namespace still replay.
 */
import { patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import { ACTIVITY_NAMES_PATCH, activityType } from '../contracts/activity-names';

/**
 * Activity proxies that schedule `mlops.<name>`, or the bare `<name>` while replaying a history recorded before
 * the namespace existed. The patch is asked at each call, so a run in flight at the upgrade (waiting at an
 * approval gate, a monitor between checks) moves to the namespaced names at its next activity. `ask` is how the
 * workflow asks its patches (`pipelinePatched` in a pipeline run).
 */
export function mlopsActivities<T extends object>(options: ActivityOptions, ask: (patchId: string) => boolean = patched): T {
  const proxy = proxyActivities<Record<string, (...args: unknown[]) => Promise<unknown>>>(options);
  return new Proxy({} as T, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      return (...args: unknown[]) => proxy[ask(ACTIVITY_NAMES_PATCH) ? activityType(name) : name]!(...args);
    },
  });
}
