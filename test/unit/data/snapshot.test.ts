import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withEngine } from '../../../src/data/engine';
import { buildSnapshot, type BuildSnapshotOptions } from '../../../src/data/snapshot';
import { profileSource, validateSource } from '../../../src/data/read';
import { readRows } from '../../../src/ml/readers';
import type { DatasetProfile, NumericColumnProfile } from '../../../src/ml/profile';
import type { DatasetSchema } from '../../../src/ml/types';
import { SEATTLE } from '../../helpers/ml-reference';
import { md5Key } from '../../helpers/hash-keys';

const SCHEMA: DatasetSchema = {
  columns: [
    { name: 'date', type: 'datetime' },
    { name: 'precipitation', type: 'numeric', min: 0, max: 40 },
    { name: 'temp_max', type: 'numeric' },
    { name: 'temp_min', type: 'numeric' },
    { name: 'wind', type: 'numeric' },
    { name: 'weather', type: 'categorical', allowed: ['rain', 'sun', 'fog', 'drizzle'] },
  ],
  target: 'weather',
  features: ['precipitation', 'temp_max', 'temp_min', 'wind'],
  task: 'classification',
};

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-snapshot-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function build(options: Omit<BuildSnapshotOptions, 'outFile' | 'dir'>) {
  const outFile = join(dir, `snapshot-${++n}.parquet`);
  const built = await buildSnapshot({ ...options, outFile, dir: join(dir, `work-${n}`) });
  return { ...built, outFile };
}

/** The same profile: every figure equal, the moments to 12 significant digits (sums in another order differ in their last bits). */
function expectSameProfile(actual: DatasetProfile, expected: DatasetProfile): void {
  const rounded = (p: DatasetProfile) => ({
    ...p,
    columns: p.columns.map((c) =>
      c.kind === 'numeric'
        ? {
            ...c,
            mean: c.mean === null ? null : Number(c.mean.toPrecision(12)),
            std: c.std === null ? null : Number(c.std.toPrecision(12)),
          }
        : c,
    ),
  });
  expect(rounded(actual)).toEqual(rounded(expected));
}

async function parquetRows(path: string, sql = 'SELECT * FROM snapshot'): Promise<Record<string, unknown>[]> {
  return withEngine({}, async (engine) => {
    await engine.run(`CREATE VIEW snapshot AS SELECT * FROM read_parquet('${path}')`);
    return engine.rows(sql);
  });
}

