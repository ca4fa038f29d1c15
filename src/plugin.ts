/**
 * `MlopsPlugin`: add it to your own Worker to get this package's workflows and activities, with their
 * dependencies (configuration, artifact store, registry, logger) injected rather than reached for globally.
 *
 *   const worker = await Worker.create({ connection, taskQueue: 'mlops', plugins: [new MlopsPlugin()] });
 */
import { SimplePlugin } from '@temporalio/plugin';
import type { WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { failureInterceptor } from './activities/failures';
import { livenessInterceptor } from './activities/liveness';
import { createDependencies, type MlopsDependencies } from './activities/dependencies';
import { loadConfig, type MlopsConfig } from './config';

/** Options of the plugin; everything defaults from the environment. */
export interface MlopsPluginOptions {
  /** The configuration; defaults to `loadConfig()` (environment and MLOPS_CONFIG_FILE). */
  config?: MlopsConfig;
  /** Ready-made dependencies, for embedding into an application that already has them. */
  dependencies?: MlopsDependencies;
  /** Whether to register the workflows as well as the activities (default true). */
  workflows?: boolean;
}

/** The temporal-mlops Temporal plugin. */
export class MlopsPlugin extends SimplePlugin {
  /** The dependencies the activities were built with. */
  readonly dependencies: MlopsDependencies;

  constructor(options: MlopsPluginOptions = {}) {
    const dependencies = options.dependencies ?? createDependencies(options.config ?? loadConfig());
    super({
      name: 'temporal-mlops',
      activities: createActivities(dependencies),
      workflowsPath: options.workflows === false ? undefined : require.resolve('./workflows'),
      // Liveness wraps the failure conversion: timer heartbeats in every stage, activities handed back on shutdown.
      workerInterceptors: { activity: [livenessInterceptor(), failureInterceptor] },
    });
    this.dependencies = dependencies;
  }

  /**
   * Heartbeats carry training progress and checkpoints: send them to the server within seconds rather
   * than Temporal's default (0.8 x the heartbeat timeout), unless the user chose otherwise.
   */
  override configureWorker(options: WorkerOptions): WorkerOptions {
    const configured = super.configureWorker(options);
    return {
      ...configured,
      defaultHeartbeatThrottleInterval: configured.defaultHeartbeatThrottleInterval ?? '1s',
      maxHeartbeatThrottleInterval: configured.maxHeartbeatThrottleInterval ?? '2s',
    };
  }
}
