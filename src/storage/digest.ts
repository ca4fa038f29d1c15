/**
 * sha256 over streams and files, and a pass-through stream that refuses to end unless the bytes that
 * went through it match the digest they were stored under.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { FailureType, MlopsError } from '../errors';

/** Read size for local files: large enough that per-chunk overhead vanishes next to hashing. */
export const FILE_CHUNK_BYTES = 1024 * 1024;

/** Lowercase hex sha256 of a buffer. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The base64 form S3 uses in `x-amz-checksum-sha256`, from a hex digest. */
export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** Streams a local file once and returns its sha256 and size; errors keep their `fs` codes. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** The error a reader gets when stored bytes do not match their digest. */
export function integrityError(uri: string, detail: string, details: Record<string, unknown> = {}): MlopsError {
  return new MlopsError(
    FailureType.Integrity,
    `${uri} failed its integrity check (${detail}): the stored bytes were altered or corrupted, so they are not served. ` +
      `Store the artifact again, or restore it from a backup.`,
    { uri, ...details },
  );
}

/** What a `DigestVerifier` expects to see. */
export interface ExpectedDigest {
  uri: string;
  sha256: string;
  /** When known, a longer or shorter stream fails as soon as that is certain. */
  size?: number;
}

/**
 * Hashes bytes as they are read and says when they stop matching what was expected: too many bytes as
 * soon as that is certain, and, at the end, a wrong size or digest.
 */
export class DigestCheck {
  private readonly hash = createHash('sha256');
  private seen = 0;

  constructor(readonly expected: ExpectedDigest) {}

  /** An error when a stored object's length, known before its bytes are read, is not the recorded size. */
  lengthError(length: number): MlopsError | undefined {
    const { size, uri } = this.expected;
    if (size === undefined || length === size) return undefined;
    return integrityError(uri, `${length} bytes stored instead of the recorded ${size}`, { expectedSize: size, actualSize: length });
  }

  /** Takes the next bytes; an error when they make the stream longer than the recorded size. */
  update(chunk: Uint8Array): MlopsError | undefined {
    this.seen += chunk.length;
    const { size, uri } = this.expected;
    if (size !== undefined && this.seen > size) return integrityError(uri, `more than the recorded ${size} bytes`, { expectedSize: size });
    this.hash.update(chunk);
    return undefined;
  }

  /** At the end of the bytes: an error unless their size and digest are the recorded ones. */
  finish(): MlopsError | undefined {
    const { size, uri, sha256 } = this.expected;
    if (size !== undefined && this.seen !== size) {
      return integrityError(uri, `${this.seen} bytes instead of the recorded ${size}`, { expectedSize: size, actualSize: this.seen });
    }
    const actual = this.hash.digest('hex');
    if (actual !== sha256)
      return integrityError(uri, `sha256 ${actual} instead of the recorded ${sha256}`, { expectedSha256: sha256, actualSha256: actual });
    return undefined;
  }
}

/**
 * Passes bytes through while hashing them. Before it would end, it compares the digest and size with
 * the expected ones and, on a mismatch, errors instead of ending: a consumer never sees a clean end
 * of corrupted bytes.
 */
export class DigestVerifier extends Transform {
  constructor(private readonly check: DigestCheck) {
    super({ highWaterMark: FILE_CHUNK_BYTES });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const err = this.check.update(chunk);
    if (err) callback(err);
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.check.finish());
  }
}
