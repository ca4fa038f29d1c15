/**
 * Tokens and stamps: a token is believed only when the issuer's keys, issuer, audience and expiry all hold, and a
 * stamp only when a trusted key signed exactly what it says. Each refusal names the check that failed.
 */
import { TokenVerifier, type TokenPolicy } from '../../../src/identity/oidc';
import { generateStampKeys, openStamp, readSigningKey, readTrustedKeys, type StampProof } from '../../../src/identity/stamp';
import { FINDING_KEY, markForged, readStamped, stampKindOf, stampValue } from '../../../src/identity/stamping';
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc-issuer';

let issuer: TestIssuer;
let verifier: TokenVerifier;
let policy: TokenPolicy;

beforeAll(async () => {
  issuer = await startTestIssuer();
  policy = { issuer: issuer.issuer, audience: issuer.audience, identityClaim: 'email', groupsClaim: 'groups', clockSkewSeconds: 30 };
  verifier = new TokenVerifier(policy);
});
afterAll(() => issuer.close());

describe('bearer tokens', () => {
  it('a token from the issuer, for our audience and unexpired, names the sender by the chosen claim, with groups and token id', async () => {
    const who = await verifier.verify(await issuer.mint({ email: 'bob@example.com', groups: ['ml-leads'] }));
    expect(who).toMatchObject({
      identity: 'bob@example.com',
      claim: 'email',
      issuer: issuer.issuer,
      subject: 'sub-bob@example.com',
      groups: ['ml-leads'],
    });
    expect(who.tokenId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the issuer is found through its OpenID configuration when no JWKS URL is configured', async () => {
    const discovered = new TokenVerifier({ ...policy, jwksUrl: undefined });
    await expect(discovered.verify(await issuer.mint())).resolves.toMatchObject({ identity: 'alice@example.com' });
  });

  it('refuses a token signed with a key the issuer does not publish (a forged token)', async () => {
    await expect(verifier.verify(await issuer.mint({ foreignKey: true }))).rejects.toThrow(
      /refused: its signature does not verify against the keys of http:\/\/127\.0\.0\.1/,
    );
  });

  it('refuses an expired token, saying when it expired, beyond the allowed clock skew', async () => {
    await expect(verifier.verify(await issuer.mint({ expiresIn: -120 }))).rejects.toThrow(
      /refused: it expired at .*clock skew allowed: 30 s/,
    );
  });

  it('accepts a token expired by less than the allowed clock skew', async () => {
    await expect(verifier.verify(await issuer.mint({ expiresIn: -10 }))).resolves.toMatchObject({ identity: 'alice@example.com' });
  });

  it('refuses a token of another issuer and a token for another audience, naming both', async () => {
    await expect(verifier.verify(await issuer.mint({ issuer: 'https://evil.example' }))).rejects.toThrow(
      `it was issued by "https://evil.example", not by the trusted issuer "${issuer.issuer}"`,
    );
    await expect(verifier.verify(await issuer.mint({ audience: 'some-other-app' }))).rejects.toThrow(
      'it is meant for audience "some-other-app", not "temporal-ui"',
    );
  });

  it('refuses a token without the identity claim, and text that is no JWT', async () => {
    await expect(verifier.verify(await issuer.mint({ noEmail: true }))).rejects.toThrow(/it has no "email" claim/);
    await expect(verifier.verify('not-a-token')).rejects.toThrow(/it is not a JWT/);
  });

  it('never repeats the token in its refusal', async () => {
    const token = await issuer.mint({ expiresIn: -300 });
    const err = await verifier.verify(token).catch((e: Error) => e);
    expect(String((err as Error).message)).not.toContain(token.split('.')[1]);
  });
});

describe('identity stamps', () => {
  const keys = generateStampKeys();
  const key = readSigningKey(keys.privateKeyPem, 'test key');
  const trusted = readTrustedKeys(keys.publicKeyPem, 'test keys');
  const bob = {
    identity: 'bob@example.com',
    claim: 'email',
    issuer: 'https://id.example',
    subject: 'u-2',
    tokenId: 'jti-1',
    expiresAt: '2030-01-01T00:00:00.000Z',
  };
  const now = new Date('2026-11-29T10:00:00.000Z');

  it('recognises approvals and run starts, and nothing else', () => {
    expect(stampKindOf({ approver: 'alice' })).toBe('approval');
    expect(stampKindOf({ spec: {}, requestedBy: 'carol' })).toBe('request');
    expect(stampKindOf({ model: 'x' })).toBeUndefined();
    expect(stampKindOf(['approver'])).toBeUndefined();
  });

  it("a payload typed as alice with bob's token is signed as bob, keeping what was typed", () => {
    const proof = stampValue({ approver: 'alice', comment: 'ok', workflowId: 'wf-1' }, 'approval', bob, { namespace: 'default', now }, key);
    const read = readStamped(proof, trusted);
    expect(read).toMatchObject({ approver: 'bob@example.com', comment: 'ok', workflowId: 'wf-1' });
    expect(read[FINDING_KEY]).toMatchObject({
      verified: true,
      stamp: {
        kind: 'approval',
        identity: 'bob@example.com',
        declared: 'alice',
        workflowId: 'wf-1',
        tokenId: 'jti-1',
        at: now.toISOString(),
      },
    });
    expect(proof.keyId).toBe(keys.keyId);
  });

  it('refuses a tampered stamp: another name in the signed text no longer matches the signature', () => {
    const proof = stampValue({ approver: 'alice', workflowId: 'wf-1' }, 'approval', bob, { now }, key);
    const tampered: StampProof = { ...proof, signed: proof.signed.replaceAll('bob@example.com', 'carol@example.com') };
    const opened = openStamp(tampered, trusted);
    expect(opened).toEqual({ ok: false, problem: expect.stringMatching(/signature does not match its content: it was altered/) });
    expect(readStamped(tampered, trusted)[FINDING_KEY]).toMatchObject({ verified: false });
  });

  it('refuses a stamp signed with a key nobody trusts, naming the key', () => {
    const other = readSigningKey(generateStampKeys().privateKeyPem, 'other');
    const proof = stampValue({ approver: 'alice' }, 'approval', bob, { now }, other);
    expect(openStamp(proof, trusted)).toEqual({
      ok: false,
      problem: expect.stringContaining(`signed with key ${other.keyId}, which is not among`),
    });
  });

  it('marks a plain payload that brings its own verification as forged', () => {
    const forged = markForged({ approver: 'alice', [FINDING_KEY]: { verified: true } });
    expect(forged[FINDING_KEY]).toMatchObject({ verified: false, problem: expect.stringMatching(/carried its own "\$identity" field/) });
  });

  it('reads keys from PEM and refuses what is not an Ed25519 key', () => {
    expect([...trusted.keys()]).toEqual([keys.keyId]);
    expect(() => readTrustedKeys('nothing here', 'MLOPS_STAMP_TRUSTED_KEYS_FILE')).toThrow(/holds no PEM public key/);
    expect(() => readSigningKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', 'MLOPS_STAMP_KEY_FILE')).toThrow(
      /MLOPS_STAMP_KEY_FILE is not a PEM private key/,
    );
  });
});
