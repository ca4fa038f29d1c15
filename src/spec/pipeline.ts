/**
 * The pipeline spec: what one model's lifecycle does, in YAML or JSON, validated with zod.
 * Every error names the field path and what is expected. This module is pure (no Node APIs), so
 * the parsed `PipelineSpec` type can travel into workflows; reading files is in ./load.ts.
 *
 * This schema is the one source of the spec's reference: `schema/spec.schema.json` (what editors check specs
 * against) and `docs/spec.md` are generated from it by `npm run spec:docs` (src/spec/reference.ts), and a unit test
 * fails when either differs from what the script generates. To add a field:
 *   1. add it here with `.describe('What it is for, in one or two sentences.')`; the docs table's Type column
 *      is derived from the schema (type, bounds, default, required); a shared type reads as its `title`
 *      (duration, name, metric name); when the derived kind reads poorly, give it yourself with
 *      `.meta({ description: '...', docType: '...' })` (docs-only, not in the JSON Schema; the default is
 *      appended to it, except for a section);
 *   2. give defaults as the user writes them (`duration.prefault('1h')`, not `.default(3600000)`), so the
 *      JSON Schema shows them;
 *   3. run `npm run spec:docs` and commit src/spec/pipeline.ts, schema/spec.schema.json and docs/spec.md.
 * A new top-level section gets its own heading in docs/spec.md; its `docIntro` meta, if any, is the paragraph under it.
 */
import { z } from 'zod';
import { FailureType, MlopsError } from '../errors';
import { metricBoundProblem, metricHigherIsBetter as higherIsBetter, metricNameProblem } from '../ml/metric-catalog';
import { datasetSchemaSchema, formatIssues } from '../ml/schema';

