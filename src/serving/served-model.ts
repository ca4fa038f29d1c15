/**
 * One served model: the version its alias points at, loaded, verified and swapped in whole.
 *
 * Requests read `current` once and use that immutable object to the end, so a swap never changes a
 * model under a request in flight. A version whose artifact fails its digest check (or is not a model)
 * is refused: the previous version keeps serving, the refusal is logged and counted, and the same
 * artifact is not fetched again until the alias moves or a reload is forced.
 */
import { FailureType, isMlopsError } from '../errors';
import type { Logger } from '../logger';
import { parseModel, type Model } from '../ml/trainers';
import type { ColumnType } from '../ml/types';
import type { ArtifactStore } from '../storage/artifact-store';
import type { ArtifactRef } from '../storage/refs';
import type { ServingMetrics } from './metrics';
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
  model: Model;
  /** The model's features with their column types, in schema order. */
  features: readonly { name: string; type: ColumnType }[];
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

  constructor(
    readonly name: string,
    readonly alias: string,
    private readonly source: ModelSource,
    private readonly store: ArtifactStore,
    private readonly metrics: ServingMetrics,
    private readonly logger: Logger,
  ) {}

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

  private async doRefresh(force: boolean): Promise<RefreshResult> {
    let target: ServedVersion;
    try {
      target = await this.source.resolve(this.name, this.alias);
    } catch (err) {
      return this.problem(`cannot resolve alias "${this.alias}": ${(err as Error).message}`, err);
    }
    const cur = this.current;
    if (cur && cur.version === target.version && cur.artifact.sha256 === target.artifact.sha256) return this.unchanged();
    if (!force && this.refused && this.refused.version === target.version && this.refused.sha256 === target.artifact.sha256) {
      return { model: this.name, version: cur?.version, changed: false, error: this.lastProblem };
    }
    let model: Model;
    try {
      model = parseModel(await this.store.getJson(target.artifact));
    } catch (err) {
      return this.refuse(target, err);
    }
    const loaded = describe(this.name, this.alias, target, model);
    this.current = loaded;
    this.refused = undefined;
    this.lastProblem = undefined;
    this.metrics.modelLoads.inc({ model: this.name, version: String(target.version) });
    this.metrics.servedVersion.set({ model: this.name, alias: this.alias }, target.version);
    this.logger.info({ model: this.name, alias: this.alias, version: target.version, from: cur?.version, sha256: target.artifact.sha256 }, `serving ${this.name} version ${target.version}${cur ? ` (was ${cur.version})` : ''}`);
    return { model: this.name, version: target.version, changed: true };
  }

  private unchanged(): RefreshResult {
    this.lastProblem = undefined;
    return { model: this.name, version: this.current?.version, changed: false };
  }

  /** A refused artifact: counted and logged as an error; permanent failures are remembered. */
  private refuse(target: ServedVersion, err: unknown): RefreshResult {
    const type = isMlopsError(err) ? err.type : undefined;
    const reason = type === FailureType.Integrity ? 'integrity' : type === FailureType.InvalidInput ? 'unreadable' : type === FailureType.NotFound ? 'missing' : 'unavailable';
    if (reason !== 'unavailable') this.refused = { version: target.version, sha256: target.artifact.sha256 };
    this.metrics.modelLoadRefusals.inc({ model: this.name, reason });
    const keeps = this.current ? `; version ${this.current.version} keeps serving` : '; nothing is served until a loadable version is aliased';
    const message = `refused ${this.name} version ${target.version} (${reason}): ${(err as Error).message}${keeps}`;
    this.lastProblem = message;
    this.logger.error({ err, model: this.name, alias: this.alias, version: target.version, reason, serving: this.current?.version }, message);
    return { model: this.name, version: this.current?.version, changed: false, error: message };
  }

  /** A failure to resolve: logged once per distinct problem, so polling does not flood the log. */
  private problem(message: string, err: unknown): RefreshResult {
    if (message !== this.lastProblem) this.logger.warn({ err, model: this.name, alias: this.alias, serving: this.current?.version }, message);
    this.lastProblem = message;
    return { model: this.name, version: this.current?.version, changed: false, error: message };
  }
}

function describe(name: string, alias: string, target: ServedVersion, model: Model): LoadedModel {
  const features = model.schema.features.map((f) => {
    const spec = model.schema.columns.find((c) => c.name === f);
    return { name: f, type: spec?.type ?? 'numeric' };
  });
  const outputs: TensorMetadata[] =
    model.task === 'classification'
      ? [
          { name: 'label', datatype: 'BYTES', shape: [-1] },
          { name: 'probabilities', datatype: 'FP64', shape: [-1, model.classes.length] },
        ]
      : [{ name: 'value', datatype: 'FP64', shape: [-1] }];
  return {
    name,
    alias,
    version: target.version,
    artifact: target.artifact,
    model,
    features,
    inputs: features.map((f) => ({ name: f.name, datatype: DATATYPE_OF[f.type], shape: [-1] })),
    outputs,
    loadedAt: new Date().toISOString(),
  };
}
