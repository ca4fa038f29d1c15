/**
 * Storage of temporal-mlops: the artifact store, dataset snapshots and the model registry over MinIO.
 * Free of Temporal: activities build these from the configuration and call them.
 */
import type { MlopsConfig } from '../config';
import { ArtifactStore, type ArtifactStoreOptions } from './artifact-store';
import { ModelRegistry, type ModelRegistryOptions } from './registry';
import { DatasetSnapshots } from './snapshots';

export * from './artifact-store';
export * from './digest';
export * from './errors';
export * from './names';
export * from './refs';
export * from './registry';
export * from './snapshots';
export * from './types';

/** The storage services a worker needs, over one client and one bucket. */
export interface Storage {
  store: ArtifactStore;
  snapshots: DatasetSnapshots;
  registry: ModelRegistry;
}

/** Builds the artifact store, snapshot store and registry from the `minio` section of the configuration. */
export function createStorage(
  cfg: MlopsConfig['minio'],
  options: { store?: ArtifactStoreOptions; registry?: ModelRegistryOptions } = {},
): Storage {
  const store = ArtifactStore.connect(cfg, options.store);
  return { store, snapshots: new DatasetSnapshots(store), registry: new ModelRegistry(store, options.registry) };
}
