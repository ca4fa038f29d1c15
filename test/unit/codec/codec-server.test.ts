/**
 * The codec server as the Temporal Web UI and CLI call it: CORS for the UI's origin (with the token headers),
 * /encode?preserveStorageRefs=true matched by its path, approvals stamped with the identity the token proves,
 * refused with a reason when the token does not verify, passed unchanged without a token; /decode shows the finding.
 */
import { generateStampKeys, readSigningKey, readTrustedKeys } from '../../../src/identity/stamp';
import { startCodecServer, type CodecServer } from '../../../src/codec/server';
import { decodeForWorkflow, jsonPayload } from '../../../src/codec/payloads';
import { isModelCard } from '../../../src/codec/server';
import { buildModelCard } from '../../../src/report/model-card';
import { classificationCard, regressionCard } from '../../helpers/model-card';
import type { IdentityConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc-issuer';

const UI = 'http://127.0.0.1:8233';
let issuer: TestIssuer;
let codec: CodecServer;
const keys = generateStampKeys();
const trusted = readTrustedKeys(keys.publicKeyPem, 'test');
const logged: string[] = [];

const b64 = (s: string) => Buffer.from(s).toString('base64');
const wire = (value: unknown) => ({ metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) });
const unwire = (p: { metadata: Record<string, string>; data: string }) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data, 'base64'),
});

async function post(path: string, payloads: unknown[], headers: Record<string, string> = {}) {
  const res = await fetch(`${codec.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: UI, ...headers },
    body: JSON.stringify({ payloads }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { payloads?: any[]; message?: string } };
}

beforeAll(async () => {
  issuer = await startTestIssuer();
  const identity: IdentityConfig = {
    issuer: issuer.issuer,
    audience: issuer.audience,
    identityClaim: 'email',
    groupsClaim: 'groups',
    clockSkewSeconds: 30,
    corsOrigins: [UI],
  };
  // Every log line is kept, to check that no token ever reaches the log.
  const logger = createLogger({ level: 'trace', format: 'json' }, { write: (line: string) => void logged.push(line) });
  codec = await startCodecServer({ port: 0, identity, signingKey: readSigningKey(keys.privateKeyPem, 'k'), trusted, logger });
});
afterAll(async () => {
  await codec.close();
  await issuer.close();
});

describe('the codec server', () => {
  it("answers the UI's CORS preflight for its origin, allowing the authorization and authorization-extras headers", async () => {
    const res = await fetch(`${codec.url}/encode?preserveStorageRefs=true`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,authorization-extras',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization, authorization-extras/);
    const stranger = await fetch(`${codec.url}/encode`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("stamps an approval typed as alice with bob's token as bob, and /decode shows the verified identity", async () => {
    const token = await issuer.mint({ email: 'bob@example.com' });
    const typed = { approver: 'alice@example.com', workflowId: 'wf-1' };
    const encoded = await post('/encode?preserveStorageRefs=true', [wire(typed), wire({ unrelated: 1 })], {
      authorization: `Bearer ${token}`,
      'authorization-extras': 'id-token',
    });
    expect(encoded.status).toBe(200);
    expect(Buffer.from(encoded.body.payloads![0].metadata.encoding, 'base64').toString()).toBe('binary/mlops-stamped');
    expect(encoded.body.payloads![1]).toEqual(wire({ unrelated: 1 }));
    const seen = JSON.parse(Buffer.from(decodeForWorkflow(unwire(encoded.body.payloads![0]), trusted).data!).toString());
    expect(seen).toMatchObject({
      approver: 'bob@example.com',
      $identity: { verified: true, stamp: { declared: 'alice@example.com', namespace: 'default' } },
    });
    const decoded = await post('/decode', encoded.body.payloads!);
    expect(JSON.parse(Buffer.from(decoded.body.payloads![0].data, 'base64').toString())).toMatchObject({ approver: 'bob@example.com' });
    expect(logged.join('\n')).not.toContain(token);
  });

  it('refuses a token that does not verify with a reason, and stamps nothing', async () => {
    for (const [token, reason] of [
      [await issuer.mint({ expiresIn: -300 }), /it expired at/],
      [await issuer.mint({ foreignKey: true }), /signature does not verify/],
      [await issuer.mint({ audience: 'other' }), /meant for audience "other"/],
    ] as const) {
      const res = await post('/encode', [wire({ approver: 'alice' })], { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
      expect(res.body.message).toMatch(reason);
      expect(logged.join('\n')).not.toContain(token);
    }
  });

  it('passes a payload through unchanged when no token comes with it (the gate decides what it is worth)', async () => {
    const res = await post('/encode', [wire({ approver: 'alice' })]);
    expect(res.body.payloads).toEqual([wire({ approver: 'alice' })]);
  });

  it('the worker marks a plain payload that claims its own verification as forged', () => {
    const forged = decodeForWorkflow(jsonPayload({ approver: 'alice', $identity: { verified: true } }), trusted);
    expect(JSON.parse(Buffer.from(forged.data!).toString()).$identity).toMatchObject({ verified: false });
    const escaped = decodeForWorkflow(
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"approver":"a","\\u0024identity":{"verified":true}}') },
      trusted,
    );
    expect(JSON.parse(Buffer.from(escaped.data!).toString()).$identity).toMatchObject({ verified: false });
  });

  it('answers under a namespace path segment as the CLI templates it, and only to POST', async () => {
    const token = await issuer.mint({ email: 'carol@example.com' });
    const res = await fetch(`${codec.url}/prod/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ payloads: [wire({ approver: 'x', workflowId: 'wf' })] }),
    });
    const body = (await res.json()) as { payloads: any[] };
    const seen = JSON.parse(Buffer.from(decodeForWorkflow(unwire(body.payloads[0]), trusted).data!).toString());
    expect(seen.$identity.stamp).toMatchObject({ identity: 'carol@example.com', namespace: 'prod' });
    expect((await fetch(`${codec.url}/encode`)).status).toBe(405);
    expect((await fetch(`${codec.url}/a/b/encode`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('recognises the model cards the report draws (and only those) as the cards it serves', async () => {
    expect(isModelCard(Buffer.from(buildModelCard(await classificationCard())))).toBe(true);
    expect(isModelCard(Buffer.from(buildModelCard(regressionCard())))).toBe(true);
    expect(isModelCard(Buffer.from('<!DOCTYPE html>\n<html><title>x</title></html>'))).toBe(false);
    expect(isModelCard(Buffer.from('{"model":"x"}'))).toBe(false);
  });
});
