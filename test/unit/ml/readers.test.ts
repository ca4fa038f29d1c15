import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { isMlopsError, type MlopsError } from '../../../src/errors';
import { readFrame } from '../../../src/data/read';
import { inferSchema, readRows, type Row } from '../../../src/ml/readers';
import type { DatasetSchema } from '../../../src/ml/types';
import { SEATTLE } from '../../helpers/ml-reference';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-readers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function collect(source: string, options = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of readRows(source, options)) rows.push(row);
  return rows;
}

async function failure(promise: Promise<unknown>): Promise<MlopsError> {
  try {
    await promise;
  } catch (err) {
    if (isMlopsError(err)) return err;
    throw err;
  }
  throw new Error('expected the read to fail');
}

describe('CSV', () => {
  test('the Seattle weather file streams all 1461 rows with its header as keys', async () => {
    const rows = await collect(SEATTLE);
    expect(rows).toHaveLength(1461);
    expect(rows[0]).toEqual({
      date: '2012-01-01',
      precipitation: '0.0',
      temp_max: '12.8',
      temp_min: '5.0',
      wind: '4.7',
      weather: 'drizzle',
    });
    expect(rows[1460].date).toBe('2015-12-31');
  });

  test('the row stream tells the row and line of the row it just yielded', async () => {
    const path = file('multiline.csv', 'id,text\n1,"two\nlines"\n2,plain\n');
    const stream = readRows(path);
    const seen: [number, number][] = [];
    for await (const _ of stream) seen.push([stream.row, stream.line]);
    expect(seen).toEqual([
      [1, 2],
      [2, 4],
    ]);
  });

  test('quoted fields keep delimiters, newlines and doubled quotes; CRLF and a BOM are handled', async () => {
    const path = file('quoted.csv', '\ufeffa,b\r\n"x, y","say ""hi"""\r\n"multi\r\nline",\r\n');
    expect(await collect(path)).toEqual([
      { a: 'x, y', b: 'say "hi"' },
      { a: 'multi\r\nline', b: '' },
    ]);
  });

  test('a lone carriage return is data, not a line end, on both parsing paths', async () => {
    expect(await collect(file('cr.csv', 'a,b\r\nx\ry,1\r\n"q",z\rw\r\n'))).toEqual([
      { a: 'x\ry', b: '1' },
      { a: 'q', b: 'z\rw' },
    ]);
  });

  test('a configurable delimiter, and tab for .tsv files', async () => {
    expect(await collect(file('semi.csv', 'a;b\n1;2\n'), { delimiter: ';' })).toEqual([{ a: '1', b: '2' }]);
    expect(await collect(file('data.tsv', 'a\tb\n1,5\t2\n'))).toEqual([{ a: '1,5', b: '2' }]);
  });

  test('a ragged CSV row is reported with its line number', async () => {
    const path = file('ragged.csv', 'a,b,c\n1,2,3\n"x\ny",5,6\n7,8\n9,10,11\n');
    const err = await failure(collect(path));
    expect(err.type).toBe('MlopsInvalidInput');
    expect(err.message).toContain(`${path} line 5`);
    expect(err.message).toContain('expected 3 fields');
    expect(err.message).toContain('found 2');
  });

  test('an unterminated quote is reported at the line where the quoted field starts', async () => {
    const path = file('open-quote.csv', 'a,b\n1,2\n3,"never closed\n4,5\n');
    const err = await failure(collect(path));
    expect(err.type).toBe('MlopsInvalidInput');
    expect(err.message).toMatch(/line 3: .*unterminated quote/);
  });

  test('a stray quote inside an unquoted field or text after a closing quote is broken quoting', async () => {
    expect((await failure(collect(file('stray.csv', 'a,b\n1,5"10\n')))).message).toMatch(/line 2: a quote inside unquoted field 2/);
    expect((await failure(collect(file('after.csv', 'a,b\n"1"x,2\n')))).message).toMatch(/line 2: unexpected text after a closing quote/);
  });

  test('a quoted field split across read chunks is parsed whole', async () => {
    const long = 'z'.repeat(3 * 1024 * 1024);
    const path = file('long.csv', `a,b\n"${long}""q",1\n2,3\n`);
    const rows = await collect(path);
    expect(rows).toHaveLength(2);
    expect(rows[0].a).toBe(`${long}"q`);
    expect(rows[1]).toEqual({ a: '2', b: '3' });
  });

  test('an empty file and a duplicate header name are invalid input', async () => {
    expect((await failure(collect(file('empty.csv', '')))).message).toMatch(/empty/);
    expect((await failure(collect(file('dup.csv', 'a,a\n1,2\n')))).message).toMatch(/"a" appears twice/);
  });

  test('gzip-compressed files are decompressed on the fly', async () => {
    const path = file('data.csv.gz', gzipSync('a,b\n1,2\n'));
    expect(await collect(path)).toEqual([{ a: '1', b: '2' }]);
  });
});

