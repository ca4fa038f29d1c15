/**
 * The model server: serves the version an alias (`production` by default) points at, for one or more
 * models, over Open Inference Protocol v2 REST and the v1 `instances` format, with every prediction
 * logged to MinIO and metrics for Prometheus.
 *
 *   GET  /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{v}], /v2/models/{name}[/versions/{v}]/ready
 *   POST /v2/models/{name}/infer, /v2/models/{name}/versions/{v}/infer, /v2/models/{name}/feedback
 *   POST /v1/models/{name}:predict
 *   POST /admin/reload   GET /metrics
 *
 * v2 inference takes JSON tensors or the binary tensor data extension (Triton's clients' default), and
 * answers in binary for the outputs a request asks to get so.
 *
 * Models load from the registry through a `ModelSource` and the Predictor seam (built-in JSON models and
 * ONNX manifests), with every artifact checked against the digest the registry recorded. The alias is
 * polled, and a moved alias is swapped in whole, so requests in flight finish on the version they
 * started with. During a model's rollout (read with the alias) its champion and candidate are served at
 * once: a canary routes each request by its key, a shadow's candidate predicts after the champion
 * answered; every prediction is logged and counted per version and role (docs/serving.md, Rollouts).
 *
 * Readiness is per model (`/v2/models/{name}/ready`). The server-wide `/v2/health/ready` answers 200
 * while at least one model is in service, so one model that cannot be loaded never takes the others
 * out of a load balancer; its body names every model that is not ready and why (docs/serving.md).
 */
import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { FailureType, MlopsError, isMlopsError } from '../errors';
import type { Logger } from '../logger';
import type { Predictions } from '../ml/predictor';
import { rowsToFrame } from '../ml/trainers';
import { isMissing } from '../ml/values';
import type { ArtifactStore } from '../storage/artifact-store';
import { assertName } from '../storage/names';
import { createServingMetrics, type ServingErrorKind, type ServingMetrics } from './metrics';
import type { ModelSource } from './model-source';
import { RecordLog, metricsObserver, nowIso, type FeedbackRecord, type RecordLogStats } from './prediction-log';
import { PredictionLog, type PredictionLogOptions, type PredictionLogStats, type PredictionTags } from './prediction-writer';
import { routingKey } from './routing';
import { BINARY_HEADER, binaryResponse, clientId, objectBody, outputOf, parseInferBody, v1Rows, v2Outputs, v2Rows } from './protocol';
import { ServedModel, type Assignment, type LoadedModel, type ModelReadiness, type RefreshResult, type ServingRole } from './served-model';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../package.json') as { version: string };

/** The platform name in v2 model metadata. */
export const PLATFORM = 'temporal-mlops';

/** Everything `startModelServer` needs. */
export interface ModelServerOptions {
  /** Where model artifacts are read and the prediction log is written. */
  store: ArtifactStore;
  /** Resolves `alias` to a version for each model (the registry, through `registrySource`). */
  source: ModelSource;
  /** The models to serve, by registry name. */
  models: string[];
  /** The alias whose version is served (default `production`). */
  alias?: string;
  /** TCP port; 0 picks a free one (default 8080). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** How often the alias is checked for a move, in ms (default 5,000; 0 turns polling off). */
  pollMs?: number;
  logger: Logger;
  /** Prediction and feedback log tuning (and the prediction spool's directory), or false to log nothing (benchmarks only). */
  predictionLog?: PredictionLogOptions | false;
  /** Largest request body in bytes (default 8 MiB). */
  bodyLimit?: number;
  /** Metrics to record into; a fresh registry by default. */
  metrics?: ServingMetrics;
  /** Longest `close()` waits for requests in flight before closing their connections anyway, in ms (default 30,000). */
  drainTimeoutMs?: number;
}

