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
 *
 * During a rollout (the registry's rollout document, read at every poll with the alias) the model serves
 * two versions at once, the rollout's champion and candidate, each loaded the same way: a canary routes
 * each request by its key (routing.ts), a shadow has the champion answer and the candidate predict the
 * same rows afterwards. Only once both versions are loaded does the rollout take effect; until then, and
 * once it is finished, the alias's version answers everything. A version in both roles is loaded once.
 */
import { FailureType, MlopsError, isMlopsError } from '../errors';
import type { Logger } from '../logger';
import { MODEL_FILE_MAX_BYTES, loadPredictor, modelFlavor, type ModelFlavor, type Predictor } from '../ml/predictor';
import { MISSING_CATEGORY, type Preprocessing } from '../ml/preprocess';
import type { ColumnType, DatasetSchema, Task } from '../ml/types';
import type { ArtifactStore } from '../storage/artifact-store';
import type { ArtifactRef } from '../storage/refs';
import type { RolloutState } from '../storage/types';
import { batchingPredictor } from './batcher';
import { LOAD_REFUSAL_REASONS, initModelCounters, setServedVersion, type ServingMetrics } from './metrics';
import type { ModelSource, ServedVersion } from './model-source';
import type { PredictionRole } from './prediction-log';
import { routeSeed, routesToCandidate } from './routing';

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

/** A rollout in service: its document, and its two versions loaded. Replaced whole. */
export interface ActiveRollout {
  state: RolloutState;
  champion: LoadedModel;
  candidate: LoadedModel;
  /** The start of every routing key's hash in this rollout (`routeSeed` of its id). */
  seed: number;
}

/** A rollout as readiness reports it: the document's gist, and whether it is in effect (both versions loaded). */
export interface RolloutReadiness {
  rolloutId: string;
  strategy: RolloutState['strategy'];
  status: RolloutState['status'];
  champion: number;
  candidate: number;
  candidateShare: number;
  step: number;
  seq: number;
  /** False while a version of the rollout is not loaded (the alias's version answers everything meanwhile). */
  inEffect: boolean;
  /** Why it is not in effect. */
  reason?: string;
}

/** The role a version has on a request: outside a rollout `alias`, else its side (`shadow` for the mirrored copy). */
export type ServingRole = PredictionRole | 'alias';

/** Which version serves a request, and during a rollout its role and the version that shadows it. */
export interface Assignment {
  /** The version that answers the client. */
  loaded: LoadedModel;
  role: Exclude<ServingRole, 'shadow'>;
  /** The rollout workflow's id, during a rollout. */
  rolloutId?: string;
  /** During a shadow rollout, the candidate: it predicts the request's rows after the answer is sent. */
  shadow?: LoadedModel;
}

/** What `use` is told about a request. */
export interface UseOptions {
  /** The version the request names in its path, which must be one in service. */
  version?: string;
  /** The request's routing key (the request id, or the field the rollout routes on), asked for only by a canary. */
  key?: (rollout: RolloutState) => string;
}

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
  /** The model's rollout, while one is running or paused. */
  rollout?: RolloutReadiness;
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
  /** The alias's version in service; replaced whole by a swap. */
  current?: LoadedModel;
  /** The rollout in service, when one is running or paused and both its versions are loaded. */
  rollout?: ActiveRollout;
  /** The rollout document last read while running or paused, whether or not it is in effect. */
  private rolloutDoc?: RolloutState;
  private rolloutProblem?: string;
  /** Rollout versions refused for good, by version, so polling does not fetch them again. */
  private readonly refusedVersions = new Map<number, string>();
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
    const base = { name: this.name, alias: this.alias, version: cur?.version ?? null, ...this.rolloutReadiness() };
    // A rollout in effect answers requests even while the alias cannot be resolved.
    if (cur || this.rollout) return { ...base, ready: true, state: 'serving', ...(this.lastProblem ? { reason: this.lastProblem } : {}) };
    const reason = this.lastProblem ?? `no version of alias "${this.alias}" has been loaded yet`;
    return { ...base, ready: false, state: this.lastState, reason };
  }

  private rolloutReadiness(): { rollout?: RolloutReadiness } {
    const doc = this.rolloutDoc;
    if (!doc) return {};
    const { rolloutId, strategy, status, champion, candidate, candidateShare, step, seq } = doc;
    const inEffect = this.rollout?.state === doc;
    const rollout: RolloutReadiness = { rolloutId, strategy, status, champion, candidate, candidateShare, step, seq, inEffect };
    if (!inEffect) rollout.reason = this.rolloutProblem ?? 'its versions are loading';
    return { rollout };
  }

  /** The versions in service: the alias's, and a rollout's two. */
  versions(): number[] {
    const out = new Set<number>();
    if (this.current) out.add(this.current.version);
    if (this.rollout) out.add(this.rollout.champion.version).add(this.rollout.candidate.version);
    return [...out].sort((a, b) => a - b);
  }

  /**
   * Runs `fn` on the version that serves this request, holding it so a swap releases it only after `fn`
   * finishes. Outside a rollout that is the alias's version; during a canary, the candidate when the
   * request's key falls in its share, else the champion; during a shadow, the champion, with the candidate
   * as `shadow` (held until `mirror`'s task settles). A version named in the path must be one in service, and
   * is used as it is (no routing, no shadow). Rejects with 503 (`Unavailable`) saying why when no version is
   * in service.
   */
  async use<T>(
    fn: (assignment: Assignment, mirror: (task: () => Promise<void>) => void) => Promise<T> | T,
    options: UseOptions = {},
  ): Promise<T> {
    const assignment = this.assign(options);
    const { loaded, shadow } = assignment;
    let mirrored = false;
    const mirror = (task: () => Promise<void>) => {
      if (!shadow || mirrored) return;
      mirrored = true;
      // After the answer is written: the shadow never delays it.
      setImmediate(
        () =>
          void task()
            .catch(() => undefined)
            .finally(() => this.unhold(shadow)),
      );
    };
    this.hold(loaded);
    if (shadow) this.hold(shadow);
    try {
      return await fn(assignment, mirror);
    } finally {
      this.unhold(loaded);
      if (shadow && !mirrored) this.unhold(shadow);
    }
  }

  private assign(options: UseOptions): Assignment {
    const cur = this.current;
    const rollout = this.rollout;
    if (!cur && !rollout) {
      const r = this.readiness();
      const what = r.state === 'loading' ? 'is not loaded yet' : r.state === 'not_servable' ? 'is not servable' : 'is not ready';
      const message = `Model "${this.name}" ${what}: ${r.reason} (see /v2/models/${this.name}/ready).`;
      throw new MlopsError(FailureType.Unavailable, message, { model: this.name, state: r.state });
    }
    const rolloutId = rollout?.state.rolloutId;
    if (options.version !== undefined) {
      if (rollout && options.version === String(rollout.candidate.version))
        return { loaded: rollout.candidate, role: 'candidate', rolloutId };
      if (rollout && options.version === String(rollout.champion.version)) return { loaded: rollout.champion, role: 'champion', rolloutId };
      if (cur && options.version === String(cur.version)) return { loaded: cur, role: 'alias' };
      const served = this.versions().join(' and ');
      const message =
        `Model "${this.name}" version ${options.version} is not served; ` +
        `version ${served} ${served.includes(' and ') ? 'are' : 'is'} (alias ` +
        `"${this.alias}"${rollout ? `, rollout ${rolloutId}` : ''}).`;
      throw new MlopsError(FailureType.NotFound, message, { model: this.name, version: options.version });
    }
    if (!rollout) return { loaded: cur!, role: 'alias' };
    const { state } = rollout;
    if (state.strategy === 'shadow') return { loaded: rollout.champion, role: 'champion', rolloutId, shadow: rollout.candidate };
    const key = options.key?.(state);
    if (key !== undefined && routesToCandidate(rollout.seed, key, state.candidateShare))
      return { loaded: rollout.candidate, role: 'candidate', rolloutId };
    return { loaded: rollout.champion, role: 'champion', rolloutId };
  }

  private hold(loaded: LoadedModel): void {
    this.inFlight.set(loaded, (this.inFlight.get(loaded) ?? 0) + 1);
  }

  private unhold(loaded: LoadedModel): void {
    const left = this.inFlight.get(loaded)! - 1;
    if (left > 0) this.inFlight.set(loaded, left);
    else {
      this.inFlight.delete(loaded);
      if (this.retired.has(loaded)) this.release(loaded);
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
    const held = this.held();
    this.current = undefined;
    this.rollout = undefined;
    this.lastState = 'loading';
    this.lastProblem = 'the server is shutting down';
    for (const m of held) this.retire(m);
  }

  /** The versions in service now (a version in two roles once). */
  private held(): Set<LoadedModel> {
    const out = new Set<LoadedModel>();
    if (this.current) out.add(this.current);
    if (this.rollout) out.add(this.rollout.champion).add(this.rollout.candidate);
    return out;
  }

  /** The loaded version of that number in service, if any (versions never change, so it can serve any role). */
  private inService(version: number, sha256?: string): LoadedModel | undefined {
    for (const m of this.held()) if (m.version === version && (sha256 === undefined || m.artifact.sha256 === sha256)) return m;
    return undefined;
  }

  private async doRefresh(force: boolean): Promise<RefreshResult> {
    const before = this.held();
    const result = await this.refreshAlias(force);
    await this.refreshRollout(force);
    const after = this.held();
    for (const m of before) if (!after.has(m)) this.retire(m);
    return result;
  }

  private async refreshAlias(force: boolean): Promise<RefreshResult> {
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
    let loaded = this.inService(target.version, target.artifact.sha256);
    if (!loaded) {
      try {
        loaded = await this.load(target);
      } catch (err) {
        const reason = err instanceof Refusal ? err.reason : refusalReason(err);
        return this.refuse(target, reason, err instanceof Refusal ? err.cause : err);
      }
    }
    this.current = loaded;
    this.refused = undefined;
    this.lastProblem = undefined;
    initVersionMetrics(this.metrics, this.name, target.version, 'alias');
    setServedVersion(this.metrics, this.name, this.alias, target.version, cur?.version);
    this.metrics.modelReady.set({ model: this.name }, 1);
    this.logger.info(
      {
        model: this.name,
        alias: this.alias,
        version: target.version,
        from: cur?.version,
        flavor: loaded.flavor,
        sha256: target.artifact.sha256,
      },
      `serving ${this.name} version ${target.version} (${loaded.description})${cur ? ` (was ${cur.version})` : ''}`,
    );
    return { model: this.name, version: target.version, changed: true };
  }

  /** Loads a version through the Predictor seam; rejects with a `Refusal` (or the load's error) when it cannot serve. */
  private async load(target: ServedVersion): Promise<LoadedModel> {
    const document = await this.store.getJson(target.artifact);
    if (modelFlavor(document) === 'legacy-external') throw new Refusal('not_servable', new Error(notServable(target.version)));
    const predictor: Predictor = await loadPredictor(document, (ref) => this.store.getBuffer(ref, MODEL_FILE_MAX_BYTES));
    const loaded = describe(this.name, this.alias, target, predictor, knownCategories(document, predictor.schema));
    for (const feature of loaded.categories.keys()) this.metrics.unknownCategories.inc({ model: this.name, feature }, 0);
    this.metrics.modelLoads.inc({ model: this.name, version: String(target.version) });
    this.metrics.predictions.inc({ model: this.name, version: String(target.version) }, 0);
    return loaded;
  }

  /**
   * Reads the model's rollout and puts it in effect once both its versions are loaded; a finished (or
   * absent) rollout leaves the alias's version alone in service. An unreadable document keeps the rollout
   * as it was (the next poll tries again).
   */
  private async refreshRollout(force: boolean): Promise<void> {
    if (!this.source.rollout || !this.source.version) return;
    let doc: RolloutState | undefined;
    try {
      doc = await this.source.rollout(this.name);
    } catch (err) {
      this.noteRolloutProblem(`cannot read the rollout of ${this.name}: ${(err as Error).message}; it stays as it was`, err);
      return;
    }
    const active = doc && doc.status !== 'finished' ? doc : undefined;
    const was = this.rollout;
    if (!active) {
      if (was || this.rolloutDoc) {
        this.logger.info(
          { model: this.name, rollout: this.rolloutDoc?.rolloutId, status: doc?.status, alias: this.alias, version: this.current?.version },
          `rollout ${this.rolloutDoc?.rolloutId} of ${this.name} is ${doc?.status ?? 'gone'}: ` +
            `serving alias "${this.alias}" (version ${this.current?.version ?? 'none'}) only`,
        );
      }
      this.rollout = undefined;
      this.rolloutDoc = undefined;
      this.rolloutProblem = undefined;
      this.metrics.rolloutShare.set({ model: this.name }, 0);
      return;
    }
    if (force) this.refusedVersions.clear();
    this.rolloutDoc = active;
    const champion = await this.rolloutVersion(active.champion, 'champion');
    const candidate = await this.rolloutVersion(active.candidate, 'candidate');
    if (typeof champion === 'string' || typeof candidate === 'string') {
      // Half a rollout is none: the alias's version answers everything until both versions load.
      this.rollout = undefined;
      this.metrics.rolloutShare.set({ model: this.name }, 0);
      const problem =
        `rollout ${active.rolloutId} is not in effect: ${[champion, candidate].filter((x) => typeof x === 'string').join('; ')}; ` +
        `alias "${this.alias}" (version ${this.current?.version ?? 'none'}) answers every request meanwhile`;
      this.noteRolloutProblem(problem);
      return;
    }
    this.rolloutProblem = undefined;
    this.rollout = { state: active, champion, candidate, seed: routeSeed(active.rolloutId) };
    this.metrics.rolloutShare.set({ model: this.name }, active.strategy === 'canary' ? active.candidateShare : 0);
    if (was?.state.seq !== active.seq || was.state.rolloutId !== active.rolloutId) {
      initVersionMetrics(this.metrics, this.name, champion.version, 'champion');
      initVersionMetrics(this.metrics, this.name, candidate.version, active.strategy === 'shadow' ? 'shadow' : 'candidate');
      this.logger.info(
        {
          model: this.name,
          rollout: active.rolloutId,
          strategy: active.strategy,
          status: active.status,
          champion: champion.version,
          candidate: candidate.version,
          candidateShare: active.candidateShare,
          step: active.step,
          seq: active.seq,
        },
        active.strategy === 'shadow'
          ? `rollout ${active.rolloutId} of ${this.name} (${active.status}): version ${champion.version} answers, version ${candidate.version} shadows`
          : `rollout ${active.rolloutId} of ${this.name} (${active.status}): ` +
              `version ${candidate.version} answers ${Math.round(active.candidateShare * 1000) / 10} % of requests, version ` +
              `${champion.version} the rest`,
      );
    }
  }

  /** A rollout's version, loaded or in service already; a sentence saying why not otherwise. */
  private async rolloutVersion(version: number, role: 'champion' | 'candidate'): Promise<LoadedModel | string> {
    const inService = this.inService(version);
    if (inService) return inService;
    const refused = this.refusedVersions.get(version);
    if (refused) return refused;
    let target: ServedVersion;
    try {
      target = await this.source.version!(this.name, version);
    } catch (err) {
      return `its ${role}, version ${version}, cannot be resolved (${(err as Error).message})`;
    }
    try {
      return await this.load(target);
    } catch (err) {
      const reason = err instanceof Refusal ? err.reason : refusalReason(err);
      const cause = err instanceof Refusal ? err.cause : err;
      const message = `its ${role}, version ${version}, was refused (${reason}): ${(cause as Error).message}`;
      this.metrics.modelLoadRefusals.inc({ model: this.name, reason });
      if (reason !== 'unavailable') this.refusedVersions.set(version, message);
      this.logger.error({ err: cause, model: this.name, version, role, reason }, `${this.name}: ${message}`);
      return message;
    }
  }

  private noteRolloutProblem(message: string, err?: unknown): void {
    if (message !== this.rolloutProblem) this.logger.warn({ err, model: this.name }, message);
    this.rolloutProblem = message;
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

/** A version that loaded but cannot be served, with the reason counted for it. */
class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    override readonly cause: Error,
  ) {
    super(cause.message);
  }
}

/**
 * Starts a version's per-role series at zero when it enters service in that role, so a panel comparing the
 * champion and the candidate shows both from the start.
 */
export function initVersionMetrics(metrics: ServingMetrics, model: string, version: number, role: ServingRole): void {
  const labels = { model, version: String(version), role };
  metrics.versions.get(labels);
  for (const kind of ['invalid_input', 'internal'] as const) metrics.versionErrors.inc({ ...labels, kind }, 0);
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
