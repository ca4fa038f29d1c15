/**
 * Configuration of temporal-mlops: one zod-validated object read from the environment
 * (and, optionally, a JSON file named by MLOPS_CONFIG_FILE whose keys are the same variable names).
 *
 * The Temporal connection follows @temporalio/envconfig conventions (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE), so one worker runs unchanged
 * against the local dev server, a self-hosted cluster or Temporal Cloud.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import { DEFAULT_SCRATCH_BUDGET, INGEST_MEMORY_LIMIT } from './data/limits';
import { FailureType, MlopsError } from './errors';

/** Everything the worker, the CLI and the local stack need to know, validated. */
export interface MlopsConfig {
  temporal: {
    /** Connection options for both `Connection.connect` and `NativeConnection.connect`. */
    connection: NativeConnectionOptions & { address: string };
    namespace: string;
    /** True when the user pointed at an existing server, so no local server is started. */
    external: boolean;
  };
  minio: {
    endPoint: string;
    port: number;
    useSSL: boolean;
    accessKey: string;
    secretKey: string;
    bucket: string;
    region: string;
    /** True when the user pointed at an existing server, so no local server is started. */
    external: boolean;
  };
  /** Task queue of the orchestration worker (ingest, validate, deploy, monitor). */
  taskQueue: string;
  /** Task queue of training activities, so training workers scale apart from the rest. */
  trainingTaskQueue: string;
  log: { level: LogLevel; format: 'json' | 'pretty' };
  /** Where the local stack keeps server state and logs. */
  dataDir: string;
  /** Where installed tools (Temporal CLI, MinIO) are cached, outside the repository. */
  cacheDir: string;
  /** Port of the worker's Prometheus /metrics endpoint (process, drift and lifecycle metrics; 0: off). */
  workerMetricsPort: number;
  /** Port of Temporal's SDK metrics (task latencies, slots, failures) served by the worker's Runtime (0: off). */
  temporalMetricsPort: number;
  /** The address both worker metrics endpoints listen on (loopback unless the operator opens it). */
  metricsHost: string;
  /** Where the ready-made worker's OpenTelemetry spans go (src/tracing.ts): `off` (default) or `log`. */
  tracing: TracingMode;
  /** Loopback ports of the local stack. */
  stack: { temporalPort: number; temporalUiPort: number; minioPort: number; minioConsolePort: number; codecPort: number };
  /** Verified approvals: the codec server's token policy and signing key, and the public keys workers trust. */
  identity: IdentityConfig;
  /** Where approvers open model cards: the codec server's /cards/<sha256> (MLOPS_CARD_BASE_URL, default the local one). */
  cardBaseUrl: string;
  /** What one ingest may use on the worker: the engine's memory and the disk for copies of remote sources. */
  ingest: IngestConfig;
}

/** Bounds of one ingest on the worker (docs/data.md). */
export interface IngestConfig {
  /** The engine's memory limit, as DuckDB writes sizes (`1GB`, `512MB`): MLOPS_INGEST_MEMORY_LIMIT; past it the engine spills to scratch. */
  memoryLimit: string;
  /** Most bytes of remote sources copied into scratch space per ingest: MLOPS_SCRATCH_BUDGET (default 20 GiB). */
  scratchBudget: number;
}

/** Where the keys of identity stamps are, and which tokens the codec server believes (docs/approvals.md). */
export interface IdentityConfig {
  /** The codec server's Ed25519 private key (PEM file): MLOPS_STAMP_KEY_FILE, else the local stack's. */
  signingKeyFile?: string;
  /** Public keys (PEM file, one or more) whose stamps workers and audits trust: MLOPS_STAMP_TRUSTED_KEYS_FILE, else the local stack's. */
  trustedKeysFile?: string;
  /** The OIDC issuer whose tokens the codec server verifies (unset: tokens are refused, payloads without one pass unstamped). */
  issuer?: string;
  audience?: string;
  jwksUrl?: string;
  identityClaim: string;
  groupsClaim: string;
  clockSkewSeconds: number;
  /** Origins (the Temporal UI's) allowed to call the codec server from a browser. */
  corsOrigins: string[];
}

/** Where the local stack keeps its stamp signing key and the matching trusted public key (git-ignored). */
export function localStampKeyPaths(dataDir: string): { signingKeyFile: string; trustedKeysFile: string } {
  return { signingKeyFile: path.join(dataDir, 'stamp-key.pem'), trustedKeysFile: path.join(dataDir, 'stamp-trusted-keys.pem') };
}