/** A running model server. */
export interface ModelServer {
  /** `http://host:port`. */
  url: string;
  server: FastifyInstance;
  metrics: ServingMetrics;
  /** The served models by name, with the version each serves in `current`. */
  models: ReadonlyMap<string, ServedModel>;
  /** The prediction log, unless logging is off. */
  predictionLog?: PredictionLog;
  feedbackLog?: RecordLog<FeedbackRecord>;
  /** Checks every alias now (retrying refused artifacts) and swaps in what moved. */
  reload(): Promise<RefreshResult[]>;
  /** The server's readiness and each model's, as `/v2/health/ready` reports them. */
  readiness(): ServerReadiness;
  /**
   * Stops polling, stops accepting requests, lets those in flight finish, then writes every queued
   * log record. Resolves to the logs' final counts.
   */
  close(): Promise<{ predictions?: PredictionLogStats; feedback?: RecordLogStats }>;
}

/**
 * Starts a model server, loading each model's aliased version before it returns. A model that fails to
 * load is not ready (and says why) while the others serve; it is tried again at every poll.
 */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const alias = assertName('alias', options.alias ?? 'production');
  if (options.models.length === 0) throw new MlopsError(FailureType.InvalidInput, 'Name at least one model to serve.');
  const logger = options.logger;
  const metrics = options.metrics ?? createServingMetrics();
  const models = new Map<string, ServedModel>();
  for (const name of options.models) {
    assertName('model', name);
    models.set(name, new ServedModel(name, alias, options.source, options.store, metrics, logger));
  }
  const logOptions = options.predictionLog;
  let predictionLog: PredictionLog | undefined;
  let feedbackLog: RecordLog<FeedbackRecord> | undefined;
  if (logOptions !== false) {
    const connection = options.store.connection;
    if (!connection) {
      throw new MlopsError(
        FailureType.Configuration,
        'The prediction log is written by a thread of its own, which needs the MinIO settings: ' +
          'make the store with ArtifactStore.connect(config.minio) or createStorage(config.minio).',
      );
    }
    feedbackLog = new RecordLog<FeedbackRecord>(
      options.store,
      'feedback',
      logOptions,
      metricsObserver(metrics, 'feedback', logger),
      logger,
    );
    predictionLog = new PredictionLog(connection, logOptions ?? {}, metrics, logger);
  }

  const reload = () => Promise.all([...models.values()].map((m) => m.refresh(true)));
  await Promise.all([...models.values()].map((m) => m.refresh()));

  // Shutdown is handled here (see `drain`), not by Fastify's 503s and forced closes.
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024,
    return503OnClosing: false,
    forceCloseConnections: false,
  });
  const ctx: RouteContext = { models, metrics, predictionLog, feedbackLog, logger };
  const shutdown: Shutdown = { draining: false, connections: new Map() };
  trackConnections(app, shutdown);
  registerRoutes(app, ctx, reload);

  const pollMs = options.pollMs ?? 5_000;
  let poll: NodeJS.Timeout | undefined;
  if (pollMs > 0) {
    poll = setInterval(() => void Promise.all([...models.values()].map((m) => m.refresh())), pollMs);
    poll.unref();
  }

  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ port: options.port ?? 8080, host });
  } catch (err) {
    clearInterval(poll);
    await Promise.all([predictionLog?.close(), feedbackLog?.close()]);
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use: choose another with --port' : (err as Error).message;
    throw new MlopsError(
      FailureType.Configuration,
      `Cannot listen on ${host}:${options.port ?? 8080}: ${why}.`,
      { host, port: options.port },
      { cause: err },
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const readiness = serverReadiness(models);
  logger.info({ url, models: options.models, alias, ready: readiness.ready }, `model server listening on ${url}`);
  for (const m of readiness.models)
    if (!m.ready) logger.warn({ model: m.name, state: m.state, reason: m.reason }, `${m.name} is not ready: ${m.reason}`);

  let closing: ReturnType<ModelServer['close']> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(poll);
      await drain(app, shutdown, options.drainTimeoutMs ?? 30_000);
      await app.close();
      await Promise.all([...models.values()].map((m) => m.close()));
      const [predictions, feedback] = await Promise.all([predictionLog?.close(), feedbackLog?.close()]);
      logger.info({ predictions, feedback }, 'model server closed');
      return { predictions, feedback };
    })();
    return closing;
  };
  return { url, server: app, metrics, models, predictionLog, feedbackLog, reload, readiness: () => serverReadiness(models), close };
}

