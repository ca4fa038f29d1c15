/**
 * The artifact store: immutable, content-addressed blobs and small JSON documents in one MinIO bucket.
 *
 * Blobs live at `blobs/sha256/ab/abcd...`, so the same bytes are stored once. Every write streams
 * (no object is ever held whole in memory) and every read is checked against the sha256 it was
 * stored under. Errors come out as `MlopsError`s of the package's failure types (see ./errors).
 */
import { randomUUID, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as Minio from 'minio';
import type { MlopsConfig } from '../config';
import { FailureType, MlopsError, isMlopsError } from '../errors';
import { DigestCheck, DigestVerifier, FILE_CHUNK_BYTES, hashFile, hexToBase64, integrityError, sha256Hex } from './digest';
import { directGet } from './direct-get';
import { isNotFoundError, isPreconditionFailed, storageErrorCode, toStorageError } from './errors';
import { blobKey, digestOfBlobKey, formatS3Uri, isSha256, parseS3Uri, type ArtifactRef, type S3Location } from './refs';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Largest object S3 accepts in one PUT or one server-side copy. */
const S3_SINGLE_LIMIT = 5 * GiB;
/** Blobs from this size up are read with `directGet` (smaller ones reuse the S3 client's kept-alive connections). */
const DIRECT_GET_MIN_BYTES = 8 * MiB;

/** Key prefix of objects that are never deleted through the store. */
export const PROTECTED_PREFIX = 'registry/';

/** Key prefix of in-flight stream uploads; the bucket's lifecycle rule expires leftovers after a day. */
export const UPLOAD_PREFIX = 'tmp/uploads/';

/** Creates a minio-js client from the `minio` section of the configuration. */
export function createMinioClient(cfg: MlopsConfig['minio']): Minio.Client {
  try {
    return new Minio.Client({
      endPoint: cfg.endPoint,
      port: cfg.port,
      useSSL: cfg.useSSL,
      accessKey: cfg.accessKey,
      secretKey: cfg.secretKey,
      region: cfg.region,
      // Temporal retries activities with backoff; minio-js retrying underneath would replay consumed streams.
      retryOptions: { disableRetry: true },
    });
  } catch (err) {
    throw new MlopsError(
      FailureType.Configuration,
      `Invalid MinIO connection settings (${(err as Error).message}): check MINIO_ENDPOINT, MINIO_PORT and MINIO_USE_SSL.`,
      undefined,
      { cause: err },
    );
  }
}

/** Tuning of the store; the defaults suit objects from bytes to hundreds of GiB. */
export interface ArtifactStoreOptions {
  /** Part size of stream uploads (default 16 MiB); a stream upload holds at most four parts in memory. */
  partSize?: number;
  /** Largest object written with one PUT or copied with one server-side copy (default and maximum 5 GiB). */
  singleRequestLimit?: number;
  /** Largest JSON document `readDocument` and `getJson` accept (default 16 MiB). */
  maxDocumentBytes?: number;
}

/** Options of a put. */
export interface PutOptions {
  /** MIME type recorded with the object and in the returned reference. */
  contentType?: string;
}

/** What `stat` and `list` report about an object. */
export interface ObjectInfo {
  key: string;
  uri: string;
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
  /** The sha256 recorded at write time (blob key or metadata); a claim, checked only when reading. */
  sha256?: string;
}

/** Precondition of a document write: create only, replace only this version, or unconditional. */
export type WriteCondition = { ifNoneMatch: true } | { ifMatch: string } | Record<string, never>;

/** A JSON document as read, with the ETag to make the next write conditional on. */
export interface StoredDocument<T> {
  value: T;
  etag: string;
  ref: ArtifactRef;
}

/** Something the store can locate: a reference, an `s3://` URI, or a key in the store's bucket. */
export type ObjectTarget = ArtifactRef | string;

/** Blobs and JSON documents in one MinIO bucket, with streaming writes and verified reads. */
export class ArtifactStore {
  private bucketReady?: Promise<void>;
  private readonly partSize: number;
  private readonly singleLimit: number;
  private readonly maxDocumentBytes: number;
  /** `host:port`, for error messages. */
  readonly endpoint: string;
  /**
   * The settings the client was made from, when the store was made by `connect`: what another thread
   * (the prediction log's writer) needs to open a client of its own.
   */
  connection?: MlopsConfig['minio'];

  /** A store over a new client for these settings, in their bucket. */
  static connect(cfg: MlopsConfig['minio'], options: ArtifactStoreOptions = {}): ArtifactStore {
    const store = new ArtifactStore(createMinioClient(cfg), cfg.bucket, options);
    store.connection = cfg;
    return store;
  }

  constructor(
    readonly client: Minio.Client,
    readonly bucket: string,
    options: ArtifactStoreOptions = {},
  ) {
    this.partSize = options.partSize ?? 16 * MiB;
    this.singleLimit = Math.min(options.singleRequestLimit ?? S3_SINGLE_LIMIT, S3_SINGLE_LIMIT);
    this.maxDocumentBytes = options.maxDocumentBytes ?? 16 * MiB;
    if (this.partSize < 5 * MiB || this.singleLimit < 5 * MiB) {
      throw new MlopsError(
        FailureType.Configuration,
        `ArtifactStore partSize and singleRequestLimit must be at least 5 MiB (S3's smallest part), got ${this.partSize} and ${this.singleLimit}.`,
      );
    }
    const c = client as unknown as { host?: string; port?: number };
    this.endpoint = `${c.host ?? '?'}:${c.port ?? '?'}`;
  }

  /** `s3://bucket/key` of a key in this store's bucket. */
  uri(key: string): string {
    return formatS3Uri(this.bucket, key);
  }

  /** Creates the bucket if it does not exist (once per store; a failure is retried on the next call). */
  ensureBucket(): Promise<void> {
    this.bucketReady ??= this.createBucketIfMissing().catch((err) => {
      this.bucketReady = undefined;
      throw err;
    });
    return this.bucketReady;
  }

  // ---- writes of blobs ----

  /** Stores a local file as a content-addressed blob: one hashing read, then one streaming upload unless the blob exists. */
  async putFile(path: string, options: PutOptions = {}): Promise<ArtifactRef> {
    let digest: { sha256: string; size: number };
    try {
      digest = await hashFile(path);
    } catch (err) {
      throw fileError(err, path);
    }
    return this.storeBlob(digest.sha256, digest.size, () => createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES }), options);
  }

  /** Stores bytes held in memory as a content-addressed blob. */
  async putBuffer(data: Uint8Array, options: PutOptions = {}): Promise<ArtifactRef> {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return this.storeBlob(sha256Hex(buf), buf.length, () => buf, options);
  }

  /** Stores a value as a content-addressed JSON blob (same value, same bytes, same blob). */
  async putJson(value: unknown, options: PutOptions = {}): Promise<ArtifactRef> {
    return this.putBuffer(Buffer.from(JSON.stringify(value)), { contentType: 'application/json', ...options });
  }

  /**
   * Stores a stream of unknown length as a content-addressed blob, hashing it as it goes. A stream
   * that fits in one part is written straight to its blob key; a longer one is uploaded in parts to a
   * temporary key (its digest is unknown until the end), then copied server-side to the blob key
   * unless that blob already exists, and the temporary object removed.
   */
  async putStream(source: AsyncIterable<Uint8Array | string>, options: PutOptions = {}): Promise<ArtifactRef> {
    const parts = partsOf(source, this.partSize)[Symbol.asyncIterator]();
    const first = await this.nextPart(parts);
    if (first.done) return this.putBuffer(Buffer.alloc(0), options);
    const second = await this.nextPart(parts);
    if (second.done) return this.putBuffer(first.value, options);

    await this.ensureBucket();
    const tmpKey = `${UPLOAD_PREFIX}${new Date().toISOString().slice(0, 10)}/${randomUUID()}`;
    const { sha256, size } = await this.uploadParts(tmpKey, prepend([first.value, second.value], parts), options.contentType);
    try {
      const existing = await this.statKey(blobKey(sha256));
      if (!existing || !(await this.blobIntact(blobKey(sha256), sha256, size, existing)))
        await this.copyWithin(tmpKey, blobKey(sha256), size);
    } finally {
      await this.client.removeObject(this.bucket, tmpKey).catch(() => undefined);
    }
    return this.refOf(blobKey(sha256), sha256, size, options.contentType);
  }

  // ---- reads of blobs ----

  /**
   * Opens a stored artifact as a stream that is checked against `ref.sha256` (and `ref.size`) as it is
   * read: on a mismatch the stream errors with `MlopsIntegrityError` instead of ending.
   */
  async get(ref: Pick<ArtifactRef, 'uri' | 'sha256'> & { size?: number }): Promise<Readable> {
    const loc = this.locateRef(ref);
    const check = new DigestCheck({ uri: ref.uri, sha256: ref.sha256, size: ref.size });
    if (ref.size !== undefined && ref.size >= DIRECT_GET_MIN_BYTES) {
      const direct = await this.directGet(loc, check);
      if (direct) return direct;
    }
    let body: IncomingMessage;
    try {
      body = (await this.client.getObject(loc.bucket, loc.key)) as IncomingMessage;
    } catch (err) {
      throw this.artifactError(err, 'get', loc);
    }
    const length = Number(body.headers?.['content-length']);
    const wrongLength = Number.isFinite(length) ? check.lengthError(length) : undefined;
    if (wrongLength) {
      body.destroy();
      throw wrongLength;
    }
    const verifier = new DigestVerifier(check);
    body.on('error', (err) => verifier.destroy(toStorageError(err, { op: 'get', ...loc, endpoint: this.endpoint })));
    verifier.on('close', () => body.destroy());
    return body.pipe(verifier);
  }

  /** Reads a small artifact whole and returns it only after its digest has been checked. */
  async getBuffer(ref: Pick<ArtifactRef, 'uri' | 'sha256'> & { size?: number }, maxBytes = this.maxDocumentBytes): Promise<Buffer> {
    if (ref.size !== undefined && ref.size > maxBytes) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `${ref.uri} has ${ref.size} bytes, more than the ${maxBytes} that getBuffer reads into memory; stream it with get() or getFile().`,
        { uri: ref.uri, size: ref.size, maxBytes },
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const stream = await this.get(ref);
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        stream.destroy();
        throw new MlopsError(
          FailureType.InvalidInput,
          `${ref.uri} is larger than the ${maxBytes} bytes getBuffer reads into memory; stream it with get() or getFile().`,
          { uri: ref.uri, maxBytes },
        );
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, total);
  }

  /** Reads and parses a small JSON artifact after checking its digest. */
  async getJson<T = unknown>(ref: Pick<ArtifactRef, 'uri' | 'sha256'> & { size?: number }): Promise<T> {
    const buf = await this.getBuffer(ref);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (err) {
      throw new MlopsError(FailureType.InvalidInput, `${ref.uri} is not valid JSON: ${(err as Error).message}`, { uri: ref.uri });
    }
  }

  /** Downloads an artifact to a local file; the file appears (atomically, by rename) only once the digest matched. */
  async getFile(ref: Pick<ArtifactRef, 'uri' | 'sha256'> & { size?: number }, path: string): Promise<void> {
    const partial = `${path}.partial-${randomUUID()}`;
    try {
      await pipeline(await this.get(ref), createWriteStream(partial));
      await fsp.rename(partial, path);
    } catch (err) {
      await fsp.rm(partial, { force: true });
      throw isMlopsError(err) ? err : toStorageError(err, { op: 'download', ...this.locate(ref.uri), endpoint: this.endpoint });
    }
  }

  /**
   * Opens any object, in any bucket of this server, without a digest check: for source data that
   * arrives from outside (its digest is taken while ingesting it). Matches the ML core's `OpenS3`.
   */
  async openObject(bucket: string, key: string): Promise<Readable> {
    try {
      return await this.client.getObject(bucket, key);
    } catch (err) {
      throw this.artifactError(err, 'read', { bucket, key });
    }
  }

  // ---- metadata, listing, URLs, deletion ----

  /** Metadata of an object; `MlopsNotFound` when it does not exist. */
  async stat(target: ObjectTarget): Promise<ObjectInfo> {
    const loc = this.locate(target);
    const info = await this.statLocation(loc);
    if (!info) throw new MlopsError(FailureType.NotFound, `${formatS3Uri(loc.bucket, loc.key)} does not exist.`, { ...loc });
    return info;
  }

  /** Whether an object exists. */
  async exists(target: ObjectTarget): Promise<boolean> {
    return (await this.statLocation(this.locate(target))) !== undefined;
  }

  /** Every object whose key starts with `prefix`, in key order (empty when the bucket does not exist yet). */
  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    for (const item of await this.listRaw(prefix, true)) {
      if (item.name) {
        out.push({
          key: item.name,
          uri: this.uri(item.name),
          size: item.size,
          etag: item.etag,
          lastModified: item.lastModified,
          sha256: digestOfBlobKey(item.name),
        });
      }
    }
    return out;
  }

  /** The next-level "folders" under `prefix` (which should end in "/"), without the prefix or trailing slash. */
  async listPrefixes(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for (const item of await this.listRaw(prefix, false)) {
      if (item.prefix) out.push(item.prefix.slice(prefix.length).replace(/\/$/, ''));
    }
    return out;
  }

  /**
   * A presigned URL that lets anyone holding it GET the object until it expires. The URL is not
   * digest-checked: whoever downloads it should compare the bytes with the reference's sha256.
   */
  async presignedGetUrl(target: ObjectTarget, expirySeconds = 3600): Promise<string> {
    if (!Number.isInteger(expirySeconds) || expirySeconds < 1 || expirySeconds > 7 * 24 * 3600) {
      throw new MlopsError(FailureType.InvalidInput, `A presigned URL expiry must be 1 to 604800 seconds (7 days), got ${expirySeconds}.`);
    }
    const loc = this.locate(target);
    try {
      return await this.client.presignedGetObject(loc.bucket, loc.key, expirySeconds);
    } catch (err) {
      throw toStorageError(err, { op: 'presign', ...loc, endpoint: this.endpoint });
    }
  }

  /** Deletes an object. Registry objects (versions, aliases, their history) are never deleted. */
  async delete(target: ObjectTarget): Promise<void> {
    const loc = this.locate(target);
    if (loc.key.startsWith(PROTECTED_PREFIX)) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Refusing to delete ${formatS3Uri(loc.bucket, loc.key)}: the model registry and its history are immutable.`,
        { ...loc },
      );
    }
    try {
      await this.client.removeObject(loc.bucket, loc.key);
    } catch (err) {
      throw toStorageError(err, { op: 'delete', ...loc, endpoint: this.endpoint });
    }
  }

  // ---- JSON documents at fixed keys (registry, snapshots) ----

  /**
   * Writes a JSON document at `key`, optionally conditional: `{ ifNoneMatch: true }` creates it only if
   * absent, `{ ifMatch: etag }` replaces only that version. A lost condition throws `MlopsConflict`
   * (recognise it with `isPreconditionFailed`). The document's sha256 travels in its metadata and is
   * checked by MinIO on receipt and by `readDocument` on every read.
   */
  async writeDocument(key: string, value: unknown, condition: WriteCondition = {}): Promise<StoredDocument<unknown>> {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    const sha256 = sha256Hex(body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amz-meta-sha256': sha256,
      'x-amz-checksum-sha256': hexToBase64(sha256),
    };
    if ('ifNoneMatch' in condition) headers['if-none-match'] = '*';
    if ('ifMatch' in condition) headers['if-match'] = `"${condition.ifMatch}"`;
    await this.ensureBucket();
    try {
      const res = await this.client.makeRequestAsync({ method: 'PUT', bucketName: this.bucket, objectName: key, headers }, body, [200]);
      res.resume();
      return { value, etag: cleanEtag(res.headers.etag), ref: this.refOf(key, sha256, body.length, 'application/json') };
    } catch (err) {
      throw toStorageError(err, { op: 'write', bucket: this.bucket, key, endpoint: this.endpoint });
    }
  }

  /** Reads a JSON document written by `writeDocument`, checking its digest; undefined when it does not exist. */
  async readDocument<T = unknown>(key: string): Promise<StoredDocument<T> | undefined> {
    let res: IncomingMessage;
    try {
      res = (await this.client.getObject(this.bucket, key)) as IncomingMessage;
    } catch (err) {
      if (isNotFoundError(err)) return undefined;
      throw toStorageError(err, { op: 'read', bucket: this.bucket, key, endpoint: this.endpoint });
    }
    const uri = this.uri(key);
    const body = await this.readLimited(res, uri);
    const recorded = res.headers['x-amz-meta-sha256'];
    const actual = sha256Hex(body);
    if (typeof recorded !== 'string' || !isSha256(recorded))
      throw integrityError(uri, 'it carries no recorded sha256, so it was not written by temporal-mlops');
    if (recorded !== actual)
      throw integrityError(uri, `sha256 ${actual} instead of the recorded ${recorded}`, { expectedSha256: recorded, actualSha256: actual });
    let value: T;
    try {
      value = JSON.parse(body.toString('utf8')) as T;
    } catch (err) {
      throw integrityError(uri, `not valid JSON: ${(err as Error).message}`);
    }
    return { value, etag: cleanEtag(res.headers.etag), ref: this.refOf(key, actual, body.length, 'application/json') };
  }

  // ---- internals ----

  private async createBucketIfMissing(): Promise<void> {
    const ctx = { op: 'create bucket', bucket: this.bucket, endpoint: this.endpoint };
    try {
      if (await this.client.bucketExists(this.bucket)) return;
      await this.client.makeBucket(this.bucket);
    } catch (err) {
      const code = storageErrorCode(err);
      if (code === 'BucketAlreadyOwnedByYou') return;
      if (code === 'BucketAlreadyExists') {
        throw new MlopsError(
          FailureType.Configuration,
          `Bucket "${this.bucket}" belongs to another account: choose another MINIO_BUCKET.`,
          ctx,
          { cause: err },
        );
      }
      throw toStorageError(err, ctx);
    }
    // Temporary objects of interrupted stream uploads expire on their own (MinIO also drops multipart
    // uploads left incomplete, after api.stale_uploads_expiry, 24 h by default). Best effort: a server
    // without lifecycle support still works.
    await this.client
      .setBucketLifecycle(this.bucket, {
        Rule: [{ ID: 'mlops-expire-tmp-uploads', Status: 'Enabled', Filter: { Prefix: UPLOAD_PREFIX }, Expiration: { Days: 1 } }],
      } as unknown as Parameters<Minio.Client['setBucketLifecycle']>[1])
      .catch(() => undefined);
  }

  /** Writes a blob whose digest is known, unless it is already stored; `open` supplies the bytes. */
  private async storeBlob(sha256: string, size: number, open: () => Readable | Buffer, options: PutOptions): Promise<ArtifactRef> {
    const key = blobKey(sha256);
    await this.ensureBucket();
    const existing = await this.statKey(key);
    // An existing blob is trusted only once its bytes hash to its name; a damaged copy is written over.
    if (existing && (await this.blobIntact(key, sha256, size, existing))) return this.refOf(key, sha256, size, options.contentType);
    if (size > this.singleLimit) {
      const source = open();
      const uploaded = await this.uploadParts(key, Buffer.isBuffer(source) ? [source] : source, options.contentType, sha256);
      return this.refOf(key, uploaded.sha256, uploaded.size, options.contentType);
    }
    const headers: Record<string, string> = {
      'content-length': String(size),
      'content-type': options.contentType ?? 'application/octet-stream',
      'x-amz-meta-sha256': sha256,
      // MinIO recomputes the digest of what it receives and rejects the PUT on a mismatch, so a file
      // that changed after it was hashed can never land under the wrong key.
      'x-amz-checksum-sha256': hexToBase64(sha256),
    };
    if (!existing) headers['if-none-match'] = '*';
    const ctx = { op: 'put', bucket: this.bucket, key, endpoint: this.endpoint };
    try {
      const res = await this.client.makeRequestStreamAsync(
        { method: 'PUT', bucketName: this.bucket, objectName: key, headers },
        open(),
        this.client.enableSHA256 ? sha256 : '',
        [200],
        '',
      );
      res.resume();
    } catch (err) {
      // Someone stored the same bytes between our check and our write: that is the dedup we want.
      if (!isPreconditionFailed(err)) throw toStorageError(err, ctx);
    }
    return this.refOf(key, sha256, size, options.contentType);
  }

  /**
   * Multipart upload of a sequence of parts, hashing the whole as it goes, with one part uploading
   * while the next is read. With `expectSha256`, a whole that hashes differently is aborted.
   */
  private async uploadParts(
    key: string,
    source: AsyncIterable<Uint8Array | string> | Iterable<Buffer>,
    contentType: string | undefined,
    expectSha256?: string,
  ): Promise<{ sha256: string; size: number }> {
    const ctx = { op: 'multipart upload', bucket: this.bucket, key, endpoint: this.endpoint };
    const headers: Record<string, string> = { 'content-type': contentType ?? 'application/octet-stream' };
    if (expectSha256) headers['x-amz-meta-sha256'] = expectSha256;
    let uploadId: string;
    try {
      uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, headers);
    } catch (err) {
      throw toStorageError(err, ctx);
    }
    const hash = createHash('sha256');
    let size = 0;
    const etags: { part: number; etag: string }[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    try {
      let part = 0;
      for await (const chunk of isPartSequence(source) ? source : partsOf(source, this.partSize)) {
        if (failure) break;
        part += 1;
        hash.update(chunk);
        size += chunk.length;
        const n = part;
        const p: Promise<void> = this.uploadPart(key, uploadId, n, chunk)
          .then((etag) => {
            etags.push({ part: n, etag });
          })
          .catch((err) => {
            failure ??= err;
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
        // One part in flight while the next one fills: throughput of two, memory of three parts.
        if (inflight.size >= 2) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      if (failure) throw failure;
      const sha256 = hash.digest('hex');
      if (expectSha256 && sha256 !== expectSha256) {
        throw new MlopsError(
          FailureType.Integrity,
          `${this.uri(key)}: the source changed while it was being uploaded (sha256 ${sha256}, expected ${expectSha256}); nothing was stored.`,
          { key },
        );
      }
      etags.sort((a, b) => a.part - b.part);
      await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
      return { sha256, size };
    } catch (err) {
      await Promise.allSettled(inflight);
      await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
      if (err instanceof SourceFailure) throw err.cause;
      throw isMlopsError(err) ? err : toStorageError(err, ctx);
    }
  }

  private async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const res = await this.client.makeRequestAsyncOmit(
      {
        method: 'PUT',
        bucketName: this.bucket,
        objectName: key,
        query: `partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`,
        headers: {},
      },
      body,
      [200],
    );
    return cleanEtag(res.headers.etag);
  }

  /**
   * Server-side copy within the bucket; an object over the single-request limit is copied as a
   * multipart upload of ranges (UploadPartCopy), each pinned to the source's ETag.
   */
  private async copyWithin(fromKey: string, toKey: string, size: number): Promise<void> {
    const ctx = { op: 'copy', bucket: this.bucket, key: toKey, endpoint: this.endpoint };
    if (size <= this.singleLimit) {
      try {
        await this.client.copyObject(
          new Minio.CopySourceOptions({ Bucket: this.bucket, Object: fromKey }),
          new Minio.CopyDestinationOptions({ Bucket: this.bucket, Object: toKey }),
        );
      } catch (err) {
        throw toStorageError(err, ctx);
      }
      return;
    }
    // Not minio-js composeObject: its ranged sources all start at byte 0 (v8.0.7), which the digest check caught.
    const source = await this.statKey(fromKey);
    if (!source) throw new MlopsError(FailureType.NotFound, `${this.uri(fromKey)} vanished before it could be copied.`, ctx);
    let uploadId: string | undefined;
    try {
      uploadId = await this.client.initiateNewMultipartUpload(this.bucket, toKey, {});
      const etags: { part: number; etag: string }[] = [];
      for (let start = 0, part = 1; start < size; start += this.singleLimit, part++) {
        const end = Math.min(start + this.singleLimit, size) - 1;
        const res = await this.client.uploadPart(
          {
            bucketName: this.bucket,
            objectName: toKey,
            uploadID: encodeURIComponent(uploadId),
            partNumber: part,
            headers: {
              'x-amz-copy-source': `/${this.bucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
              'x-amz-copy-source-range': `bytes=${start}-${end}`,
              'x-amz-copy-source-if-match': `"${source.etag}"`,
            },
          },
          '',
        );
        etags.push({ part, etag: res.etag });
      }
      await this.client.completeMultipartUpload(this.bucket, toKey, uploadId, etags);
    } catch (err) {
      if (uploadId) await this.client.abortMultipartUpload(this.bucket, toKey, uploadId).catch(() => undefined);
      throw toStorageError(err, ctx);
    }
  }

  /** Reads the next part of the caller's stream; its errors are the caller's, so they pass through unchanged. */
  private async nextPart(parts: AsyncIterator<Buffer>): Promise<IteratorResult<Buffer>> {
    try {
      return await parts.next();
    } catch (err) {
      throw err instanceof SourceFailure ? err.cause : err;
    }
  }

  /**
   * Whether the stored blob at `key` is whole: the right size, and its bytes hash to `sha256` (read back
   * through the same digest check as every read). A damaged blob answers false, so storing the same
   * bytes again repairs it; a read that fails for another reason (MinIO down) is thrown.
   */
  private async blobIntact(key: string, sha256: string, size: number, existing: ObjectInfo): Promise<boolean> {
    if (existing.size !== size) return false;
    try {
      const stream = await this.get({ uri: this.uri(key), sha256, size });
      for await (const chunk of stream) void chunk;
      return true;
    } catch (err) {
      if (isMlopsError(err) && err.type === FailureType.Integrity) return false;
      throw err;
    }
  }

  private async statKey(key: string): Promise<ObjectInfo | undefined> {
    return this.statLocation({ bucket: this.bucket, key });
  }

  private async statLocation(loc: S3Location): Promise<ObjectInfo | undefined> {
    try {
      const st = await this.client.statObject(loc.bucket, loc.key);
      const meta = st.metaData as Record<string, string | undefined>;
      const recorded = meta['sha256'];
      return {
        key: loc.key,
        uri: formatS3Uri(loc.bucket, loc.key),
        size: st.size,
        etag: st.etag,
        lastModified: st.lastModified,
        contentType: meta['content-type'],
        sha256: digestOfBlobKey(loc.key) ?? (isSha256(recorded) ? recorded : undefined),
      };
    } catch (err) {
      if (isNotFoundError(err)) return undefined;
      throw toStorageError(err, { op: 'stat', ...loc, endpoint: this.endpoint });
    }
  }

  private async listRaw(prefix: string, recursive: boolean): Promise<Minio.BucketItem[]> {
    const items: Minio.BucketItem[] = [];
    try {
      const stream = this.client.listObjectsV2(this.bucket, prefix, recursive);
      for await (const item of stream as AsyncIterable<Minio.BucketItem>) items.push(item);
    } catch (err) {
      if (storageErrorCode(err) === 'NoSuchBucket') return [];
      throw toStorageError(err, { op: 'list', bucket: this.bucket, key: prefix, endpoint: this.endpoint });
    }
    return items;
  }

  private async readLimited(res: IncomingMessage, uri: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res) {
        total += (chunk as Buffer).length;
        if (total > this.maxDocumentBytes) {
          res.destroy();
          throw new MlopsError(FailureType.InvalidInput, `${uri} is larger than the ${this.maxDocumentBytes} bytes a document may have.`, {
            uri,
          });
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      throw isMlopsError(err) ? err : toStorageError(err, { op: 'read', ...this.locate(uri), endpoint: this.endpoint });
    }
    return Buffer.concat(chunks, total);
  }

  /** Bucket and key of a target; a bare string without `s3://` is a key in this store's bucket. */
  private locate(target: ObjectTarget): S3Location {
    const text = typeof target === 'string' ? target : target.uri;
    if (typeof text !== 'string' || text.length === 0)
      throw new MlopsError(FailureType.InvalidInput, `Expected an s3:// URI or an object key, got ${JSON.stringify(text)}.`);
    if (!text.startsWith('s3://')) return { bucket: this.bucket, key: text };
    const loc = parseS3Uri(text);
    if (!loc) throw new MlopsError(FailureType.InvalidInput, `${JSON.stringify(text)} is not an s3://bucket/key URI.`, { uri: text });
    return loc;
  }

  /**
   * The lean read of a large blob over plain HTTP (see direct-get.ts), or undefined when it does not
   * apply (TLS) or the server's answer is not a plain success: the S3 client then reads it, and reports
   * any failure with its typed error. `check` has seen no bytes when it resolves to undefined.
   */
  private async directGet(loc: S3Location, check: DigestCheck): Promise<Readable | undefined> {
    let url: URL;
    try {
      url = new URL(await this.client.presignedGetObject(loc.bucket, loc.key, 15 * 60));
    } catch {
      return undefined;
    }
    if (url.protocol !== 'http:') return undefined;
    return directGet(url, check);
  }

  private locateRef(ref: Pick<ArtifactRef, 'uri' | 'sha256'> & { size?: number }): S3Location {
    if (!ref || typeof ref !== 'object')
      throw new MlopsError(FailureType.InvalidInput, `Expected an artifact reference { uri, sha256 }, got ${JSON.stringify(ref)}.`);
    if (!isSha256(ref.sha256))
      throw new MlopsError(
        FailureType.InvalidInput,
        `Artifact reference ${ref.uri} has no valid sha256 (${JSON.stringify(ref.sha256)}); only verified reads are offered.`,
        { uri: ref.uri },
      );
    const loc = this.locate(ref.uri);
    const named = digestOfBlobKey(loc.key);
    if (named !== undefined && named !== ref.sha256) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Artifact reference ${ref.uri} claims sha256 ${ref.sha256}, but its key names ${named}.`,
        { uri: ref.uri },
      );
    }
    return loc;
  }

  private artifactError(err: unknown, op: string, loc: S3Location): Error {
    const e = toStorageError(err, { op, ...loc, endpoint: this.endpoint });
    if (isMlopsError(e) && e.type === FailureType.NotFound && e.details?.code !== 'NoSuchBucket') {
      return new MlopsError(
        FailureType.NotFound,
        `Artifact ${formatS3Uri(loc.bucket, loc.key)} does not exist: it was never stored here, or was deleted.`,
        e.details,
        { cause: err },
      );
    }
    return e;
  }

  private refOf(key: string, sha256: string, size: number, contentType: string | undefined): ArtifactRef {
    const ref: ArtifactRef = { uri: this.uri(key), sha256, size };
    if (contentType) ref.contentType = contentType;
    return ref;
  }
}

/** An error of the caller's stream (not of MinIO), carried out of the upload unchanged. */
class SourceFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('the stream being stored failed');
  }
}

async function* guarded<T>(source: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  try {
    for await (const item of source) yield item;
  } catch (err) {
    throw new SourceFailure(err);
  }
}

/**
 * Regroups a byte stream into parts of exactly `size` bytes (the last may be shorter), copying each
 * chunk once. Errors of the source come out as `SourceFailure`.
 */
async function* partsOf(source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, size: number): AsyncGenerator<Buffer> {
  let buf = Buffer.allocUnsafe(size);
  let fill = 0;
  for await (const raw of guarded(source)) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(size - fill, chunk.length - offset);
      chunk.copy(buf, fill, offset, offset + n);
      fill += n;
      offset += n;
      if (fill === size) {
        yield buf;
        buf = Buffer.allocUnsafe(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/** Marks an iterable whose items are already whole parts. */
const PART_SEQUENCE = Symbol('partSequence');

function prepend(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  const seq = {
    async *[Symbol.asyncIterator]() {
      yield* head;
      for (;;) {
        const next = await rest.next();
        if (next.done) return;
        yield next.value;
      }
    },
    [PART_SEQUENCE]: true,
  };
  return seq;
}

function isPartSequence(source: unknown): source is AsyncIterable<Buffer> {
  return typeof source === 'object' && source !== null && PART_SEQUENCE in source;
}

function cleanEtag(etag: string | string[] | undefined): string {
  const value = Array.isArray(etag) ? etag[0] : etag;
  return (value ?? '').replace(/^"|"$/g, '');
}

function fileError(err: unknown, path: string): MlopsError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'it does not exist'
      : code === 'EISDIR'
        ? 'it is a directory'
        : code === 'EACCES'
          ? 'permission denied'
          : (err as Error).message;
  return new MlopsError(FailureType.InvalidInput, `Cannot read ${path} to store it: ${why}.`, { path, code }, { cause: err });
}
