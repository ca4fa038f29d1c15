/**
 * The checks of a spec that need more than its schema: the built-in trainers' hyperparameters, checked
 * with the trainers' own parameter schemas. Run by `loadSpecFile`, so every command that reads a spec
 * refuses a wrong one before it uploads data or starts a run (not an hour later, in the train stage).
 */
import type { z } from 'zod';
import { formatIssues } from '../ml/schema';
import { gbdtParamsSchema, logisticRegressionParamsSchema } from '../ml/trainers';
import type { PipelineSpec } from './pipeline';

const PARAMS: Record<string, z.ZodType> = { 'logistic-regression': logisticRegressionParamsSchema, gbdt: gbdtParamsSchema };

/** Every problem with the spec's trainer parameters, each naming its field path under `where`; empty when none. */
export function trainerParamProblems(spec: PipelineSpec, where = 'spec'): string[] {
  const schema = PARAMS[spec.trainer.name];
  if (!schema) return [];
  const result = schema.safeParse(spec.trainer.params ?? {});
  if (result.success) return [];
  return result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys((schema as unknown as { shape?: Record<string, unknown> }).shape ?? {}).join(', ');
      return `${where}.trainer.params: unknown parameter ${issue.keys.map((k) => `"${k}"`).join(', ')} for ${spec.trainer.name}; known parameters: ${known}`;
    }
    return formatIssues([issue], `${where}.trainer.params`);
  });
}