describe('JSON', () => {
  test('JSON lines are read one object per line, blank lines skipped', async () => {
    const path = file('rows.jsonl', '{"a":1,"b":"x"}\n\n{"a":2,"b":null}\n');
    expect(await collect(path)).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: null },
    ]);
  });

  test('an invalid JSON line is reported with its line number', async () => {
    const path = file('bad.jsonl', '{"a":1}\n{"a":2}\n{"a":\n');
    const err = await failure(collect(path));
    expect(err.type).toBe('MlopsInvalidInput');
    expect(err.message).toMatch(/bad\.jsonl line 3: invalid JSON/);
  });

  test('a JSON line that is not an object is rejected', async () => {
    expect((await failure(collect(file('arr.jsonl', '{"a":1}\n[1,2]\n')))).message).toMatch(
      /line 2: expected a JSON object per row, found an array/,
    );
  });

  test('a JSON array of objects streams with nested values and strings holding brackets', async () => {
    const path = file('rows.json', '[\n {"a": 1, "s": "]},[{"},\n {"a": 2, "n": {"deep": [1, {"x": "}"}]}}\n]\n');
    expect(await collect(path)).toEqual([
      { a: 1, s: ']},[{' },
      { a: 2, n: { deep: [1, { x: '}' }] } },
    ]);
  });

  test('a truncated JSON array names the line of the unfinished element', async () => {
    const path = file('cut.json', '[\n{"a": 1},\n{"a": 2,\n "b": 3');
    const err = await failure(collect(path));
    expect(err.message).toMatch(/cut\.json line 3: the JSON array is not closed/);
  });
});

describe('Parquet', () => {
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'x', data: [1.5, 2.5, 3.5, 4.5], type: 'DOUBLE' },
      { name: 'label', data: ['a', 'b', 'a', null], type: 'STRING' },
      { name: 'n', data: [1n, 2n, 3n, 4n], type: 'INT64' },
    ],
    rowGroupSize: 2,
  });

  test('rows are read across row groups, 64-bit integers as numbers', async () => {
    const path = file('data.parquet', new Uint8Array(buffer));
    const stream = readRows(path);
    const rows: Row[] = [];
    const positions: number[] = [];
    for await (const r of stream) {
      rows.push(r);
      positions.push(stream.row);
    }
    expect(rows).toEqual([
      { x: 1.5, label: 'a', n: 1 },
      { x: 2.5, label: 'b', n: 2 },
      { x: 3.5, label: 'a', n: 3 },
      { x: 4.5, label: null, n: 4 },
    ]);
    expect(positions).toEqual([1, 2, 3, 4]);
  });

  test('only the requested columns are read', async () => {
    const path = file('cols.parquet', new Uint8Array(buffer));
    expect(await collect(path, { columns: ['label'] })).toEqual([{ label: 'a' }, { label: 'b' }, { label: 'a' }, { label: null }]);
  });

  test('a truncated Parquet file is invalid input naming the file', async () => {
    const bytes = new Uint8Array(buffer);
    const path = file('cut.parquet', bytes.subarray(0, bytes.length - 20));
    const err = await failure(collect(path));
    expect(err.type).toBe('MlopsInvalidInput');
    expect(err.message).toContain('cut.parquet');
  });

  test('a Parquet object in S3 is read through the injected opener', async () => {
    const opened: string[] = [];
    const openS3 = async (bucket: string, key: string): Promise<Readable> => {
      opened.push(`${bucket}/${key}`);
      return Readable.from([Buffer.from(buffer)]);
    };
    expect(await collect('s3://data/train/part-0.parquet', { openS3, columns: ['x'] })).toHaveLength(4);
    expect(opened).toEqual(['data/train/part-0.parquet']);
  });
});

