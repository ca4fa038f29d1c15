/**
 * One served model: the version its alias points at, loaded through the Predictor seam (built-in JSON
 * models and ONNX manifests alike), verified and swapped in whole, and its readiness.
 *
 * Requests take the version in service with `use()` and keep that immutable object to the end, so a
 * swap never changes a model under a request in flight; a version swapped out is released (its ONNX
 * Runtime session freed) only once the last request using it has finished. A version whose artifact
 * fails its digest check (the manifest or the model.onnx it names), or is not a model this server can
 * run, is refused: the previous version keeps serving, the refusal is logged and counted, and the same
 * artifact is not fetched again until the alias moves or a reload is forced.
 */
import { FailureType, MlopsError, isMlopsError } from '../errors';
import type { Logger } from '../logger';
import { MODEL_FILE_MAX_BYTES, loadPredictor, modelFlavor, type ModelFlavor, type Predictor } from '../ml/predictor';
import { MISSING_CATEGORY, type Preprocessing } from '../ml/preprocess';
import type { ColumnType, DatasetSchema, Task } from '../ml/types';
import type { ArtifactStore } from '../storage/artifact-store';
import type { ArtifactRef } from '../storage/refs';
import { batchingPredictor } from './batcher';
import { LOAD_REFUSAL_REASONS, initModelCounters, setServedVersion, type ServingMetrics } from './metrics';
import type { ModelSource, ServedVersion } from './model-source';

/** A tensor's description in Open Inference Protocol v2 metadata. */
export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

/** A model version ready to predict, never changed once built. */
export interface LoadedModel {
  name: string;
  alias: string;
  version: number;
  artifact: ArtifactRef;
  predictor: Predictor;
  flavor: ModelFlavor;
  task: Task;
  /** Class labels in probability-column order; empty for regression. */
  classes: readonly string[];
  /** What the model is ("gbdt", "onnx from python train.py"). */
  description: string;
  /** The model's features with their column types, in schema order. */
  features: readonly { name: string; type: ColumnType }[];
  /**
   * The categories each categorical feature was trained on (or allowed by the schema), where the model
   * says: values outside them are unknown categories, counted and flagged in the prediction log.
   */
  categories: ReadonlyMap<string, ReadonlySet<string>>;
  inputs: readonly TensorMetadata[];
  outputs: readonly TensorMetadata[];
  /** ISO time it went into service. */
  loadedAt: string;
}

/** What a refresh did. */
export interface RefreshResult {
  model: string;
  /** The version served after the refresh, if any. */
  version?: number;
  /** Whether a new version went into service. */
  changed: boolean;
  /** Why the alias's version is not served, when it is not. */
  error?: string;
}

/**
 * Where a model stands: `serving` (a version is in service), `loading` (no load finished yet),
 * `no_version` (the alias points at no version), `refused` (the aliased version failed its digest check, is missing or unreadable), `not_servable`
 * (an old-format version no server can run: retrain it), `unavailable` (the registry or MinIO could
 * not be reached; retried at the next poll).
 */
export type ModelState = 'serving' | 'loading' | 'no_version' | 'refused' | 'not_servable' | 'unavailable';

/** One model's readiness, as the health endpoints report it. */
export interface ModelReadiness {
  name: string;
  alias: string;
  /** Whether requests for this model are answered (a version is in service). */
  ready: boolean;
  state: ModelState;
  /** The version in service, or null. */
  version: number | null;
  /** Why the model is not ready, or (when ready) why the alias's newer version is not the one served. */
  reason?: string;
}

/** Why a version was refused, as counted in `mlops_model_load_refusals_total`. */
type RefusalReason = (typeof LOAD_REFUSAL_REASONS)[number];

/** The v2 datatype each column type is sent as. */
export const DATATYPE_OF: Record<ColumnType, string> = {
  numeric: 'FP64',
  boolean: 'BOOL',
  categorical: 'BYTES',
  // ISO 8601 text; INT64 epoch milliseconds are accepted too.
  datetime: 'BYTES',
};

/** Keeps one model's alias in service. */
export class ServedModel {
  /** The version in service; replaced whole by a swap. */
  current?: LoadedModel;
  /** The last artifact refused for good, so polling does not fetch it again. */
  private refused?: { version: number; sha256: string };
  private refreshing?: Promise<RefreshResult>;
  private lastProblem?: string;
  private lastState: Exclude<ModelState, 'serving'> = 'loading';
  /** Requests running on each version; a retired version is released when its count reaches zero. */
  private readonly inFlight = new Map<LoadedModel, number>();
  private readonly retired = new Set<LoadedModel>();

  constructor(
    readonly name: string,
    readonly alias: string,
    private readonly source: ModelSource,
    private readonly store: ArtifactStore,
    private readonly metrics: ServingMetrics,
    private readonly logger: Logger,
  ) {
    metrics.modelReady.set({ model: name }, 0);
    initModelCounters(metrics, name);
  }

