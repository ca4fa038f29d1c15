/** Workflow ids derived from a model name, shared by workflows, activities and the CLI. */

/** The workflow id of a model's monitor. */
export function monitorWorkflowId(model: string): string {
  return `monitor-${model}`;
}

/** The workflow id of a model's drift-triggered retraining: one at a time per model. */
export function retrainWorkflowId(model: string): string {
  return `retrain-${model}`;
}
