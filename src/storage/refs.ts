/**
 * References to stored bytes: what workflows pass around instead of data.
 *
 * No imports, no Node APIs: workflows import this module, and the sandbox has neither.
 */

/** A pointer to immutable bytes in object storage, with the digest a reader checks them against. */
export interface ArtifactRef {
  /** Where the bytes are: `s3://bucket/key`. */
  uri: string;
  /** Lowercase hex sha256 of the bytes. */
  sha256: string;
  /** Length of the bytes. */
  size: number;
  /** MIME type recorded when the bytes were stored, if one was given. */
  contentType?: string;
}

/** A bucket and key, split out of an `s3://` URI. */
export interface S3Location {
  bucket: string;
  key: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether a value is a lowercase hex sha256 digest. */
export function isSha256(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

/** The key of a content-addressed blob: `blobs/sha256/ab/abcd...`. */
export function blobKey(sha256: string): string {
  return `blobs/sha256/${sha256.slice(0, 2)}/${sha256}`;
}

/** The digest a content-addressed key names, or undefined when the key is not a blob key. */
export function digestOfBlobKey(key: string): string | undefined {
  const m = /^blobs\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
  return m && m[2]!.startsWith(m[1]!) ? m[2] : undefined;
}

/** `s3://bucket/key`. */
export function formatS3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** Splits `s3://bucket/key`; undefined when the string is not of that form. */
export function parseS3Uri(uri: string): S3Location | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}