/** An ISO date or date-time (2024-01-31, 2024-01-31T12:00:00Z), as the dataset filter takes it; 2024-02-30 is refused. */
const isoDate = z
  .string()
  .refine((s) => {
    const shape = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
    if (!shape.test(s) || Number.isNaN(Date.parse(s))) return false;
    const day = new Date(`${s.slice(0, 10)}T00:00:00Z`);
    return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === s.slice(0, 10);
  }, 'expected an ISO date like 2024-01-31 or 2024-01-31T12:00:00Z')
  .meta({ title: 'ISO date' });

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses "90s", "15m", "24h", "7d" into milliseconds. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`expected a duration like 30s, 15m, 24h or 7d, got "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** A duration as written (`30s`, `15m`, `24h`, `7d`, `2w`), parsed to milliseconds; give defaults with `.prefault('1h')`. */
const duration = z
  .string()
  .regex(DURATION, 'expected a duration like 30s, 15m, 24h or 7d')
  .transform((s) => durationMs(s))
  .meta({ title: 'duration' });

const modelName = z
  .string()
  .min(1, 'expected a model name')
  .max(128, 'expected at most 128 characters')
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected lowercase letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((s) => !s.includes('..'), 'must not contain ".."')
  .meta({ title: 'name' });

const personName = z
  .string()
  .min(1, 'expected a name')
  .max(128)
  .regex(/^[^\s\u0000-\u001f]+$/, 'expected a name without spaces')
  .meta({ title: 'name' });

const splitSchema = z
  .object({
    method: z
      .enum(['hash', 'random', 'stratified', 'time'])
      .default('hash')
      .describe(
        "`hash` decides each row's side from its content, so rows keep their side as data is appended and a champion is never " +
          'scored on rows it was trained on.',
      ),
    testFraction: z
      .number()
      .gt(0, 'expected a fraction between 0 and 1')
      .lt(1, 'expected a fraction between 0 and 1')
      .default(0.2)
      .meta({ description: 'Share of rows in the holdout.', docType: 'fraction in (0, 1)' }),
    seed: z.number().int().default(42).describe("Seeds the split and every trainer's random choices."),
    column: z.string().min(1).optional().meta({
      description: 'The column a `time` split orders by (required for `time`).',
      docType: 'datetime column',
    }),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.method === 'time' && !s.column)
      ctx.addIssue({ code: 'custom', path: ['column'], message: 'a time split needs the datetime column to order by' });
  });

const datasetSchema = z
  .object({
    name: modelName.optional().meta({ description: "The dataset's name in the snapshot registry.", docType: "name (the model's)" }),
    source: z.string().min(1, 'expected a file path, http(s) URL or s3:// URI').meta({
      description: "The data. Remote sources are fetched into the worker's scratch space first.",
      docType: 'path, `http(s)://` or `s3://bucket/key`',
    }),
    format: z
      .enum(['csv', 'jsonl', 'json', 'parquet'])
      .optional()
      .meta({ description: "The source's format.", docType: '`csv`, `jsonl`, `json`, `parquet` (from the extension)' }),
    delimiter: z
      .string()
      .length(1, 'expected one character')
      .optional()
      .meta({ description: 'CSV delimiter.', docType: 'one character (`,`)' }),
    encoding: z
      .enum(['utf-8', 'latin1', 'windows-1252'])
      .optional()
      .meta({
        description:
          'The text encoding of a CSV or JSON source; another one is transcoded to UTF-8 before ingest reads it. ' +
          'A source that is not valid UTF-8 and declares nothing is refused naming the byte offset, line and data row of its first ' +
          'bad byte.',
        docType: '`utf-8`, `latin1`, `windows-1252` (`utf-8`)',
      }),
    schema: datasetSchemaSchema.optional().meta({
      description:
        'The declared schema. When omitted it is inferred from every row and frozen into the snapshot; `mlops` prints what it inferred.',
      docType: 'section (inferred)',
    }),
    target: z.string().min(1).optional().meta({
      description:
        'The target when the schema is inferred (give either `schema` or `target`). A 0/1 or true/false target is inferred as classification.',
      docType: 'column name',
    }),
    filter: z
      .object({
        column: z.string().min(1).meta({ description: 'The datetime column.', docType: 'column name' }),
        from: isoDate.optional().describe('First day kept (`2012-01-01`); impossible dates such as `2024-02-30` are refused.'),
        to: isoDate.optional().describe('Last day kept; not before `from`.'),
      })
      .strict()
      .refine((f) => f.from === undefined || f.to === undefined || Date.parse(f.from) <= Date.parse(f.to), {
        message: 'from must not be later than to',
        path: ['to'],
      })
      .optional()
      .describe('Keep only rows whose datetime column lies in `[from, to]`.'),
    columns: z
      .record(
        z
          .string()
          .min(1, 'expected a column name')
          .refine((n) => !n.startsWith('__'), 'names starting with "__" are reserved for snapshots'),
        z.string().min(1, 'expected a SQL expression, e.g. "delay > 15"'),
      )
      .optional()
      .meta({
        description:
          'Derived columns computed by the engine at ingest, e.g. `delayed: "delay > 15"`; recorded in the snapshot\'s lineage. ' +
          "A bad expression is refused before anything starts, with the engine's message.",
        docType: 'map of name to SQL expression',
      }),
    where: z
      .string()
      .min(1, 'expected a SQL condition, e.g. "distance > 0"')
      .optional()
      .meta({ description: 'Keep only rows where it holds, e.g. `"distance > 0"`; checked like `columns`.', docType: 'SQL condition' }),
    dropMissingTarget: z
      .boolean()
      .optional()
      .meta({
        description:
          'Drop the rows whose target is missing (after `filter` and `where`) instead of failing validation with `missing_label`; ' +
          'how many were dropped is shown by `mlops status`, its `--json`, the Temporal UI details and the model card. ' +
          'A target of the wrong type is still a validation issue.',
        docType: 'boolean (false)',
      }),
    split: splitSchema
      .default({ method: 'hash', testFraction: 0.2, seed: 42 })
      .meta({ description: 'How rows are split into training rows and the sealed holdout.', docType: 'section (`hash`, 0.2, seed 42)' }),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (!d.schema && !d.target)
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'give either a schema or the target column (the rest is inferred)' });
  });

const trainerName = <N extends string>(name: N) => z.literal(name).describe('A built-in trainer, or your own program.');
const trainerParams = z
  .record(z.string(), z.unknown())
  .default({})
  .describe(
    'Hyperparameters. Built-in trainers check theirs when the spec is checked (docs/trainers.md); a program gets them as `params.json`.',
  );