describe('ingest through the engine', () => {
  test('validation of the Seattle file reports what the streaming validator reports, with the same rows', async () => {
    const built = await build({ sources: [SEATTLE], schema: SCHEMA });
    const streaming = await validateSource(SEATTLE, SCHEMA);
    expect(built.validation.issues.map((i) => i.rule)).toEqual(expect.arrayContaining(['range', 'unseen_category']));
    expect(built.validation.issues).toEqual(streaming.issues);
    expect(built.validation.ok).toBe(streaming.ok);
    expect(built.rowCount).toBe(streaming.rowCount);
  });

  test("the profile has the streaming profile's shape and numbers (exact quantiles, same histograms and frequencies)", async () => {
    const built = await build({ sources: [SEATTLE], schema: SCHEMA });
    const streaming = await profileSource(SEATTLE, SCHEMA);
    expect(built.profile.rowCount).toBe(streaming.rowCount);
    built.profile.columns.forEach((col, i) => {
      const ref = streaming.columns[i];
      expect(Object.keys(col).sort()).toEqual(Object.keys(ref).sort());
      if (col.kind === 'numeric' && ref.kind === 'numeric') {
        expect({ ...col, mean: 0, std: 0 }).toEqual({ ...ref, mean: 0, std: 0 });
        // Moments as exact as doubles allow (a date's std is about 3.6e10: its last bit is 8e-6).
        expect(Math.abs(col.mean! / ref.mean! - 1)).toBeLessThan(1e-14);
        expect(Math.abs(col.std! / ref.std! - 1)).toBeLessThan(1e-12);
      } else expect(col).toEqual(ref);
    });
  });

  test('when every column has few distinct values (read from their value counts alone), validation and profile are still those of the streaming readers', async () => {
    const lines = ['grade,score,shade,label'];
    for (let i = 1; i <= 2000; i++) lines.push(`${i % 7},${(i % 9) - 1},${['red', 'blue', 'green'][i % 3]},${i % 5 ? 'yes' : 'no'}`);
    lines[10] = '3,abc,red,yes';
    lines[20] = ',4,mauve,yes';
    lines[30] = '2,NA,blue,maybe';
    lines[40] = '9,11,,no';
    const source = file('few-values.csv', `${lines.join('\n')}\n`);
    const schema: DatasetSchema = {
      columns: [
        { name: 'grade', type: 'numeric', min: 0, max: 6 },
        { name: 'score', type: 'numeric', min: 0 },
        { name: 'shade', type: 'categorical', allowed: ['red', 'blue', 'green'] },
        { name: 'label', type: 'categorical' },
      ],
      target: 'label',
      features: ['grade', 'score', 'shade'],
      task: 'classification',
    };
    const built = await build({ sources: [source], schema });
    const streaming = await validateSource(source, schema);
    expect(built.validation.issues.map((i) => i.rule)).toEqual(expect.arrayContaining(['type', 'range', 'unseen_category']));
    expect(built.validation.issues).toEqual(streaming.issues);
    const profile = await profileSource(source, schema);
    built.profile.columns.forEach((col, i) => {
      const ref = profile.columns[i];
      if (col.kind === 'numeric' && ref.kind === 'numeric') {
        expect({ ...col, mean: 0, std: 0 }).toEqual({ ...ref, mean: 0, std: 0 });
        // Moments as exact as doubles allow (a date's std is about 3.6e10: its last bit is 8e-6).
        expect(Math.abs(col.mean! / ref.mean! - 1)).toBeLessThan(1e-14);
        expect(Math.abs(col.std! / ref.std! - 1)).toBeLessThan(1e-12);
      } else expect(col).toEqual(ref);
    });
  });

  test("a row's hash-split key is the MD5 key of the text the JSON-lines snapshots hashed: the seed, then the row as JSON", async () => {
    const built = await build({ sources: [SEATTLE], schema: SCHEMA, hashSeed: 7 });
    const rows = await parquetRows(built.outFile, 'SELECT __row, __hash FROM snapshot');
    const expected: number[] = [];
    for await (const row of readRows(SEATTLE)) expected.push(md5Key(`7:${JSON.stringify(row)}`));
    expect(rows.map((r) => Number(r.__hash))).toEqual(expected);
    expect(rows.map((r) => Number(r.__row))).toEqual(expected.map((_, i) => i + 1));
  });

  test('rows of a JSON source get their keys from the same text, date-like strings included', async () => {
    const cars = join(__dirname, '../../../examples/data/cars.json');
    const built = await build({ sources: [cars], target: 'Origin' });
    expect(built.schema.columns.find((c) => c.name === 'Year')!.type).toBe('datetime');
    const rows = await parquetRows(built.outFile, 'SELECT __hash FROM snapshot');
    const expected: number[] = [];
    for await (const row of readRows(cars)) expected.push(md5Key(`42:${JSON.stringify(row)}`));
    expect(rows.map((r) => Number(r.__hash))).toEqual(expected);
  });

  test('a snapshot is zstd Parquet, content-addressed (same data, same bytes) and much smaller than JSON lines', async () => {
    const a = await build({ sources: [SEATTLE], schema: SCHEMA });
    const b = await build({ sources: [SEATTLE], schema: SCHEMA });
    const bytes = readFileSync(a.outFile);
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(sha(a.outFile)).toBe(sha(b.outFile));
    let jsonl = 0;
    for await (const row of readRows(SEATTLE)) jsonl += JSON.stringify(row).length + 1;
    expect(statSync(a.outFile).size).toBeLessThan(jsonl / 3);
    const meta = await withEngine({}, (e) =>
      e.rows<{ c: string }>(`SELECT DISTINCT compression AS c FROM parquet_metadata('${a.outFile}')`),
    );
    expect(meta.map((m) => m.c)).toEqual(['ZSTD']);
  });

  test('one bad token makes a numeric column fail validation naming its rows, wherever it sits, instead of turning it categorical', async () => {
    const lines = ['x,y'];
    for (let i = 1; i <= 300; i++) lines.push(`${i % 17},${i % 2 ? 'a' : 'b'}`);
    for (const [row, token] of [
      [3, 'inf'],
      [250, '1e999'],
      [120, '"1,5"'],
    ] as const) {
      const text = lines.slice();
      text[row] = `${token},a`;
      const built = await build({ sources: [file(`bad-${row}.csv`, `${text.join('\n')}\n`)], target: 'y' });
      expect(built.schema.columns.find((c) => c.name === 'x')!.type).toBe('numeric');
      const issue = built.validation.issues.find((i) => i.rule === 'type' && i.column === 'x');
      expect(issue).toMatchObject({ severity: 'blocking', sampleRows: [row] });
      expect(issue!.message).toContain(JSON.stringify(token.replace(/"/g, '')));
      expect(built.validation.ok).toBe(false);
    }
  });

  test('with rows filtered out before it, a bad value is still named by its source row, with its text, and rows keep their keys', async () => {
    const lines = ['x,y,z'];
    for (let i = 1; i <= 400; i++) lines.push(`${i % 13},${i % 2 ? 'a' : 'b'},${i}`);
    lines[300] = '12abc,a,300';
    const source = file('bad-after-filter.csv', `${lines.join('\n')}\n`);
    const built = await build({ sources: [source], target: 'y', where: 'z > 100' });
    const issue = built.validation.issues.find((i) => i.rule === 'type' && i.column === 'x');
    expect(issue).toMatchObject({ severity: 'blocking', sampleRows: [300] });
    expect(issue!.message).toContain('"12abc"');
    const rows = await parquetRows(built.outFile, 'SELECT __row, __hash FROM snapshot ORDER BY __row');
    const expected: number[] = [];
    for await (const row of readRows(source)) expected.push(md5Key(`42:${JSON.stringify(row)}`));
    expect(rows.map((r) => Number(r.__row))).toEqual(expected.map((_, i) => i + 1).filter((r) => r > 100));
    expect(rows.map((r) => Number(r.__hash))).toEqual(expected.slice(100));
  });

  test("a CSV's numbers parsed by the reader (the fast path) give the snapshot, report and profile of typing every value by our rules", async () => {
    const clean = ['id,x,when,kind'];
    for (let i = 1; i <= 500; i++)
      clean.push(`${i},${((i * 37) % 101) / 4 - 3},2024-01-${String((i % 28) + 1).padStart(2, '0')},${i % 3 ? 'a' : 'b'}`);
    const cases: Record<string, (lines: string[]) => void> = {
      clean: () => {},
      // Parsed alike by the reader and by our rules.
      spaces: (l) => (l[7] = '7, 1.5,2024-01-02,a'),
      signs: (l) => (l[8] = '8,+1e2,2024-01-02,a'),
      empty: (l) => (l[9] = '9,,2024-01-02,a'),
      // Dates the reader parses as the cast of the trimmed text does (an offset, a time, a leading blank).
      dateOffset: (l) => (l[19] = '19,2,2024-01-02T10:00:00+02:00,a'),
      dateTime: (l) => (l[20] = '20,2,2024-01-02 23:59:59.999,a'),
      dateBlank: (l) => (l[21] = '21,2, 2024-01-02,a'),
      // Sent to the exact path: a row the reader cannot parse, NaN (missing or bad by its text), an infinity
      // (bad by our rules; the fast path stores no flags), an underscore, a date the reader could not parse
      // (missing, bad, trailing blank) or an infinite one.
      inf: (l) => (l[10] = '10,inf,2024-01-02,a'),
      huge: (l) => (l[11] = '11,-1e999,2024-01-02,a'),
      missing: (l) => (l[12] = '12,NA,2024-01-02,a'),
      nan: (l) => (l[13] = '13,NaN,2024-01-02,a'),
      nanUpper: (l) => (l[13] = '13,NAN,2024-01-02,a'),
      word: (l) => (l[14] = '14,abc,2024-01-02,a'),
      quotedEmpty: (l) => (l[15] = '15,"",2024-01-02,a'),
      underscore: (l) => (l[16] = '16,1_000,2024-01-02,a'),
      underscoreText: (l) => (l[17] = '17,2,2024-01-02,a_b'),
      missingDate: (l) => (l[18] = '18,2,,a'),
      naDate: (l) => (l[18] = '18,2,NA,a'),
      badDate: (l) => (l[18] = '18,2,someday,a'),
      trailingBlankDate: (l) => (l[18] = '18,2,2024-01-02 ,a'),
      infiniteDate: (l) => (l[18] = '18,2,infinity,a'),
    };
    for (const [name, change] of Object.entries(cases)) {
      const lines = clean.slice();
      change(lines);
      const source = file(`typing-${name}.csv`, `${lines.join('\n')}\n`);
      const paths: string[] = [];
      const fast = await build({ sources: [source], target: 'kind', onTyping: (p) => paths.push(p) });
      const exact = await build({ sources: [source], target: 'kind', typing: 'exact', onTyping: (p) => paths.push(p) });
      const reparsed = [
        ...['inf', 'huge', 'missing', 'nan', 'nanUpper', 'word', 'quotedEmpty', 'underscore', 'underscoreText'],
        ...['missingDate', 'naDate', 'badDate', 'trailingBlankDate', 'infiniteDate'],
      ].includes(name);
      expect([name, ...paths]).toEqual([name, reparsed ? 'exact' : 'fast', 'exact']);
      expect(readFileSync(fast.outFile).equals(readFileSync(exact.outFile))).toBe(true);
      expect(fast.validation).toEqual(exact.validation);
      expectSameProfile(fast.profile, exact.profile);
      expect(fast.schema).toEqual(exact.schema);
      expect(fast.lineage).toEqual(exact.lineage);
    }
  });

  test("on the fast path, a column's range comes from the stored table and its moments from sums around its middle, as exact as the engine's", async () => {
    // Values far from zero with a small spread, where sums of squares from zero would lose every digit of the deviation.
    // A datetime column, whose range the engine writes as text: epoch milliseconds, about 1.7e12.
    const values = Array.from({ length: 6000 }, (_, i) => 1e9 + ((i * 7919) % 6000) / 1000 + (i % 2 ? 0.0005 : 0));
    const times = values.map((_, i) => Date.UTC(2024, 0, 1) + ((i * 4999) % 6000) * 1500 + (i % 3));
    const lines = ['y,x,t', ...values.map((v, i) => `${i % 2 ? 'a' : 'b'},${v},${new Date(times[i]).toISOString()}`)];
    const source = file('far-from-zero.csv', `${lines.join('\n')}\n`);
    const paths: string[] = [];
    const fast = await build({ sources: [source], target: 'y', onTyping: (p) => paths.push(p) });
    const exact = await build({ sources: [source], target: 'y', typing: 'exact', onTyping: (p) => paths.push(p) });
    expect(paths).toEqual(['fast', 'exact']);
    for (const [name, column] of [
      ['x', values],
      ['t', times],
    ] as const) {
      const mean = column.reduce((a, b) => a + b, 0) / column.length;
      const std = Math.sqrt(column.reduce((a, b) => a + (b - mean) ** 2, 0) / column.length);
      for (const built of [fast, exact]) {
        const x = built.profile.columns.find((c) => c.name === name) as NumericColumnProfile;
        expect([x.min, x.max]).toEqual([Math.min(...column), Math.max(...column)]);
        expect(Math.abs(x.mean! / mean - 1)).toBeLessThan(1e-12);
        expect(Math.abs(x.std! / std - 1)).toBeLessThan(1e-9);
      }
    }
  });

  test('on the fast path, rows whose number target is missing are dropped, filtered and numbered as on the exact path', async () => {
    const lines = ['id,y,when,kind'];
    for (let i = 1; i <= 300; i++)
      lines.push(`${i},${i % 7 === 0 ? '' : (i * 13) % 29},2024-02-${String((i % 28) + 1).padStart(2, '0')},k${i % 4}`);
    const source = file('fast-drop.csv', `${lines.join('\n')}\n`);
    const options = { sources: [source], target: 'y', dropMissingTarget: true, where: 'id > 20', columns: { big: 'y > 10' } };
    const paths: string[] = [];
    const fast = await build({ ...options, onTyping: (p) => paths.push(p) });
    const exact = await build({ ...options, typing: 'exact', onTyping: (p) => paths.push(p) });
    expect(paths).toEqual(['fast', 'exact']);
    expect(fast.lineage.droppedMissingTarget).toBe(40);
    expect(fast.rowCount).toBe(exact.rowCount);
    expect(readFileSync(fast.outFile).equals(readFileSync(exact.outFile))).toBe(true);
    expect(fast.validation).toEqual(exact.validation);
    expectSameProfile(fast.profile, exact.profile);
    expect(fast.lineage).toEqual(exact.lineage);
    const rows = await parquetRows(fast.outFile, 'SELECT min(__row) AS first, count(*) AS n FROM snapshot');
    expect(Number(rows[0].first)).toBe(22);
    expect(Number(rows[0].n)).toBe(280 - 40);
  });

  test('a CSV whose only typed columns are dates takes the fast path, an underscore in its text notwithstanding', async () => {
    const lines = ['when,kind'];
    for (let i = 1; i <= 200; i++) lines.push(`2024-03-${String((i % 28) + 1).padStart(2, '0')}T0${i % 10}:00:00Z,k_${i % 3}`);
    const source = file('dates-only.csv', `${lines.join('\n')}\n`);
    const paths: string[] = [];
    const fast = await build({ sources: [source], target: 'kind', onTyping: (p) => paths.push(p) });
    const exact = await build({ sources: [source], target: 'kind', typing: 'exact', onTyping: (p) => paths.push(p) });
    expect(paths).toEqual(['fast', 'exact']);
    expect(fast.schema.columns.find((c) => c.name === 'when')?.type).toBe('datetime');
    expect(readFileSync(fast.outFile).equals(readFileSync(exact.outFile))).toBe(true);
    expect(fast.validation).toEqual(exact.validation);
    expectSameProfile(fast.profile, exact.profile);
  });

  test('one inf, -Infinity, 1e999 or 1,5 fails validation at row 3 as at row 5,500 of 6,000', async () => {
    const lines = ['x,y'];
    for (let i = 1; i <= 6000; i++) lines.push(`${(i * 7) % 23}.5,${i % 2 ? 'a' : 'b'}`);
    for (const token of ['inf', '-Infinity', '1e999', '"1,5"']) {
      for (const row of [3, 5500]) {
        const text = lines.slice();
        text[row] = `${token},a`;
        const built = await build({ sources: [file(`tok-${row}.csv`, `${text.join('\n')}\n`)], target: 'y' });
        expect(built.schema.columns.find((c) => c.name === 'x')!.type).toBe('numeric');
        expect(built.validation.issues.find((i) => i.rule === 'type' && i.column === 'x')).toMatchObject({
          severity: 'blocking',
          sampleRows: [row],
        });
      }
    }
  });

  test('NaN, nan and NA are missing values of a numeric column, as docs/data.md lists them', async () => {
    const built = await build({ sources: [file('nan.csv', 'x,y\n1.5,a\nNaN,b\nnan,a\nNA,b\n2,a\n')], target: 'y' });
    expect(built.schema.columns.find((c) => c.name === 'x')!.type).toBe('numeric');
    expect(built.validation.ok).toBe(true);
    expect(built.profile.columns.find((c) => c.name === 'x')).toMatchObject({ nulls: 3 });
  });

  test('dates in three formats, or numbers with decimal commas, are refused naming rows, not read as one category per value', async () => {
    const dates = ['d,y'];
    for (let i = 0; i < 300; i++) {
      const day = String((i % 28) + 1).padStart(2, '0');
      dates.push(`${i % 3 === 0 ? `2024-01-${day}` : i % 3 === 1 ? `01/${day}/2024` : `${day} Jan 2024`},${i % 2 ? 'a' : 'b'}`);
    }
    const built = await build({ sources: [file('three-formats.csv', `${dates.join('\n')}\n`)], target: 'y' });
    expect(built.validation.ok).toBe(false);
    const issue = built.validation.issues.find((i) => i.column === 'd')!;
    expect(issue).toMatchObject({ rule: 'type', severity: 'blocking', expected: 'datetime', sampleRows: [2, 3, 5, 6, 8] });
    expect(issue.message).toContain(
      'column "d" mixes ISO 8601 dates (100 of 300 present values) with other text, e.g. "01/02/2024" (row 2), "03 Jan 2024" (row 3)',
    );
    expect(issue.message).toContain("declare the column's type in dataset.schema");
    const commas = await build({ sources: [file('commas.csv', 'x,y\n"1,5",a\n2,b\n"3,25",a\n4,b\n')], target: 'y' });
    expect(commas.validation.issues.find((i) => i.column === 'x')).toMatchObject({
      rule: 'type',
      severity: 'blocking',
      sampleRows: [1, 3],
    });
    // Codes that are mostly words stay categories.
    const codes = ['c,y', ...Array.from({ length: 40 }, (_, i) => `${i === 7 ? '12' : `K${i}`},${i % 2 ? 'a' : 'b'}`)];
    const ok = await build({ sources: [file('codes.csv', `${codes.join('\n')}\n`)], target: 'y' });
    expect(ok.validation.ok).toBe(true);
    expect(ok.schema.columns.find((c) => c.name === 'c')!.type).toBe('categorical');
  });

  test('a column of words stays categorical and true/false text is boolean', async () => {
    const built = await build({
      sources: [file('kinds.csv', 'w,b,n,t\nx,true,1.5,2020-01-01\ny,FALSE,2,2020-01-02T03:04:05Z\nz,,3,\n')],
      target: 'w',
    });
    expect(built.schema.columns.map((c) => c.type)).toEqual(['categorical', 'boolean', 'numeric', 'datetime']);
  });

  test('a 0/1 target is a classification label, a target of other numbers a regression one', async () => {
    const rows = ['x,y,z', ...Array.from({ length: 40 }, (_, i) => `${i},${i % 2},${i * 1.5}`)].join('\n');
    const source = file('zero-one.csv', `${rows}\n`);
    const binary = await build({ sources: [source], target: 'y' });
    expect(binary.schema).toMatchObject({ task: 'classification', target: 'y' });
    expect(binary.schema.columns.find((c) => c.name === 'y')!.type).toBe('boolean');
    expect(binary.validation.ok).toBe(true);
    expect((await build({ sources: [source], target: 'z' })).schema.task).toBe('regression');
  });

  test('a derived label and a row filter run in the engine and are recorded in the lineage', async () => {
    const source = file('flights.csv', 'delay,distance,origin\n20,100,SEA\n-3,0,SFO\n5,300,SEA\n40,250,LAX\n16,80,SFO\n0,90,SEA\n');
    const built = await build({ sources: [source], target: 'delayed', columns: { delayed: 'delay > 15' }, where: 'distance > 0' });
    expect(built.rowCount).toBe(5);
    expect(built.schema).toMatchObject({ target: 'delayed', task: 'classification', features: ['delay', 'distance', 'origin'] });
    expect(built.schema.columns.find((c) => c.name === 'delayed')!.type).toBe('boolean');
    expect(built.lineage).toMatchObject({ derived: { delayed: 'delay > 15' }, where: 'distance > 0', rowsRead: 6, rowsKept: 5 });
    const rows = await parquetRows(built.outFile, 'SELECT delayed, __row FROM snapshot');
    expect(rows).toEqual([
      { delayed: true, __row: 1 },
      { delayed: false, __row: 3 },
      { delayed: true, __row: 4 },
      { delayed: true, __row: 5 },
      { delayed: false, __row: 6 },
    ]);
  });

  test("a bad expression is refused naming the expression and the engine's message", async () => {
    const source = file('f2.csv', 'delay,distance\n20,100\n');
    await expect(build({ sources: [source], target: 'delay', columns: { late: 'dealy > 15' } })).rejects.toThrow(
      /dataset\.columns\.late: "dealy > 15" is not a valid expression.*dealy/,
    );
    await expect(build({ sources: [source], target: 'delay', where: 'distance >' })).rejects.toThrow(
      /dataset\.where: "distance >" is not a valid expression.*syntax error/i,
    );
  });

  test('a derived column that fails on the data is refused as such, whether the checks or the typing compute it', async () => {
    // Valid SQL for every row but the third, whose code is not a number: in an inferred schema (computed by the checks'
    // value counts over a Parquet source read in place), and outside a declared one (computed while typing).
    const csv = file('codes.csv', 'code,y\n1,a\n2,b\nx3,a\n4,b\n');
    const parquet = join(dir, 'codes.parquet');
    await withEngine({}, (engine) =>
      engine.run(`COPY (SELECT * FROM read_csv('${csv}', all_varchar = true)) TO '${parquet}' (FORMAT parquet)`),
    );
    const failure = /derived columns or filter failed on the data: .*x3/;
    await expect(build({ sources: [parquet], target: 'y', columns: { n: 'CAST(code AS INTEGER) * 2' } })).rejects.toThrow(failure);
    const schema: DatasetSchema = {
      columns: [
        { name: 'code', type: 'categorical' },
        { name: 'y', type: 'categorical' },
      ],
      target: 'y',
      features: ['code'],
      task: 'classification',
    };
    await expect(build({ sources: [parquet], schema, columns: { n: 'CAST(code AS INTEGER) * 2' } })).rejects.toThrow(failure);
    await expect(build({ sources: [csv], target: 'y', columns: { n: 'CAST(code AS INTEGER) * 2' } })).rejects.toThrow(failure);
  });

  test('a malformed CSV is refused naming the source', async () => {
    const source = file('ragged.csv', 'a,b\n1,2\n3\n');
    await expect(build({ sources: [source], target: 'a' })).rejects.toThrow(/ragged\.csv: cannot be read/);
  });
});

describe('bytes that are not UTF-8', () => {
  test('are refused naming the source, never replaced in silence', async () => {
    for (const [name, bytes] of [
      ['latin1.csv', Buffer.concat([Buffer.from('city,n\nK'), Buffer.from([0xf6]), Buffer.from('ln,1\nBonn,2\n')])],
      ['latin1.jsonl', Buffer.concat([Buffer.from('{"city":"K'), Buffer.from([0xf6]), Buffer.from('ln","n":1}\n{"city":"Bonn","n":2}\n')])],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      await expect(build({ sources: [path], target: 'n' })).rejects.toThrow(
        new RegExp(`${name.replace('.', '\\.')}: is not valid UTF-8: byte 0xF6 at byte offset \\d+ \\(line [12], data row 1\\)`),
      );
    }
  });
});

describe('declared encodings and the first bad byte', () => {
  test('a latin1 or windows-1252 source declared as such is read as its text', async () => {
    const latin1 = join(dir, 'cities-latin1.csv');
    writeFileSync(latin1, Buffer.concat([Buffer.from('city,n\nBonn,2\nK'), Buffer.from([0xf6]), Buffer.from('ln,1\n')]));
    const read = await build({ sources: [latin1], target: 'n', encoding: 'latin1' });
    expect(await parquetRows(read.outFile, 'SELECT city FROM snapshot ORDER BY __row')).toEqual([{ city: 'Bonn' }, { city: 'Köln' }]);
    const cp1252 = join(dir, 'prices-1252.csv');
    writeFileSync(
      cp1252,
      Buffer.concat([
        Buffer.from('price,n\n'),
        Buffer.from([0x80]),
        Buffer.from('5,1\n'),
        Buffer.from([0x93]),
        Buffer.from('x'),
        Buffer.from([0x94]),
        Buffer.from(',2\n'),
      ]),
    );
    const priced = await build({ sources: [cp1252], target: 'n', encoding: 'windows-1252' });
    expect(await parquetRows(priced.outFile, 'SELECT price FROM snapshot ORDER BY __row')).toEqual([{ price: '€5' }, { price: '“x”' }]);
  });

  test('an undeclared non-UTF-8 byte is refused with its byte offset, line and data row, and what to declare', async () => {
    const csv = join(dir, 'bad-row.csv');
    // A quoted field spans lines 3 and 4, so the bad byte on line 5 is in data row 3.
    const head = 'city,note\nBonn,ok\n"Ulm","two\nlines"\nK';
    writeFileSync(csv, Buffer.concat([Buffer.from(head), Buffer.from([0xf6]), Buffer.from('ln,x\nHamm,y\n')]));
    await expect(build({ sources: [csv], target: 'city' })).rejects.toThrow(
      `bad-row.csv: is not valid UTF-8: byte 0xF6 at byte offset ${Buffer.byteLength(head)} (line 5, data row 3). ` +
        `Declare the file's encoding in the spec (dataset.encoding: latin1 or windows-1252)`,
    );
    const jsonl = join(dir, 'bad-row.jsonl');
    const first = '{"city":"Bonn","n":1}\n{"city":"K';
    writeFileSync(jsonl, Buffer.concat([Buffer.from(first), Buffer.from([0xe9, 0x41]), Buffer.from('","n":2}\n')]));
    await expect(build({ sources: [jsonl], target: 'n' })).rejects.toThrow(
      `byte 0xE9 at byte offset ${Buffer.byteLength(first)} (line 2, data row 2)`,
    );
  });
});

describe('rows whose target is missing', () => {
  const text = 'x,y\n1,a\n2,\n3,b\n4,NA\n5,a\n6,b\n7,a\n8,b\n9,a\n10,b\n';

  test('fail validation naming their source rows unless the spec drops them', async () => {
    const strict = await build({ sources: [file('no-label.csv', text)], target: 'y' });
    expect(strict.validation.ok).toBe(false);
    expect(strict.validation.issues.find((i) => i.rule === 'missing_label')).toMatchObject({ sampleRows: [2, 4] });
  });

  test('are dropped and counted with dropMissingTarget, the kept rows keeping their source row numbers', async () => {
    const built = await build({ sources: [file('drop-label.csv', text)], target: 'y', dropMissingTarget: true, where: 'x < 10' });
    expect(built.validation.ok).toBe(true);
    expect(built.lineage).toMatchObject({ rowsRead: 10, rowsKept: 7, droppedMissingTarget: 2 });
    expect((await parquetRows(built.outFile, 'SELECT __row FROM snapshot ORDER BY __row')).map((r) => r.__row)).toEqual([
      1, 3, 5, 6, 7, 8, 9,
    ]);
  });

  test("with the target's maxNullRate raised they are still refused at ingest, naming source rows and dropMissingTarget, never left for training", async () => {
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric' },
        { name: 'y', type: 'categorical', maxNullRate: 0.5 },
      ],
      target: 'y',
      features: ['x'],
      task: 'classification',
    };
    const built = await build({ sources: [file('raised.csv', text)], schema });
    expect(built.validation.ok).toBe(false);
    const issue = built.validation.issues.find((i) => i.rule === 'missing_label')!;
    expect(issue).toMatchObject({ severity: 'blocking', sampleRows: [2, 4] });
    expect(issue.message).toBe(
      'target "y" is missing in 2 rows (source rows 2, 4), which no trainer can learn from; set dataset.dropMissingTarget: true to drop them',
    );
    expect((await build({ sources: [file('raised-drop.csv', text)], schema, dropMissingTarget: true })).validation.ok).toBe(true);
  });

  test('a target of the wrong type is not "missing": it stays a validation issue with its row', async () => {
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric' },
        { name: 'y', type: 'numeric' },
      ],
      target: 'y',
      features: ['x'],
      task: 'regression',
    };
    const built = await build({ sources: [file('typed-label.csv', 'x,y\n1,1.5\n2,\n3,abc\n4,2.5\n')], schema, dropMissingTarget: true });
    expect(built.lineage.droppedMissingTarget).toBe(1);
    expect(built.validation.issues.find((i) => i.rule === 'type' && i.column === 'y')).toMatchObject({ sampleRows: [3] });
  });
});
