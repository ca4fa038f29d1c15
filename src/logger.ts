/**
 * Logging through pino, to stderr: JSON by default, one concise line per event for a person, secrets redacted.
 * `installRuntime` routes Temporal's Runtime logger, and with it the workflow and activity loggers
 * (which carry workflowId, runId and activity context), through the same pino instance, and can serve the
 * SDK's metrics for Prometheus.
 */
import pino, { type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';
import {
  Runtime,
  makeTelemetryFilterString,
  type LogLevel as TemporalLogLevel,
  type LogMetadata,
  type Logger as TemporalLogger,
} from '@temporalio/worker';
import type { MlopsConfig } from './config';

export type Logger = PinoLogger;

/** Field paths whose values never reach a log line. */
export const REDACTED_PATHS = [
  'secretKey',
  'accessKey',
  'apiKey',
  'password',
  'token',
  'authorization',
  '*.secretKey',
  '*.accessKey',
  '*.apiKey',
  '*.password',
  '*.token',
  '*.authorization',
  '*.*.secretKey',
  '*.*.apiKey',
  'headers.authorization',
  // An activity's task token lets its holder complete the activity.
  'taskToken',
];

/** Fields a person reading the log in a terminal does not need on every line (the JSON format keeps them). */
const PRETTY_IGNORED = ['pid', 'hostname', 'name', 'sdkComponent', 'namespace', 'runId', 'workflowType', 'taskQueue', 'attempt', 'isLocal'];

/**
 * The log format of a command that prints for a person: the one `MLOPS_LOG_FORMAT` names, else JSON with `--json`
 * and one readable line per event without it, so a person's output never carries JSON lines, on a terminal or not.
 */
export function commandLogFormat(json: boolean, env: NodeJS.ProcessEnv = process.env): 'json' | 'pretty' {
  const named = env.MLOPS_LOG_FORMAT;
  if (named === 'json' || named === 'pretty') return named;
  return json ? 'json' : 'pretty';
}

/** Creates the package's logger from the log section of the configuration. */
export function createLogger(log: MlopsConfig['log'], destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name: 'temporal-mlops',
    level: log.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (destination) return pino(options, destination);
  // Logs go to stderr, so a command's --json output on stdout stays parseable.
  if (log.format === 'pretty') {
    const stream = pretty({
      colorize: Boolean(process.stderr.isTTY),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: PRETTY_IGNORED.join(','),
      hideObject: true,
      messageFormat: (entry, messageKey) => personLine(entry, messageKey),
      destination: 2,
      sync: true,
    });
    return pino(options, stream);
  }
  return pino(options, pino.destination(2));
}

const STANDARD_KEYS = new Set(['level', 'time', 'msg', ...PRETTY_IGNORED]);

/** A log event's message and its fields as `key=value`, on one line (an error by its message). */
function personLine(entry: Record<string, unknown>, messageKey: string): string {
  const fields = Object.entries(entry)
    .filter(([k, v]) => !STANDARD_KEYS.has(k) && k !== messageKey && v !== undefined)
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  return [String(entry[messageKey] ?? ''), ...fields].filter(Boolean).join('  ');
}

function fieldValue(v: unknown): string {
  if (v && typeof v === 'object' && 'message' in v && typeof (v as { message: unknown }).message === 'string')
    return JSON.stringify((v as { message: string }).message);
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

const TEMPORAL_TO_PINO: Record<TemporalLogLevel, pino.Level> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Webpack's report on a workflow bundle (a worker bundling at start, or the build), which the SDK logs as one
 * multi-line message: reduced to its summary line and the bundle's size; its lines are kept only when it failed.
 */
export function summariseBundleReport(message: string, failed: boolean): { message: string; meta: LogMetadata } | undefined {
  if (!message.includes('\n')) return undefined;
  const lines = message.split('\n').map((line) => line.trimEnd());
  const summary = lines.find((line) => /^webpack [\d.]+ compiled/.test(line));
  if (!summary) return undefined;
  const asset = lines.find((line) => line.startsWith('asset '));
  return {
    message: `workflow bundle: ${summary}`,
    meta: { ...(asset ? { asset: asset.slice('asset '.length) } : {}), ...(failed ? { report: lines.filter((l) => l !== '') } : {}) },
  };
}

/** The SDK's warning that a worker polls no workflows: how the plugin sets up the training queue's worker, so debug. */
function expectedNotice(level: TemporalLogLevel, message: string, meta?: LogMetadata): boolean {
  return (
    level === 'WARN' && message.startsWith('No workflows registered, not polling for workflow tasks') && meta?.sdkComponent === 'worker'
  );
}

/** Adapts a pino logger to Temporal's `Logger` interface. */
export function temporalLoggerFrom(logger: Logger): TemporalLogger {
  const write = (level: TemporalLogLevel, message: string, meta?: LogMetadata) => {
    const report = summariseBundleReport(message, level === 'ERROR');
    if (report) logger[TEMPORAL_TO_PINO[level]]({ ...meta, ...report.meta }, report.message);
    else logger[expectedNotice(level, message, meta) ? 'debug' : TEMPORAL_TO_PINO[level]](meta ?? {}, message);
  };
  return {
    log: write,
    trace: (m, meta) => write('TRACE', m, meta),
    debug: (m, meta) => write('DEBUG', m, meta),
    info: (m, meta) => write('INFO', m, meta),
    warn: (m, meta) => write('WARN', m, meta),
    error: (m, meta) => write('ERROR', m, meta),
  };
}

/** What `installRuntime` sets up in Temporal's Runtime besides logging. */
export interface RuntimeTelemetry {
  /**
   * Where Temporal's SDK metrics (task latencies, slots, polls, failures) are served for Prometheus, as host:port;
   * not exported when absent.
   */
  prometheusBindAddress?: string;
}

let sdkMetricsServedAt: string | undefined;

/** Where the Runtime `installRuntime` installed serves Temporal's SDK metrics (undefined: it does not). */
export function sdkMetricsAddress(): string | undefined {
  return runtimeInstalled() ? sdkMetricsServedAt : undefined;
}

/** Whether Temporal's Runtime exists in this process already (installed by the host, or created by a Worker or connection). */
export function runtimeInstalled(): boolean {
  return Runtime._instance !== undefined;
}

/**
 * Installs Temporal's Runtime with the pino logger and, when asked, a Prometheus endpoint for the SDK's metrics.
 * The Runtime is one per process and can be installed only before its first use: when it exists already (a host
 * application installed its own, with its own telemetry), nothing changes and this returns false.
 *
 * The SDK's metrics keep the names Temporal documents (`temporal_activity_execution_latency_seconds`, ...): counters
 * end in `_total` and durations are histograms in seconds, so `promtool check metrics` passes and Temporal's own
 * dashboards match.
 */
export function installRuntime(logger: Logger, telemetry: RuntimeTelemetry = {}): boolean {
  if (runtimeInstalled()) return false;
  sdkMetricsServedAt = undefined;
  const coreLevel = logger.level === 'trace' ? 'TRACE' : logger.level === 'debug' ? 'DEBUG' : 'WARN';
  const logging = { filter: makeTelemetryFilterString({ core: coreLevel }), forward: {} };
  const bindAddress = telemetry.prometheusBindAddress;
  if (bindAddress) {
    const prometheus = { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true };
    try {
      Runtime.install({ logger: temporalLoggerFrom(logger), telemetryOptions: { logging, metrics: { prometheus } } });
      sdkMetricsServedAt = bindAddress;
      return true;
    } catch (err) {
      // A taken port costs the SDK's metrics, not the worker.
      logger.warn(
        { err: (err as Error).message, bindAddress },
        "Temporal's SDK metrics not served (set MLOPS_TEMPORAL_METRICS_PORT to a free port, or 0 to turn them off)",
      );
    }
  }
  Runtime.install({ logger: temporalLoggerFrom(logger), telemetryOptions: { logging } });
  return true;
}

/**
 * Installs Temporal's Runtime with the pino logger and no metrics, unless the process has one already. Call it before
 * creating a Worker.
 */
export function installRuntimeLogger(logger: Logger): void {
  installRuntime(logger);
}