/** Where the ready-made worker's spans go: nowhere (`off`, the default) or one line each in the worker's log (`log`). */
export const TRACING_MODES = ['off', 'log'] as const;
export type TracingMode = (typeof TRACING_MODES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const port = (dflt: number) =>
  z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a whole port number')
    .min(1, 'expected a port between 1 and 65535')
    .max(65535, 'expected a port between 1 and 65535')
    .default(dflt);

const bool = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const name = (dflt: string) =>
  z
    .string()
    .trim()
    .min(1, 'expected a non-empty name')
    .max(200, 'expected at most 200 characters')
    .regex(/^[A-Za-z0-9._-]+$/, 'expected letters, digits, ".", "_" or "-" only')
    .default(dflt);

/** The variables this module reads, with their defaults; docs/configuration.md mirrors this table. */
const EnvSchema = z.object({
  MINIO_ENDPOINT: z.string().trim().min(1, 'expected a host name or URL').optional(),
  MINIO_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  MINIO_USE_SSL: bool().optional(),
  MINIO_ACCESS_KEY: z.string().min(1, 'expected a non-empty access key').optional(),
  MINIO_SECRET_KEY: z.string().min(1, 'expected a non-empty secret key').optional(),
  MINIO_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name: 3-63 lowercase letters, digits, "." or "-"')
    .default('mlops'),
  MINIO_REGION: z.string().min(1).default('us-east-1'),
  MLOPS_TASK_QUEUE: name('mlops'),
  MLOPS_TRAINING_TASK_QUEUE: name('mlops-training'),
  MLOPS_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).optional(),
  MLOPS_LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'expected json or pretty' }).optional(),
  MLOPS_DATA_DIR: z.string().min(1).optional(),
  MLOPS_CACHE_DIR: z.string().min(1).optional(),
  MLOPS_TEMPORAL_PORT: port(7233),
  MLOPS_TEMPORAL_UI_PORT: port(8233),
  MLOPS_MINIO_PORT: port(9000),
  MLOPS_MINIO_CONSOLE_PORT: port(9001),
  MLOPS_WORKER_METRICS_PORT: z.coerce.number().int().min(0, 'expected a port, or 0 to turn worker metrics off').max(65535).default(9464),
  MLOPS_CODEC_PORT: port(8234),
  MLOPS_STAMP_KEY_FILE: z.string().min(1).optional(),
  MLOPS_STAMP_TRUSTED_KEYS_FILE: z.string().min(1).optional(),
  MLOPS_CODEC_ISSUER: z.url({ error: 'expected the issuer URL, e.g. https://accounts.example.com' }).optional(),
  MLOPS_CODEC_AUDIENCE: z.string().min(1).optional(),
  MLOPS_CODEC_JWKS_URL: z.url({ error: "expected the URL of the issuer's JWKS" }).optional(),
  MLOPS_CODEC_IDENTITY_CLAIM: z.string().min(1).default('email'),
  MLOPS_CODEC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  MLOPS_CODEC_CLOCK_SKEW_SECONDS: z.coerce.number({ error: 'expected seconds' }).int().min(0).max(600).default(60),
  MLOPS_CODEC_CORS_ORIGINS: z.string().optional(),
  MLOPS_CARD_BASE_URL: z.url({ error: 'expected the URL of the codec server that serves model cards' }).optional(),
  MLOPS_TEMPORAL_METRICS_PORT: z.coerce
    .number()
    .int()
    .min(0, "expected a port, or 0 to turn Temporal's SDK metrics off")
    .max(65535)
    .default(9465),
  MLOPS_TRACING: z.enum(TRACING_MODES, { error: `expected one of ${TRACING_MODES.join(', ')}` }).default('off'),
  MLOPS_METRICS_HOST: z.string().trim().min(1, 'expected an address to listen on, such as 127.0.0.1 or 0.0.0.0').default('127.0.0.1'),
  MLOPS_INGEST_MEMORY_LIMIT: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size such as 512MB or 2GB')
    .default(INGEST_MEMORY_LIMIT),
  MLOPS_SCRATCH_BUDGET: z.coerce
    .number({ error: 'expected a number of bytes' })
    .int('expected a whole number of bytes')
    .min(1, 'expected a number of bytes above 0')
    .default(DEFAULT_SCRATCH_BUDGET),
});

