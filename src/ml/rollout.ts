/**
 * The rollout's evidence and its verdict, as pure functions: what the champion and the candidate did on the live
 * traffic of one step (requests, failed predictions, p99 latency, the spec's metric on the rows labelled by feedback),
 * and whether the step passes, fails, waits for more, or ran out of time. The rollout activity reads the prediction
 * log and calls these; the rollout workflow acts on the verdict. No Temporal, no I/O.
 *
 * A canary compares the versions on the requests each answered (routed by a stable hash, so the two sets are alike);
 * a shadow compares them on the very same requests: only prediction ids both versions predicted count.
 */
import { metricHigherIsBetter } from './metric-catalog';
import { classificationMetrics, regressionMetrics, sortLabels, type Label } from './metrics';
import type { RolloutEvidence, RolloutPrediction, StepPolicy, StepVerdict, Task, VersionEvidence } from './types';

export type { RolloutEvidence, RolloutPrediction, StepPolicy, StepVerdict, VersionEvidence } from './types';

/** Sums up a step's predictions per version. Records of other versions are ignored. */
export function rolloutEvidence(
  predictions: Iterable<RolloutPrediction>,
  opts: { champion: number; candidate: number; task: Task; metric?: string; shadow: boolean },
): RolloutEvidence {
  const champion: RolloutPrediction[] = [];
  const candidate: RolloutPrediction[] = [];
  for (const p of predictions) {
    if (isCandidate(p, opts)) candidate.push(p);
    else if (p.version === opts.champion && p.role !== 'shadow' && p.role !== 'candidate') champion.push(p);
  }
  if (opts.shadow) {
    // Only the requests both versions predicted: the very same rows on each side.
    const mirrored = new Set(candidate.map((p) => p.id));
    const answered = new Set(champion.map((p) => p.id));
    return {
      metric: opts.metric,
      champion: versionEvidence(
        opts.champion,
        champion.filter((p) => mirrored.has(p.id)),
        opts,
      ),
      candidate: versionEvidence(
        opts.candidate,
        candidate.filter((p) => answered.has(p.id)),
        opts,
      ),
      sameRequests: true,
    };
  }
  return {
    metric: opts.metric,
    champion: versionEvidence(opts.champion, champion, opts),
    candidate: versionEvidence(opts.candidate, candidate, opts),
    sameRequests: false,
  };
}

function isCandidate(p: RolloutPrediction, opts: { candidate: number; shadow: boolean }): boolean {
  if (p.version !== opts.candidate) return false;
  return opts.shadow ? p.role === 'shadow' : p.role !== 'shadow' && p.role !== 'champion';
}

function versionEvidence(version: number, records: RolloutPrediction[], opts: { task: Task; metric?: string }): VersionEvidence {
  const errors = records.filter((r) => r.error !== undefined && r.error !== null).length;
  const latencies = records.map((r) => r.latencyMs).filter((l): l is number => typeof l === 'number' && Number.isFinite(l));
  const labelled = records.filter((r) => !r.error && r.output && r.label !== undefined && r.label !== null && r.label !== '');
  const out: VersionEvidence = {
    version,
    requests: records.length,
    errors,
    errorRate: records.length === 0 ? 0 : errors / records.length,
    labelled: labelled.length,
  };
  const p99 = percentile(latencies, 0.99);
  if (p99 !== undefined) out.p99LatencyMs = p99;
  const metric = opts.metric && labelled.length > 0 ? metricOf(opts.metric, opts.task, labelled) : undefined;
  if (metric !== undefined) out.metric = metric;
  return out;
}

