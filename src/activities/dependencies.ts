/**
 * What the activities need, built once per worker and injected (never reached for as globals):
 * the configuration, the logger, the artifact store, the dataset snapshots and the model registry.
 */
import type { MlopsConfig } from '../config';
import { createLogger, type Logger } from '../logger';
import { createStorage, type Storage } from '../storage';

/** The activities' dependencies. */
export interface MlopsDependencies extends Storage {
  config: MlopsConfig;
  logger: Logger;
}

/** Builds the dependencies from the configuration. */
export function createDependencies(config: MlopsConfig, logger: Logger = createLogger(config.log)): MlopsDependencies {
  return { config, logger, ...createStorage(config.minio) };
}
