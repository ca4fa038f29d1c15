/**
 * What the codec server does to a request once a token has proven who sent it, and what the worker reads back:
 * an approval (any JSON object with an `approver`) or a run's start (`spec` and `requestedBy`) gets the verified
 * identity in place of the typed name, and a signed stamp. No Temporal imports.
 */
import type { VerifiedIdentity } from './oidc';
import { newNonce, openStamp, signStamp, type IdentityStamp, type StampProof, type StampSigningKey, type TrustedKeys } from './stamp';

/** The key under which the worker's codec reports on a payload's stamp (the same as the contracts' IDENTITY_KEY). */
export const FINDING_KEY = '$identity';

/** What the worker's codec reports about a stamped payload. */
export type StampFinding = { verified: true; stamp: IdentityStamp; proof: StampProof } | { verified: false; problem: string };

/** Which kind of request a JSON value is, or undefined when it is neither an approval nor a run's start. */
export function stampKindOf(value: unknown): IdentityStamp['kind'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if ('approver' in value) return 'approval';
  if ('spec' in value && 'requestedBy' in value) return 'request';
  return undefined;
}

/** Replaces the typed name with the verified identity and signs the result with its stamp. */
export function stampValue(
  value: Record<string, unknown>,
  kind: IdentityStamp['kind'],
  who: VerifiedIdentity,
  context: { namespace?: string; now: Date },
  key: StampSigningKey,
): StampProof {
  const field = kind === 'approval' ? 'approver' : 'requestedBy';
  const typed = typeof value[field] === 'string' ? (value[field] as string).trim() : undefined;
  const { [FINDING_KEY]: _ignored, ...rest } = value;
  const stamp: IdentityStamp = {
    kind,
    identity: who.identity,
    claim: who.claim,
    issuer: who.issuer,
    subject: who.subject,
    ...(who.groups ? { groups: who.groups } : {}),
    ...(who.tokenId ? { tokenId: who.tokenId } : {}),
    at: context.now.toISOString(),
    ...(kind === 'approval' && typeof value.workflowId === 'string' ? { workflowId: value.workflowId } : {}),
    ...(kind === 'approval' && typeof value.runId === 'string' ? { runId: value.runId } : {}),
    ...(context.namespace ? { namespace: context.namespace } : {}),
    nonce: newNonce(),
    ...(typed && typed !== who.identity ? { declared: typed } : {}),
  };
  return signStamp({ ...rest, [field]: who.identity }, stamp, key);
}

/**
 * Reads a stamped payload back: the signed value with the finding under FINDING_KEY when the signature verifies,
 * or, when it does not, the value as far as it can be read with the reason under FINDING_KEY.
 */
export function readStamped(proof: unknown, trusted: TrustedKeys): Record<string, unknown> {
  const opened = openStamp(proof, trusted);
  if (!opened.ok) {
    const value = unverifiedValue(proof);
    return { ...value, [FINDING_KEY]: { verified: false, problem: opened.problem } satisfies StampFinding };
  }
  const { value, stamp } = opened.content;
  const p = proof as StampProof;
  const finding: StampFinding = { verified: true, stamp, proof: { signed: p.signed, keyId: p.keyId, signature: p.signature } };
  return { ...value, [FINDING_KEY]: finding };
}

/** Marks a plain payload that carries its own FINDING_KEY: only the codec may write it. */
export function markForged(value: Record<string, unknown>): Record<string, unknown> {
  const finding: StampFinding = {
    verified: false,
    problem: `the payload carried its own "${FINDING_KEY}" field; only the worker's codec writes it, after checking a stamp's signature`,
  };
  return { ...value, [FINDING_KEY]: finding };
}

/** The value inside a stamp that did not verify, so the refusal can still show what was sent. */
function unverifiedValue(proof: unknown): Record<string, unknown> {
  try {
    const content = JSON.parse((proof as StampProof).signed) as { value?: unknown };
    if (typeof content.value === 'object' && content.value !== null && !Array.isArray(content.value)) {
      const { [FINDING_KEY]: _ignored, ...rest } = content.value as Record<string, unknown>;
      return rest;
    }
  } catch {
    // Not even readable: the finding says so.
  }
  return {};
}
