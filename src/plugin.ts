/**
 * `MlopsPlugin`: add it to your own Worker to get this package's activities (and, unless the worker has its own
 * workflows, its workflows), with their dependencies (configuration, artifact store, registry, logger) injected
 * rather than reached for globally. It adds to what the host registered and never replaces it: the host's
 * activities, interceptors and workflows stay. A host that bundles its own workflows re-exports ours:
 *
 *   export * from 'temporal-mlops/workflow';   // in the host's workflows file
 *
 * Runs use two task queues: the orchestration queue (`mlops`: workflows and the short stages) and the training
 * queue (`mlops-training`: training alone, one at a time per worker, so it scales by adding workers). One plugin
 * instance can serve both workers; a plugin that serves only one of them says so at start.
 */
import { SimplePlugin } from '@temporalio/plugin';
import type { ActivityInterceptorsFactory, ReplayWorkerOptions, Worker, WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { failureInterceptor } from './activities/failures';
import { livenessInterceptor } from './activities/liveness';
import { lifecycleSinks } from './activities/lifecycle-metrics';
import { createDependencies, type MlopsDependencies } from './activities/dependencies';
import { loadConfig, type MlopsConfig } from './config';
import { namespacedActivities } from './contracts/activity-names';
import { WORKFLOW_BUNDLE_PATH, defaultWorkflowBundleStatus, workflowBundleStatus, type WorkflowBundleStatus } from './prebundle';
import { StampVerifyingCodec } from './codec/payloads';
import { loadTrustedKeys } from './codec/keys';
import type { TrustedKeys } from './identity/stamp';

/** Options of the plugin; everything defaults from the environment. */
export interface MlopsPluginOptions {
  /** The configuration; defaults to `loadConfig()` (environment and MLOPS_CONFIG_FILE). */
  config?: MlopsConfig;
  /** Ready-made dependencies, for embedding into an application that already has them. */
  dependencies?: MlopsDependencies;
  /**
   * Whether to give the worker our workflows when it has none of its own (default true). A worker on the training
   * queue never gets them; a worker with its own `workflowsPath` or `workflowBundle` keeps it.
   */
  workflows?: boolean;
  /**
   * Whether to also register the bare activity names of earlier versions (`trainModel` beside `mlops.trainModel`),
   * for activities scheduled before an upgrade (default true). A host activity of the same name always wins.
   */
  legacyActivityNames?: boolean;
  /**
   * The prebundled workflow code to give a worker that gets our workflows (default dist/workflow-bundle.js, written by
   * `npm run build`), or false to bundle at start. A bundle that does not match the installed code is not used.
   */
  workflowBundle?: string | false;
  /**
   * Public keys whose identity stamps the worker trusts (verified approvals); defaults to MLOPS_STAMP_TRUSTED_KEYS_FILE
   * or the local stack's key. Keep a retired key here while runs that used it may still replay.
   */
  trustedKeys?: TrustedKeys;
}

/** How long after a worker starts the plugin checks that both task queues are served. */
const QUEUE_CHECK_DELAY_MS = 3_000;

/** The temporal-mlops Temporal plugin. */
export class MlopsPlugin extends SimplePlugin {
  /** The dependencies the activities were built with. */
  readonly dependencies: MlopsDependencies;
  private readonly addWorkflows: boolean;
  private readonly workflowBundle: string | false;
  /** The task queues this plugin's workers poll, for the start-up notice. */
  private readonly servedQueues = new Set<string>();
  private queueCheck: NodeJS.Timeout | undefined;

  constructor(options: MlopsPluginOptions = {}) {
    const dependencies = options.dependencies ?? createDependencies(options.config ?? loadConfig());
    const activities = createActivities(dependencies);
    const names = new Set(Object.keys(activities));
    const namespaced = namespacedActivities(activities);
    for (const name of Object.keys(namespaced)) names.add(name);
    const legacy = options.legacyActivityNames === false ? {} : activities;
    // Our interceptors wrap our activities only: the host's activities run exactly as the host wrote them.
    const ours =
      (factory: ActivityInterceptorsFactory): ActivityInterceptorsFactory =>
      (ctx) =>
        names.has(ctx.info.activityType) ? factory(ctx) : {};
    const stamps = new StampVerifyingCodec(options.trustedKeys ?? loadTrustedKeys(dependencies.config.identity));
    super({
      name: 'temporal-mlops',
      // Ours decodes last (first in the list), after a host codec (encryption, say) has restored the payload.
      dataConverter: (existing) => ({ ...(existing ?? {}), payloadCodecs: [stamps, ...(existing?.payloadCodecs ?? [])] }),
      // Host activities win over the legacy bare names; the namespaced names are ours alone.
      activities: (existing) => ({ ...legacy, ...(existing ?? {}), ...namespaced }),
      // Liveness wraps the failure conversion: timer heartbeats in every stage, activities handed back on shutdown.
      workerInterceptors: { activity: [ours(livenessInterceptor()), ours(failureInterceptor)] },
    });
    this.dependencies = dependencies;
    this.addWorkflows = options.workflows !== false;
    this.workflowBundle = options.workflowBundle ?? WORKFLOW_BUNDLE_PATH;
  }

  /** Where our workflows are, for `workflowsPath` (what a host's own workflows file re-exports instead). */
  static get workflowsPath(): string {
    return require.resolve('./workflows');
  }

  /**
   * Adds our workflows when the worker has none (never on the training queue), and sends heartbeats (training
   * progress, checkpoints) to the server within seconds rather than at 0.8 x the heartbeat timeout, unless the
   * user chose otherwise.
   */
  override configureWorker(options: WorkerOptions): WorkerOptions {
    const configured = super.configureWorker(options);
    const training = configured.taskQueue === this.dependencies.config.trainingTaskQueue;
    const own = configured.workflowsPath !== undefined || configured.workflowBundle !== undefined;
    return {
      ...configured,
      // Our workflows report retrains and approval waits through this sink into the worker's metrics.
      sinks: { ...configured.sinks, ...lifecycleSinks() },
      ...(this.addWorkflows && !training && !own ? this.ourWorkflows(configured) : {}),
      defaultHeartbeatThrottleInterval: configured.defaultHeartbeatThrottleInterval ?? '1s',
      maxHeartbeatThrottleInterval: configured.maxHeartbeatThrottleInterval ?? '2s',
    };
  }

  /**
   * Our workflows for a worker: the prebundle when it matches the installed code, else the path to bundle at start
   * (webpack, seconds), with one line saying which and why.
   */
  private ourWorkflows(options: WorkerOptions): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
    const log = this.dependencies.logger;
    const status: WorkflowBundleStatus =
      this.workflowBundle === false
        ? { usable: false, reason: 'the plugin was told to bundle at start (workflowBundle: false)' }
        : (options.interceptors?.workflowModules?.length ?? 0) > 0
          ? { usable: false, reason: 'the worker has workflow interceptor modules, which only a bundle made at start includes' }
          : this.workflowBundle === WORKFLOW_BUNDLE_PATH
            ? defaultWorkflowBundleStatus()
            : workflowBundleStatus(this.workflowBundle);
    if (status.usable) {
      log.info(
        { workflowBundle: status.codePath, builtAt: status.manifest.builtAt, taskQueue: options.taskQueue },
        'workflow code: prebundled at build time',
      );
      return { workflowBundle: { codePath: status.codePath } };
    }
    log.info({ taskQueue: options.taskQueue, reason: status.reason }, `workflow code: bundling at start (takes seconds): ${status.reason}`);
    return { workflowsPath: MlopsPlugin.workflowsPath };
  }

  /** Replays our workflows when the replayer was given none. */
  override configureReplayWorker(options: ReplayWorkerOptions): ReplayWorkerOptions {
    const replay = super.configureReplayWorker(options);
    // Sinks are not called during replay; registering ours keeps the replayer from reporting it as unknown.
    const configured = { ...replay, sinks: { ...replay.sinks, ...lifecycleSinks() } };
    if (configured.workflowsPath !== undefined || configured.workflowBundle !== undefined) return configured;
    return { ...configured, workflowsPath: MlopsPlugin.workflowsPath };
  }

  /** Says which of the two task queues each worker serves, and warns when one of them has no worker here. */
  override async runWorker(worker: Worker, next: (w: Worker) => Promise<void>): Promise<void> {
    const { taskQueue, trainingTaskQueue } = this.dependencies.config;
    const queue = worker.options.taskQueue;
    const role =
      queue === taskQueue ? 'orchestration (workflows and stages)' : queue === trainingTaskQueue ? 'training' : 'activities only';
    this.dependencies.logger.info({ taskQueue: queue, role }, `temporal-mlops serves task queue ${queue}: ${role}`);
    this.servedQueues.add(queue);
    this.queueCheck ??= setTimeout(() => this.warnUnservedQueues(), QUEUE_CHECK_DELAY_MS);
    this.queueCheck.unref();
    try {
      await super.runWorker(worker, next);
    } finally {
      this.servedQueues.delete(queue);
    }
  }

  private warnUnservedQueues(): void {
    const { taskQueue, trainingTaskQueue } = this.dependencies.config;
    const log = this.dependencies.logger;
    if (this.servedQueues.size === 0) return;
    if (!this.servedQueues.has(trainingTaskQueue)) {
      log.warn(
        { taskQueue: trainingTaskQueue },
        `no worker of this plugin polls the training task queue ${trainingTaskQueue}: runs wait at train until one does ` +
          `(add a Worker on ${trainingTaskQueue} with this plugin, or run \`npx mlops worker\`; MLOPS_TRAINING_TASK_QUEUE names it)`,
      );
    }
    if (!this.servedQueues.has(taskQueue)) {
      log.warn(
        { taskQueue },
        `no worker of this plugin polls the orchestration task queue ${taskQueue}, where runs start: ` +
          `add a Worker on ${taskQueue} with this plugin, or run \`npx mlops worker\` (MLOPS_TASK_QUEUE names it)`,
      );
    }
  }
}
