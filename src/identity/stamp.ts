/**
 * The identity stamp: what the codec server attaches to an approval (or a run's start) once it has verified the
 * sender's token, signed with Ed25519 so a worker, or an auditor years later, can check it with the public key alone.
 *
 * A stamped payload travels as an envelope: `signed` is the exact JSON text that was signed (the payload's value,
 * its approver replaced by the verified identity, and the stamp), so verification never depends on how a JSON
 * library orders keys. No Temporal imports: the codec server, the worker's payload codec and `mlops models audit`
 * share this module.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { FailureType, MlopsError } from '../errors';
import type { IdentityStamp, StampProof } from './types';

export type { IdentityStamp, StampProof } from './types';

/** The format name inside every signed text, so a signature over anything else never passes as a stamp. */
export const STAMP_FORMAT = 'mlops-identity-stamp/1';

/** The payload encoding of a stamped envelope (Temporal payload metadata `encoding`). */
export const STAMPED_ENCODING = 'binary/mlops-stamped';

/** What was signed: the payload's value and its stamp. */
export interface SignedContent {
  format: typeof STAMP_FORMAT;
  value: Record<string, unknown>;
  stamp: IdentityStamp;
}

/** A signing key with its id. */
export interface StampSigningKey {
  keyId: string;
  privateKey: KeyObject;
}

/** Public keys trusted to sign stamps, by key id. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/** The id of a public key: the first 16 hex digits of the sha256 of its SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** A new Ed25519 key pair, as PEM texts (the private key PKCS#8, the public key SPKI). */
export function generateStampKeys(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** Reads an Ed25519 private key from PEM; `where` names its source in the error. */
export function readSigningKey(pem: string, where: string): StampSigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new MlopsError(FailureType.Configuration, `${where} is not a PEM private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new MlopsError(
      FailureType.Configuration,
      `${where} holds a ${privateKey.asymmetricKeyType} key; stamps are signed with Ed25519.`,
    );
  return { privateKey, keyId: keyIdOf(createPublicKey(privateKey)) };
}

/** Reads every PEM public key in a text (one or more `-----BEGIN PUBLIC KEY-----` blocks) into trusted keys. */
export function readTrustedKeys(text: string, where: string): TrustedKeys {
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0)
    throw new MlopsError(FailureType.Configuration, `${where} holds no PEM public key (-----BEGIN PUBLIC KEY-----).`);
  const keys = new Map<string, KeyObject>();
  for (const block of blocks) {
    const key = createPublicKey(block);
    if (key.asymmetricKeyType !== 'ed25519')
      throw new MlopsError(
        FailureType.Configuration,
        `${where} holds a ${key.asymmetricKeyType} public key; stamps are signed with Ed25519.`,
      );
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

/** A fresh nonce for a stamp. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** Signs a value and its stamp. */
export function signStamp(value: Record<string, unknown>, stamp: IdentityStamp, key: StampSigningKey): StampProof {
  const content: SignedContent = { format: STAMP_FORMAT, value, stamp };
  const signed = JSON.stringify(content);
  const signature = sign(null, Buffer.from(signed, 'utf8'), key.privateKey).toString('base64url');
  return { signed, keyId: key.keyId, signature };
}

/** A proof that verified, with what it signed; or why it did not. */
export type OpenedStamp = { ok: true; content: SignedContent; keyId: string } | { ok: false; problem: string };

/**
 * Verifies a proof against the trusted keys and reads what it signed. Only the signature and the format are
 * checked here; what the stamp is for (which run, when, used once) is the approval gate's to check.
 */
export function openStamp(proof: unknown, trusted: TrustedKeys): OpenedStamp {
  if (!isRecord(proof) || typeof proof.signed !== 'string' || typeof proof.keyId !== 'string' || typeof proof.signature !== 'string')
    return { ok: false, problem: 'the stamp is malformed: expected { signed, keyId, signature }' };
  const key = trusted.get(proof.keyId);
  if (!key)
    return {
      ok: false,
      problem: `the stamp was signed with key ${proof.keyId}, which is not among the trusted keys (${[...trusted.keys()].join(', ') || 'none configured'})`,
    };
  const good = verify(null, Buffer.from(proof.signed, 'utf8'), key, Buffer.from(proof.signature, 'base64url'));
  if (!good)
    return { ok: false, problem: `the stamp's signature does not match its content: it was altered after key ${proof.keyId} signed it` };
  let content: unknown;
  try {
    content = JSON.parse(proof.signed);
  } catch {
    return { ok: false, problem: 'the signed text of the stamp is not JSON' };
  }
  if (!isRecord(content) || content.format !== STAMP_FORMAT || !isRecord(content.value) || !isStamp(content.stamp))
    return { ok: false, problem: `the signed text is not a ${STAMP_FORMAT} stamp` };
  return { ok: true, content: content as unknown as SignedContent, keyId: proof.keyId };
}

function isStamp(v: unknown): v is IdentityStamp {
  return (
    isRecord(v) &&
    (v.kind === 'approval' || v.kind === 'request') &&
    typeof v.identity === 'string' &&
    typeof v.issuer === 'string' &&
    typeof v.subject === 'string' &&
    typeof v.at === 'string' &&
    typeof v.nonce === 'string'
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
