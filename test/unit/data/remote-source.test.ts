import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSnapshot } from '../../../src/data/snapshot';
import { md5Key } from '../../helpers/hash-keys';
import { withEngine } from '../../../src/data/engine';
import { readRows } from '../../../src/ml/readers';

const CSV =
  ['id,x,label', ...Array.from({ length: 500 }, (_, i) => `${i},${(i * 0.37).toFixed(2)},${i % 3 === 0 ? 'a' : 'b'}`)].join('\n') + '\n';

let server: Server;
let base: string;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-remote-'));
  server = createServer((req, res) => {
    if (req.url === '/data.csv') res.end(CSV);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('remote sources', () => {
  test('an http source is copied to scratch space, ingested like a local file, and the copy is the only thing written there', async () => {
    const work = join(dir, 'ok');
    const built = await buildSnapshot({ sources: [`${base}/data.csv`], target: 'label', outFile: join(dir, 'ok.parquet'), dir: work });
    expect(built.rowCount).toBe(500);
    expect(built.lineage.sources).toEqual([{ name: `${base}/data.csv`, format: 'csv', rows: 500 }]);
    expect(readdirSync(join(work, 'sources'))).toHaveLength(1);
    const keys = await withEngine({}, (e) => e.rows<{ h: number }>(`SELECT __hash AS h FROM read_parquet('${join(dir, 'ok.parquet')}')`));
    const local = join(dir, 'data.csv');
    require('node:fs').writeFileSync(local, CSV);
    const expected: number[] = [];
    for await (const row of readRows(local)) expected.push(md5Key(`42:${JSON.stringify(row)}`));
    expect(keys.map((k) => k.h)).toEqual(expected);
  });

  test('a source larger than the scratch budget is refused saying so', async () => {
    await expect(
      buildSnapshot({
        sources: [`${base}/data.csv`],
        target: 'label',
        outFile: join(dir, 'big.parquet'),
        dir: join(dir, 'big'),
        scratchBudget: 1000,
      }),
    ).rejects.toThrow(/data\.csv is larger than the scratch budget of 1000 bytes/);
  });

  test('a missing remote source is NotFound naming the address', async () => {
    await expect(
      buildSnapshot({ sources: [`${base}/nope.csv`], target: 'label', outFile: join(dir, 'nope.parquet'), dir: join(dir, 'nope') }),
    ).rejects.toMatchObject({
      type: 'MlopsNotFound',
      message: expect.stringContaining('/nope.csv answered HTTP 404'),
    });
  });
});
