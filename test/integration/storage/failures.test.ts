import { TestMinio } from '../../helpers/servers';
import { FailureType, isMlopsError } from '../../../src/errors';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { ModelRegistry } from '../../../src/storage/registry';

let minio: TestMinio;

beforeAll(async () => {
  minio = await TestMinio.start();
}, 15 * 60_000);

afterAll(async () => {
  await minio?.stop();
});

async function failureOf(attempt: () => Promise<unknown>): Promise<{ type: string; retryable: boolean; message: string }> {
  try {
    await attempt();
  } catch (err) {
    if (!isMlopsError(err)) throw err;
    return { type: err.type, retryable: err.retryable, message: err.message };
  }
  throw new Error('expected a failure');
}

describe('storage failures on a real MinIO', () => {
  it('wrong credentials give a non-retryable access-denied error that says what to fix', async () => {
    const good = new ArtifactStore(createMinioClient(minio.config('creds')), 'creds');
    const ref = await good.putBuffer(Buffer.from('x'));

    for (const cfg of [
      { ...minio.config('creds'), secretKey: 'not-the-secret' },
      { ...minio.config('creds'), accessKey: 'nobody', secretKey: 'not-the-secret' },
    ]) {
      const store = new ArtifactStore(createMinioClient(cfg), 'creds');
      const attempts = [
        () => store.putBuffer(Buffer.from('y')),
        () => store.get(ref),
        () => store.stat(ref),
        () => store.readDocument('registry/x.json'),
        () => new ModelRegistry(store).listModels(),
      ];
      for (const attempt of attempts) {
        const failure = await failureOf(attempt);
        expect(failure).toMatchObject({ type: FailureType.AccessDenied, retryable: false });
        expect(failure.message).toContain('check MINIO_ACCESS_KEY / MINIO_SECRET_KEY');
      }
    }
  });

  it('MinIO stopped gives a retryable unavailable error, and work resumes when it is back', async () => {
    const store = new ArtifactStore(createMinioClient(minio.config('outage')), 'outage');
    const ref = await store.putBuffer(Buffer.from('before the outage'));
    await minio.pause();
    try {
      const attempts = [
        () => store.putBuffer(Buffer.from('during')),
        () => store.get(ref),
        () => store.exists(ref),
        () => store.list(''),
        () => new ModelRegistry(store).getVersion('m', 1),
      ];
      for (const attempt of attempts) {
        const failure = await failureOf(attempt);
        expect(failure).toMatchObject({ type: FailureType.Unavailable, retryable: true });
        expect(failure.message).toMatch(
          new RegExp(`MinIO at 127\\.0\\.0\\.1:${minio.port} is unreachable \\((ECONNREFUSED|ECONNRESET|EPIPE)\\)`),
        );
        expect(failure.message).toContain('MINIO_ENDPOINT');
      }
    } finally {
      await minio.resume();
    }
    expect((await store.getBuffer(ref)).toString()).toBe('before the outage');
  });
});