const trainerSchema = z.discriminatedUnion('name', [
  z.object({ name: trainerName('logistic-regression'), params: trainerParams }).strict(),
  z.object({ name: trainerName('gbdt'), params: trainerParams }).strict(),
  z
    .object({
      name: trainerName('command'),
      command: z
        .array(z.string().min(1))
        .min(1, 'expected the program and its arguments')
        .refine((args) => !args.some((a) => a.includes('{validation}')), {
          message:
            'the {validation} placeholder is gone: the program never sees the holdout (contract v2); carve early-stopping data out of {train}',
        })
        .describe(
          'The program and its arguments, e.g. `["{python}", "train.py"]`, run under contract v2 (docs/external-trainers.md). ' +
            "Placeholders: `{python}` the project's pinned Python, `{train}`, `{uris}`, `{check}`, `{schema}`, `{params}`, " +
            '`{output}`, `{seed}`. The program never sees the holdout (`{validation}` is refused).',
        ),
      params: trainerParams,
      workingDirectory: z.string().optional().meta({
        description: 'Where the program runs; a relative path is resolved against the spec file.',
        docType: "path (the spec's folder)",
      }),
      env: z.record(z.string(), z.string()).optional().describe('Extra environment variables for the program.'),
      timeout: duration.optional().meta({
        description: 'Stop the program and fail the training after this long.',
        docType: 'duration (none)',
      }),
      killGrace: duration.optional().meta({
        description: 'Time the program has to exit after SIGTERM (on cancel or timeout) before it is killed.',
        docType: 'duration (10s)',
      }),
      data: z
        .enum(['both', 'remote', 'local'])
        .default('both')
        .describe(
          'How the program gets the training rows: a local JSON-lines file, presigned Parquet parts in MinIO (for a cluster; docs/scaling.md), or both.',
        ),
    })
    .strict()
    .superRefine((t, ctx) => {
      const uses = (p: string) => t.command.some((a) => a.includes(p));
      if (t.data === 'remote' && uses('{train}')) {
        const message = 'with data: remote there is no local copy for {train}, read {uris} (MLOPS_TRAIN_URIS) instead';
        ctx.addIssue({ code: 'custom', path: ['command'], message });
      }
      if (t.data === 'local' && uses('{uris}')) {
        ctx.addIssue({
          code: 'custom',
          path: ['command'],
          message: 'with data: local no remote parts are made for {uris}, use {train} or data: both',
        });
      }
    }),
]);

/** A metric name from the catalog (src/ml/metric-catalog.ts); an unknown one is refused listing the known ones. */
const metricName = z
  .string()
  .min(1, 'expected a metric name')
  .superRefine((m, ctx) => {
    const problem = metricNameProblem(m);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ title: 'metric name' });

const thresholdSchema = z
  .object({
    min: z.number().optional().describe('The metric must be at least this.'),
    max: z.number().optional().describe('The metric must be at most this (not below `min`).'),
  })
  .strict()
  .refine((t) => t.min !== undefined || t.max !== undefined, 'give min, max or both');

const validationSchema = z
  .object({
    thresholds: z
      .record(z.string(), thresholdSchema)
      .default({})
      .meta({ description: 'E.g. `accuracy: { min: 0.8 }`, `rmse: { max: 400 }`.', docType: 'map of metric to bounds' }),
    champion: z
      .object({
        metric: metricName.describe('The metric compared (its direction decides what "worse" means).'),
        margin: z.number().min(0).default(0).describe('How much worse than production the candidate may be.'),
      })
      .strict()
      .optional()
      .describe('Compare the candidate with the version the deploy alias points at, on the same holdout rows.'),
    claims: z
      .object({
        tolerance: z
          .number()
          .min(0, 'expected a tolerance of 0 or more')
          .default(0.05)
          .describe('Largest accepted difference (absolute for metrics in [0, 1] and r2, relative for rmse, mae, logLoss).'),
        onMismatch: z
          .enum(['warn', 'fail'])
          .default('warn')
          .describe('A mismatch is reported in status, the Temporal UI and the model card; `fail` also fails validation.'),
      })
      .strict()
      .optional()
      .meta({
        description: "How a program's claims (its `metrics.json`) are held against our measurement.",
        docType: 'section (`{ tolerance: 0.05, onMismatch: warn }`)',
      }),
  })
  .strict()
  .superRefine((v, ctx) => {
    for (const [metric, t] of Object.entries(v.thresholds)) {
      const unknown = metricNameProblem(metric);
      if (unknown) {
        ctx.addIssue({ code: 'custom', path: ['thresholds', metric], message: unknown });
        continue;
      }
      for (const which of ['min', 'max'] as const) {
        const problem = t[which] === undefined ? undefined : metricBoundProblem(metric, t[which], which);
        if (problem) ctx.addIssue({ code: 'custom', path: ['thresholds', metric, which], message: problem });
      }
      if (t.min !== undefined && t.max !== undefined && t.min > t.max) {
        ctx.addIssue({ code: 'custom', path: ['thresholds', metric], message: `min ${t.min} is above max ${t.max}: no value can pass` });
      }
    }
  });

/**
 * The approval section. `required` defaults to whether approvers are listed, so an omitted section, `approval: {}`
 * and a section without approvers all mean the same (no approval), and listing approvers means they must approve.
 */
