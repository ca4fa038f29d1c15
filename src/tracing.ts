/**
 * Tracing through OpenTelemetry, off by default. Temporal's OpenTelemetry plugin
 * (`@temporalio/interceptors-opentelemetry`) traces every workflow run, activity and child workflow, with the trace
 * carried across them in Temporal's headers; this module builds it for the ready-made worker. Its packages are
 * optional peer dependencies, loaded only when tracing is on, so a host that never traces need not install them.
 *
 * A host worker that traces already adds Temporal's `OpenTelemetryPlugin` with its own span processor (OTLP to a
 * collector, say) next to `MlopsPlugin`; our workflows and activities are then traced like its own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, ContextManager } from '@opentelemetry/api';
import type { SimplePlugin } from '@temporalio/plugin';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { MlopsConfig } from './config';
import { FailureType, MlopsError } from './errors';
import type { Logger } from './logger';

/** A tracing plugin for a worker, and how to flush its spans at shutdown. */
export interface Tracing {
  plugin: SimplePlugin;
  /** Exports the spans still buffered and stops the processor. */
  shutdown(): Promise<void>;
}

/** Loads an optional peer dependency of tracing, saying what to install when it is missing. */
async function load<T>(name: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new MlopsError(
      FailureType.Configuration,
      `Tracing is on (MLOPS_TRACING) but ${name} is not installed: npm install @temporalio/interceptors-opentelemetry ` +
        '(the version of your @temporalio/worker), or set MLOPS_TRACING=off.',
    );
  }
}

/**
 * Temporal's OpenTelemetry plugin with `spanProcessor`, spans named after `serviceName`. Workflow spans reach the
 * processor through the plugin's sink; activity spans through a tracer of our own over the same processor, so
 * nothing depends on (or changes) the process's global tracer provider. Activity spans find their workflow's span
 * through the process's OpenTelemetry context manager and propagator, which a host's OpenTelemetry SDK registers.
 */
export async function tracingPlugin(spanProcessor: SpanProcessor, serviceName = 'temporal-mlops'): Promise<SimplePlugin> {
  const { OpenTelemetryPlugin } = await load(
    '@temporalio/interceptors-opentelemetry',
    () => import('@temporalio/interceptors-opentelemetry'),
  );
  const { Resource } = await load('@opentelemetry/resources', () => import('@opentelemetry/resources'));
  const { AlwaysOnSampler, BasicTracerProvider } = await load(
    '@opentelemetry/sdk-trace-base',
    () => import('@opentelemetry/sdk-trace-base'),
  );
  const resource = new Resource({ 'service.name': serviceName });
  const tracer = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor], sampler: new AlwaysOnSampler() }).getTracer(
    'temporal-mlops',
  );
  return new OpenTelemetryPlugin({ resource, spanProcessor, tracer });
}

/** Writes each finished span as one line of the worker's log (`span <name>`, with trace and span ids). */
export class LogSpanExporter implements SpanExporter {
  constructor(private readonly logger: Logger) {}

  export(spans: ReadableSpan[], done: (result: { code: number; error?: Error }) => void): void {
    for (const span of spans) {
      const { traceId, spanId } = span.spanContext();
      const [startS, startNs] = span.startTime;
      const [durS, durNs] = span.duration;
      this.logger.info(
        {
          span: {
            name: span.name,
            traceId,
            spanId,
            parentSpanId: span.parentSpanId,
            start: new Date(startS * 1000 + startNs / 1e6).toISOString(),
            durationMs: Math.round((durS * 1000 + durNs / 1e6) * 1000) / 1000,
            status: span.status.code === 2 ? 'error' : 'ok',
            ...(span.status.message ? { error: span.status.message } : {}),
            attributes: span.attributes,
          },
        },
        `span ${span.name}`,
      );
    }
    done({ code: 0 });
  }

  async shutdown(): Promise<void> {}
}

/**
 * OpenTelemetry's process-wide context manager (on AsyncLocalStorage) and W3C propagator, unless the process set its
 * own (a host's OpenTelemetry SDK does). A workflow carries its trace to each activity in a `traceparent` header; the
 * worker needs the propagator to read it and the context manager to make it the parent of the activity's span, or
 * every activity would start a trace of its own.
 */
async function useProcessTracing(): Promise<void> {
  const api = await load('@opentelemetry/api', () => import('@opentelemetry/api'));
  const { W3CTraceContextPropagator } = await load('@opentelemetry/core', () => import('@opentelemetry/core'));
  if (api.propagation.fields().length === 0) api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const storage = new AsyncLocalStorage<Context>();
  const manager: ContextManager = {
    active: () => storage.getStore() ?? api.ROOT_CONTEXT,
    with: (context, fn, thisArg, ...args) => storage.run(context, () => fn.call(thisArg, ...args)),
    bind: (context, target) =>
      (typeof target === 'function'
        ? (...args: unknown[]) => storage.run(context, () => (target as (...a: unknown[]) => unknown)(...args))
        : target) as typeof target,
    enable: () => manager,
    disable: () => (storage.disable(), manager),
  };
  // Refused (and left as it was) when a context manager is registered already.
  api.context.setGlobalContextManager(manager);
}

/** The tracing `config.tracing` asks for: none when off (nothing is loaded), else Temporal's plugin over the exporter. */
export async function configuredTracing(config: MlopsConfig, logger: Logger): Promise<Tracing | undefined> {
  if (config.tracing === 'off') return undefined;
  await useProcessTracing();
  const { BatchSpanProcessor } = await load('@opentelemetry/sdk-trace-base', () => import('@opentelemetry/sdk-trace-base'));
  const processor = new BatchSpanProcessor(new LogSpanExporter(logger), { scheduledDelayMillis: 1000 });
  return { plugin: await tracingPlugin(processor, 'temporal-mlops-worker'), shutdown: () => processor.shutdown() };
}
