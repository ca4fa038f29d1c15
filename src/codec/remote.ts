/**
 * The client side of a codec server, as the Temporal CLI's `--codec-endpoint` and `--codec-auth` use it: payloads
 * go to the server's /encode (with the sender's bearer token) before they leave, and come back through /decode.
 * This is how `mlops approve` and `mlops run` get their identity stamped.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { FailureType, MlopsError } from '../errors';

interface WirePayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** A payload codec that calls a codec server over HTTP. */
export class RemoteCodec implements PayloadCodec {
  constructor(
    private readonly endpoint: string,
    private readonly options: { token?: string; namespace: string },
  ) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    return this.call('encode', payloads);
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return this.call('decode', payloads);
  }

  private async call(op: 'encode' | 'decode', payloads: Payload[]): Promise<Payload[]> {
    const url = `${this.endpoint.replace(/\/+$/, '')}/${op}`;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-namespace': this.options.namespace };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ payloads: payloads.map(toWire) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new MlopsError(
        FailureType.Unavailable,
        `Cannot reach the codec server at ${url}: ${(err as Error).message}. Is "mlops codec" running?`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as { payloads?: WirePayload[]; message?: string };
    if (!res.ok || !Array.isArray(body.payloads)) {
      const type = res.status === 401 ? FailureType.AccessDenied : FailureType.Unavailable;
      throw new MlopsError(type, `The codec server refused to ${op} (HTTP ${res.status}): ${body.message ?? 'no reason given'}`);
    }
    return body.payloads.map(fromWire);
  }
}

function toWire(p: Payload): WirePayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

function fromWire(p: WirePayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}
