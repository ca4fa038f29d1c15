import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import { TestMinio } from '../../helpers/servers';
import { FailureType } from '../../../src/errors';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { blobKey, parseS3Uri, type ArtifactRef } from '../../../src/storage/refs';

const MiB = 1024 * 1024;
let minio: TestMinio;
let raw: Minio.Client;
let tmp: string;

beforeAll(async () => {
  minio = await TestMinio.start();
  raw = new Minio.Client({
    endPoint: '127.0.0.1',
    port: minio.port,
    useSSL: false,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    region: 'us-east-1',
  });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-store-test-'));
}, 15 * 60_000);

afterAll(async () => {
  await minio?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let bucketSeq = 0;
/** A store over a fresh bucket, so tests do not see each other's objects. */
function freshStore(options?: ConstructorParameters<typeof ArtifactStore>[2]): ArtifactStore {
  bucketSeq += 1;
  return new ArtifactStore(
    createMinioClient(minio.config(`store-${bucketSeq}-${Date.now()}`)),
    `store-${bucketSeq}-${Date.now()}`,
    options,
  );
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function keyOf(ref: ArtifactRef): string {
  return parseS3Uri(ref.uri)!.key;
}

/** Yields `data` in uneven chunks, like a network stream. */
function chunked(data: Buffer, size = 1_000_003): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
    })(),
  );
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('ArtifactStore on a real MinIO', () => {
  it('creates its bucket on first use and round-trips a file under its content address', async () => {
    const store = freshStore();
    expect(await raw.bucketExists(store.bucket)).toBe(false);
    const data = randomBytes(3 * MiB + 5);
    const file = path.join(tmp, 'model.bin');
    fs.writeFileSync(file, data);

    const ref = await store.putFile(file, { contentType: 'application/octet-stream' });

    expect(await raw.bucketExists(store.bucket)).toBe(true);
    // Leftovers of interrupted stream uploads expire on their own.
    expect(JSON.stringify(await raw.getBucketLifecycle(store.bucket))).toContain('tmp/uploads/');
    expect(ref).toEqual({
      uri: `s3://${store.bucket}/${blobKey(sha256(data))}`,
      sha256: sha256(data),
      size: data.length,
      contentType: 'application/octet-stream',
    });
    expect((await collect(await store.get(ref))).equals(data)).toBe(true);
    const info = await store.stat(ref);
    expect(info).toMatchObject({ size: data.length, sha256: ref.sha256, contentType: 'application/octet-stream' });
    expect(await store.exists(ref.uri)).toBe(true);
    expect(await store.exists(blobKey('0'.repeat(64)))).toBe(false);
  });

  it('content-addressed dedup: the same bytes stored twice, by file, buffer and stream, are one object', async () => {
    const store = freshStore({ partSize: 5 * MiB });
    const data = randomBytes(12 * MiB + 3); // three parts: the stream goes through a temporary key and a server-side copy
    const file = path.join(tmp, 'dup.bin');
    fs.writeFileSync(file, data);

    const a = await store.putFile(file);
    const b = await store.putBuffer(data);
    const c = await store.putStream(chunked(data));
    const d = await store.putFile(file);

    expect(new Set([a.uri, b.uri, c.uri, d.uri]).size).toBe(1);
    const objects = await store.list('');
    expect(objects.map((o) => o.key)).toEqual([keyOf(a)]);
    expect(objects[0]!.size).toBe(data.length);
  });

  it('stores a multi-part stream under its digest, and leaves no temporary object behind', async () => {
    const store = freshStore({ partSize: 5 * MiB });
    const data = randomBytes(11 * MiB + 1);
    const ref = await store.putStream(chunked(data, 65_536), { contentType: 'application/x-test' });
    expect(ref.sha256).toBe(sha256(data));
    expect(ref.size).toBe(data.length);
    expect((await store.list('')).map((o) => o.key)).toEqual([keyOf(ref)]);
    expect((await store.getBuffer(ref)).equals(data)).toBe(true);
  });

  it('composes objects larger than one server-side copy allows from ranges', async () => {
    const store = freshStore({ partSize: 5 * MiB, singleRequestLimit: 6 * MiB });
    const data = randomBytes(13 * MiB + 7);
    const ref = await store.putStream(chunked(data));
    expect(ref.sha256).toBe(sha256(data));
    expect((await collect(await store.get(ref))).equals(data)).toBe(true);
    // A file over the single-request limit is uploaded in parts straight to its blob key.
    const other = randomBytes(7 * MiB);
    const file = path.join(tmp, 'large.bin');
    fs.writeFileSync(file, other);
    const fileRef = await store.putFile(file);
    expect((await store.getBuffer(fileRef)).equals(other)).toBe(true);
    expect((await store.list('')).length).toBe(2);
  });

  it('a stream that fails mid-upload fails the put with its own error and leaves nothing behind', async () => {
    const store = freshStore({ partSize: 5 * MiB });
    const failing = Readable.from(
      (async function* () {
        for (let i = 0; i < 12; i++) yield randomBytes(MiB);
        throw Object.assign(new Error('upstream went away'), { code: 'EUPSTREAM' });
      })(),
    );
    await expect(store.putStream(failing)).rejects.toThrow('upstream went away');
    expect(await store.list('')).toEqual([]);
    expect(await raw.listIncompleteUploads(store.bucket, '', true).toArray()).toEqual([]);
  });

  it('stores small and empty streams directly', async () => {
    const store = freshStore();
    const empty = await store.putStream(Readable.from([]));
    expect(empty).toMatchObject({ sha256: sha256(Buffer.alloc(0)), size: 0 });
    expect((await store.getBuffer(empty)).length).toBe(0);
    const small = await store.putStream(Readable.from(['hello ', 'world']));
    expect((await store.getBuffer(small)).toString()).toBe('hello world');
    const json = await store.putJson({ a: 1, b: [true, null] });
    expect(await store.getJson(json)).toEqual({ a: 1, b: [true, null] });
    expect(json.contentType).toBe('application/json');
  });

  // Blobs of 8 MiB and more are read with the lean direct GET, smaller ones through the S3 client: both must hold.
  it.each([
    ['a small blob', 2 * MiB],
    ['a large blob', 12 * MiB],
  ])('an object tampered with directly in MinIO is detected on read and never served (%s)', async (_what, size) => {
    const store = freshStore();
    const data = randomBytes(size);
    const ref = await store.putBuffer(data);
    const tampered = Buffer.from(data);
    tampered[MiB] ^= 0xff; // same size, one bit flipped
    await raw.putObject(store.bucket, keyOf(ref), tampered);

    // The stream errors instead of ending.
    const stream = await store.get(ref);
    let ended = false;
    stream.on('end', () => (ended = true));
    await expect(collect(stream)).rejects.toMatchObject({
      type: FailureType.Integrity,
      message: expect.stringContaining('failed its integrity check'),
    });
    expect(ended).toBe(false);

    await expect(store.getBuffer(ref, 16 * MiB)).rejects.toMatchObject({ type: FailureType.Integrity });
    const dest = path.join(tmp, 'downloaded.bin');
    await expect(store.getFile(ref, dest)).rejects.toMatchObject({ type: FailureType.Integrity });
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('downloaded.bin'))).toEqual([]);

    // A truncated object is refused before a byte is read.
    await raw.putObject(store.bucket, keyOf(ref), data.subarray(0, 100));
    await expect(store.get(ref)).rejects.toMatchObject({ type: FailureType.Integrity });

    // Storing the same bytes again repairs the damaged blob.
    await store.putBuffer(data);
    expect((await store.getBuffer(ref, 16 * MiB)).equals(data)).toBe(true);
  });

  it('reads a large blob whole, to a file, and stopped part-way; a deleted one is a clear not-found', async () => {
    const store = freshStore();
    const data = randomBytes(20 * MiB + 123);
    const ref = await store.putBuffer(data);
    expect((await collect(await store.get(ref))).equals(data)).toBe(true);
    const dest = path.join(tmp, 'large.bin');
    await store.getFile(ref, dest);
    expect(fs.readFileSync(dest).equals(data)).toBe(true);

    // A reader that stops early lets go of the connection; the next read is whole.
    const partial = await store.get(ref);
    for await (const _ of partial) break;
    expect(partial.destroyed).toBe(true);
    expect((await collect(await store.get(ref))).equals(data)).toBe(true);

    await raw.removeObject(store.bucket, keyOf(ref));
    await expect(store.get(ref)).rejects.toMatchObject({ type: FailureType.NotFound });
  });

  it('a tampered JSON document is refused', async () => {
    const store = freshStore();
    await store.writeDocument('datasets/x/doc.json', { rows: 3 });
    expect((await store.readDocument('datasets/x/doc.json'))?.value).toEqual({ rows: 3 });
    await raw.putObject(store.bucket, 'datasets/x/doc.json', Buffer.from('{"rows": 4}'));
    await expect(store.readDocument('datasets/x/doc.json')).rejects.toMatchObject({ type: FailureType.Integrity });
  });

  it('downloads a verified file, and a reference inconsistent with its key is refused', async () => {
    const store = freshStore();
    const data = randomBytes(MiB);
    const ref = await store.putBuffer(data);
    const dest = path.join(tmp, 'verified.bin');
    await store.getFile(ref, dest);
    expect(fs.readFileSync(dest).equals(data)).toBe(true);
    await expect(store.get({ ...ref, sha256: 'f'.repeat(64) })).rejects.toMatchObject({ type: FailureType.InvalidInput });
    await expect(store.get({ uri: ref.uri, sha256: 'not-a-digest' })).rejects.toMatchObject({ type: FailureType.InvalidInput });
  });

  it('an unknown artifact is a clear not-found', async () => {
    const store = freshStore();
    await store.ensureBucket();
    const missing = { uri: `s3://${store.bucket}/${blobKey('a'.repeat(64))}`, sha256: 'a'.repeat(64), size: 1 };
    await expect(store.get(missing)).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: expect.stringContaining('does not exist'),
    });
    await expect(store.stat(missing)).rejects.toMatchObject({ type: FailureType.NotFound });
    expect(await store.readDocument('registry/models/nope.json')).toBeUndefined();
  });

  it('lists by prefix, presigns GET URLs, and deletes blobs but never registry history', async () => {
    const store = freshStore();
    const a = await store.putBuffer(Buffer.from('a'));
    await store.writeDocument('registry/models/m/versions/000000000001.json', { v: 1 });
    await store.writeDocument('datasets/d/snapshots/x.json', { d: 1 });

    expect((await store.list('registry/')).map((o) => o.key)).toEqual(['registry/models/m/versions/000000000001.json']);
    expect(await store.listPrefixes('registry/models/')).toEqual(['m']);
    expect((await store.list('blobs/'))[0]).toMatchObject({ key: keyOf(a), sha256: a.sha256, size: 1 });

    const url = await store.presignedGetUrl(a, 60);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('a');

    await expect(store.delete('registry/models/m/versions/000000000001.json')).rejects.toMatchObject({ type: FailureType.InvalidInput });
    await store.delete(a);
    expect(await store.exists(a)).toBe(false);
  });

  it('conditional document writes: create-only and replace-this-version', async () => {
    const store = freshStore();
    const first = await store.writeDocument('registry/x.json', { n: 1 }, { ifNoneMatch: true });
    await expect(store.writeDocument('registry/x.json', { n: 2 }, { ifNoneMatch: true })).rejects.toMatchObject({
      type: FailureType.Conflict,
    });
    const second = await store.writeDocument('registry/x.json', { n: 2 }, { ifMatch: first.etag });
    await expect(store.writeDocument('registry/x.json', { n: 3 }, { ifMatch: first.etag })).rejects.toMatchObject({
      type: FailureType.Conflict,
    });
    const read = await store.readDocument('registry/x.json');
    expect(read).toMatchObject({ value: { n: 2 }, etag: second.etag });
  });
});