/**
 * A connection with no request in flight is closed in a drain once it has been idle this long (ms): a keep-alive
 * client between two requests sends its next one well within it.
 */
const QUIET_MS = 1_000;

/** What the server knows of its connections for a clean shutdown. */
interface Shutdown {
  draining: boolean;
  /** Per open connection: requests in flight on it, and when it last started or finished one. */
  connections: Map<net.Socket, { inFlight: number; lastActive: number }>;
}

/** Tracks connections and their requests; while draining, every answer says `Connection: close`. */
function trackConnections(app: FastifyInstance, shutdown: Shutdown): void {
  app.server.on('connection', (socket: net.Socket) => {
    shutdown.connections.set(socket, { inFlight: 0, lastActive: Date.now() });
    socket.once('close', () => shutdown.connections.delete(socket));
  });
  app.addHook('onRequest', async (request, reply) => {
    const c = shutdown.connections.get(request.raw.socket);
    if (c) {
      c.inFlight += 1;
      c.lastActive = Date.now();
      // 'close' comes once per response, whether it was sent or its client went away.
      reply.raw.once('close', () => {
        c.inFlight -= 1;
        c.lastActive = Date.now();
      });
    }
    // So the client sends no further request on this connection, and closes it itself.
    if (shutdown.draining) reply.header('connection', 'close');
  });
}

/**
 * Stops accepting connections and lets the requests in flight finish, answering every request that
 * still arrives on an open connection (with `Connection: close`, so its client closes it after the
 * answer); a connection with no request in flight is closed once it has been idle for a moment. So a
 * client's connection is not closed under a request: it gets its answer, or its new connection is refused.
 */
