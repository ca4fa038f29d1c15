/**
 * Zod schemas for a dataset's schema (`ColumnSpec`, `DatasetSchema` in ./types), so a pipeline spec
 * can embed them and a user sees which field is wrong, by its path.
 */
import { z } from 'zod';
import { FailureType, MlopsError } from '../errors';
import type { ColumnSpec, DatasetSchema } from './types';

/** The four column kinds. */
export const columnTypeSchema = z.enum(['numeric', 'categorical', 'boolean', 'datetime']);

/** One column and its validation constraints. */
export const columnSpecSchema = z
  .object({
    name: z.string().min(1, 'a column needs a non-empty name').describe("The column's name in the source."),
    type: columnTypeSchema.describe('How values are read and checked.'),
    min: z.number().finite().optional().describe('Smallest allowed value; smaller values are validation issues with their row numbers.'),
    max: z.number().finite().optional().describe('Largest allowed value.'),
    allowed: z
      .array(z.string())
      .min(1, 'list at least one allowed category, or omit "allowed"')
      .optional()
      .describe('Allowed categories; others are "unseen categories".'),
    maxNullRate: z.number().min(0).max(1).optional().meta({
      description: 'Largest acceptable fraction of missing values.',
      docType: 'fraction 0..1 (0 for the target, 1 otherwise)',
    }),
  })
  .strict()
  .superRefine((col, ctx) => {
    if (col.min !== undefined && col.max !== undefined && col.min > col.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min (${col.min}) is larger than max (${col.max})` });
    }
    if (col.allowed && col.type !== 'categorical') {
      ctx.addIssue({ code: 'custom', path: ['allowed'], message: `"allowed" applies to categorical columns, not ${col.type}` });
    }
    if ((col.min !== undefined || col.max !== undefined) && (col.type === 'categorical' || col.type === 'boolean')) {
      ctx.addIssue({
        code: 'custom',
        path: [col.min !== undefined ? 'min' : 'max'],
        message: `min/max apply to numeric and datetime columns, not ${col.type}`,
      });
    }
  });

/** A dataset's columns, its target and the features a model uses. */
export const datasetSchemaSchema = z
  .object({
    columns: z
      .array(columnSpecSchema)
      .min(1, 'a dataset needs at least one column')
      .describe('Every column the model may use, with its type and constraints.'),
    target: z.string().min(1).meta({ description: 'What the model predicts.', docType: 'column name' }),
    features: z
      .array(z.string().min(1))
      .min(1, 'a model needs at least one feature')
      .meta({ description: 'What the model reads.', docType: 'list of column names' }),
    task: z.enum(['classification', 'regression']).describe('A regression target must be numeric.'),
  })
  .strict()
  .superRefine((schema, ctx) => {
    const byName = new Map<string, number>();
    schema.columns.forEach((col, i) => {
      if (byName.has(col.name)) {
        ctx.addIssue({ code: 'custom', path: ['columns', i, 'name'], message: `column "${col.name}" is declared twice` });
      }
      byName.set(col.name, i);
    });
    const targetIndex = byName.get(schema.target);
    if (targetIndex === undefined) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: `target "${schema.target}" is not one of the columns` });
    } else {
      const targetType = schema.columns[targetIndex].type;
      if (schema.task === 'regression' && targetType !== 'numeric') {
        ctx.addIssue({
          code: 'custom',
          path: ['task'],
          message: `a regression target must be numeric, but "${schema.target}" is ${targetType}`,
        });
      }
      if (schema.task === 'classification' && targetType === 'datetime') {
        ctx.addIssue({ code: 'custom', path: ['task'], message: `a classification target cannot be a datetime column` });
      }
    }
    schema.features.forEach((feature, i) => {
      if (!byName.has(feature)) {
        ctx.addIssue({ code: 'custom', path: ['features', i], message: `feature "${feature}" is not one of the columns` });
      }
      if (feature === schema.target) {
        ctx.addIssue({ code: 'custom', path: ['features', i], message: `the target "${feature}" cannot also be a feature` });
      }
    });
  });

// Compile-time guarantees that the zod schemas and the hand-written types agree.
type Assert<T extends true> = T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export type _ColumnSpecAgrees = Assert<Same<z.infer<typeof columnSpecSchema>, ColumnSpec>>;
export type _DatasetSchemaAgrees = Assert<Same<z.infer<typeof datasetSchemaSchema>, DatasetSchema>>;

/** Formats zod issues as `path: message` lines, the path relative to `where`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], where: string): string {
  return issues
    .map((issue) => {
      const path = issue.path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}.${String(key)}`), where);
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Parses a dataset schema, throwing `MlopsInvalidInput` that names every wrong field by its path. */
export function parseDatasetSchema(value: unknown, where = 'schema'): DatasetSchema {
  const result = datasetSchemaSchema.safeParse(value);
  if (!result.success) {
    throw new MlopsError(FailureType.InvalidInput, `Invalid dataset schema: ${formatIssues(result.error.issues, where)}`, {
      issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    });
  }
  return result.data;
}

/** Parses one column spec (same error convention as `parseDatasetSchema`). */
export function parseColumnSpec(value: unknown, where = 'column'): ColumnSpec {
  const result = columnSpecSchema.safeParse(value);
  if (!result.success) {
    throw new MlopsError(FailureType.InvalidInput, `Invalid column spec: ${formatIssues(result.error.issues, where)}`);
  }
  return result.data;
}
