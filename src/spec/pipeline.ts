/**
 * The pipeline spec: what one model's lifecycle does, in YAML or JSON, validated with zod.
 * Every error names the field path and what is expected. This module is pure (no Node APIs), so
 * the parsed `PipelineSpec` type can travel into workflows; reading files is in ./load.ts.
 */
import { z } from 'zod';
import { FailureType, MlopsError } from '../errors';
import { metricBoundProblem, metricHigherIsBetter as higherIsBetter, metricNameProblem } from '../ml/metric-catalog';
import { datasetSchemaSchema, formatIssues } from '../ml/schema';

/** An ISO date or date-time (2024-01-31, 2024-01-31T12:00:00Z), as the dataset filter takes it; 2024-02-30 is refused. */
const isoDate = z.string().refine((s) => {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) || Number.isNaN(Date.parse(s))) return false;
  const day = new Date(`${s.slice(0, 10)}T00:00:00Z`);
  return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === s.slice(0, 10);
}, 'expected an ISO date like 2024-01-31 or 2024-01-31T12:00:00Z');

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses "90s", "15m", "24h", "7d" into milliseconds. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`expected a duration like 30s, 15m, 24h or 7d, got "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

const duration = z
  .string()
  .regex(DURATION, 'expected a duration like 30s, 15m, 24h or 7d')
  .transform((s) => durationMs(s));

const modelName = z
  .string()
  .min(1, 'expected a model name')
  .max(128, 'expected at most 128 characters')
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected lowercase letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((s) => !s.includes('..'), 'must not contain ".."');

const personName = z
  .string()
  .min(1, 'expected a name')
  .max(128)
  .regex(/^[^\s\u0000-\u001f]+$/, 'expected a name without spaces');

const splitSchema = z
  .object({
    /** hash (default): a row keeps its side as data is appended, so champions are never scored on their training rows. */
    method: z.enum(['hash', 'random', 'stratified', 'time']).default('hash'),
    testFraction: z.number().gt(0, 'expected a fraction between 0 and 1').lt(1, 'expected a fraction between 0 and 1').default(0.2),
    seed: z.number().int().default(42),
    /** The datetime column a time split orders by. */
    column: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.method === 'time' && !s.column)
      ctx.addIssue({ code: 'custom', path: ['column'], message: 'a time split needs the datetime column to order by' });
  });

const datasetSchema = z
  .object({
    /** Name of the dataset in the snapshot registry; defaults to the model name. */
    name: modelName.optional(),
    /** A local file (relative to the spec), an http(s) URL or an s3://bucket/key URI. */
    source: z.string().min(1, 'expected a file path, http(s) URL or s3:// URI'),
    format: z.enum(['csv', 'jsonl', 'json', 'parquet']).optional(),
    delimiter: z.string().length(1, 'expected one character').optional(),
    /** The text encoding of a CSV or JSON source (default utf-8); bytes that are not UTF-8 in an undeclared source are an error naming their offset. */
    encoding: z.enum(['utf-8', 'latin1', 'windows-1252']).optional(),
    /** The declared schema; when omitted it is inferred from the data (with `target`) and frozen into the snapshot. */
    schema: datasetSchemaSchema.optional(),
    /** The target column, when the schema is inferred. */
    target: z.string().min(1).optional(),
    /** Keep only rows whose datetime column lies in [from, to] (ISO dates). */
    filter: z
      .object({ column: z.string().min(1), from: isoDate.optional(), to: isoDate.optional() })
      .strict()
      .refine((f) => f.from === undefined || f.to === undefined || Date.parse(f.from) <= Date.parse(f.to), {
        message: 'from must not be later than to',
        path: ['to'],
      })
      .optional(),
    /**
     * Derived columns, name to a SQL expression over the source's typed columns run by the engine at
     * ingest, e.g. { delayed: "delay > 15" }; recorded in the snapshot's lineage.
     */
    columns: z
      .record(
        z
          .string()
          .min(1, 'expected a column name')
          .refine((n) => !n.startsWith('__'), 'names starting with "__" are reserved for snapshots'),
        z.string().min(1, 'expected a SQL expression, e.g. "delay > 15"'),
      )
      .optional(),
    /** Keep only rows where this SQL condition over the source's typed columns holds, e.g. "distance > 0". */
    where: z.string().min(1, 'expected a SQL condition, e.g. "distance > 0"').optional(),
    /** Drop rows whose target is missing (after filter and where) instead of failing validation; the count is in the run's status and card. */
    dropMissingTarget: z.boolean().optional(),
    split: splitSchema.default({ method: 'hash', testFraction: 0.2, seed: 42 }),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (!d.schema && !d.target)
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'give either a schema or the target column (the rest is inferred)' });
  });

const trainerSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('logistic-regression'), params: z.record(z.string(), z.unknown()).default({}) }).strict(),
  z.object({ name: z.literal('gbdt'), params: z.record(z.string(), z.unknown()).default({}) }).strict(),
  z
    .object({
      name: z.literal('command'),
      /**
       * The program and its arguments, e.g. ["{python}", "train.py"], run under contract v2 (docs/external-trainers.md);
       * {python} is the project's pinned Python, {train} {uris} {check} {schema} {params} {output} {seed} the run's paths and seed.
       */
      command: z
        .array(z.string().min(1))
        .min(1, 'expected the program and its arguments')
        .refine((args) => !args.some((a) => a.includes('{validation}')), {
          message:
            'the {validation} placeholder is gone: the program never sees the holdout (contract v2); carve early-stopping data out of {train}',
        }),
      params: z.record(z.string(), z.unknown()).default({}),
      /** Where the program runs; a relative path is resolved against the spec file (default: the spec file's folder). */
      workingDirectory: z.string().optional(),
      /** Extra environment variables for the program. */
      env: z.record(z.string(), z.string()).optional(),
      /** Stop the program and fail the training after this long (default: no limit). */
      timeout: duration.optional(),
      /** How long the program has to exit after SIGTERM (on cancel or timeout) before it is killed (default 10s). */
      killGrace: duration.optional(),
      /**
       * How the program gets the training rows: `both` (default) a local JSON-lines file and presigned Parquet parts in MinIO,
       * `remote` the parts only (the worker keeps no copy while the program runs: for a cluster), `local` the file only.
       */
      data: z.enum(['both', 'remote', 'local']).default('both'),
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
  });

const thresholdSchema = z
  .object({ min: z.number().optional(), max: z.number().optional() })
  .strict()
  .refine((t) => t.min !== undefined || t.max !== undefined, 'give min, max or both');

const validationSchema = z
  .object({
    /** Holdout metric thresholds, e.g. { accuracy: { min: 0.7 } }. */
    thresholds: z.record(z.string(), thresholdSchema).default({}),
    /** The candidate may not be worse than the production version by more than `margin` on `metric`. */
    champion: z
      .object({ metric: metricName, margin: z.number().min(0).default(0) })
      .strict()
      .optional(),
    /**
     * What a training program claims about itself (its metrics.json) is held against our measurement on the
     * sealed holdout: a claim further than `tolerance` from it is reported (warn, the default) or fails validation.
     * Absent means { tolerance: 0.05, onMismatch: warn }.
     */
    claims: z
      .object({
        tolerance: z.number().min(0, 'expected a tolerance of 0 or more').default(0.05),
        onMismatch: z.enum(['warn', 'fail']).default('warn'),
      })
      .strict()
      .optional(),
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
    required: z.boolean().optional(),
    approvers: z.array(personName).default([]),
    quorum: z.number().int().min(1, 'expected at least 1 approver').default(1),
    timeout: duration.default(durationMs('24h')),
    onTimeout: z.enum(['reject', 'approve', 'escalate']).default('reject'),
    escalation: z
      .object({
        approvers: z.array(personName).min(1, 'list at least one escalation approver'),
        timeout: duration.default(durationMs('24h')),
        onTimeout: z.enum(['reject', 'approve']).default('reject'),
      })
      .strict()
      .optional(),
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
    enabled: z.boolean().default(true),
    interval: duration.default(durationMs('1h')),
    /** Where new data comes from: the model server's prediction logs, or an s3:// prefix where batches land. */
    source: z
      .union([z.literal('predictions'), z.string().regex(/^s3:\/\/[^/]+\/.*/, 'expected "predictions" or an s3://bucket/prefix/')])
      .default('predictions'),
    /** How far back one check reads: from where the previous check ended, never more than this before the check. */
    window: duration.default(durationMs('7d')),
    /** Fewest rows a window needs before drift is judged. */
    minRows: z.number().int().min(1).default(100),
    drift: z
      .object({
        psi: z.number().positive().default(0.2),
        ksPValue: z.number().gt(0).lt(1).optional(),
        /** Also flag a categorical feature whose chi-square test p-value is below this. */
        chiSquarePValue: z.number().gt(0).lt(1).optional(),
        /** Per-feature thresholds: PSI, and the Wasserstein distance (in the feature's own units, so only per feature). */
        features: z
          .record(
            z.string(),
            z
              .object({ psi: z.number().positive().optional(), wasserstein: z.number().positive().optional() })
              .strict()
              .refine((f) => f.psi !== undefined || f.wasserstein !== undefined, 'give psi, wasserstein or both'),
          )
          .default({}),
        /** How many features must breach before retraining (default 1). */
        minFeatures: z.number().int().min(1).default(1),
      })
      .strict()
      .default({ psi: 0.2, features: {}, minFeatures: 1 }),
    /**
     * Live performance on labelled new data: `{metric, min}` for a higher-is-better metric (accuracy, r2, ...),
     * `{metric, max}` for a lower-is-better one (rmse, mae, logLoss). Crossing it counts as a breach (retraining).
     */
    performance: z
      .object({ metric: metricName, min: z.number().optional(), max: z.number().optional() })
      .strict()
      .superRefine((p, ctx) => {
        const problem = performanceBoundProblem(p);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /**
     * After a deploy: if the new version's live performance (on labelled traffic) is worse than the previous
     * version's by more than `margin` within `watch` (lower for accuracy, higher for rmse: the metric's
     * direction), the alias goes back to the previous version.
     */
    guardrail: z
      .object({
        metric: metricName,
        margin: z.number().min(0).default(0.05),
        watch: duration.default(durationMs('7d')),
        minLabelled: z.number().int().min(1).default(30),
      })
      .strict()
      .optional(),
    /** No new retraining within this time of the last one. */
    cooldown: duration.default(durationMs('6h')),
    retrain: z.boolean().default(true),
  })
  .strict();

const scheduleSchema = z
  .object({
    cron: z.string().min(1).optional(),
    interval: duration.optional(),
    overlap: z.enum(['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all']).default('skip'),
    catchupWindow: duration.default(durationMs('1h')),
    paused: z.boolean().default(false),
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
    /** Canary only: the candidate's share of requests at each step, increasing, ending at 1 (the promotion). */
    steps: z.array(share).min(1, 'list at least one step, ending at 1').optional(),
    /** What a canary routes on: the request id (default), or a feature of the row, so one entity always sees one version. */
    routeBy: z
      .object({ field: z.string().min(1, 'expected the name of a feature, e.g. customer_id') })
      .strict()
      .optional(),
    /** What one step waits for before it judges. */
    evidence: z
      .object({
        minRequests: z.number().int().min(1, 'expected at least 1 request').default(100),
        minLabelled: z.number().int().min(0, 'expected 0 or more labelled rows').default(30),
        maxWait: duration.default(durationMs('1h')),
        checkEvery: duration.default(durationMs('1m')),
      })
      .strict()
      .default({ minRequests: 100, minLabelled: 30, maxWait: durationMs('1h'), checkEvery: durationMs('1m') }),
    /** How the candidate is compared with the champion on the same step's traffic. */
    compare: z
      .object({
        metric: metricName.optional(),
        tolerance: z.number().min(0, 'expected a tolerance of 0 or more').default(0),
        maxErrorRateIncrease: z.number().min(0).max(1, 'expected a fraction from 0 to 1').default(0.01),
        maxP99Ratio: z.number().min(1, 'expected a ratio of 1 or more').default(1.5),
        p99SlackMs: z.number().min(0).default(5),
      })
      .strict()
      .default({ tolerance: 0, maxErrorRateIncrease: 0.01, maxP99Ratio: 1.5, p99SlackMs: 5 }),
    /** How long a step waits for labels (from its start), and what it does when time runs out. */
    lateLabels: z
      .object({
        bound: duration.optional(),
        onExpiry: z.enum(['promote', 'rollback', 'ask']).default('rollback'),
      })
      .strict()
      .default({ onExpiry: 'rollback' }),
    /** The steps (shares) a person from `approval.approvers` must approve before the candidate gets them. */
    approveBefore: z.array(share).default([]),
  })
  .strict();

const ROLLOUT_DEFAULT_STEPS = [0.1, 0.5, 1];

const deploySchema = z
  .object({
    alias: modelName.default('production'),
    /** direct: move the alias at once; shadow / canary: a rollout decides on live evidence (docs/rollout.md). */
    strategy: z.enum(['direct', 'shadow', 'canary']).default('direct'),
    rollout: rolloutSchema.optional(),
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
    model: modelName,
    description: z.string().optional(),
    dataset: datasetSchema,
    trainer: trainerSchema,
    validation: validationSchema.default({ thresholds: {} }),
    approval: approvalSchema.prefault({}),
    deploy: deploySchema.prefault({}),
    monitor: monitorSchema.optional(),
    schedule: scheduleSchema.optional(),
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
