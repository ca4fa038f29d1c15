/**
 * Storage that heals: a blob corrupted in place (same size, other bytes) is never trusted because it
 * exists; storing the same bytes again, by buffer, file or stream, replaces it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import { FailureType } from '../../../src/errors';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { parseS3Uri, type ArtifactRef } from '../../../src/storage/refs';
import { TestMinio } from '../../helpers/servers';

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
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-heal-'));
}, 15 * 60_000);

afterAll(async () => {
  await minio?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let seq = 0;
function freshStore(): ArtifactStore {
  const bucket = `heal-${++seq}-${Date.now()}`;
  return new ArtifactStore(createMinioClient(minio.config(bucket)), bucket, { partSize: 5 * MiB });
}

/** Overwrites a stored blob in place with bytes of the same size, one bit flipped. */
async function corrupt(store: ArtifactStore, ref: ArtifactRef, data: Buffer): Promise<void> {
  const bad = Buffer.from(data);
  bad[Math.floor(bad.length / 2)] ^= 0x01;
  await raw.putObject(store.bucket, parseS3Uri(ref.uri)!.key, bad);
  await expect(store.getBuffer(ref, 64 * MiB)).rejects.toMatchObject({
    type: FailureType.Integrity,
    message: expect.stringMatching(/Store the artifact again/),
  });
}

describe('a corrupted blob is replaced on the next store', () => {
  it.each([
    ['a small buffer', 64 * 1024],
    ['a large buffer (read by the direct GET)', 9 * MiB],
  ])('by putBuffer: %s', async (_what, size) => {
    const store = freshStore();
    const data = randomBytes(size);
    const ref = await store.putBuffer(data);
    await corrupt(store, ref, data);
    expect(await store.putBuffer(data)).toEqual(ref);
    expect((await store.getBuffer(ref, 64 * MiB)).equals(data)).toBe(true);
  });

  it('by putFile', async () => {
    const store = freshStore();
    const data = randomBytes(3 * MiB);
    const file = path.join(tmp, 'data.bin');
    fs.writeFileSync(file, data);
    const ref = await store.putFile(file);
    await corrupt(store, ref, data);
    await store.putFile(file);
    expect((await store.getBuffer(ref, 64 * MiB)).equals(data)).toBe(true);
  });

  it('by putStream, in parts (a server-side copy over the damaged blob)', async () => {
    const store = freshStore();
    const data = randomBytes(12 * MiB);
    const ref = await store.putStream(Readable.from([data.subarray(0, 7 * MiB), data.subarray(7 * MiB)]));
    await corrupt(store, ref, data);
    await store.putStream(Readable.from([data]));
    expect((await store.getBuffer(ref, 64 * MiB)).equals(data)).toBe(true);
    expect(await store.list('tmp/')).toEqual([]);
  });

  it('an intact blob is left as it is: storing it again writes nothing', async () => {
    const store = freshStore();
    const data = randomBytes(256 * 1024);
    const ref = await store.putBuffer(data);
    const before = await store.stat(ref);
    await new Promise((r) => setTimeout(r, 1100));
    await store.putBuffer(data);
    expect((await store.stat(ref)).lastModified).toEqual(before.lastModified);
  });
});