/** The nearest-rank percentile (the smallest value with at least q of the values at or below it). */
export function percentile(values: number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * The metric on labelled predictions, from what the version answered (the log's outputs, not a new prediction).
 * Undefined when the outputs cannot give it (a probability metric and outputs without probabilities).
 */
function metricOf(metric: string, task: Task, rows: RolloutPrediction[]): number | undefined {
  if (task === 'regression') {
    const usable = rows.filter((r) => typeof r.output?.value === 'number' && Number.isFinite(Number(r.label)));
    if (usable.length === 0) return undefined;
    const m = regressionMetrics(
      usable.map((r) => Number(r.label)),
      usable.map((r) => r.output!.value!),
    );
    const value = (m as unknown as Record<string, number | null>)[metric];
    return typeof value === 'number' ? value : undefined;
  }
  const truth = rows.map((r) => String(r.label));
  if (rows.every((r) => r.output?.probabilities)) {
    const classes = sortLabels(new Set<Label>([...rows.flatMap((r) => Object.keys(r.output!.probabilities!)), ...truth])) as string[];
    const proba = rows.map((r) => classes.map((c) => r.output!.probabilities![c] ?? 0));
    const m = classificationMetrics(truth, proba, classes) as unknown as Record<string, unknown>;
    return typeof m[metric] === 'number' ? (m[metric] as number) : undefined;
  }
  if (metric !== 'accuracy' && metric !== 'balancedAccuracy' && metric !== 'macroF1') return undefined;
  if (!rows.every((r) => typeof r.output?.label === 'string')) return undefined;
  // Label metrics need only the answered class: one-hot "probabilities" give exactly them.
  const classes = sortLabels(new Set<Label>([...rows.map((r) => r.output!.label!), ...truth])) as string[];
  const proba = rows.map((r) => classes.map((c) => (c === r.output!.label ? 1 : 0)));
  const m = classificationMetrics(truth, proba, classes) as unknown as Record<string, number>;
  return m[metric];
}

/**
 * Judges one step. Health (error rate, p99 latency) is judged once both versions answered `minRequests`; the metric
 * once both have `minLabelled` labelled rows. Any comparison the candidate loses fails the step at once; the step
 * passes when every comparison is made and none is lost; otherwise it waits, until its time runs out.
 */
export function judgeStep(e: RolloutEvidence, p: StepPolicy, elapsedMs: number): StepVerdict {
  const failures: string[] = [];
  const missing: string[] = [];
  const { champion: ch, candidate: ca } = e;
  const enoughRequests = ch.requests >= p.minRequests && ca.requests >= p.minRequests;
  if (!enoughRequests) {
    missing.push(`requests: candidate ${ca.requests}, champion ${ch.requests} of the ${p.minRequests} each needs`);
  } else {
    const increase = ca.errorRate - ch.errorRate;
    if (increase > p.maxErrorRateIncrease) {
      failures.push(
        `error rate ${pct(ca.errorRate)} (${ca.errors} of ${ca.requests}) against the champion's ${pct(ch.errorRate)}: ` +
          `more than ${pct(p.maxErrorRateIncrease)} higher`,
      );
    }
    if (ca.p99LatencyMs !== undefined && ch.p99LatencyMs !== undefined) {
      const bound = ch.p99LatencyMs * p.maxP99Ratio + p.p99SlackMs;
      if (ca.p99LatencyMs > bound)
        failures.push(
          `p99 latency ${ms(ca.p99LatencyMs)} against the champion's ${ms(ch.p99LatencyMs)}: ` +
            `above the bound ${ms(bound)} (${p.maxP99Ratio} × + ${p.p99SlackMs} ms)`,
        );
    }
  }
  if (p.minLabelled > 0 && p.metric) {
    if (ch.labelled < p.minLabelled || ca.labelled < p.minLabelled) {
      missing.push(`labelled rows: candidate ${ca.labelled}, champion ${ch.labelled} of the ${p.minLabelled} each needs`);
    } else if (ca.metric === undefined || ch.metric === undefined) {
      missing.push(`${p.metric} could not be computed from the logged answers (a probability metric needs logged probabilities)`);
    } else {
      const higher = metricHigherIsBetter(p.metric);
      const worseBy = higher ? ch.metric - ca.metric : ca.metric - ch.metric;
      if (worseBy > p.tolerance + 1e-12) {
        failures.push(
          `${p.metric} ${fmt(ca.metric)} against the champion's ${fmt(ch.metric)} on ` +
            `${e.sameRequests ? 'the same' : `${ca.labelled} and ${ch.labelled}`} labelled ` +
            `rows${e.sameRequests ? ` (${ca.labelled})` : ''}: worse by ${fmt(worseBy)} (${higher ? 'higher' : 'lower'} is better), ` +
            `more than the tolerance ${p.tolerance}`,
        );
      }
    }
  }
  if (failures.length > 0) return { decision: 'fail', reasons: failures };
  if (missing.length === 0) return { decision: 'pass', reasons: [passSummary(e, p)] };
  const requestsShort = !enoughRequests;
  const outOfTime = requestsShort ? elapsedMs >= p.maxWaitMs : elapsedMs >= p.labelBoundMs;
  if (!outOfTime) return { decision: 'wait', reasons: missing };
  const limit = requestsShort ? `evidence.maxWait (${duration(p.maxWaitMs)})` : `lateLabels.bound (${duration(p.labelBoundMs)})`;
  return { decision: 'expired', reasons: [`${limit} passed without enough evidence`, ...missing] };
}

function passSummary(e: RolloutEvidence, p: StepPolicy): string {
  const { champion: ch, candidate: ca } = e;
  const parts = [`${ca.requests} requests (champion ${ch.requests})`, `error rate ${pct(ca.errorRate)} (champion ${pct(ch.errorRate)})`];
  if (ca.p99LatencyMs !== undefined) parts.push(`p99 ${ms(ca.p99LatencyMs)} (champion ${ms(ch.p99LatencyMs)})`);
  if (p.minLabelled > 0 && p.metric && ca.metric !== undefined)
    parts.push(`${p.metric} ${fmt(ca.metric)} (champion ${fmt(ch.metric)}) on ${ca.labelled} labelled rows`);
  return `no worse than the champion: ${parts.join(', ')}`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.01 && x > 0 ? 2 : 1)} %`;
}

function ms(x: number | undefined): string {
  return x === undefined ? '-' : `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms`;
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : x.toFixed(4);
}

function duration(msValue: number): string {
  if (msValue % 86_400_000 === 0) return `${msValue / 86_400_000}d`;
  if (msValue % 3_600_000 === 0) return `${msValue / 3_600_000}h`;
  if (msValue % 60_000 === 0) return `${msValue / 60_000}m`;
  return `${msValue / 1000}s`;
}