type Env = Record<string, string | undefined>;

/** Where the local stack stores the generated MinIO credentials (git-ignored, mode 0600). */
export function localCredentialsPath(dataDir: string): string {
  return path.join(dataDir, 'minio-credentials.json');
}

/** The default tool cache: $MLOPS_CACHE_DIR, else $XDG_CACHE_HOME/temporal-mlops, else ~/.cache/temporal-mlops. */
export function defaultCacheDir(env: Env = process.env): string {
  if (env.MLOPS_CACHE_DIR) return path.resolve(env.MLOPS_CACHE_DIR);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'temporal-mlops');
}

function readConfigFile(file: string): Env {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw configError([`MLOPS_CONFIG_FILE: cannot read ${file}: ${(err as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw configError([`MLOPS_CONFIG_FILE: ${file} is not valid JSON: ${(err as Error).message}`]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError([`MLOPS_CONFIG_FILE: ${file} must hold a JSON object of variable names to values`]);
  }
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, v == null ? undefined : String(v)]));
}

function configError(problems: string[]): MlopsError {
  return new MlopsError(FailureType.Configuration, `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { problems });
}

function parseMinioEndpoint(raw: string | undefined, dfltPort: number): { host: string; port?: number; ssl?: boolean } {
  if (!raw) return { host: '127.0.0.1', port: dfltPort };
  if (/^https?:\/\//.test(raw)) {
    const url = new URL(raw);
    return { host: url.hostname, port: url.port ? Number(url.port) : undefined, ssl: url.protocol === 'https:' };
  }
  const m = /^([^:/]+)(?::(\d+))?$/.exec(raw);
  if (!m) throw configError([`MINIO_ENDPOINT: expected a host, host:port or http(s) URL, got "${raw}"`]);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : undefined };
}

function readLocalCredentials(dataDir: string): { accessKey: string; secretKey: string } | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(localCredentialsPath(dataDir), 'utf8'));
    if (typeof c.accessKey === 'string' && typeof c.secretKey === 'string') return c;
  } catch {
    // No local stack credentials yet: the caller reports what to do.
  }
  return undefined;
}

export interface LoadConfigOptions {
  /** Environment to read; defaults to `process.env`. */
  env?: Env;
  /** Whether missing MinIO credentials are an error (the stack's `up` creates them, so it passes false). */
  requireCredentials?: boolean;
}

