/**
 * A lean GET for large blobs over plain HTTP: one request on its own connection to a presigned URL, the
 * socket read into one reusable buffer (`net`'s `onread`) instead of through Node's HTTP client. Reading
 * a GiB this way costs about a third of the CPU, which pays for hashing every byte as it arrives. Large
 * reads are handed to the reader in the buffer they arrived in; small ones are copied out of it and
 * the buffer is read into again, so a trickle of small reads does not pin a megabyte each.
 *
 * Only the answer the fast path is for is taken: `200` with a `Content-Length` and no transfer coding.
 * Anything else (an error status, a failed connection, an unexpected framing) resolves to `undefined`,
 * and the caller reads through the S3 client instead, which turns the failure into its typed error.
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { FailureType, MlopsError } from '../errors';
import type { DigestCheck } from './digest';

/** Bytes the socket is read into at a time. */
const READ_BUFFER_BYTES = 256 * 1024;
/** A read at least this large hands its buffer to the reader as it is; a smaller one is copied out, and the buffer reused. */
const HAND_OVER_BYTES = 64 * 1024;
/** Largest response head accepted before the fast path gives up. */
const MAX_HEAD_BYTES = 64 * 1024;

/** The body of a GET, checked against `check` as it streams; on a mismatch it errors instead of ending. */
class CheckedBody extends Readable {
  constructor(private readonly socket: Socket) {
    super({ highWaterMark: READ_BUFFER_BYTES });
  }

  override _read(): void {
    this.socket.resume();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}

/**
 * GETs `url` (plain `http:`) and resolves, once the response head has arrived, to its body checked by
 * `check`, or to `undefined` when the answer is not a plain `200` (see the module comment). Rejects with
 * an integrity error when the stored length is not the recorded size.
 */
export function directGet(url: URL, check: DigestCheck): Promise<Readable | undefined> {
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let body: CheckedBody | undefined;
    let remaining = 0;
    const giveUp = () => {
      socket.destroy();
      resolve(undefined);
    };
    let spare: Buffer | undefined;
    /** After the last byte: the body ends, or errors when the bytes do not match. */
    const finishBody = (): false => {
      const mismatch = check.finish();
      if (mismatch) body!.destroy(mismatch);
      else body!.push(null);
      socket.destroy();
      return false;
    };
    const deliver = (data: Buffer, readBuffer?: Buffer): boolean => {
      const err = check.update(data);
      if (err) {
        body!.destroy(err);
        return false;
      }
      remaining -= data.length;
      let chunk: Buffer;
      if (readBuffer && data.length >= HAND_OVER_BYTES) {
        chunk = data;
      } else {
        chunk = Buffer.from(data);
        spare = readBuffer;
      }
      const more = body!.push(chunk);
      return remaining === 0 ? finishBody() : more;
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port || 80),
      onread: {
        buffer: () => {
          const next = spare ?? Buffer.allocUnsafe(READ_BUFFER_BYTES);
          spare = undefined;
          return next;
        },
        callback: (n: number, buffer: Uint8Array): boolean => {
          const data = Buffer.from(buffer.buffer, buffer.byteOffset, n);
          if (body) return deliver(data, buffer as Buffer);
          head = Buffer.concat([head!, data]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > MAX_HEAD_BYTES) giveUp();
            return true;
          }
          const length = parseHead(head.subarray(0, end).toString('latin1'));
          const rest = head.subarray(end + 4);
          head = undefined;
          if (length === undefined) {
            giveUp();
            return false;
          }
          const wrongLength = check.lengthError(length);
          if (wrongLength) {
            socket.destroy();
            reject(wrongLength);
            return false;
          }
          body = new CheckedBody(socket);
          remaining = length;
          resolve(body);
          if (length === 0) return finishBody();
          return rest.length > 0 ? deliver(rest) : true;
        },
      },
    });
    socket.on('connect', () => socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`));
    socket.on('error', (err) => {
      if (body)
        body.destroy(unavailable(check.expected.uri, url, `the connection failed with ${remaining} bytes still to come: ${err.message}`));
      else resolve(undefined);
    });
    socket.on('close', () => {
      if (!body) resolve(undefined);
      else if (remaining > 0 && !body.destroyed)
        body.destroy(unavailable(check.expected.uri, url, `the connection closed with ${remaining} bytes still to come`));
    });
  });
}

/** The body length of a `200` answer with a plain `Content-Length`, or undefined for anything else. */
function parseHead(text: string): number | undefined {
  const lines = text.split('\r\n');
  if (!/^HTTP\/1\.[01] 200 /.test(lines[0] ?? '')) return undefined;
  let length: number | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'transfer-encoding' || name === 'content-encoding') return undefined;
    if (name === 'content-length') {
      if (!/^\d+$/.test(value)) return undefined;
      length = Number(value);
    }
  }
  return length;
}

function unavailable(uri: string, url: URL, detail: string): MlopsError {
  return new MlopsError(FailureType.Unavailable, `Reading ${uri} from ${url.host} failed: ${detail}. Reading it again usually succeeds.`, {
    uri,
    endpoint: url.host,
  });
}