async function drain(app: FastifyInstance, shutdown: Shutdown, timeoutMs: number): Promise<void> {
  shutdown.draining = true;
  const started = Date.now();
  // net.Server's close stops listening only; http.Server's would also drop idle keep-alive connections at once.
  net.Server.prototype.close.call(app.server);
  while (shutdown.connections.size > 0 && Date.now() - started < timeoutMs) {
    const now = Date.now();
    for (const [socket, c] of shutdown.connections) {
      if (c.inFlight === 0 && now - Math.max(c.lastActive, started) >= QUIET_MS) socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  app.server.closeAllConnections();
}

interface RouteContext {
  models: Map<string, ServedModel>;
  metrics: ServingMetrics;
  predictionLog?: PredictionLog;
  feedbackLog?: RecordLog<FeedbackRecord>;
  logger: Logger;
}

type NameParams = { Params: { name: string } };

/** The server-wide readiness: ready while at least one model is in service; every model's own state. */
export interface ServerReadiness {
  ready: boolean;
  /** Models in service, of all served. */
  serving: number;
  of: number;
  /** One line: which models are not ready and why, or that all are. */
  message: string;
  models: ModelReadiness[];
}

/**
 * Ready while at least one model is in service. A load balancer acts on the server-wide probe for every
 * model at once: failing it for one broken model would stop traffic to the healthy ones too, and since
 * every replica reads the same registry, on every replica at once.
 */
function serverReadiness(models: Map<string, ServedModel>): ServerReadiness {
  const all = [...models.values()].map((m) => m.readiness());
  const notReady = all.filter((m) => !m.ready);
  const serving = all.length - notReady.length;
  const message =
    notReady.length === 0
      ? `all ${all.length} model${all.length > 1 ? 's' : ''} in service`
      : `${serving} of ${all.length} models in service; not ready: ${notReady.map((m) => `${m.name} (${m.state}: ${m.reason})`).join('; ')}`;
  return { ready: serving > 0, serving, of: all.length, message, models: all };
}

function registerRoutes(app: FastifyInstance, ctx: RouteContext, reload: () => Promise<RefreshResult[]>): void {
  const { metrics } = ctx;

  app.addHook('onResponse', async (request, reply) => {
    metrics.requestDuration.observe(
      { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.setNotFoundHandler(async (request, reply) => reply.code(404).send({ error: `No route ${request.method} ${request.url}.` }));
  // Fastify's own failures: unparseable JSON, a body over the limit, a wrong content type.
  app.setErrorHandler(async (err: Error & { statusCode?: number }, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) ctx.logger.error({ err, url: request.url }, 'request failed');
    metrics.errors.inc({
      model: modelLabel(ctx, (request.params as { name?: string })?.name),
      kind: status === 500 ? 'internal' : 'invalid_input',
    });
    return reply.code(status).send({ error: status === 500 ? 'Internal error; the server log has the details.' : err.message });
  });

  // OIP v2 clients (tritonclient among them) send JSON without a Content-Type: such a body is read as JSON.
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (request.headers['content-type'] !== undefined) {
      const err = Object.assign(
        new Error(
          `Unsupported Content-Type ${JSON.stringify(request.headers['content-type'])}: send application/json (or no Content-Type).`,
        ),
        { statusCode: 415 },
      );
      return done(err, undefined);
    }
    try {
      done(null, (body as string).length === 0 ? undefined : JSON.parse(body as string));
    } catch (err) {
      done(Object.assign(new Error(`The body is not JSON: ${(err as Error).message}.`), { statusCode: 400 }), undefined);
    }
  });

  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_request, reply) => {
    const readiness = serverReadiness(ctx.models);
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });
  app.get('/v2', async () => ({ name: PLATFORM, version: pkg.version, extensions: ['feedback', 'v1-predict'] }));

  app.get<NameParams>('/v2/models/:name', async (request, reply) => metadata(ctx, reply, request.params.name));
  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version', async (request, reply) =>
    metadata(ctx, reply, request.params.name, request.params.version),
  );
  app.get<NameParams>('/v2/models/:name/ready', async (request, reply) => modelReady(ctx, reply, request.params.name));
  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version/ready', async (request, reply) =>
    modelReady(ctx, reply, request.params.name, request.params.version),
  );

  // Inference requests may carry binary tensors after their JSON (Triton's clients do by default, with
  // no content type), so these routes take the body as bytes and parse it themselves.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    const header = (request: { headers: Record<string, unknown> }) => request.headers[BINARY_HEADER] as string | undefined;
    scope.post<NameParams>('/v2/models/:name/infer', async (request, reply) =>
      infer(ctx, reply, request.params.name, request.body, header(request)),
    );
    scope.post<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version/infer', async (request, reply) =>
      infer(ctx, reply, request.params.name, request.body, header(request), request.params.version),
    );
  });
  app.post<NameParams>('/v1/models/:name', async (request, reply) => {
    // The v1 path is /v1/models/<name>:predict; the router sees "<name>:predict" as one segment.
    const m = /^(.+):predict$/.exec(request.params.name);
    if (!m) return reply.code(404).send({ error: `No route POST ${request.url}; predict with POST /v1/models/<name>:predict.` });
    return predictV1(ctx, reply, m[1]!, request.body);
  });
  app.post<NameParams>('/v2/models/:name/feedback', async (request, reply) => feedback(ctx, reply, request.params.name, request.body));

  app.post('/admin/reload', async () => ({ models: await reload() }));
  app.get('/metrics', async (_request, reply) => {
    if (ctx.predictionLog) metrics.logQueueDepth.set({ log: 'predictions' }, ctx.predictionLog.depth);
    if (ctx.feedbackLog) metrics.logQueueDepth.set({ log: 'feedback' }, ctx.feedbackLog.depth);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

/** The served model of that name, or a 404 naming the ones served. */
function lookup(ctx: RouteContext, name: string): ServedModel {
  const served = ctx.models.get(name);
  if (!served) {
    throw new MlopsError(
      FailureType.NotFound,
      `Model "${name}" is not served here; this server serves ${[...ctx.models.keys()].join(', ')}.`,
      { model: name },
    );
  }
  return served;
}

/** One model's readiness (200 ready, 503 not), or with a version: 404 when that version is not one in service. */
async function modelReady(ctx: RouteContext, reply: FastifyReply, name: string, version?: string) {
  try {
    const served = lookup(ctx, name);
    const readiness = served.readiness();
    if (version !== undefined && readiness.ready && !served.versions().some((v) => String(v) === version)) {
      const message =
        `Model "${name}" version ${version} is not served; version ${served.versions().join(' and ')} ` +
        `${served.versions().length > 1 ? 'are' : 'is'} (alias "${served.alias}").`;
      throw new MlopsError(FailureType.NotFound, message, { model: name, version });
    }
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  } catch (err) {
    return fail(ctx, reply, name, err);
  }
}

/** v2 metadata of the version named, or of the one that answers unrouted requests (a rollout's champion); `versions` lists all in service. */
async function metadata(ctx: RouteContext, reply: FastifyReply, name: string, version?: string) {
  try {
    const served = lookup(ctx, name);
    const { loaded, role } = await served.use((a) => a, { version });
    return reply.send({
      name,
      versions: served.versions().map(String),
      platform: PLATFORM,
      inputs: loaded.inputs,
      outputs: loaded.outputs,
      parameters: {
        alias: loaded.alias,
        version: loaded.version,
        ...(role !== 'alias' ? { role } : {}),
        task: loaded.task,
        flavor: loaded.flavor,
        kind: loaded.description,
        classes: loaded.classes,
        sha256: loaded.artifact.sha256,
        loadedAt: loaded.loadedAt,
      },
    });
  } catch (err) {
    return fail(ctx, reply, name, err);
  }
}

async function infer(
  ctx: RouteContext,
  reply: FastifyReply,
  name: string,
  rawBody: unknown,
  binaryHeader: string | undefined,
  version?: string,
) {
  try {
    const served = lookup(ctx, name);
    const parsed = Buffer.isBuffer(rawBody) ? parseInferBody(rawBody, binaryHeader) : rawBody;
    const body = objectBody(parsed, 'a v2 inference request {"inputs": [{"name", "shape", "datatype", "data"}, ...]}');
    const id = clientId(body) ?? randomUUID();
    const read = (loaded: LoadedModel) => v2Rows(loaded, body);
    const answer = await served.use(
      async (a, mirror) => {
        const { loaded } = a;
        const outputs = await predictFor(ctx, a, id, read, (rows, preds) => v2Outputs(loaded, preds, rows.length, body.outputs));
        if (a.shadow) mirror(() => shadowPredict(ctx, a, id, read));
        return { model_name: name, model_version: String(loaded.version), id, outputs };
      },
      { version, key: (rollout) => routingKey(rollout.routing, id, body) },
    );
    const binary = binaryResponse(answer, body);
    if (binary) return reply.header(BINARY_HEADER, binary.jsonLength).type('application/octet-stream').send(binary.body);
    return reply.send(answer);
  } catch (err) {
    return fail(ctx, reply, name, err);
  }
}

async function predictV1(ctx: RouteContext, reply: FastifyReply, name: string, rawBody: unknown) {
  try {
    const served = lookup(ctx, name);
    const body = objectBody(rawBody, 'a v1 prediction request {"instances": [{feature: value, ...}, ...]}');
    const id = clientId(body) ?? randomUUID();
    const read = () => v1Rows(body);
    const instances = Array.isArray(body.instances) ? (body.instances as Record<string, unknown>[]) : undefined;
    const answer = await served.use(
      async (a, mirror) => {
        const { loaded } = a;
        const predictions = await predictFor(ctx, a, id, read, (rows, preds) => {
          const out = new Array(rows.length);
          for (let i = 0; i < rows.length; i++) out[i] = outputOf(loaded, preds, i);
          return out;
        });
        if (a.shadow) mirror(() => shadowPredict(ctx, a, id, read));
        return { predictions, model_version: loaded.version, id };
      },
      { key: (rollout) => routingKey(rollout.routing, id, body, instances) },
    );
    return reply.send(answer);
  } catch (err) {
    return fail(ctx, reply, name, err);
  }
}

/** A version's part in a request: the version, its role, and the rollout it is part of. */
type Side = Pick<Assignment, 'loaded' | 'rolloutId'> & { role: ServingRole };

/**
 * One version's prediction of a request: reads its rows for that version, predicts them strictly and makes
 * the answer, timed, counted per version and spooled (resolves once spooled). A failure is counted and
 * logged as that version's failed prediction before it propagates.
 */
async function predictFor<T>(
  ctx: RouteContext,
  side: Side,
  id: string,
  read: (loaded: LoadedModel) => Record<string, unknown>[],
  answer: (rows: Record<string, unknown>[], preds: Predictions) => T,
): Promise<T> {
  const { loaded } = side;
  const started = performance.now();
  let rows: Record<string, unknown>[] | undefined;
  let out: T;
  let preds: Predictions;
  try {
    rows = read(loaded);
    preds = await predictStrict(loaded, rows);
    out = answer(rows, preds);
  } catch (err) {
    failed(ctx, side, id, rows, err, performance.now() - started);
    throw err;
  }
  const latencyMs = performance.now() - started;
  ctx.metrics.versions.of(loaded, side.role).observe(latencyMs / 1000);
  await record(ctx, side, id, rows, preds, latencyMs);
  return out;
}

/** The shadow's prediction of a request the champion answered: logged with role `shadow` under the same id, never returned. */
async function shadowPredict(
  ctx: RouteContext,
  a: Assignment,
  id: string,
  read: (loaded: LoadedModel) => Record<string, unknown>[],
): Promise<void> {
  try {
    await predictFor(ctx, { loaded: a.shadow!, role: 'shadow', rolloutId: a.rolloutId }, id, read, () => undefined);
  } catch {
    // Counted and logged as the shadow's failed prediction; the client has its answer already.
  }
}

/** A version's failed prediction: counted per version and kind, and logged without output. */
function failed(ctx: RouteContext, side: Side, id: string, rows: Record<string, unknown>[] | undefined, err: unknown, latencyMs: number) {
  const { loaded, role } = side;
  const kind = isMlopsError(err) && err.type === FailureType.InvalidInput ? 'invalid_input' : 'internal';
  ctx.metrics.versions.of(loaded, role).observe(latencyMs / 1000);
  ctx.metrics.versionErrors.inc({ model: loaded.name, version: String(loaded.version), role, kind });
  const message = kind === 'internal' ? 'Internal error; the server log has the details.' : (err as Error).message;
  ctx.predictionLog?.appendFailed(loaded, id, rows, { kind, message }, tags(side, latencyMs));
}

function tags(side: Side, latencyMs: number): PredictionTags {
  return side.role === 'alias' ? { latencyMs } : { role: side.role, rolloutId: side.rolloutId, latencyMs };
}

/** Predicts rows read strictly: exactly the model's features, each of its type (a 400 naming the row and key otherwise). */
function predictStrict(loaded: LoadedModel, rows: Record<string, unknown>[]): Promise<Predictions> {
  return loaded.predictor.predict(rowsToFrame(loaded.predictor.schema, rows, { strict: true }));
}

/**
 * Per row, the categorical features whose value the model was not trained on (undefined when none),
 * counted in `mlops_unknown_categories_total` when `count` (a shadow's rows were counted by the champion).
 */
function unknownCategories(
  ctx: RouteContext,
  loaded: LoadedModel,
  rows: readonly Record<string, unknown>[],
  count: boolean,
): (string[] | undefined)[] | undefined {
  let out: (string[] | undefined)[] | undefined;
  for (const [feature, known] of loaded.categories) {
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i]![feature];
      if (typeof v !== 'string' || known.has(v) || isMissing(v)) continue;
      if (count) ctx.metrics.unknownCategories.inc({ model: loaded.name, feature });
      out ??= new Array(rows.length);
      (out[i] ??= []).push(feature);
    }
  }
  return out;
}

