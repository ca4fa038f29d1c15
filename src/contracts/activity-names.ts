/**
 * Activity type names. Ours are namespaced (`mlops.trainModel`) so they never clash with a host worker's own
 * activities. Runs whose history predates the namespace recorded bare names (`trainModel`): the workflows keep
 * scheduling those while they replay such a history (src/workflows/activity-names.ts), and the plugin still registers
 * the bare names as aliases, for activities already scheduled or retrying under them when a worker is upgraded.
 */

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

/** The same activities under their namespaced types, for a worker that registers them without the plugin. */
export function namespacedActivities<T extends object>(activities: T): Record<string, T[keyof T]> {
  return Object.fromEntries(Object.entries(activities).map(([name, fn]) => [activityType(name), fn as T[keyof T]]));
}
