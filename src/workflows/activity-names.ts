/**
 * Activity type names. Ours are namespaced (`mlops.trainModel`) so they never clash with a host worker's own
 * activities. Runs whose history predates the namespace recorded bare names (`trainModel`): the workflows keep
 * scheduling those until the run reaches new code (patched), and the plugin still registers the bare names as
 * aliases, for activities already scheduled or retrying under them when a worker is upgraded.
 */
import { patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';

/** The prefix of every temporal-mlops activity type. */
export const ACTIVITY_NAMESPACE = 'mlops.';

/** The patch id under which runs schedule namespaced activity types. */
export const ACTIVITY_NAMES_PATCH = 'mlops-activity-names';

/** The activity type registered and scheduled for one of our activities. */
export function activityType(name: string): string {
  return `${ACTIVITY_NAMESPACE}${name}`;
}

/** The activity a recorded type names, whether namespaced or bare: what users read in views and logs. */
export function activityName(type: string): string {
  return type.startsWith(ACTIVITY_NAMESPACE) ? type.slice(ACTIVITY_NAMESPACE.length) : type;
}

/**
 * Activity proxies that schedule `mlops.<name>`, or the bare `<name>` while replaying a history recorded before
 * the namespace existed. The patch is asked at each call, so a run in flight at the upgrade (waiting at an
 * approval gate, a monitor between checks) moves to the namespaced names at its next activity.
 */
export function mlopsActivities<T extends object>(options: ActivityOptions): T {
  const proxy = proxyActivities<Record<string, (...args: unknown[]) => Promise<unknown>>>(options);
  return new Proxy({} as T, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      return (...args: unknown[]) => proxy[patched(ACTIVITY_NAMES_PATCH) ? activityType(name) : name]!(...args);
    },
  });
}

/** The same activities under their namespaced types, for a worker that registers them without the plugin. */
export function namespacedActivities<T extends object>(activities: T): Record<string, T[keyof T]> {
  return Object.fromEntries(Object.entries(activities).map(([name, fn]) => [activityType(name), fn as T[keyof T]]));
}
