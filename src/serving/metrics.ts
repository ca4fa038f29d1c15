/**
 * Prometheus metrics of the model server and the prediction log, and the drift gauge the monitor sets.
 *
 * Every server gets its own prom-client `Registry`, so two servers in one process (tests, the benchmark)
 * never share or clash over counters. deploy/grafana-dashboard.json charts these names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, register as globalRegistry, type MetricType } from 'prom-client';

/** The name of the per-feature drift gauge; the monitor sets it, the dashboard charts it. */
export const DRIFT_GAUGE_NAME = 'mlops_feature_drift_psi';

/** The failure kinds counted in `mlops_serving_errors_total`. */
export type ServingErrorKind = 'invalid_input' | 'not_found' | 'not_ready' | 'unavailable' | 'internal';

/** The metrics one model server records. */
export interface ServingMetrics {
  registry: Registry;
  /** Seconds from request to response, by route template, method and status code. */
  requestDuration: Histogram<'route' | 'method' | 'status'>;
  /** Rows predicted, by model and version. */
  predictions: Counter<'model' | 'version'>;
  /** Values of a categorical feature the model never saw in training, by model and feature (zero from load). */
  unknownCategories: Counter<'model' | 'feature'>;
  /** Failed requests, by model and kind. */
  errors: Counter<'model' | 'kind'>;
  /** Records waiting in a log's queue. */
  logQueueDepth: Gauge<'log'>;
  /** Records a full queue refused. */
  logDropped: Counter<'log'>;
  /** Records written to MinIO. */
  logWritten: Counter<'log'>;
  /** Batches whose write to MinIO failed (they are retried). */
  logFlushFailures: Counter<'log'>;
  /** Versions loaded and put into service. */
  modelLoads: Counter<'model' | 'version'>;
  /** Versions refused at load (integrity error, unreadable model), by reason. */
  modelLoadRefusals: Counter<'model' | 'reason'>;
  /** 1 for the version each model serves now, by model, alias and version (absent until one is loaded). */
  servedInfo: Gauge<'model' | 'alias' | 'version'>;
  /** 1 while a model has a version in service, 0 while it has none (its readiness, for alerts). */
  modelReady: Gauge<'model'>;
  /**
   * Per version and role (`alias` outside a rollout; `champion`, `candidate`, or `shadow` for the mirrored
   * copies): the inference requests it predicted, answered or failed, and the seconds each took to read
   * and predict. Counted as plain numbers on the request path; `mlops_version_requests_total` and
   * `mlops_version_prediction_duration_seconds` read them when scraped.
   */
  versions: VersionSeriesSet;
  /** Of those requests, the failed ones, by kind (`invalid_input`, `internal`). */
  versionErrors: Counter<'model' | 'version' | 'role' | 'kind'>;
  /** The share of requests a canary's candidate answers (0 outside a canary). */
  rolloutShare: Gauge<'model'>;
}

/**
 * Node's process metrics in `registry` under prom-client's stock names, once. prom-client's three
 * `nodejs_active_*_total` are gauges whose names say counter (promtool rejects them, and a `rate()` over them means
 * nothing); they are left out, since `nodejs_active_handles`, `nodejs_active_requests` and `nodejs_active_resources`
 * (by type) are there and sum to the same numbers.
 */
export function collectProcessMetrics(registry: Registry): void {
  if (registry.getSingleMetric('process_cpu_seconds_total')) return;
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name);
}

/**
 * Creates a registry with the serving metrics and Node's process metrics. The process metrics keep prom-client's
 * own names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_p99_seconds`), so stock Node.js dashboards match
 * them; Prometheus's `job` and `instance` labels tell the server from the worker.
 */
