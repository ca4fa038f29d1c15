/**
 * `mlops codec`: the codec server that stamps approvals with the identity a bearer token proves (docs/approvals.md);
 * and the token handling shared by `mlops run`, `approve` and `reject`, which send their payloads through it.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { connectClient } from '../client';
import { loadSigningKey, loadTrustedKeys } from '../codec/keys';
import { RemoteCodec } from '../codec/remote';
import { startCodecServer } from '../codec/server';
import { loadConfig, type MlopsConfig } from '../config';
import { createLogger } from '../logger';
import { createStorage } from '../storage';
import { emit, UsageError } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** Options of the commands that can send their payloads through the codec server. */
export interface CodecOptions {
  codecEndpoint?: string;
  tokenFile?: string;
}

/** Adds --codec-endpoint and --token-file to a command. */
export function withCodecOptions(cmd: Command): Command {
  return cmd
    .option(
      '--codec-endpoint <url>',
      'send the request through this codec server, which stamps it with your verified identity (env MLOPS_CODEC_ENDPOINT)',
    )
    .option('--token-file <path>', 'read the bearer token (OIDC) from this file instead of the MLOPS_TOKEN environment variable');
}

/** The bearer token: from --token-file, else MLOPS_TOKEN; undefined when neither is given. */
function readToken(opts: CodecOptions): string | undefined {
  if (opts.tokenFile) {
    try {
      return fs.readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`--token-file: cannot read ${opts.tokenFile}: ${(err as Error).message}`);
    }
  }
  return process.env.MLOPS_TOKEN?.trim() || undefined;
}

/**
 * A client whose payloads go through the codec server when one is named (with the token, if any); a plain client
 * otherwise. A token without a codec server is a usage error: nothing would verify it.
 */
export async function clientFor(config: MlopsConfig, opts: CodecOptions): Promise<{ client: Client; token: boolean }> {
  const endpoint = opts.codecEndpoint ?? process.env.MLOPS_CODEC_ENDPOINT;
  const token = readToken(opts);
  if (!endpoint) {
    if (token)
      throw new UsageError(
        'a token was given (MLOPS_TOKEN or --token-file) but no codec server: set --codec-endpoint or MLOPS_CODEC_ENDPOINT',
      );
    return { client: await connectClient(config), token: false };
  }
  const codec = new RemoteCodec(endpoint, { namespace: config.temporal.namespace, ...(token ? { token } : {}) });
  return { client: await connectClient(config, { dataConverter: { payloadCodecs: [codec] } }), token: token !== undefined };
}

/** Registers `mlops codec`. */
export function registerCodec(program: Command, run: Runner): void {
  program
    .command('codec')
    .description(
      "Run the codec server for the Temporal UI and CLI: verifies bearer tokens against the OIDC issuer and stamps approvals with the sender's identity",
    )
    .option('--port <port>', 'port to listen on (env MLOPS_CODEC_PORT, default 8234)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--json', 'print {"url"} as JSON once listening')
    .action(
      run(async (json, opts: { port?: string; host: string }) => {
        const config = loadConfig({ requireCredentials: false });
        const logger = createLogger(config.log);
        const { identity } = config;
        const signingKey = identity.signingKeyFile ? loadSigningKey(identity) : undefined;
        const port = opts.port === undefined ? config.stack.codecPort : Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected a port number, got ${opts.port}`);
        // Model cards are served when the artifact store is configured (the local stack's credentials count).
        const store = config.minio.accessKey && config.minio.secretKey ? createStorage(config.minio).store : undefined;
        const server = await startCodecServer({
          port,
          host: opts.host,
          identity,
          trusted: loadTrustedKeys(identity),
          logger,
          ...(signingKey ? { signingKey } : {}),
          ...(store ? { store } : {}),
        });
        emit(
          json,
          { url: server.url, issuer: identity.issuer ?? null, keyId: signingKey?.keyId ?? null, corsOrigins: identity.corsOrigins },
          `Codec server at ${server.url} (issuer: ` +
            `${identity.issuer ?? 'none: tokens are refused, payloads without one pass unstamped'}; stamp key: ` +
            `${signingKey?.keyId ?? 'none'}; UI origins: ${identity.corsOrigins.join(', ')})`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      }),
    );
}
