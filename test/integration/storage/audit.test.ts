/**
 * `mlops models audit` on a real MinIO: a model's versions linked by manifest digests, a verified approval whose
 * signed proof checks out with the public key alone, alias moves that follow each other; and a failure naming the
 * version when a manifest is edited in the bucket (a metric, or the name on a verified approval).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestMinio } from '../../helpers/servers';
import { startCodecServer } from '../../../src/codec/server';
import { createLogger } from '../../../src/logger';
import { generateStampKeys, readSigningKey } from '../../../src/identity/stamp';
import { stampValue } from '../../../src/identity/stamping';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { ModelRegistry } from '../../../src/storage/registry';
import type { ModelVersion, RegisterVersionInput, VersionApproval } from '../../../src/storage/types';

const ROOT = path.resolve(__dirname, '../../..');
const run = promisify(execFile);
let minio: TestMinio;
let dir: string;
const keys = generateStampKeys();

beforeAll(async () => {
  minio = await TestMinio.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-audit-'));
  fs.writeFileSync(path.join(dir, 'trusted.pem'), keys.publicKeyPem);
}, 15 * 60_000);
afterAll(async () => {
  await minio?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A verified approval as the approval gate records it: the codec server's proof for bob, for this run. */
function verifiedApproval(workflowId: string): VersionApproval {
  const proof = stampValue(
    { approver: 'alice', comment: 'ship it', workflowId },
    'approval',
    {
      identity: 'bob@example.com',
      claim: 'email',
      issuer: 'https://id.example',
      subject: 'u-bob',
      tokenId: 'jti-9',
      expiresAt: '2030-01-01T00:00:00Z',
    },
    { now: new Date('2026-11-29T10:00:00Z') },
    readSigningKey(keys.privateKeyPem, 'test'),
  );
  const stampedAt = '2026-11-29T10:00:00.000Z';
  return {
    approver: 'bob@example.com',
    at: '2026-11-29T10:00:01.000Z',
    comment: 'ship it',
    verified: { issuer: 'https://id.example', subject: 'u-bob', claim: 'email', tokenId: 'jti-9', stampedAt, declared: 'alice', proof },
  };
}

async function audit(bucket: string, model: string): Promise<{ code: number; out: any }> {
  const env = {
    ...process.env,
    MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: bucket,
    MLOPS_STAMP_TRUSTED_KEYS_FILE: path.join(dir, 'trusted.pem'),
  };
  try {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'models', 'audit', model, '--json'], { env });
    return { code: 0, out: JSON.parse(stdout) };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: (JSON.parse(e.stdout) as { error: { details: { audit: unknown } } }).error.details.audit };
  }
}

describe('mlops models audit', () => {
  it('verifies the chain, the proofs and the alias moves, and fails naming the version when a manifest is edited', async () => {
    const bucket = `audit-${Date.now()}`;
    const store = new ArtifactStore(createMinioClient(minio.config(bucket)), bucket);
    await store.ensureBucket();
    const registry = new ModelRegistry(store);
    const artifact = await store.putBuffer(Buffer.from('model bytes'));
    const base = (workflowId: string, approvals: VersionApproval[]): RegisterVersionInput => ({
      model: 'churn',
      artifact,
      dataset: { sha256: 'd'.repeat(64) },
      trainer: { name: 'logistic-regression', params: {} },
      metrics: { accuracy: 0.84 },
      workflowId,
      runId: `run-${workflowId}`,
      approvals,
    });
    await registry.registerVersion(base('churn-1', [{ approver: 'carol', at: '2026-11-28T10:00:00.000Z' }]));
    await registry.moveAlias({ model: 'churn', alias: 'production', version: 1, by: 'carol', reason: 'first', workflowId: 'churn-1' });
    await registry.registerVersion(base('churn-2', [verifiedApproval('churn-2')]));
    await registry.moveAlias({
      model: 'churn',
      alias: 'production',
      version: 2,
      by: 'bob@example.com',
      reason: 'better',
      workflowId: 'churn-2',
    });
    await registry.registerVersion(base('churn-3', []));

    const good = await audit(bucket, 'churn');
    expect(good.code).toBe(0);
    expect(good.out).toMatchObject({ ok: true, trustedKeys: [keys.keyId], problems: [] });
    expect(good.out.versions.map((v: { chain: string }) => v.chain)).toEqual(['unlinked', 'linked', 'linked']);
    expect(good.out.versions[1].approvals[0]).toMatchObject({
      approver: 'bob@example.com',
      identity: 'verified',
      issuer: 'https://id.example',
      keyId: keys.keyId,
    });
    expect(good.out.versions[0].approvals[0]).toMatchObject({ approver: 'carol', identity: 'declared' });
    expect(good.out.aliases[0].moves.map((m: { to: number }) => m.to)).toEqual([1, 2]);

    // Someone with write access to the bucket edits version 1's metric: version 2's link and the first move break.
    const key = (n: number) => `registry/models/churn/versions/${String(n).padStart(12, '0')}.json`;
    const listed = (await store.list('registry/models/churn/versions/')).map((i) => i.key);
    expect(listed).toContain(key(1));
    const v1 = (await store.readDocument<ModelVersion>(key(1)))!.value;
    await store.writeDocument(key(1), { ...v1, metrics: { accuracy: 0.99 } });
    const edited = await audit(bucket, 'churn');
    expect(edited.code).toBe(1);
    expect(edited.out.ok).toBe(false);
    expect(edited.out.problems).toEqual([
      expect.stringMatching(/^version 2: version 1's manifest has changed since version 2 was registered/),
      "alias production move 1: version 1's manifest has changed since the alias moved to it",
    ]);
    await store.writeDocument(key(1), v1);

    // The name on a verified approval is changed: its proof names someone else.
    const v2 = (await store.readDocument<ModelVersion>(key(2)))!.value;
    await store.writeDocument(key(2), { ...v2, approvals: [{ ...v2.approvals[0]!, approver: 'carol@example.com' }] });
    const renamed = await audit(bucket, 'churn');
    expect(renamed.code).toBe(1);
    expect(renamed.out.problems).toContain(
      'version 2: the approval by carol@example.com: the proof names bob@example.com, not carol@example.com',
    );
  });
});

describe('the model card link an approver opens', () => {
  it('is served by the codec server from the store by its sha256, and nothing but model cards is', async () => {
    const bucket = `cards-${Date.now()}`;
    const store = new ArtifactStore(createMinioClient(minio.config(bucket)), bucket);
    await store.ensureBucket();
    const card = await store.putBuffer(
      Buffer.from(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<title>Model card: churn</title></head><body>v3</body></html>',
      ),
    );
    const other = await store.putBuffer(Buffer.from('{"not":"a card"}'));
    const codec = await startCodecServer({
      port: 0,
      identity: { identityClaim: 'email', groupsClaim: 'groups', clockSkewSeconds: 60, corsOrigins: [] },
      trusted: new Map(),
      logger: createLogger({ level: 'silent', format: 'json' }),
      store,
    });
    try {
      const res = await fetch(`${codec.url}/cards/${card.sha256}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(await res.text()).toContain('<title>Model card: churn</title>');
      expect((await fetch(`${codec.url}/cards/${other.sha256}`)).status).toBe(404);
      expect((await fetch(`${codec.url}/cards/${'0'.repeat(64)}`)).status).toBe(404);
    } finally {
      await codec.close();
    }
  });
});
