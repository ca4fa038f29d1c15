/**
 * Identity stamps on Temporal payloads: the codec server stamps approval and run-start payloads after verifying the
 * sender's token, and the worker's payload codec (and the codec server's /decode, for the Web UI) turns a stamped
 * payload back into JSON with its finding under `$identity`. A plain JSON payload that arrives with its own
 * `$identity` is marked forged, so the workflow can tell the codec's word from a sender's.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { FINDING_KEY, markForged, readStamped, stampKindOf, stampValue } from '../identity/stamping';
import { STAMPED_ENCODING, type StampSigningKey, type TrustedKeys } from '../identity/stamp';
import type { VerifiedIdentity } from '../identity/oidc';

const JSON_PLAIN = 'json/plain';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The payload's `encoding` metadata as text. */
export function encodingOf(p: Payload): string | undefined {
  const raw = p.metadata?.encoding;
  return raw ? decoder.decode(raw) : undefined;
}

/** A json/plain payload of a value. */
export function jsonPayload(value: unknown): Payload {
  return { metadata: { encoding: encoder.encode(JSON_PLAIN) }, data: encoder.encode(JSON.stringify(value)) };
}

/** The JSON object a json/plain payload holds, or undefined for any other payload. */
function jsonObject(p: Payload): Record<string, unknown> | undefined {
  if (encodingOf(p) !== JSON_PLAIN || !p.data) return undefined;
  try {
    const v: unknown = JSON.parse(decoder.decode(p.data));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes that must be present for a JSON text to have a `$identity` key: the name itself, or a \u escape spelling it. */
const MARKERS = [Buffer.from(FINDING_KEY), Buffer.from('\\u')];

function mayCarryFinding(data: Uint8Array): boolean {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return MARKERS.some((m) => buf.includes(m));
}

/**
 * What a workflow should see of a payload: a stamped one as JSON with its verified (or refused) finding, a plain one
 * that claims a finding of its own as forged, anything else unchanged.
 */
export function decodeForWorkflow(p: Payload, trusted: TrustedKeys): Payload {
  const encoding = encodingOf(p);
  if (encoding === STAMPED_ENCODING) {
    let proof: unknown;
    try {
      proof = JSON.parse(decoder.decode(p.data ?? new Uint8Array()));
    } catch {
      proof = undefined;
    }
    return jsonPayload(readStamped(proof, trusted));
  }
  if (encoding !== JSON_PLAIN || !p.data || !mayCarryFinding(p.data)) return p;
  const value = jsonObject(p);
  return value && FINDING_KEY in value ? jsonPayload(markForged(value)) : p;
}

/** Whether a payload is one the codec server stamps when the sender brings a token (an approval or a run's start). */
export function stampable(p: Payload): boolean {
  return stampKindOf(jsonObject(p)) !== undefined;
}

/** Stamps an approval or run-start payload with the verified identity; any other payload is returned as it is. */
export function stampPayload(p: Payload, who: VerifiedIdentity, context: { namespace?: string; now: Date }, key: StampSigningKey): Payload {
  const value = jsonObject(p);
  const kind = stampKindOf(value);
  if (!value || !kind) return p;
  const proof = stampValue(value, kind, who, context, key);
  return { metadata: { encoding: encoder.encode(STAMPED_ENCODING) }, data: encoder.encode(JSON.stringify(proof)) };
}

/**
 * The worker's payload codec: encodes nothing (the worker never stamps), and decodes stamped payloads for the
 * workflow, checking each signature against the trusted keys. It never throws on a bad stamp: the finding says what
 * is wrong and the approval gate refuses and records it, so a forged payload cannot stall a workflow task.
 */
export class StampVerifyingCodec implements PayloadCodec {
  constructor(private readonly trusted: TrustedKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => decodeForWorkflow(p, this.trusted));
  }
}