describe('sources', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/weather.csv') {
        res.writeHead(200, { 'content-type': 'text/csv' });
        res.end(readFileSync(SEATTLE));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a CSV file is streamed from an http URL', async () => {
    expect(await collect(`${base}/weather.csv`)).toHaveLength(1461);
  });

  test('a URL that answers 404 is NotFound', async () => {
    const err = await failure(collect(`${base}/nothing.csv`));
    expect(err.type).toBe('MlopsNotFound');
    expect(err.message).toContain('404');
  });

  test('a missing local file is NotFound and names the path', async () => {
    const err = await failure(collect(join(dir, 'absent.csv')));
    expect(err.type).toBe('MlopsNotFound');
    expect(err.message).toContain('absent.csv');
  });

  test('an s3:// source without an opener is a configuration error', async () => {
    expect((await failure(collect('s3://bucket/key.csv'))).type).toBe('MlopsConfigurationError');
  });

  test('a CSV object in S3 streams through the injected opener', async () => {
    const openS3 = async (): Promise<Readable> => Readable.from([Buffer.from('a,b\n1,'), Buffer.from('2\n3,4\n')]);
    expect(await collect('s3://bucket/dir/data.csv', { openS3 })).toEqual([
      { a: '1', b: '2' },
      { a: '3', b: '4' },
    ]);
  });

  test('an unknown extension needs an explicit format', async () => {
    const path = file('data.txt', 'a\n1\n');
    expect((await failure(collect(path))).message).toMatch(/set format/);
    expect(await collect(path, { format: 'csv' })).toEqual([{ a: '1' }]);
  });
});

describe('frames and inferred schemas', () => {
  test('the Seattle schema is inferred: weather is a classification target, date a datetime kept out of the features', async () => {
    const rows = await collect(SEATTLE);
    const schema = inferSchema(rows, { target: 'weather' });
    expect(schema.task).toBe('classification');
    expect(schema.columns.map((c) => [c.name, c.type])).toEqual([
      ['date', 'datetime'],
      ['precipitation', 'numeric'],
      ['temp_max', 'numeric'],
      ['temp_min', 'numeric'],
      ['wind', 'numeric'],
      ['weather', 'categorical'],
    ]);
    expect(schema.features).toEqual(['precipitation', 'temp_max', 'temp_min', 'wind']);
  });

  test('a numeric target means regression, unless classification is asked for', () => {
    const rows = [
      { x: '1', y: '0', ok: 'true' },
      { x: '2', y: '1', ok: 'False' },
    ];
    expect(inferSchema(rows, { target: 'y' }).task).toBe('regression');
    const forced = inferSchema(rows, { target: 'y', task: 'classification' });
    expect(forced.columns.find((c) => c.name === 'y')!.type).toBe('categorical');
    expect(inferSchema(rows, { target: 'ok' })).toMatchObject({ task: 'classification', features: ['x', 'y'] });
  });

  test('readFrame materialises only the needed columns, typed, with NaN and null for missing values', async () => {
    const path = file('frame.csv', 'when,x,flag,label,unused\n2024-01-02,1.5,true,a,zz\n2024-01-03T12:00:00,,false,,zz\n');
    const schema: DatasetSchema = {
      columns: [
        { name: 'when', type: 'datetime' },
        { name: 'x', type: 'numeric' },
        { name: 'flag', type: 'boolean' },
        { name: 'label', type: 'categorical' },
        { name: 'unused', type: 'categorical' },
      ],
      target: 'label',
      features: ['x', 'flag'],
      task: 'classification',
    };
    const frame = await readFrame(path, schema, { columns: ['when', 'x', 'flag', 'label'] });
    expect(frame.rowCount).toBe(2);
    expect(Object.keys(frame.columns)).toEqual(['when', 'x', 'flag', 'label']);
    expect(Array.from(frame.columns.when as Float64Array)).toEqual([Date.UTC(2024, 0, 2), Date.UTC(2024, 0, 3, 12)]);
    expect(Array.from(frame.columns.x as Float64Array)).toEqual([1.5, NaN]);
    expect(Array.from(frame.columns.flag as Float64Array)).toEqual([1, 0]);
    expect(frame.columns.label).toEqual(['a', null]);
  });

  test('a value of the wrong type in readFrame names the row, line and column', async () => {
    const path = file('badtype.csv', 'x,y\n1,a\n2,b\nthree,c\n');
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric' },
        { name: 'y', type: 'categorical' },
      ],
      target: 'y',
      features: ['x'],
      task: 'classification',
    };
    const err = await failure(readFrame(path, schema));
    expect(err.type).toBe('MlopsInvalidInput');
    expect(err.message).toContain('line 4');
    expect(err.message).toContain('row 3, column "x": "three" is not numeric');
  });

  test('readFrame of the Seattle file gives Float64Array features and string labels', async () => {
    const rows = await collect(SEATTLE);
    const schema = inferSchema(rows.slice(0, 100), { target: 'weather' });
    const frame = await readFrame(SEATTLE, schema);
    expect(frame.rowCount).toBe(1461);
    expect(frame.columns.temp_max).toBeInstanceOf(Float64Array);
    expect((frame.columns.temp_max as Float64Array)[0]).toBe(12.8);
    expect((frame.columns.weather as string[])[0]).toBe('drizzle');
  });
});
