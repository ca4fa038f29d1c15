/**
 * Where the model server learns which version of a model to serve: one small interface, so the server
 * depends on "resolve an alias to an artifact" and not on how the registry stores it.
 */
import { FailureType, MlopsError } from '../errors';
import type { ArtifactRef } from '../storage/refs';
import type { ResolvedAlias } from '../storage/types';

/** The version an alias points at, and the reference (with its registry digest) of that version's model. */
export interface ServedVersion {
  version: number;
  artifact: ArtifactRef;
}

/** Resolves a model's alias to the version it points at; rejects with `MlopsNotFound` when there is none. */
export interface ModelSource {
  resolve(model: string, alias: string): Promise<ServedVersion>;
}

/** The part of the model registry the server needs: resolving an alias to its pointer and version manifest. */
export interface AliasResolver {
  resolveAlias(model: string, alias: string): Promise<ResolvedAlias | undefined>;
}

/** A `ModelSource` over the model registry. */
export function registrySource(registry: AliasResolver): ModelSource {
  return {
    async resolve(model, alias) {
      const resolved = await registry.resolveAlias(model, alias);
      if (!resolved) throw noAlias(model, alias);
      return { version: resolved.version.version, artifact: resolved.version.artifact };
    },
  };
}

/**
 * A `ModelSource` that always serves the given artifacts, one per model, whatever the alias: for
 * benchmarks and for serving a model that was never registered.
 */
export function fixedSource(models: Record<string, ServedVersion>): ModelSource {
  return {
    async resolve(model, alias) {
      const served = models[model];
      if (!served) throw noAlias(model, alias);
      return served;
    },
  };
}

function noAlias(model: string, alias: string): MlopsError {
  return new MlopsError(
    FailureType.NotFound,
    `Model "${model}" has no alias "${alias}": register a version and move the alias to it (or serve another alias).`,
    { model, alias },
  );
}
