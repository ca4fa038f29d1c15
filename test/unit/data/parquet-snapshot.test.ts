import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evenly, loadSide, loadSplit, prepareSnapshot, writeTrainingRows } from '../../../src/ml/dataset';
import { takeRows } from '../../../src/ml/split';
import { profileSource, readFrame, validateSource } from '../../../src/data/read';
import { readRows } from '../../../src/ml/readers';
import type { DatasetSchema } from '../../../src/ml/types';
import { SEATTLE } from '../../helpers/ml-reference';
import { md5Key } from '../../helpers/hash-keys';
import { withEngine } from '../../../src/data/engine';
import { fnv1a, HASH_SEED_KEY } from '../../../src/data/snapshot';

const SCHEMA: DatasetSchema = {
  columns: [
    { name: 'date', type: 'datetime' },
    { name: 'precipitation', type: 'numeric' },
    { name: 'temp_max', type: 'numeric' },
    { name: 'temp_min', type: 'numeric' },
    { name: 'wind', type: 'numeric' },
    { name: 'weather', type: 'categorical' },
  ],
  target: 'weather',
  features: ['precipitation', 'temp_max', 'temp_min', 'wind'],
  task: 'classification',
};
const SPLIT = { method: 'hash' as const, testFraction: 0.2, seed: 42 };

