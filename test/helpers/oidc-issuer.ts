/**
 * A local OIDC issuer for tests: its OpenID configuration and JWKS served on a loopback port, and tokens minted by
 * the test (signed with the issuer's key, or with a stranger's key to play a forger).
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const jose = require('jose') as typeof import('jose');

/** What a minted token says; anything left out gets a sensible default. */
export interface MintOptions {
  email?: string;
  sub?: string;
  groups?: string[];
  audience?: string;
  issuer?: string;
  /** Seconds from now until expiry (negative: already expired). */
  expiresIn?: number;
  /** Sign with a key the issuer does not publish. */
  foreignKey?: boolean;
  /** Leave out the email claim. */
  noEmail?: boolean;
}

export interface TestIssuer {
  issuer: string;
  jwksUrl: string;
  audience: string;
  mint(options?: MintOptions): Promise<string>;
  close(): Promise<void>;
}

/** Starts an issuer on 127.0.0.1 (a free port unless `port` is given). */
export async function startTestIssuer(options: { audience?: string; port?: number } = {}): Promise<TestIssuer> {
  const audience = options.audience ?? 'temporal-ui';
  const own = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomUUID();
  const jwk = { ...(await jose.exportJWK(own.publicKey)), kid, alg: 'ES256', use: 'sig' };
  let base = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks` }));
    } else if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = async (m: MintOptions, key: KeyObject) => {
    const claims: Record<string, unknown> = {};
    if (!m.noEmail) claims.email = m.email ?? 'alice@example.com';
    if (m.groups) claims.groups = m.groups;
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(m.issuer ?? base)
      .setAudience(m.audience ?? audience)
      .setSubject(m.sub ?? `sub-${m.email ?? 'alice@example.com'}`)
      .setJti(randomUUID())
      .setIssuedAt(now - 5)
      .setExpirationTime(now + (m.expiresIn ?? 600))
      .sign(key);
  };
  return {
    issuer: base,
    jwksUrl: `${base}/jwks`,
    audience,
    mint: (m = {}) => sign(m, m.foreignKey ? stranger.privateKey : own.privateKey),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
