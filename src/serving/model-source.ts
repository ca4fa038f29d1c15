/**
 * Where the model server learns which versions of a model to serve: one small interface, so the server
 * depends on "resolve an alias to an artifact" (and, for a rollout, "read the model's rollout, fetch a
 * version") and not on how the registry stores them.
 */
import { FailureType, MlopsError } from '../errors';
import type { ArtifactRef } from '../storage/refs';
import type { ModelVersion, ResolvedAlias, RolloutState } from '../storage/types';

/** The version an alias points at, and the reference (with its registry digest) of that version's model. */
export interface ServedVersion {
  version: number;
  artifact: ArtifactRef;
}

/** Resolves a model's alias to the version it points at; rejects with `MlopsNotFound` when there is none. */
export interface ModelSource {
  resolve(model: string, alias: string): Promise<ServedVersion>;
  /** One version of a model, for a rollout's champion and candidate; without it, rollouts are not served. */
  version?(model: string, version: number): Promise<ServedVersion>;
  /** The model's rollout as it stands, or undefined when it never had one; without it, rollouts are not served. */
  rollout?(model: string): Promise<RolloutState | undefined>;
}

/** The part of the model registry the server needs: aliases, version manifests and the rollout document. */
export interface AliasResolver {
  resolveAlias(model: string, alias: string): Promise<ResolvedAlias | undefined>;
  getVersion(model: string, version: number): Promise<ModelVersion>;
  getRollout(model: string): Promise<RolloutState | undefined>;
}

/** A `ModelSource` over the model registry. */
export function registrySource(registry: AliasResolver): ModelSource {
  return {
    async resolve(model, alias) {
      const resolved = await registry.resolveAlias(model, alias);
      if (!resolved) throw noAlias(model, alias);
      return { version: resolved.version.version, artifact: resolved.version.artifact };
    },
    async version(model, version) {
      const manifest = await registry.getVersion(model, version);
      return { version: manifest.version, artifact: manifest.artifact };
    },
    rollout: (model) => registry.getRollout(model),
  };
}

/**
 * A `ModelSource` that always serves the given artifacts, one per model, whatever the alias: for
 * benchmarks and for serving a model that was never registered. `extra` adds further versions and a
 * rollout per model (the benchmark's canary and shadow).
 */
export function fixedSource(
  models: Record<string, ServedVersion>,
  extra: { versions?: Record<string, ServedVersion[]>; rollouts?: Record<string, RolloutState> } = {},
): ModelSource {
  return {
    async resolve(model, alias) {
      const served = models[model];
      if (!served) throw noAlias(model, alias);
      return served;
    },
    async version(model, version) {
      const found = [models[model], ...(extra.versions?.[model] ?? [])].find((v) => v?.version === version);
      if (!found) throw new MlopsError(FailureType.NotFound, `Model "${model}" has no version ${version} here.`, { model, version });
      return found;
    },
    rollout: async (model) => extra.rollouts?.[model],
  };
}

function noAlias(model: string, alias: string): MlopsError {
  return new MlopsError(
    FailureType.NotFound,
    `Model "${model}" has no alias "${alias}": register a version and move the alias to it (or serve another alias).`,
    { model, alias },
  );
}
