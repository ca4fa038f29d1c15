/**
 * What an identity stamp says and the signed proof that carries it: plain types, shared by the identity core and the
 * contracts (the approval gate keeps proofs in history and the version manifest), with no code.
 */

/** What a stamp says: who the token proved the sender to be, when, and what the stamp is for. */
export interface IdentityStamp {
  /** An approval or rejection (`approval`), or the request that started a run (`request`). */
  kind: 'approval' | 'request';
  /** The verified identity: the value of `claim` in the token (for example an email address). */
  identity: string;
  /** Which token claim `identity` was read from. */
  claim: string;
  /** The token's issuer (`iss`). */
  issuer: string;
  /** The token's subject (`sub`): the issuer's stable id of the person. */
  subject: string;
  /** Groups read from the token's groups claim, for allowlists of groups. */
  groups?: string[];
  /** The token's id (`jti`), when it has one. */
  tokenId?: string;
  /** When the codec server stamped it (ISO time). */
  at: string;
  /** The workflow the approval is for, as the sender named it. */
  workflowId?: string;
  /** The run of that workflow, when the sender named it. */
  runId?: string;
  /** The Temporal namespace of the request (the `X-Namespace` header). */
  namespace?: string;
  /** Random, unique per stamp: the same stamp sent twice is recognised. */
  nonce: string;
  /** What the sender typed as the name, when it differs from the verified identity. */
  declared?: string;
}

/** A stamped payload as it travels and is kept: the signed text, the signing key's id and the signature. */
export interface StampProof {
  /** The exact JSON text that was signed (a `SignedContent`). */
  signed: string;
  /** Id of the signing key: the first 16 hex digits of the sha256 of its public key (SPKI DER). */
  keyId: string;
  /** Ed25519 signature of `signed`'s UTF-8 bytes, base64url. */
  signature: string;
}

/** A verified identity, as an approval keeps it. */
export interface VerifiedIdentityRecord {
  issuer: string;
  subject: string;
  /** The token claim the name was read from. */
  claim: string;
  tokenId?: string;
  groups?: string[];
  /** When the codec server stamped the request. */
  stampedAt: string;
  /** What the sender typed as the name, when it was not their verified identity. */
  declared?: string;
  proof: StampProof;
}
