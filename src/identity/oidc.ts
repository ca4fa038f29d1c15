/**
 * Verifies an OIDC access or id token (a JWT) the way the codec server needs: the signature against the issuer's
 * published keys (JWKS), the issuer, the audience and the expiry with a small allowance for clock skew, then reads
 * the identity from a configured claim. Every refusal says which check failed, never the token itself.
 * No Temporal imports.
 */
import { FailureType, MlopsError } from '../errors';

type Jose = typeof import('jose');
let jose: Jose | undefined;
/** jose is an ES module; Node 20 loads it through require(esm), jest through its transform. */
function loadJose(): Jose {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a dynamic import() would stay an import under jest's CommonJS runtime
  jose ??= require('jose') as Jose;
  return jose;
}

/** Which tokens are trusted, and how the identity is read from them. */
export interface TokenPolicy {
  /** The issuer (`iss`) tokens must come from, e.g. https://accounts.example.com. */
  issuer: string;
  /** The audience (`aud`) tokens must be for (the client id of the Temporal UI or of `mlops`). */
  audience: string;
  /** Where the issuer's keys are; default: `jwks_uri` of the issuer's /.well-known/openid-configuration. */
  jwksUrl?: string;
  /** The claim that names the person (default `email`). */
  identityClaim: string;
  /** The claim listing the person's groups (default `groups`), for allowlists of groups. */
  groupsClaim: string;
  /** Seconds of clock difference allowed on `exp`, `nbf` and `iat` (default 60). */
  clockSkewSeconds: number;
}

/** Who a token proved the sender to be. */
export interface VerifiedIdentity {
  identity: string;
  claim: string;
  issuer: string;
  subject: string;
  groups?: string[];
  tokenId?: string;
  /** When the token expires (ISO time). */
  expiresAt: string;
}

/** A token that did not verify: the message says which check failed. */
export function tokenRefused(reason: string): MlopsError {
  return new MlopsError(FailureType.AccessDenied, `The bearer token was refused: ${reason}.`);
}

/** Verifies tokens against one issuer; keys are fetched once and refreshed when a token names an unknown key. */
export class TokenVerifier {
  private keys: ReturnType<Jose['createRemoteJWKSet']> | undefined;
  private jwksUrl: string | undefined;

  constructor(readonly policy: TokenPolicy) {}

  /** Verifies `token` (the text after `Bearer `) and returns the identity, or throws an `MlopsAccessDenied` saying why. */
  async verify(token: string): Promise<VerifiedIdentity> {
    const { jwtVerify, errors } = loadJose();
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) throw tokenRefused('it is not a JWT (three base64url parts)');
    const keys = await this.keySet();
    const { issuer, audience, identityClaim, groupsClaim, clockSkewSeconds } = this.policy;
    let payload: import('jose').JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, { issuer, audience, clockTolerance: clockSkewSeconds, requiredClaims: ['exp', 'sub'] }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) {
        const exp = typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : 'an earlier time';
        throw tokenRefused(`it expired at ${exp} (clock skew allowed: ${clockSkewSeconds} s); sign in again`);
      }
      if (err instanceof errors.JWTClaimValidationFailed) throw tokenRefused(claimProblem(err, this.policy));
      if (err instanceof errors.JWKSNoMatchingKey)
        throw tokenRefused(`none of the issuer's keys (${this.jwksUrl}) matches the token's key id: it was not signed by ${issuer}`);
      if (err instanceof errors.JWSSignatureVerificationFailed)
        throw tokenRefused(`its signature does not verify against the keys of ${issuer}: it was altered or signed by someone else`);
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid)
        throw new MlopsError(FailureType.Unavailable, `Cannot read the issuer's keys from ${this.jwksUrl}: ${(err as Error).message}`);
      if (err instanceof errors.JOSEError) throw tokenRefused(`it is malformed (${err.code})`);
      throw new MlopsError(FailureType.Unavailable, `Cannot verify the token against ${issuer}: ${(err as Error).message}`);
    }
    const identity = payload[identityClaim];
    if (typeof identity !== 'string' || identity.trim() === '')
      throw tokenRefused(`it has no "${identityClaim}" claim to name the sender (MLOPS_CODEC_IDENTITY_CLAIM chooses the claim)`);
    const rawGroups = payload[groupsClaim];
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : undefined;
    return {
      identity: identity.trim(),
      claim: identityClaim,
      issuer: payload.iss!,
      subject: payload.sub!,
      ...(groups && groups.length > 0 ? { groups } : {}),
      ...(typeof payload.jti === 'string' ? { tokenId: payload.jti } : {}),
      expiresAt: new Date(payload.exp! * 1000).toISOString(),
    };
  }

  private async keySet(): Promise<ReturnType<Jose['createRemoteJWKSet']>> {
    if (this.keys) return this.keys;
    const url = this.policy.jwksUrl ?? (await discoverJwksUrl(this.policy.issuer));
    this.jwksUrl = url;
    this.keys = loadJose().createRemoteJWKSet(new URL(url), { timeoutDuration: 10_000, cooldownDuration: 30_000 });
    return this.keys;
  }
}

/** Reads `jwks_uri` from the issuer's OpenID configuration. */
async function discoverJwksUrl(issuer: string): Promise<string> {
  const where = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let doc: unknown;
  try {
    const res = await fetch(where, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    doc = await res.json();
  } catch (err) {
    throw new MlopsError(
      FailureType.Unavailable,
      `Cannot read the issuer's OpenID configuration at ${where}: ${(err as Error).message}. Set MLOPS_CODEC_JWKS_URL to its keys' URL instead.`,
    );
  }
  const uri = (doc as { jwks_uri?: unknown }).jwks_uri;
  if (typeof uri !== 'string') throw new MlopsError(FailureType.Configuration, `${where} has no jwks_uri: set MLOPS_CODEC_JWKS_URL.`);
  return uri;
}

function claimProblem(err: { claim: string; reason: string; payload: Record<string, unknown> }, policy: TokenPolicy): string {
  const got = JSON.stringify(err.payload[err.claim]);
  switch (err.claim) {
    case 'iss':
      return `it was issued by ${got}, not by the trusted issuer "${policy.issuer}"`;
    case 'aud':
      return `it is meant for audience ${got}, not "${policy.audience}"`;
    case 'nbf':
      return `it is not valid yet (nbf ${got})`;
    case 'iat':
      return `its issue time is in the future (iat ${got})`;
    case 'sub':
      return 'it has no subject (sub)';
    case 'exp':
      return 'it has no expiry (exp)';
    default:
      return `its "${err.claim}" claim fails: ${err.reason}`;
  }
}