const approvalSchema = z
  .object({
    required: z.boolean().optional().meta({
      description: 'Whether a person must approve before deploy.',
      docType: 'boolean (`true` when `approvers` are listed, else `false`: an omitted section and `approval: {}` both mean no approval)',
    }),
    approvers: z
      .array(personName)
      .default([])
      .meta({
        description:
          "Who may approve or reject (no self-approval by the run's requester); listing anyone makes approval required. " +
          'An entry `group:<name>` allows everyone whose verified token lists that group (only under `identity: ' +
          'verified`, as a typed name carries no groups).',
        docType: 'list of names',
      }),
    identity: z
      .enum(['declared', 'verified'], { error: 'expected declared or verified' })
      .default('declared')
      .describe(
        "How far the gate trusts the approver's name. `declared`: the name typed in the request is believed; " +
          'anyone who can send a signal to the run can approve as anyone on the list. `verified`: ' +
          "only requests stamped by the codec server (`mlops codec`, after it verified the sender's OIDC token) count; " +
          'a typed-only request is refused and recorded with its reason. See [approvals.md](approvals.md).',
      ),
    quorum: z
      .number()
      .int()
      .min(1, 'expected at least 1 approver')
      .default(1)
      .describe('Approvals needed; not more than the approvers listed.'),
    timeout: duration.prefault('24h').describe('How long the gate waits.'),
    onTimeout: z.enum(['reject', 'approve', 'escalate']).default('reject').describe('What happens when no decision came in time.'),
    escalation: z
      .object({
        approvers: z.array(personName).min(1, 'list at least one escalation approver').describe('Who decides in the second round.'),
        timeout: duration.prefault('24h').describe('How long the second round waits.'),
        onTimeout: z.enum(['reject', 'approve']).default('reject').describe('What happens when the second round times out.'),
      })
      .strict()
      .optional()
      .meta({ description: 'A second round with other approvers.', docType: 'section, required for `escalate`' }),
  })
  .strict()
  .transform((a) => ({ ...a, required: a.required ?? a.approvers.length > 0 }))
  .superRefine((a, ctx) => {
    if (!a.required) return;
    if (a.approvers.length === 0)
      ctx.addIssue({ code: 'custom', path: ['approvers'], message: 'list who may approve, or set required: false' });
    if (a.quorum > a.approvers.length && a.approvers.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: `a quorum of ${a.quorum} needs at least ${a.quorum} approvers, but ${a.approvers.length} are listed`,
      });
    if (a.onTimeout === 'escalate' && !a.escalation)
      ctx.addIssue({
        code: 'custom',
        path: ['escalation'],
        message: 'onTimeout: escalate needs an escalation section (approvers, timeout)',
      });
  });

/**
 * What is wrong with a live performance bound, or undefined: a worse value must cross it, so a
 * higher-is-better metric takes a `min` and a lower-is-better one a `max`, never the other.
 */
function performanceBoundProblem(p: { metric: string; min?: number; max?: number }): string | undefined {
  const higher = higherIsBetter(p.metric);
  const right = higher ? 'min' : 'max';
  const wrong = higher ? 'max' : 'min';
  const direction = higher
    ? 'higher is better (a worse value falls below a minimum)'
    : 'lower is better (a worse value rises above a maximum)';
  if (p[wrong] !== undefined) return `for ${p.metric}, ${direction}: use { metric: ${p.metric}, ${right}: ... } instead of ${wrong}`;
  if (p[right] === undefined) return `for ${p.metric}, ${direction}: give the bound as { metric: ${p.metric}, ${right}: ... }`;
  return undefined;
}