export function createServingMetrics(options: { processMetrics?: boolean } = {}): ServingMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectProcessMetrics(registry);
  const registers = [registry];
  const versions = new VersionSeriesSet();
  new VersionRequests(versions, registers);
  new VersionLatency(versions, registers);
  return {
    registry,
    requestDuration: new Histogram({
      name: 'mlops_serving_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, by route.',
      labelNames: ['route', 'method', 'status'],
      // Fine steps below 10 ms, where a healthy single-row prediction lands.
      buckets: [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    predictions: new Counter({
      name: 'mlops_predictions_total',
      help: 'Rows predicted, by model and version.',
      labelNames: ['model', 'version'],
      registers,
    }),
    unknownCategories: new Counter({
      name: 'mlops_unknown_categories_total',
      help: 'Predicted rows whose categorical feature held a category the model was not trained on, by model and feature.',
      labelNames: ['model', 'feature'],
      registers,
    }),
    errors: new Counter({
      name: 'mlops_serving_errors_total',
      help: 'Failed requests, by model and kind of failure.',
      labelNames: ['model', 'kind'],
      registers,
    }),
    logQueueDepth: new Gauge({
      name: 'mlops_prediction_log_queue_depth',
      help: 'Records waiting to be written to MinIO, by log.',
      labelNames: ['log'],
      registers,
    }),
    logDropped: new Counter({
      name: 'mlops_prediction_log_dropped_total',
      help: 'Records dropped because the queue was full (overload), by log.',
      labelNames: ['log'],
      registers,
    }),
    logWritten: new Counter({
      name: 'mlops_prediction_log_written_total',
      help: 'Records written to MinIO, by log.',
      labelNames: ['log'],
      registers,
    }),
    logFlushFailures: new Counter({
      name: 'mlops_prediction_log_flush_failures_total',
      help: 'Batch writes to MinIO that failed and will be retried, by log.',
      labelNames: ['log'],
      registers,
    }),
    modelLoads: new Counter({
      name: 'mlops_model_loads_total',
      help: 'Model versions loaded and put into service.',
      labelNames: ['model', 'version'],
      registers,
    }),
    modelLoadRefusals: new Counter({
      name: 'mlops_model_load_refusals_total',
      help: 'Model versions refused at load (integrity error, unreadable or not servable model); the previous version keeps serving.',
      labelNames: ['model', 'reason'],
      registers,
    }),
    servedInfo: new Gauge({
      name: 'mlops_model_served_info',
      help: 'Always 1: the version each model serves now, in the version label (join on model to label other series with it).',
      labelNames: ['model', 'alias', 'version'],
      registers,
    }),
    versionErrors: new Counter({
      name: 'mlops_version_errors_total',
      help: 'Inference requests a version failed, by model, version, role and kind (invalid_input, internal).',
      labelNames: ['model', 'version', 'role', 'kind'],
      registers,
    }),
    versions,
    rolloutShare: new Gauge({
      name: 'mlops_rollout_candidate_share',
      help: "The share of requests a canary's candidate answers, by model (0 outside a canary).",
      labelNames: ['model'],
      registers,
    }),
    modelReady: new Gauge({
      name: 'mlops_model_ready',
      help: 'Whether a model has a version in service (1) or not (0); /v2/models/<name>/ready says why.',
      labelNames: ['model'],
      registers,
    }),
  };
}

/** The reasons a version is refused at load, counted in `mlops_model_load_refusals_total`. */
export const LOAD_REFUSAL_REASONS = ['integrity', 'unreadable', 'missing', 'not_servable', 'unavailable'] as const;
const ERROR_KINDS: readonly ServingErrorKind[] = ['invalid_input', 'not_found', 'not_ready', 'unavailable', 'internal'];

/**
 * Starts a served model's counters at zero for every label set they can have, so a panel or an alert on a failure
 * that has not happened yet reads 0 rather than "no data", and the first failure shows as an increase.
 */
export function initModelCounters(metrics: ServingMetrics, model: string): void {
  for (const reason of LOAD_REFUSAL_REASONS) metrics.modelLoadRefusals.inc({ model, reason }, 0);
  for (const kind of ERROR_KINDS) metrics.errors.inc({ model, kind }, 0);
}

/** Starts a log's counters at zero (written, dropped, failed writes) and its queue depth at 0. */
export function initLogCounters(metrics: ServingMetrics, log: 'predictions' | 'feedback'): void {
  for (const counter of [metrics.logWritten, metrics.logDropped, metrics.logFlushFailures]) counter.inc({ log }, 0);
  metrics.logQueueDepth.set({ log }, 0);
}

/** Marks `version` as the one `model` serves under `alias`, replacing the series of the version it served before. */
export function setServedVersion(metrics: ServingMetrics, model: string, alias: string, version: number, previous?: number): void {
  if (previous !== undefined && previous !== version) metrics.servedInfo.remove({ model, alias, version: String(previous) });
  metrics.servedInfo.set({ model, alias, version: String(version) }, 1);
}

/**
 * The drift gauge, `mlops_feature_drift_psi{model,feature}`, registered once in `registry` (prom-client's
 * global registry by default; later calls return the same gauge). The monitor sets it per feature after
 * each window.
 */
export function registerDriftGauge(registry: Registry = globalRegistry): Gauge<'model' | 'feature'> {
  const existing = registry.getSingleMetric(DRIFT_GAUGE_NAME);
  if (existing) return existing as Gauge<'model' | 'feature'>;
  return new Gauge({
    name: DRIFT_GAUGE_NAME,
    help: 'Population stability index of each feature: the latest monitoring window against the training data.',
    labelNames: ['model', 'feature'],
    registers: [registry],
  });
}

/** The labels of a version's series. */
export interface VersionLabels {
  model: string;
  version: string;
  role: string;
}

/** Upper bounds (seconds) of `mlops_version_prediction_duration_seconds`: fine below a millisecond, where a built-in model's row lands. */
export const VERSION_LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] as const;

/** One version's series in one role: requests and their latency histogram, as plain numbers. */
export class VersionSeries {
  requests = 0;
  sum = 0;
  /** Requests per bucket (not cumulative); the last one is +Inf. */
  readonly buckets = new Float64Array(VERSION_LATENCY_BUCKETS.length + 1);

  constructor(readonly labels: Readonly<VersionLabels>) {}

  /** One request the version predicted (answered or failed), and how long it took. */
  observe(seconds: number): void {
    this.requests += 1;
    this.sum += seconds;
    let i = 0;
    while (i < VERSION_LATENCY_BUCKETS.length && seconds > VERSION_LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]! += 1;
  }
}

/**
 * Every version's series, found per loaded version without building a label key per request: labelled
 * metrics hash their labels on every call, which costs more than a small model's prediction.
 */
export class VersionSeriesSet {
  private readonly byKey = new Map<string, VersionSeries>();
  private readonly byOwner = new WeakMap<object, Map<string, VersionSeries>>();

  /** The series of a loaded version (`owner`, any object standing for it) in a role, made at zero the first time. */
  of(owner: { name: string; version: number }, role: string): VersionSeries {
    let roles = this.byOwner.get(owner);
    if (!roles) this.byOwner.set(owner, (roles = new Map()));
    let series = roles.get(role);
    if (!series) roles.set(role, (series = this.get({ model: owner.name, version: String(owner.version), role })));
    return series;
  }

  /** The series of these labels, made at zero the first time. */
  get(labels: VersionLabels): VersionSeries {
    const key = `${labels.model}\u0000${labels.version}\u0000${labels.role}`;
    let series = this.byKey.get(key);
    if (!series) this.byKey.set(key, (series = new VersionSeries({ ...labels })));
    return series;
  }

  values(): IterableIterator<VersionSeries> {
    return this.byKey.values();
  }
}

type VersionLabel = keyof VersionLabels;

/** The type line /metrics prints; prom-client's typings declare it as a numeric enum, its registry prints the string. */
const metricType = (type: 'counter' | 'histogram') => type as unknown as MetricType;

const VERSION_REQUESTS = {
  name: 'mlops_version_requests_total',
  help:
    'Inference requests each version predicted (answered, failed, or mirrored by a shadow), by model, version and role (alias, ' +
    'champion, candidate, shadow).',
};

const VERSION_LATENCY = {
  name: 'mlops_version_prediction_duration_seconds',
  help: "Time a version took to read a request's rows and predict them, by model, version and role.",
};

/** `mlops_version_requests_total`, read from the series when scraped. */
class VersionRequests extends Counter<VersionLabel> {
  constructor(
    private readonly series: VersionSeriesSet,
    registers: Registry[],
  ) {
    super({
      name: VERSION_REQUESTS.name,
      help: VERSION_REQUESTS.help,
      labelNames: ['model', 'version', 'role'],
      registers,
    });
  }

  override async get(): Promise<Awaited<ReturnType<Counter<VersionLabel>['get']>>> {
    const values = [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.requests }));
    return { ...VERSION_REQUESTS, type: metricType('counter'), aggregator: 'sum', collect: () => undefined, values };
  }
}

/** `mlops_version_prediction_duration_seconds`, read from the series when scraped. */
class VersionLatency extends Histogram<VersionLabel> {
  constructor(
    private readonly series: VersionSeriesSet,
    registers: Registry[],
  ) {
    super({
      name: VERSION_LATENCY.name,
      help: VERSION_LATENCY.help,
      labelNames: ['model', 'version', 'role'],
      buckets: [...VERSION_LATENCY_BUCKETS],
      registers,
    });
  }

  /** What the registry prints a histogram from (prom-client's own histogram reads it from its label-hash map). */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram<VersionLabel>['get']>>> {
    return this.get();
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<VersionLabel>['get']>>> {
    const name = VERSION_LATENCY.name;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= VERSION_LATENCY_BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        const le = i < VERSION_LATENCY_BUCKETS.length ? VERSION_LATENCY_BUCKETS[i]! : '+Inf';
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${name}_bucket` });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.requests, metricName: `${name}_count` });
    }
    // The bucket series carry `le` besides the declared labels, as prom-client's own histogram's do.
    return { ...VERSION_LATENCY, type: metricType('histogram'), aggregator: 'sum', collect: () => undefined, values } as Awaited<
      ReturnType<Histogram<VersionLabel>['get']>
    >;
  }
}