  /** Whether this model answers requests now, and if not, why. */
  readiness(): ModelReadiness {
    const cur = this.current;
    const base = { name: this.name, alias: this.alias, version: cur?.version ?? null };
    if (cur) return { ...base, ready: true, state: 'serving', ...(this.lastProblem ? { reason: this.lastProblem } : {}) };
    const reason = this.lastProblem ?? `no version of alias "${this.alias}" has been loaded yet`;
    return { ...base, ready: false, state: this.lastState, reason };
  }

  /**
   * Runs `fn` on the version in service (which must be `version` when one is named), holding it so a
   * swap releases it only after `fn` finishes. Rejects with 503 (`Unavailable`) saying why when no
   * version is in service.
   */
  async use<T>(fn: (loaded: LoadedModel) => Promise<T> | T, version?: string): Promise<T> {
    const loaded = this.current;
    if (!loaded) {
      const r = this.readiness();
      const what = r.state === 'loading' ? 'is not loaded yet' : r.state === 'not_servable' ? 'is not servable' : 'is not ready';
      const message = `Model "${this.name}" ${what}: ${r.reason} (see /v2/models/${this.name}/ready).`;
      throw new MlopsError(FailureType.Unavailable, message, { model: this.name, state: r.state });
    }
    if (version !== undefined && version !== String(loaded.version)) {
      const message = `Model "${this.name}" version ${version} is not served; version ${loaded.version} is (alias "${this.alias}").`;
      throw new MlopsError(FailureType.NotFound, message, { model: this.name, version });
    }
    this.inFlight.set(loaded, (this.inFlight.get(loaded) ?? 0) + 1);
    try {
      return await fn(loaded);
    } finally {
      const left = this.inFlight.get(loaded)! - 1;
      if (left > 0) this.inFlight.set(loaded, left);
      else {
        this.inFlight.delete(loaded);
        if (this.retired.has(loaded)) this.release(loaded);
      }
    }
  }

  /**
   * Resolves the alias and swaps in its version when it moved. Concurrent calls share one refresh; a
   * forced one (which also retries a refused artifact) runs after the one under way.
   */
  refresh(force = false): Promise<RefreshResult> {
    if (this.refreshing && !force) return this.refreshing;
    const run: Promise<RefreshResult> = (this.refreshing ?? Promise.resolve())
      .then(() => this.doRefresh(force))
      .finally(() => {
        if (this.refreshing === run) this.refreshing = undefined;
      });
    this.refreshing = run;
    return run;
  }

  /** Takes the version in service out (for shutdown) and releases it once its requests have finished. */
  async close(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    const cur = this.current;
    this.current = undefined;
    this.lastState = 'loading';
    this.lastProblem = 'the server is shutting down';
    if (cur) this.retire(cur);
  }

  private async doRefresh(force: boolean): Promise<RefreshResult> {
    let target: ServedVersion;
    try {
      target = await this.source.resolve(this.name, this.alias);
    } catch (err) {
      const missing = isMlopsError(err) && err.type === FailureType.NotFound;
      return this.problem(missing ? 'no_version' : 'unavailable', `cannot resolve alias "${this.alias}": ${(err as Error).message}`, err);
    }
    const cur = this.current;
    if (cur && cur.version === target.version && cur.artifact.sha256 === target.artifact.sha256) return this.unchanged();
    if (!force && this.refused && this.refused.version === target.version && this.refused.sha256 === target.artifact.sha256) {
      return { model: this.name, version: cur?.version, changed: false, error: this.lastProblem };
    }
    let predictor: Predictor;
    let document: unknown;
    try {
      document = await this.store.getJson(target.artifact);
      if (modelFlavor(document) === 'legacy-external') return this.refuse(target, 'not_servable', new Error(notServable(target.version)));
      predictor = await loadPredictor(document, (ref) => this.store.getBuffer(ref, MODEL_FILE_MAX_BYTES));
    } catch (err) {
      return this.refuse(target, refusalReason(err), err);
    }
    const loaded = describe(this.name, this.alias, target, predictor, knownCategories(document, predictor.schema));
    for (const feature of loaded.categories.keys()) this.metrics.unknownCategories.inc({ model: this.name, feature }, 0);
    this.current = loaded;
    this.refused = undefined;
    this.lastProblem = undefined;
    if (cur) this.retire(cur);
    this.metrics.modelLoads.inc({ model: this.name, version: String(target.version) });
    this.metrics.predictions.inc({ model: this.name, version: String(target.version) }, 0);
    setServedVersion(this.metrics, this.name, this.alias, target.version, cur?.version);
    this.metrics.modelReady.set({ model: this.name }, 1);
    this.logger.info(
      {
        model: this.name,
        alias: this.alias,
        version: target.version,
        from: cur?.version,
        flavor: predictor.flavor,
        sha256: target.artifact.sha256,
      },
      `serving ${this.name} version ${target.version} (${predictor.description})${cur ? ` (was ${cur.version})` : ''}`,
    );
    return { model: this.name, version: target.version, changed: true };
  }