/** Reads and validates the configuration; throws one `MlopsConfigurationError` listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): MlopsConfig {
  const processEnv = options.env ?? process.env;
  const fileEnv = processEnv.MLOPS_CONFIG_FILE ? readConfigFile(processEnv.MLOPS_CONFIG_FILE) : {};
  const env: Env = { ...fileEnv, ...processEnv };
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw configError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message} (got ${JSON.stringify(env[String(i.path[0])])})`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  const dataDir = path.resolve(e.MLOPS_DATA_DIR ?? '.data');

  const minioExternal = Boolean(e.MINIO_ENDPOINT);
  const endpoint = parseMinioEndpoint(e.MINIO_ENDPOINT, e.MLOPS_MINIO_PORT);
  const useSSL = e.MINIO_USE_SSL ?? endpoint.ssl ?? false;
  const local = minioExternal ? undefined : readLocalCredentials(dataDir);
  const accessKey = e.MINIO_ACCESS_KEY ?? local?.accessKey ?? '';
  const secretKey = e.MINIO_SECRET_KEY ?? local?.secretKey ?? '';
  if (options.requireCredentials !== false && (!accessKey || !secretKey)) {
    problems.push(
      minioExternal
        ? 'MINIO_ACCESS_KEY / MINIO_SECRET_KEY: required when MINIO_ENDPOINT points at an existing server'
        : `MINIO_ACCESS_KEY / MINIO_SECRET_KEY: not set, and no local stack credentials in ${localCredentialsPath(dataDir)}; ` +
            `run "npm run stack:up" first, or set MINIO_ENDPOINT and its keys`,
    );
  }

  let temporal: MlopsConfig['temporal'] | undefined;
  try {
    const envVars = Object.fromEntries(Object.entries(env).filter((kv): kv is [string, string] => kv[1] !== undefined));
    const connect = loadClientConnectConfig({ overrideEnvVars: envVars });
    const external = Boolean(env.TEMPORAL_ADDRESS || connect.connectionOptions.address);
    temporal = {
      connection: {
        ...connect.connectionOptions,
        address: connect.connectionOptions.address ?? `127.0.0.1:${e.MLOPS_TEMPORAL_PORT}`,
      },
      namespace: connect.namespace ?? 'default',
      external,
    };
  } catch (err) {
    problems.push(`TEMPORAL_* / TEMPORAL_CONFIG_FILE: ${(err as Error).message}`);
  }
  if (e.MLOPS_CODEC_ISSUER && !e.MLOPS_CODEC_AUDIENCE)
    problems.push('MLOPS_CODEC_AUDIENCE: required with MLOPS_CODEC_ISSUER (the client id the tokens are issued for)');
  if (problems.length > 0 || !temporal) throw configError(problems);
  const localKeys = localStampKeyPaths(dataDir);
  const existing = (file: string) => (fs.existsSync(file) ? file : undefined);

  return {
    temporal,
    minio: {
      endPoint: endpoint.host,
      port: e.MINIO_PORT ?? endpoint.port ?? (useSSL ? 443 : 80),
      useSSL,
      accessKey,
      secretKey,
      bucket: e.MINIO_BUCKET,
      region: e.MINIO_REGION,
      external: minioExternal,
    },
    taskQueue: e.MLOPS_TASK_QUEUE,
    trainingTaskQueue: e.MLOPS_TRAINING_TASK_QUEUE,
    log: {
      level: e.MLOPS_LOG_LEVEL ?? e.LOG_LEVEL ?? 'info',
      // Logs go to stderr, so it is stderr that decides whether a person reads them.
      format: e.MLOPS_LOG_FORMAT ?? (process.stderr.isTTY ? 'pretty' : 'json'),
    },
    dataDir,
    cacheDir: defaultCacheDir(env),
    workerMetricsPort: e.MLOPS_WORKER_METRICS_PORT,
    temporalMetricsPort: e.MLOPS_TEMPORAL_METRICS_PORT,
    metricsHost: e.MLOPS_METRICS_HOST,
    tracing: e.MLOPS_TRACING,
    stack: {
      temporalPort: e.MLOPS_TEMPORAL_PORT,
      temporalUiPort: e.MLOPS_TEMPORAL_UI_PORT,
      minioPort: e.MLOPS_MINIO_PORT,
      minioConsolePort: e.MLOPS_MINIO_CONSOLE_PORT,
      codecPort: e.MLOPS_CODEC_PORT,
    },
    ingest: { memoryLimit: e.MLOPS_INGEST_MEMORY_LIMIT, scratchBudget: e.MLOPS_SCRATCH_BUDGET },
    cardBaseUrl: (e.MLOPS_CARD_BASE_URL ?? `http://127.0.0.1:${e.MLOPS_CODEC_PORT}`).replace(/\/+$/, ''),
    identity: {
      signingKeyFile: e.MLOPS_STAMP_KEY_FILE ?? existing(localKeys.signingKeyFile),
      trustedKeysFile: e.MLOPS_STAMP_TRUSTED_KEYS_FILE ?? existing(localKeys.trustedKeysFile),
      ...(e.MLOPS_CODEC_ISSUER ? { issuer: e.MLOPS_CODEC_ISSUER } : {}),
      ...(e.MLOPS_CODEC_AUDIENCE ? { audience: e.MLOPS_CODEC_AUDIENCE } : {}),
      ...(e.MLOPS_CODEC_JWKS_URL ? { jwksUrl: e.MLOPS_CODEC_JWKS_URL } : {}),
      identityClaim: e.MLOPS_CODEC_IDENTITY_CLAIM,
      groupsClaim: e.MLOPS_CODEC_GROUPS_CLAIM,
      clockSkewSeconds: e.MLOPS_CODEC_CLOCK_SKEW_SECONDS,
      corsOrigins: e.MLOPS_CODEC_CORS_ORIGINS
        ? e.MLOPS_CODEC_CORS_ORIGINS.split(',')
            .map((o) => o.trim())
            .filter(Boolean)
        : [`http://127.0.0.1:${e.MLOPS_TEMPORAL_UI_PORT}`, `http://localhost:${e.MLOPS_TEMPORAL_UI_PORT}`],
    },
  };
}