const monitorSchema = z
  .object({
    enabled: z.boolean().default(true).describe("Whether a deploy starts (or keeps) the model's monitor."),
    interval: duration.prefault('1h').describe('Time between checks (`mlops monitor check` runs one now).'),
    source: z
      .union([z.literal('predictions'), z.string().regex(/^s3:\/\/[^/]+\/.*/, 'expected "predictions" or an s3://bucket/prefix/')])
      .default('predictions')
      .meta({
        description: "New data: the model server's prediction and feedback logs, or objects landing under a prefix of the artifact bucket.",
        docType: '`predictions` or `s3://bucket/prefix/`',
      }),
    window: duration
      .prefault('7d')
      .describe(
        'How far back one check reads: a check reads data since the previous check ended, but never older than this (a monitor ' +
          'that could not check for a while, or a window still short of `minRows`, reads only the latest `window`).',
      ),
    minRows: z
      .number()
      .int()
      .min(1)
      .default(100)
      .describe('Fewest rows a window needs before drift is judged; smaller windows keep growing.'),
    drift: z
      .object({
        psi: z.number().positive().default(0.2).describe('Population stability index above which a feature has drifted.'),
        ksPValue: z.number().gt(0).lt(1).optional().describe('Also flag a numeric feature whose Kolmogorov-Smirnov p-value is below this.'),
        chiSquarePValue: z
          .number()
          .gt(0)
          .lt(1)
          .optional()
          .describe('Also flag a categorical feature whose chi-square test p-value is below this.'),
        features: z
          .record(
            z.string(),
            z
              .object({
                psi: z.number().positive().optional().describe("This feature's PSI threshold (default `monitor.drift.psi`)."),
                wasserstein: z
                  .number()
                  .positive()
                  .optional()
                  .describe(
                    'Also flag this numeric feature when its Wasserstein-1 distance from the training values (a sample of 5000) is ' +
                      "above this, in the feature's own units.",
                  ),
              })
              .strict()
              .refine((f) => f.psi !== undefined || f.wasserstein !== undefined, 'give psi, wasserstein or both'),
          )
          .default({})
          .meta({
            description: 'Per-feature thresholds (at least one of `psi`, `wasserstein`).',
            docType: 'map of feature to override',
          }),
        minFeatures: z.number().int().min(1).default(1).describe('How many features must drift before retraining.'),
      })
      .strict()
      .default({ psi: 0.2, features: {}, minFeatures: 1 })
      .meta({ description: 'When new data counts as drifted.', docType: 'section (PSI 0.2, 1 feature)' }),
    performance: z
      .object({
        metric: metricName.describe('The metric measured on labelled rows of the window.'),
        min: z.number().optional().describe('Bound for a higher-is-better metric (accuracy, r2, ...).'),
        max: z.number().optional().describe('Bound for a lower-is-better metric (rmse, mae, logLoss). The wrong one is refused.'),
      })
      .strict()
      .superRefine((p, ctx) => {
        const problem = performanceBoundProblem(p);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('Live performance on labelled traffic; crossing the bound counts as a breach (retraining).'),
    guardrail: z
      .object({
        metric: metricName.describe('Its direction decides "worse" (lower accuracy, higher rmse).'),
        margin: z.number().min(0).default(0.05).describe('How much worse is tolerated.'),
        watch: duration.prefault('7d').describe('How long after a deploy the guardrail watches.'),
        minLabelled: z.number().int().min(1).default(30).describe('Labelled rows a window needs before the guardrail judges.'),
      })
      .strict()
      .optional()
      .describe(
        'Within `watch` after a deploy, a new version that does worse live than the previous one by more than `margin` is rolled back.',
      ),
    cooldown: duration.prefault('6h').describe('No new retraining within this time of the last one.'),
    retrain: z.boolean().default(true).describe('Whether a breach starts a retraining run (`retrain-<model>`), or is only recorded.'),
  })
  .strict();

const scheduleSchema = z
  .object({
    cron: z.string().min(1).optional().meta({
      description: 'When to run (give exactly one of `cron` or `interval`).',
      docType: 'cron expression',
    }),
    interval: duration.optional().describe('Run every this long.'),
    overlap: z
      .enum(['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all'])
      .default('skip')
      .describe("What happens when a run is still going at the next time (Temporal's overlap policy)."),
    catchupWindow: duration.prefault('1h').describe('How late a missed run may still start.'),
    paused: z.boolean().default(false).describe('Create the schedule paused.'),
  })
  .strict()
  .refine((s) => Boolean(s.cron) !== Boolean(s.interval), 'give exactly one of cron or interval');

/** A canary share: a fraction of requests in (0, 1]. */
const share = z.number().gt(0, 'expected a share above 0 (0.1 is 10 %)').max(1, 'expected a share of at most 1 (100 %)');

/**
 * How a shadow or canary rollout proceeds (docs/rollout.md): the canary's steps, what a step waits for, how the
 * candidate is compared with the champion on live traffic, how long labels are waited for, and which steps need a person.
 */
const rolloutSchema = z
  .object({
    steps: z
      .array(share)
      .min(1, 'list at least one step, ending at 1')
      .optional()
      .meta({
        description:
          "The candidate's share of requests at each step. Every step below 1 waits for evidence; " +
          'reaching 1 is the promotion (the alias moves to the candidate).',
        docType: 'list of shares in (0, 1], increasing, ending at 1 (canary: `[0.1, 0.5, 1]`; refused for a shadow)',
      }),
    routeBy: z
      .object({
        field: z.string().min(1, 'expected the name of a feature, e.g. customer_id').meta({
          description:
            'Route by this feature of the row (an entity such as a customer id), so the same entity always sees the same version.',
          docType: 'feature name',
        }),
      })
      .strict()
      .optional()
      .meta({
        description: 'What a canary routes on: each request goes to a version by a stable hash of it. Refused for a shadow.',
        docType: 'section (the request id)',
      }),
    evidence: z
      .object({
        minRequests: z
          .number()
          .int()
          .min(1, 'expected at least 1 request')
          .default(100)
          .describe('Requests each version must have answered in the step (for a shadow: requests both predicted).'),
        minLabelled: z
          .number()
          .int()
          .min(0, 'expected 0 or more labelled rows')
          .default(30)
          .describe('Labelled rows (feedback) each version needs before the metric is compared; 0 compares only error rate and latency.'),
        maxWait: duration.prefault('1h').describe('How long a step waits for `minRequests`; past it, `lateLabels.onExpiry` decides.'),
        checkEvery: duration.prefault('1m').describe('How often the step reads the prediction log; not above `maxWait`.'),
      })
      .strict()
      .prefault({})
      .describe('What a step waits for before it judges.'),
    compare: z
      .object({
        metric: metricName.optional().meta({
          description:
            'The metric computed on labelled rows; its direction decides "worse". Required when `minLabelled` > 0 and neither default exists.',
          docType: 'metric name (`validation.champion.metric`, else `monitor.guardrail.metric`)',
        }),
        tolerance: z
          .number()
          .min(0, 'expected a tolerance of 0 or more')
          .default(0)
          .describe("How much worse than the champion the candidate's metric may be."),
        maxErrorRateIncrease: z
          .number()
          .min(0)
          .max(1, 'expected a fraction from 0 to 1')
          .default(0.01)
          .describe("How much higher the candidate's error rate (failed predictions / requests) may be."),
        maxP99Ratio: z
          .number()
          .min(1, 'expected a ratio of 1 or more')
          .default(1.5)
          .describe("The candidate's p99 latency may be at most this times the champion's, plus `p99SlackMs`."),
        p99SlackMs: z
          .number()
          .min(0)
          .default(5)
          .describe('Milliseconds added to the latency bound, so sub-millisecond noise decides nothing.'),
      })
      .strict()
      .prefault({})
      .describe("How the candidate is compared with the champion on the step's traffic; failing any comparison rolls back at once."),
    lateLabels: z
      .object({
        bound: duration.optional().meta({
          description: "How long, from the step's start, the step waits (durably: days are fine) for `minLabelled` labels.",
          docType: 'duration (`evidence.maxWait`), not below `maxWait`',
        }),
        onExpiry: z
          .enum(['promote', 'rollback', 'ask'])
          .default('rollback')
          .describe(
            'What a step does when its time runs out without enough evidence (too few requests by `maxWait`, too few labels by ' +
              '`bound`): go on, roll back, or ask `approval.approvers` (approve goes on; reject or the approval timeout rolls back).',
          ),
      })
      .strict()
      .prefault({})
      .describe('How long a step waits for labels, and what happens when time runs out.'),
    approveBefore: z
      .array(share)
      .default([])
      .meta({
        description:
          'The steps a person must approve before the candidate gets them, e.g. `[1]` before the promotion; ' +
          "the approval section's rules hold (allowlist, quorum, timeout, no self-approval).",
        docType: 'list of steps',
      }),
  })
  .strict();

const ROLLOUT_DEFAULT_STEPS = [0.1, 0.5, 1];

const deploySchema = z
  .object({
    alias: modelName
      .default('production')
      .describe(
        'The alias a deploy moves to the new version, by compare-and-swap: ' +
          'only if it still points at the champion the candidate was compared with in validate.',
      ),
    onChampionChanged: z
      .enum(['revalidate', 'stop'])
      .default('revalidate')
      .describe(
        'What a run does when the alias moved between its validation and its deploy (another run deployed, a rollback, a manual ' +
          'move): `revalidate` validates the candidate again against the new champion and deploys only if it passes (the approvals ' +
          'given stand); `stop` ends the run as `champion-changed`. A run stops after production changed 5 times under it. ' +
          'See docs/validation.md.',
      ),
    strategy: z
      .enum(['direct', 'shadow', 'canary'])
      .default('direct')
      .describe(
        '`direct` moves the alias at once. `shadow` and `canary` start a rollout (docs/rollout.md): ' +
          'the candidate is served beside the champion and the alias moves only when live evidence says so. ' +
          'A model with no production version yet is always deployed directly.',
      ),
    rollout: rolloutSchema.optional().meta({
      description: 'How the rollout proceeds.',
      docType: 'section (the defaults below, for `shadow` and `canary`; refused with `direct`)',
    }),
  })
  .strict()
  .transform((d) => (d.strategy === 'direct' || d.rollout ? d : { ...d, rollout: rolloutSchema.parse({}) }))
  .transform((d) =>
    d.strategy === 'canary' && d.rollout && !d.rollout.steps ? { ...d, rollout: { ...d.rollout, steps: ROLLOUT_DEFAULT_STEPS } } : d,
  )
  .superRefine((d, ctx) => {
    const r = d.rollout;
    if (!r) return;
    if (d.strategy === 'direct') {
      ctx.addIssue({
        code: 'custom',
        path: ['rollout'],
        message: 'a rollout is read only with strategy shadow or canary; remove it or set one',
      });
      return;
    }
    const steps = d.strategy === 'canary' ? r.steps! : [1];
    if (d.strategy === 'shadow' && r.steps) {
      ctx.addIssue({
        code: 'custom',
        path: ['rollout', 'steps'],
        message: 'a shadow candidate answers no one, so it has no traffic steps: remove steps, or use strategy canary',
      });
    }
    if (d.strategy === 'shadow' && r.routeBy) {
      ctx.addIssue({
        code: 'custom',
        path: ['rollout', 'routeBy'],
        message: 'a shadow sees every request, so nothing is routed: remove routeBy, or use strategy canary',
      });
    }
    steps.forEach((s, i) => {
      if (i > 0 && s <= steps[i - 1]!)
        ctx.addIssue({ code: 'custom', path: ['rollout', 'steps', i], message: `steps must increase: ${s} follows ${steps[i - 1]}` });
    });
    if (steps[steps.length - 1] !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['rollout', 'steps'],
        message: 'the last step must be 1 (the promotion: every request to the candidate)',
      });
    r.approveBefore.forEach((s, i) => {
      if (!steps.includes(s))
        ctx.addIssue({
          code: 'custom',
          path: ['rollout', 'approveBefore', i],
          message: `${s} is not a step of this rollout (steps: ${steps.join(', ')}${d.strategy === 'shadow' ? ', the promotion of a shadow' : ''})`,
        });
    });
    const bound = r.lateLabels.bound;
    if (bound !== undefined && bound < r.evidence.maxWait)
      ctx.addIssue({
        code: 'custom',
        path: ['rollout', 'lateLabels', 'bound'],
        message: "the label bound counts from the step's start, so it cannot be shorter than evidence.maxWait",
      });
    if (r.evidence.checkEvery > r.evidence.maxWait)
      ctx.addIssue({ code: 'custom', path: ['rollout', 'evidence', 'checkEvery'], message: 'checkEvery must not be longer than maxWait' });
  });

/** The whole pipeline spec. */
export const pipelineSpecSchema = z
  .object({
    model: modelName.describe("The model's name in the registry: lowercase letters, digits, `.`, `_`, `-`."),
    description: z.string().optional().describe('What the model is for: shown in status and as the intended use on the model card.'),
    dataset: datasetSchema.describe('Where the data comes from and how it is split.'),
    trainer: trainerSchema.describe('What trains the model: a built-in trainer or your program.'),
    validation: validationSchema.default({ thresholds: {} }).meta({
      description: 'What a candidate must reach on the sealed holdout.',
      docType: 'section (no thresholds)',
      docIntro:
        "Every metric below is measured by us on the sealed holdout; a program's own numbers are information only. Metric names: " +
        '`accuracy`, `balancedAccuracy`, `macroF1`, `rocAuc`, `logLoss` (classification), `rmse`, `mae`, `r2` (regression). ' +
        '`logLoss`, `rmse` and `mae` are lower-is-better; the rest higher-is-better. ' +
        'An unknown name, a metric of the other task, or a bound the metric cannot take (`accuracy.min: ' +
        '-0.5`) is refused when the spec is checked. See docs/validation.md.',
    }),
    approval: approvalSchema.prefault({}).meta({ description: 'Who must approve before deploy.', docType: 'section (not required)' }),
    deploy: deploySchema.prefault({}).describe('How a validated (and approved) version reaches the alias: at once, or by a rollout.'),
    monitor: monitorSchema.optional().meta({
      description: 'Drift and live performance checks after deploy; retraining; the guardrail.',
      docType: 'section (no monitor)',
    }),
    schedule: scheduleSchema
      .optional()
      .meta({ description: 'Retrain on a schedule (Temporal Schedules; `mlops schedule create`).', docType: 'section (none)' }),
  })
  .strict()
  .superRefine(checkMetricsFitTask)
  .superRefine(checkRolloutFitsSpec);

/**
 * Metric names are checked when the spec is parsed, not after training (each field refuses names outside the
 * catalog); here, once the whole spec is known, a metric of the other task is refused when the schema declares
 * the task, and a live performance bound must be a value the metric can take.
 */
function checkMetricsFitTask(
  spec: {
    dataset: { schema?: { task: 'classification' | 'regression' } };
    validation: { thresholds: Record<string, unknown>; champion?: { metric: string } };
    monitor?: { performance?: { metric: string; min?: number; max?: number }; guardrail?: { metric: string } };
  },
  ctx: z.RefinementCtx,
): void {
  const task = spec.dataset.schema?.task;
  const fits = (metric: string, path: (string | number)[]) => {
    const problem = task ? metricNameProblem(metric, task) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
  };
  for (const metric of Object.keys(spec.validation.thresholds)) fits(metric, ['validation', 'thresholds', metric]);
  if (spec.validation.champion) fits(spec.validation.champion.metric, ['validation', 'champion', 'metric']);
  const performance = spec.monitor?.performance;
  if (performance) {
    fits(performance.metric, ['monitor', 'performance', 'metric']);
    for (const which of ['min', 'max'] as const) {
      const bound = performance[which];
      const problem = bound === undefined ? undefined : metricBoundProblem(performance.metric, bound, which);
      if (problem) ctx.addIssue({ code: 'custom', path: ['monitor', 'performance', which], message: problem });
    }
  }
  if (spec.monitor?.guardrail) fits(spec.monitor.guardrail.metric, ['monitor', 'guardrail', 'metric']);
}

/**
 * The rollout's checks that need the rest of the spec: the metric it compares (its own, else the champion's or the
 * guardrail's), the people it asks (the approval section's approvers), and the field it routes by.
 */
function checkRolloutFitsSpec(
  spec: {
    dataset: { schema?: { task: 'classification' | 'regression'; features: string[] } };
    validation: { champion?: { metric: string } };
    approval: { approvers: string[] };
    deploy: { strategy: string; rollout?: z.output<typeof rolloutSchema> };
    monitor?: { guardrail?: { metric: string } };
  },
  ctx: z.RefinementCtx,
): void {
  const r = spec.deploy.rollout;
  if (!r || spec.deploy.strategy === 'direct') return;
  const at = (...path: (string | number)[]) => ['deploy', 'rollout', ...path];
  const metric = r.compare.metric ?? spec.validation.champion?.metric ?? spec.monitor?.guardrail?.metric;
  const task = spec.dataset.schema?.task;
  if (r.evidence.minLabelled > 0 && !metric)
    ctx.addIssue({
      code: 'custom',
      path: at('compare', 'metric'),
      message: 'name the metric compared on labelled traffic (or validation.champion.metric), or set evidence.minLabelled: 0',
    });
  if (r.compare.metric && task) {
    const problem = metricNameProblem(r.compare.metric, task);
    if (problem) ctx.addIssue({ code: 'custom', path: at('compare', 'metric'), message: problem });
  }
  const asks = r.approveBefore.length > 0 || r.lateLabels.onExpiry === 'ask';
  if (asks && spec.approval.approvers.length === 0)
    ctx.addIssue({
      code: 'custom',
      path: r.approveBefore.length > 0 ? at('approveBefore') : at('lateLabels', 'onExpiry'),
      message: "a rollout step that asks a person needs approval.approvers (who may decide; the run's requester may not)",
    });
  const field = r.routeBy?.field;
  if (field && spec.dataset.schema && !spec.dataset.schema.features.includes(field))
    ctx.addIssue({
      code: 'custom',
      path: at('routeBy', 'field'),
      message: `"${field}" is not a feature of the model (features: ${spec.dataset.schema.features.join(', ')}): requests must carry it`,
    });
}

/** A validated pipeline spec (durations in milliseconds). */
export type PipelineSpec = z.output<typeof pipelineSpecSchema>;
/** A pipeline spec as written by the user. */
export type PipelineSpecInput = z.input<typeof pipelineSpecSchema>;

/** Validates a parsed spec document; the error lists every wrong field by its path. */
export function parsePipelineSpec(doc: unknown, where = 'spec'): PipelineSpec {
  const result = pipelineSpecSchema.safeParse(doc);
  if (!result.success) {
    const lines = formatIssues(result.error.issues, where).split('; ');
    throw new MlopsError(FailureType.InvalidInput, `Invalid pipeline spec:\n${lines.map((l) => `  - ${l}`).join('\n')}`, {
      problems: lines,
    });
  }
  return result.data;
}
