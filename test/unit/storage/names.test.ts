import { FailureType } from '../../../src/errors';
import { assertArtifactRef, assertName, assertRunKey, assertVersion, nameProblem } from '../../../src/storage/names';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { ModelRegistry } from '../../../src/storage/registry';
import { DatasetSnapshots } from '../../../src/storage/snapshots';
import { blobKey, digestOfBlobKey, parseS3Uri } from '../../../src/storage/refs';

describe('names that become object keys', () => {
  it.each(['churn', 'churn-v2', 'Churn_2024.1', 'a', 'production', 'canary', 'x'.repeat(128)])('accepts %j', (name) => {
    expect(nameProblem('model', name)).toBeUndefined();
    expect(assertName('alias', name)).toBe(name);
  });

  it.each([
    ['', 'must not be empty'],
    ['x'.repeat(129), 'at most 128 characters'],
    ['..', 'must not contain ".."'],
    ['a..b', 'must not contain ".."'],
    ['a/b', 'must not contain "/"'],
    ['a\\b', 'must not contain "/" or "\\"'],
    ['tab\there', 'control characters'],
    ['nul\u0000', 'control characters'],
    ['del\u007f', 'control characters'],
    ['-lead', 'must start with a letter or digit'],
    ['.hidden', 'must start with a letter or digit'],
    ['sp ace', 'may use only letters'],
    ['ünï', 'may use only letters'],
  ])('rejects %j (%s)', (name, why) => {
    expect(nameProblem('model', name)).toContain(why);
    expect(() => assertName('model', name)).toThrow(
      expect.objectContaining({ type: FailureType.InvalidInput, message: expect.stringContaining(why) }),
    );
  });

  it('rejects non-strings', () => {
    for (const value of [undefined, null, 3, {}, ['a']])
      expect(() => assertName('dataset', value)).toThrow(expect.objectContaining({ type: FailureType.InvalidInput }));
  });

  it('an alias may not look like a version number, nor be "latest"', () => {
    expect(nameProblem('alias', '3')).toContain('must not be a number');
    expect(nameProblem('alias', 'latest')).toContain('reserved');
    expect(nameProblem('model', '3')).toBeUndefined();
  });

  it('versions are whole numbers from 1, and run keys bounded strings', () => {
    expect(assertVersion(1)).toBe(1);
    for (const v of [0, -1, 1.5, Number.NaN, '1', Number.MAX_SAFE_INTEGER + 1])
      expect(() => assertVersion(v)).toThrow(expect.objectContaining({ type: FailureType.InvalidInput }));
    expect(assertRunKey('pipeline/churn/2026-01-01')).toBe('pipeline/churn/2026-01-01');
    for (const k of ['', 'x'.repeat(1001), 5])
      expect(() => assertRunKey(k)).toThrow(expect.objectContaining({ type: FailureType.InvalidInput }));
  });

  it('artifact references are checked for shape', () => {
    const good = { uri: `s3://b/${blobKey('a'.repeat(64))}`, sha256: 'a'.repeat(64), size: 3 };
    expect(assertArtifactRef('artifact', good)).toBe(good);
    for (const bad of [
      null,
      { ...good, uri: 'http://x/y' },
      { ...good, sha256: 'A'.repeat(64) },
      { ...good, size: -1 },
      { ...good, size: 1.5 },
    ]) {
      expect(() => assertArtifactRef('artifact', bad)).toThrow(expect.objectContaining({ type: FailureType.InvalidInput }));
    }
  });

  it('content addresses and s3 URIs parse back', () => {
    const sha = 'ab'.padEnd(64, '0');
    expect(blobKey(sha)).toBe(`blobs/sha256/ab/${sha}`);
    expect(digestOfBlobKey(blobKey(sha))).toBe(sha);
    expect(digestOfBlobKey(`blobs/sha256/cd/${sha}`)).toBeUndefined();
    expect(parseS3Uri('s3://bucket/a/b.json')).toEqual({ bucket: 'bucket', key: 'a/b.json' });
    expect(parseS3Uri('s3://bucket/')).toBeUndefined();
  });
});

describe('invalid names are rejected before any request', () => {
  // Nothing listens on this port: a request would fail as MlopsUnavailable, not MlopsInvalidInput.
  const store = new ArtifactStore(
    createMinioClient({
      endPoint: '127.0.0.1',
      port: 1,
      useSSL: false,
      accessKey: 'a',
      secretKey: 'b',
      bucket: 'never',
      region: 'us-east-1',
      external: true,
    }),
    'never',
  );
  const registry = new ModelRegistry(store);
  const snapshots = new DatasetSnapshots(store);

  it.each(['', 'a/b', '..', 'x'.repeat(200), 'bad\nname'])('%j', async (name) => {
    const ref = { uri: `s3://never/${blobKey('a'.repeat(64))}`, sha256: 'a'.repeat(64), size: 1 };
    const calls: Array<() => Promise<unknown>> = [
      () => registry.getVersion(name, 1),
      () => registry.listVersions(name),
      () => registry.latestVersion(name),
      () => registry.resolveAlias('m', name),
      () => registry.findAlias(name, 'production'),
      () => registry.aliasHistory('m', name),
      () => registry.listAliases(name),
      () => registry.moveAlias({ model: name, alias: 'production', version: 1, by: 'a', reason: 'r' }),
      () => registry.rollbackAlias({ model: 'm', alias: name, by: 'a', reason: 'r' }),
      () =>
        registry.registerVersion({
          model: name,
          artifact: ref,
          dataset: { sha256: ref.sha256 },
          trainer: { name: 't', params: {} },
          metrics: {},
          workflowId: 'w',
          runId: 'r',
        }),
      () => snapshots.register({ name, sha256: ref.sha256, sourceUri: 'x', schema: null, rowCount: 0 }),
      () => snapshots.get(name, ref.sha256),
      () => snapshots.list(name),
    ];
    for (const call of calls) await expect(call()).rejects.toMatchObject({ type: FailureType.InvalidInput });
  });
});