/**
 * Counts the rows and spools them: resolves once they are in the spool file, so the answer is sent
 * only after its prediction would survive the process (never waits on MinIO). A shadow's rows are not
 * counted in `mlops_predictions_total` (no client got them), and are not waited for.
 */
function record(
  ctx: RouteContext,
  side: Side,
  id: string,
  rows: readonly Record<string, unknown>[],
  preds: Predictions,
  latencyMs: number,
): Promise<void> | undefined {
  const { loaded } = side;
  const answered = side.role !== 'shadow';
  if (answered) ctx.metrics.predictions.inc({ model: loaded.name, version: String(loaded.version) }, rows.length);
  const unknown = unknownCategories(ctx, loaded, rows, answered);
  if (!ctx.predictionLog?.append(loaded, id, rows, preds, unknown, tags(side, latencyMs))) return undefined;
  return answered ? ctx.predictionLog.spooled() : undefined;
}

async function feedback(ctx: RouteContext, reply: FastifyReply, name: string, rawBody: unknown) {
  try {
    const served = lookup(ctx, name);
    const body = objectBody(rawBody, 'feedback {"id": "<prediction id>", "label": <true label>}');
    const id = clientId(body);
    if (!id) throw new MlopsError(FailureType.InvalidInput, 'Feedback needs "id": the id of the prediction it labels.');
    const label = body.label;
    if (!(typeof label === 'string' && label.length > 0) && !(typeof label === 'number' && Number.isFinite(label))) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Feedback needs "label": the true class (a string) or value (a number), got ${JSON.stringify(label)}.`,
        { field: 'label' },
      );
    }
    if (!ctx.feedbackLog)
      throw new MlopsError(FailureType.Unavailable, 'This server runs without a prediction log, so feedback cannot be recorded.');
    if (!ctx.feedbackLog.append({ id, model: served.name, label, at: nowIso() })) {
      throw new MlopsError(
        FailureType.Unavailable,
        'The feedback queue is full (the server is overloaded or MinIO is unreachable); send it again later.',
      );
    }
    return reply.code(202).send({ id, accepted: true });
  } catch (err) {
    return fail(ctx, reply, name, err);
  }
}

const STATUS: Partial<Record<string, [number, ServingErrorKind]>> = {
  [FailureType.InvalidInput]: [400, 'invalid_input'],
  [FailureType.NotFound]: [404, 'not_found'],
  [FailureType.Unavailable]: [503, 'unavailable'],
};

/** Sends an error as `{"error": message}` with the status its failure type maps to, and counts it. */
function fail(ctx: RouteContext, reply: FastifyReply, name: string, err: unknown) {
  const [status, kind] = (isMlopsError(err) && STATUS[err.type]) || [500, 'internal' as const];
  const served = ctx.models.get(name);
  if (status === 500) ctx.logger.error({ err, model: name }, 'request failed');
  ctx.metrics.errors.inc({ model: modelLabel(ctx, name), kind: kind === 'unavailable' && served && !served.current ? 'not_ready' : kind });
  return reply.code(status).send({ error: status === 500 ? 'Internal error; the server log has the details.' : (err as Error).message });
}

/** A model label bounded to the served names, so unknown names in URLs cannot grow the metric's series. */
function modelLabel(ctx: RouteContext, name: string | undefined): string {
  return name !== undefined && ctx.models.has(name) ? name : '(other)';
}
