/** `mlops serve`: the model server for the aliased version (and during a rollout, both versions) of one or more models, until SIGTERM or SIGINT. */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { commandLogFormat, createLogger } from '../logger';
import { registrySource, startModelServer } from '../serving';
import { durationMs } from '../spec/pipeline';
import { createStorage } from '../storage';
import { emit, UsageError } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

interface ServeOptions {
  model: string[];
  alias: string;
  port: string;
  host: string;
  poll: string;
  spool?: string;
  waitForModels?: boolean;
}

/**
 * The default spool: lasting (a restarted server must find what its predecessor left), one per bucket
 * (the records are shipped to the bucket they were meant for): `MLOPS_SPOOL_DIR`, else
 * `$XDG_STATE_HOME/temporal-mlops/spool/<bucket>` (`~/.local/state/...`).
 */
function defaultSpool(bucket: string): string {
  if (process.env.MLOPS_SPOOL_DIR) return process.env.MLOPS_SPOOL_DIR;
  const state = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'temporal-mlops', 'spool', bucket);
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Parses --poll: a duration such as 5s or 500ms, or 0 / off for no polling. */
function pollMs(text: string): number {
  if (text === '0' || text === 'off') return 0;
  try {
    return durationMs(text);
  } catch (err) {
    throw new UsageError(`--poll: ${(err as Error).message}, or 0 to turn polling off`);
  }
}

function portNumber(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--port must be a port number 0-65535 (0 picks a free one), got "${text}"`);
  return n;
}

/** Resolves on the first SIGTERM or SIGINT. */
function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** Registers the `serve` command. */
export function registerServe(program: Command, run: Runner): void {
  program
    .command('serve')
    .description(
      'Serve models (built-in or ONNX) over Open Inference Protocol v2 and v1 predict: ' +
        "each model's aliased version from the registry, swapped in when the alias moves, and during a rollout its champion and " +
        "candidate at once (a canary's share or a shadow); every prediction logged to MinIO",
    )
    .requiredOption('--model <name>', 'a model to serve (repeat for several)', collect, [])
    .option('--alias <alias>', 'the alias whose version is served', 'production')
    .option('--port <port>', 'TCP port (0 picks a free one)', '8080')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--poll <duration>', 'how often to check the alias and the rollout for a change (0 turns polling off)', '5s')
    .option(
      '--spool <dir>',
      'the local spool every answered prediction is written to before it is answered (default $MLOPS_SPOOL_DIR, else ' +
        '~/.local/state/temporal-mlops/spool/<bucket>)',
    )
    .option(
      '--wait-for-models',
      'start even when a named model cannot be served yet (no alias, unloadable version): it stays not ready until its alias points at a loadable version',
    )
    .option('--json', 'print {"url", "models", "alias", "spool", "ready", "notReady"} as JSON once listening; logs go to stderr')
    .action(
      run(async (json, opts: ServeOptions) => {
        if (opts.model.length === 0) throw new UsageError('name a model to serve with --model <name>');
        const port = portNumber(opts.port);
        const poll = pollMs(opts.poll);
        const config = loadConfig();
        const logger = createLogger({ ...config.log, format: commandLogFormat(json) });
        const { store, registry } = createStorage(config.minio);
        const signal = shutdownSignal();
        const spoolDir = opts.spool ?? defaultSpool(config.minio.bucket);
        const server = await startModelServer({
          store,
          source: registrySource(registry),
          models: opts.model,
          alias: opts.alias,
          port,
          host: opts.host,
          pollMs: poll,
          logger,
          predictionLog: { spoolDir },
        });
        const readiness = server.readiness();
        const unready = readiness.models.filter((m) => !m.ready);
        if (unready.length > 0 && !opts.waitForModels) {
          // A mistyped --model or an unreadable version must not leave a server running that serves nothing.
          await server.close();
          throw new MlopsError(
            FailureType.NotFound,
            `Cannot serve ` +
              `${unready.map((m) => `${m.name} (${m.state}): ${(m.reason ?? 'not ready').replace(/\.$/, '')}`).join('; ')}. ` +
              `Check the model names and their "${opts.alias}" alias (mlops models show <name>), or pass --wait-for-models to start ` +
              `anyway and serve each model once its alias points at a loadable version.`,
            { models: unready.map(({ name, state, reason }) => ({ name, state, reason })) },
          );
        }
        const versions = readiness.models.map((m) => `${m.name} v${m.version ?? '(not ready)'}`).join(', ');
        const notReady = readiness.models
          .filter((m) => !m.ready)
          .map((m) => `\n  NOT READY ${m.name}: ${m.reason}`)
          .join('');
        emit(
          json,
          {
            url: server.url,
            models: opts.model,
            alias: opts.alias,
            spool: spoolDir,
            ready: readiness.ready,
            notReady: readiness.models.filter((m) => !m.ready).map(({ name, state, reason }) => ({ name, state, reason })),
          },
          `Serving ${versions} (alias "${opts.alias}") on ${server.url}${notReady}\n  POST ${server.url}/v2/models/<name>/infer\n` +
            `  POST ${server.url}/v1/models/<name>:predict\n  GET  ${server.url}/v2/health/ready (ready while any model serves; ` +
            `says which are not and why)\n  GET  ${server.url}/metrics\nStop with Ctrl-C.`,
        );
        const received = await signal;
        logger.info({ signal: received }, 'shutting down: finishing requests in flight and writing the prediction log');
        const { predictions } = await server.close();
        const recovered = predictions?.recovered ? ` (and ${predictions.recovered} a previous server left in the spool)` : '';
        const left = predictions?.queued ? `, ${predictions.queued} left in the spool ${spoolDir} for the next start` : '';
        if (!json)
          process.stdout.write(
            `Stopped; ${predictions?.written ?? 0} predictions logged${recovered}, ${predictions?.dropped ?? 0} dropped${left}.\n`,
          );
      }),
    );
}