  private unchanged(): RefreshResult {
    this.lastProblem = undefined;
    return { model: this.name, version: this.current?.version, changed: false };
  }

  /** A version out of service: released now if idle, else when its last request finishes. */
  private retire(loaded: LoadedModel): void {
    if (this.inFlight.has(loaded)) this.retired.add(loaded);
    else this.release(loaded);
  }

  private release(loaded: LoadedModel): void {
    this.retired.delete(loaded);
    const failed = (err: unknown) =>
      this.logger.warn({ err, model: this.name, version: loaded.version }, `releasing ${this.name} version ${loaded.version} failed`);
    loaded.predictor.release().catch(failed);
  }

  /** A refused artifact: counted and logged as an error; permanent failures are remembered. */
  private refuse(target: ServedVersion, reason: RefusalReason, err: unknown): RefreshResult {
    if (reason !== 'unavailable') this.refused = { version: target.version, sha256: target.artifact.sha256 };
    this.metrics.modelLoadRefusals.inc({ model: this.name, reason });
    const keeps = this.current
      ? `; version ${this.current.version} keeps serving`
      : '; nothing is served until a loadable version is aliased';
    const message = `refused ${this.name} version ${target.version} (${reason}): ${(err as Error).message}${keeps}`;
    this.lastProblem = message;
    this.lastState = reason === 'not_servable' ? 'not_servable' : reason === 'unavailable' ? 'unavailable' : 'refused';
    if (!this.current) this.metrics.modelReady.set({ model: this.name }, 0);
    this.logger.error(
      { err, model: this.name, alias: this.alias, version: target.version, reason, serving: this.current?.version },
      message,
    );
    return { model: this.name, version: this.current?.version, changed: false, error: message };
  }

  /** A failure to resolve: logged once per distinct problem, so polling does not flood the log. */
  private problem(state: 'no_version' | 'unavailable', message: string, err: unknown): RefreshResult {
    if (message !== this.lastProblem)
      this.logger.warn({ err, model: this.name, alias: this.alias, serving: this.current?.version }, message);
    this.lastProblem = message;
    this.lastState = state;
    if (!this.current) this.metrics.modelReady.set({ model: this.name }, 0);
    return { model: this.name, version: this.current?.version, changed: false, error: message };
  }
}

function notServable(version: number): string {
  return (
    `version ${version} is not servable: it was trained by an external program under the old contract (temporal-mlops/external-model@1), ` +
    'which stores no model a server can run; ' +
    'retrain with a trainer that writes ONNX (model.onnx and signature.json, docs/external-trainers.md) and move the alias to the new version'
  );
}

function refusalReason(err: unknown): RefusalReason {
  const type = isMlopsError(err) ? err.type : undefined;
  if (type === FailureType.Integrity) return 'integrity';
  if (type === FailureType.InvalidInput) return 'unreadable';
  return type === FailureType.NotFound ? 'missing' : 'unavailable';
}

/**
 * The known categories of each categorical feature: those a built-in model's preprocessing learned
 * (its one-hot columns), else the schema's `allowed` list. An ONNX model keeps its categories inside
 * its graph, so only a schema's `allowed` list says what it knows.
 */
function knownCategories(document: unknown, schema: DatasetSchema): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const c of schema.columns)
    if (c.type === 'categorical' && schema.features.includes(c.name) && c.allowed) out.set(c.name, new Set(c.allowed));
  if (modelFlavor(document) === 'builtin') {
    const features = (document as { preprocessing?: Preprocessing }).preprocessing?.features ?? [];
    for (const f of features) if (f.type === 'categorical') out.set(f.name, new Set(f.categories.filter((c) => c !== MISSING_CATEGORY)));
  }
  return out;
}

function describe(
  name: string,
  alias: string,
  target: ServedVersion,
  predictor: Predictor,
  categories: Map<string, Set<string>>,
): LoadedModel {
  const schema = predictor.schema;
  const features = schema.features.map((f) => {
    const spec = schema.columns.find((c) => c.name === f);
    return { name: f, type: spec?.type ?? 'numeric' };
  });
  const outputs: TensorMetadata[] =
    predictor.task === 'classification'
      ? [
          { name: 'label', datatype: 'BYTES', shape: [-1] },
          { name: 'probabilities', datatype: 'FP64', shape: [-1, predictor.classes.length] },
        ]
      : [{ name: 'value', datatype: 'FP64', shape: [-1] }];
  return {
    name,
    alias,
    version: target.version,
    artifact: target.artifact,
    // An ONNX run has a fixed cost far above a row's, so concurrent small requests share runs.
    predictor: predictor.flavor === 'onnx' ? batchingPredictor(predictor) : predictor,
    flavor: predictor.flavor,
    task: predictor.task,
    classes: predictor.classes,
    description: predictor.description,
    features,
    categories,
    inputs: features.map((f) => ({ name: f.name, datatype: DATATYPE_OF[f.type], shape: [-1] })),
    outputs,
    loadedAt: new Date().toISOString(),
  };
}
