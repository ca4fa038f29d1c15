import { TestMinio } from '../../helpers/servers';
import { FailureType } from '../../../src/errors';
import { ArtifactStore, createMinioClient } from '../../../src/storage/artifact-store';
import { DatasetSnapshots } from '../../../src/storage/snapshots';

let minio: TestMinio;
let store: ArtifactStore;
let snapshots: DatasetSnapshots;

beforeAll(async () => {
  minio = await TestMinio.start();
  store = new ArtifactStore(createMinioClient(minio.config('snapshots')), 'snapshots');
  snapshots = new DatasetSnapshots(store);
}, 15 * 60_000);

afterAll(async () => {
  await minio?.stop();
});

describe('dataset snapshots on a real MinIO', () => {
  it('ingesting identical data again yields the same snapshot, stored once', async () => {
    const data = await store.putBuffer(Buffer.from('a,b\n1,2\n3,4\n'), { contentType: 'text/csv' });
    const profile = await store.putJson({ columns: { a: { mean: 2 } } });
    const input = {
      name: 'customers',
      sha256: data.sha256,
      sourceUri: 'file:///data/customers.csv',
      schema: { columns: ['a', 'b'] },
      rowCount: 2,
      profile,
      data,
    };

    const first = await snapshots.register(input);
    const second = await snapshots.register({ ...input, sourceUri: 'https://example.org/customers.csv' });
    const concurrent = await Promise.all([1, 2, 3].map(() => snapshots.register(input)));

    expect(first.created).toBe(true);
    expect(first.ref.uri).toBe(`s3://snapshots/datasets/customers/snapshots/${data.sha256}.json`);
    for (const again of [second, ...concurrent]) {
      expect(again.created).toBe(false);
      expect(again.snapshot).toEqual(first.snapshot);
      expect(again.ref).toEqual(first.ref);
    }
    expect(await store.list('datasets/')).toHaveLength(1);
    expect(await snapshots.getByRef(first.ref)).toEqual(first.snapshot);
    expect((await snapshots.get('customers', data.sha256)).snapshot).toMatchObject({
      rowCount: 2,
      sourceUri: 'file:///data/customers.csv',
      profile,
      data,
    });
    expect(await snapshots.list('customers')).toEqual([first.snapshot]);
    expect(await snapshots.listDatasets()).toEqual(['customers']);
  });

  it('different data gives a different snapshot of the same dataset', async () => {
    const a = await snapshots.register({ name: 'weather', sha256: '1'.repeat(64), sourceUri: 's3://in/a.csv', schema: null, rowCount: 10 });
    const b = await snapshots.register({ name: 'weather', sha256: '2'.repeat(64), sourceUri: 's3://in/b.csv', schema: null, rowCount: 12 });
    expect(a.ref.uri).not.toBe(b.ref.uri);
    expect((await snapshots.list('weather')).map((s) => s.rowCount).sort()).toEqual([10, 12]);
  });

  it('an unknown dataset or snapshot is a clear not-found, and invalid input is refused', async () => {
    await expect(snapshots.get('nope', '3'.repeat(64))).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: expect.stringContaining('No dataset named "nope"'),
    });
    await snapshots.register({ name: 'known', sha256: '4'.repeat(64), sourceUri: 'x.csv', schema: null, rowCount: 1 });
    await expect(snapshots.get('known', '5'.repeat(64))).rejects.toMatchObject({
      type: FailureType.NotFound,
      message: `Dataset "known" has no snapshot ${'5'.repeat(64)}.`,
    });
    await expect(
      snapshots.register({ name: '../etc', sha256: '4'.repeat(64), sourceUri: 'x', schema: null, rowCount: 1 }),
    ).rejects.toMatchObject({ type: FailureType.InvalidInput });
    await expect(snapshots.register({ name: 'ok', sha256: 'XYZ', sourceUri: 'x', schema: null, rowCount: 1 })).rejects.toMatchObject({
      type: FailureType.InvalidInput,
    });
    await expect(
      snapshots.register({ name: 'ok', sha256: '4'.repeat(64), sourceUri: 'x', schema: null, rowCount: -1 }),
    ).rejects.toMatchObject({ type: FailureType.InvalidInput });
  });
});