let dir: string;
let parquet: string;
let jsonl: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-parquet-snapshot-'));
  parquet = join(dir, 'snapshot.parquet');
  await prepareSnapshot({ sources: [SEATTLE], schema: SCHEMA, hashSeed: SPLIT.seed, outFile: parquet });
  // A snapshot as ingest wrote them before the engine: the rows as read, as JSON lines.
  jsonl = join(dir, 'snapshot.jsonl');
  let text = '';
  for await (const row of readRows(SEATTLE)) text += `${JSON.stringify(row)}\n`;
  writeFileSync(jsonl, text);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Parquet snapshots through the entry points train, validate and monitor use', () => {
  test('loadSplit gives the same training and holdout rows, with the same values, as the JSON-lines snapshot did, but for the hash', async () => {
    for (const split of [
      { ...SPLIT, method: 'stratified' as const },
      { ...SPLIT, method: 'time' as const, column: 'date' },
    ]) {
      const fromParquet = await loadSplit(parquet, SCHEMA, split);
      const fromJsonl = await loadSplit(jsonl, SCHEMA, split);
      expect(fromParquet.test.rowCount).toBeGreaterThan(200);
      expect(fromParquet).toEqual(fromJsonl);
    }
  });

  test("a hash split's holdout is the rows whose MD5 key of the seed and the row as JSON falls below the test fraction", async () => {
    const rows: Record<string, unknown>[] = [];
    for await (const row of readRows(SEATTLE)) rows.push(row);
    const holdout = rows.filter((row) => md5Key(`${SPLIT.seed}:${JSON.stringify(row)}`) < SPLIT.testFraction * 2 ** 32);
    const { test: fromParquet } = await loadSplit(parquet, SCHEMA, SPLIT);
    expect(fromParquet.rowCount).toBe(holdout.length);
    expect(fromParquet.columns.wind).toEqual(Float64Array.from(holdout, (r) => Number(r.wind)));
  });

  test('a Parquet snapshot made before MD5 keys (FNV-1a keys, no hash in its metadata) splits as it did: as its JSON-lines snapshot', async () => {
    const keys: number[] = [];
    for await (const row of readRows(SEATTLE)) keys.push(fnv1a(`${SPLIT.seed}:${JSON.stringify(row)}`));
    const old = join(dir, 'before-md5.parquet');
    await withEngine({}, async (engine) => {
      await engine.run(`CREATE TABLE k AS SELECT unnest([${keys.join(', ')}]::UINTEGER[]) AS __hash`);
      await engine.run(
        `COPY (SELECT p.* EXCLUDE (__hash), k.__hash FROM read_parquet('${parquet}') p POSITIONAL JOIN k) ` +
          `TO '${old}' (FORMAT parquet, KV_METADATA {'${HASH_SEED_KEY}': '${SPLIT.seed}'})`,
      );
    });
    expect(await loadSplit(old, SCHEMA, SPLIT)).toEqual(await loadSplit(jsonl, SCHEMA, SPLIT));
    expect(await loadSide(old, SCHEMA, SPLIT, 'test')).toEqual((await loadSplit(jsonl, SCHEMA, SPLIT)).test);
    // Another seed hashes its stored values by FNV-1a still: not the split a new snapshot makes with that seed.
    const other = { ...SPLIT, seed: 7 };
    const a = await loadSplit(old, SCHEMA, other);
    expect(await loadSplit(old, SCHEMA, other)).toEqual(a);
    expect(a.test.rowCount / 1461).toBeCloseTo(0.2, 1);
    expect(a.test.columns.wind).not.toEqual((await loadSplit(parquet, SCHEMA, other)).test.columns.wind);
  });

  test('readFrame reads typed columns of the snapshot whatever format the caller names', async () => {
    const frame = await readFrame(parquet, SCHEMA, { format: 'jsonl', columns: ['date', 'wind', 'weather'] });
    expect(frame).toEqual(await readFrame(jsonl, SCHEMA, { format: 'jsonl', columns: ['date', 'wind', 'weather'] }));
    expect(frame.columns.wind).toBeInstanceOf(Float64Array);
  });

  test("the card's validation and profile of the snapshot are the ones of the data, without the snapshot's own columns", async () => {
    const [v1, v2] = [await validateSource(parquet, SCHEMA, { format: 'jsonl' }), await validateSource(jsonl, SCHEMA, { format: 'jsonl' })];
    expect(v1.issues).toEqual(v2.issues);
    expect(v1.issues.filter((i) => i.rule === 'extra_column')).toEqual([]);
    const [p1, p2] = [await profileSource(parquet, SCHEMA, { format: 'jsonl' }), await profileSource(jsonl, SCHEMA, { format: 'jsonl' })];
    expect(p1.columns.map((c) => c.count)).toEqual(p2.columns.map((c) => c.count));
    expect(p1.columns.find((c) => c.name === 'weather')).toEqual(p2.columns.find((c) => c.name === 'weather'));
  });

  test('an external trainer gets exactly the training rows as JSON lines, typed, without the holdout', async () => {
    const trainFile = join(dir, 'train.jsonl');
    const { trainRows, testRows } = await writeTrainingRows(parquet, SCHEMA, SPLIT, trainFile);
    const lines = readFileSync(trainFile, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBe(trainRows);
    const { train } = await loadSplit(parquet, SCHEMA, SPLIT);
    expect(lines.map((l) => l.wind)).toEqual(Array.from(train.columns.wind as Float64Array));
    expect(lines.map((l) => l.weather)).toEqual(train.columns.weather);
    expect(Object.keys(lines[0])).toEqual(['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather']);
    expect(trainRows + testRows).toBe(1461);
  });

  test('another seed splits by the stored values: the same rows every time, a different holdout of the same share', async () => {
    const other = { ...SPLIT, seed: 7 };
    const a = await loadSplit(parquet, SCHEMA, other);
    expect(await loadSplit(parquet, SCHEMA, other)).toEqual(a);
    const usual = await loadSplit(parquet, SCHEMA, SPLIT);
    expect(a.test.columns.wind).not.toEqual(usual.test.columns.wind);
    expect(a.test.rowCount + a.train.rowCount).toBe(1461);
    expect(a.test.rowCount / 1461).toBeCloseTo(0.2, 1);
  });

  test('a stage reading one side, or a sample of it, gets exactly those rows of loadSplit, for either seed and either snapshot format', async () => {
    for (const split of [SPLIT, { ...SPLIT, seed: 7 }]) {
      for (const file of [parquet, jsonl]) {
        const both = await loadSplit(file, SCHEMA, split);
        expect(await loadSide(file, SCHEMA, split, 'train')).toEqual(both.train);
        expect(await loadSide(file, SCHEMA, split, 'test')).toEqual(both.test);
        const sample = await loadSide(file, SCHEMA, split, 'test', { sample: 50 });
        expect(sample.rowCount).toBe(50);
        expect(sample).toEqual(takeRows(both.test, evenly(both.test.rowCount, 50)));
      }
    }
  });

  test('a side read from a split that leaves it empty is refused, saying what to change', async () => {
    await expect(loadSide(parquet, SCHEMA, { ...SPLIT, testFraction: 0.0000001 }, 'test')).rejects.toThrow(
      /left the test set empty; add rows or change testFraction/,
    );
  });
});
