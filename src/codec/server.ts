/**
 * `mlops codec`: a codec server as Temporal's Web UI and CLI call it (POST /encode and /decode with
 * `{"payloads": [...]}`, metadata and data base64; CORS for the UI's origin, which may send `Authorization` and
 * `Authorization-Extras`). On /encode, an approval or a run's start sent with a bearer token is stamped with the
 * identity the token proves, signed; sent without a token it passes unchanged (an `identity: verified` gate then
 * refuses it); sent with a token that does not verify, the request fails and the UI sends nothing. /decode shows
 * stamped payloads as the workflow sees them. Tokens are never logged. With the artifact store, it also serves model
 * cards at GET /cards/<sha256>, the link an approver opens from the run's details in the Temporal UI.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import type { IdentityConfig } from '../config';
import { FailureType, MlopsError, isMlopsError } from '../errors';
import type { StampSigningKey, TrustedKeys } from '../identity/stamp';
import { TokenVerifier, type VerifiedIdentity } from '../identity/oidc';
import type { Logger } from '../logger';
import type { ArtifactStore } from '../storage/artifact-store';
import { blobKey, formatS3Uri } from '../storage/refs';
import { decodeForWorkflow, stampable, stampPayload } from './payloads';

/** What the codec server needs. */
export interface CodecServerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  identity: IdentityConfig;
  /** Signs stamps; without it, a request that brings a token is refused (nothing could be stamped). */
  signingKey?: StampSigningKey;
  /** Keys whose stamps /decode verifies (the signing key's public half belongs here). */
  trusted: TrustedKeys;
  logger: Logger;
  now?: () => Date;
  /** Where model cards are read from for GET /cards/<sha256>; without it, that route answers 404. */
  store?: ArtifactStore;
}

/** How a stored model card begins (src/report/model-card.ts): only such blobs are served, never other artifacts. */
const CARD_PREFIX = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">';
const CARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** A running codec server. */
export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization, authorization-extras';

interface WirePayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Starts the codec server; resolves once it listens. */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const { identity, logger } = options;
  const verifier =
    identity.issuer && identity.audience
      ? new TokenVerifier({
          issuer: identity.issuer,
          audience: identity.audience,
          ...(identity.jwksUrl ? { jwksUrl: identity.jwksUrl } : {}),
          identityClaim: identity.identityClaim,
          groupsClaim: identity.groupsClaim,
          clockSkewSeconds: identity.clockSkewSeconds,
        })
      : undefined;
  const now = options.now ?? (() => new Date());

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    if (origin && identity.corsOrigins.includes(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Origin');
    }
    // The UI adds a query string (?preserveStorageRefs=true): the path alone decides.
    const path = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    const card = /^\/cards\/([0-9a-f]{64})$/.exec(path);
    if (req.method === 'GET' && card) {
      await serveCard(res, card[1]!, options.store);
      return;
    }
    // `/encode`, or `/<namespace>/encode` when the endpoint is templated with {namespace} (the Temporal CLI does so).
    const route = /^(?:\/([^/]+))?\/(encode|decode)$/.exec(path);
    if (!route) {
      reply(res, 404, { message: `Not found: the codec server answers POST /encode and POST /decode, not ${req.method} ${path}` });
      return;
    }
    if (req.method !== 'POST') {
      reply(res, 405, { message: `The codec server's /${route[2]} takes POST, not ${req.method}` });
      return;
    }
    const op = route[2] as 'encode' | 'decode';
    let payloads: Payload[];
    try {
      payloads = fromWire(await readBody(req));
    } catch (err) {
      reply(res, 400, { message: (err as Error).message });
      return;
    }
    const namespace = header(req, 'x-namespace') ?? (route[1] ? decodeURIComponent(route[1]) : undefined);
    if (op === 'decode') {
      reply(res, 200, { payloads: payloads.map((p) => toWire(decodeForWorkflow(p, options.trusted))) });
      return;
    }
    const token = bearer(header(req, 'authorization'));
    if (token === undefined || !payloads.some(stampable)) {
      reply(res, 200, { payloads: payloads.map(toWire) });
      return;
    }
    let who: VerifiedIdentity;
    try {
      if (!verifier)
        throw new MlopsError(
          FailureType.Configuration,
          'This codec server verifies no tokens: set MLOPS_CODEC_ISSUER and MLOPS_CODEC_AUDIENCE (docs/approvals.md).',
        );
      if (!options.signingKey)
        throw new MlopsError(FailureType.Configuration, 'This codec server has no stamp key: set MLOPS_STAMP_KEY_FILE.');
      who = await verifier.verify(token);
    } catch (err) {
      const status = isMlopsError(err) && err.type === FailureType.AccessDenied ? 401 : 503;
      const message = err instanceof Error ? err.message : String(err);
      logger.warn({ path, namespace, status, reason: message }, 'codec: request refused');
      reply(res, status, { message });
      return;
    }
    const stamped = payloads.map((p) => stampPayload(p, who, { ...(namespace ? { namespace } : {}), now: now() }, options.signingKey!));
    logger.info(
      { path, namespace, identity: who.identity, issuer: who.issuer, stamped: payloads.filter(stampable).length },
      'codec: stamped',
    );
    reply(res, 200, { payloads: stamped.map(toWire) });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      logger.error({ err: err.message }, 'codec: request failed');
      if (!res.headersSent) reply(res, 500, { message: `The codec server failed: ${err.message}` });
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Whether stored bytes are a model card as src/report/model-card.ts writes it (its opening and title). */
export function isModelCard(html: Uint8Array): boolean {
  const head = Buffer.from(html.buffer, html.byteOffset, Math.min(html.byteLength, 4096)).toString('utf8');
  return head.startsWith(CARD_PREFIX) && head.includes('<title>Model card: ');
}

/** A model card by its sha256, verified as it is read; anything that is not a model card is not found. */
async function serveCard(res: ServerResponse, sha256: string, store: ArtifactStore | undefined): Promise<void> {
  const notFound = (why: string) => res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(why);
  if (!store) return void notFound('This codec server serves no model cards: it was started without the artifact store (MINIO_*).');
  let html: Buffer;
  try {
    html = await store.getBuffer({ uri: formatS3Uri(store.bucket, blobKey(sha256)), sha256 });
  } catch (err) {
    if (isMlopsError(err) && err.type === FailureType.NotFound) return void notFound(`No model card ${sha256}.`);
    throw err;
  }
  if (!isModelCard(html)) return void notFound(`No model card ${sha256}.`);
  res
    .writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CARD_CSP,
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    })
    .end(html);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The token of an `Authorization: Bearer <token>` header. */
function bearer(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m ? m[1] : '';
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error(`The request body is larger than ${MAX_BODY} bytes.`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Error('The request body is not JSON: expected {"payloads": [...]}.');
  }
}

function fromWire(body: unknown): Payload[] {
  const list = (body as { payloads?: unknown })?.payloads;
  if (!Array.isArray(list)) throw new Error('Expected {"payloads": [...]} with base64 metadata and data, as Temporal sends.');
  return list.map((p: WirePayload) => ({
    metadata: Object.fromEntries(Object.entries(p?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64')])),
    data: Buffer.from(String(p?.data ?? ''), 'base64'),
  }));
}

function toWire(p: Payload): WirePayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
