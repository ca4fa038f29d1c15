/**
 * `mlops schema infer` as users run it (the built command in its own process): the YAML it prints
 * pastes into a spec that parses, types come from every row with docs/data.md's spellings of
 * missing values, 0/1 targets are labels, and bad input says what is wrong.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parsePipelineSpec } from '../../../src/spec/pipeline';

const ROOT = resolve(__dirname, '../../..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-schema-infer-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mlops(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, 'bin/mlops.js'), ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** 6,000 rows: x numeric with NaN/nan/NA missing values, when a date, y a 0/1 label, c a category. */
function table(bad?: { row: number; token: string }): string {
  const lines = ['x,when,y,c'];
  for (let i = 1; i <= 6000; i++) {
    const x = i % 500 === 0 ? ['NaN', 'nan', 'NA'][i % 3] : `${(i * 7) % 31}.25`;
    lines.push(`${bad?.row === i ? bad.token : x},2024-01-${String((i % 28) + 1).padStart(2, '0')},${i % 2},${i % 3 ? 'a' : 'b'}`);
  }
  return `${lines.join('\n')}\n`;
}

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('mlops schema infer', () => {
  test('prints YAML that pastes under dataset: into a spec that parses, with a 0/1 target as a classification label', async () => {
    const source = file('good.csv', table());
    const res = await mlops(['schema', 'infer', source, '--target', 'y']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`# Inferred by mlops schema infer from ${source} (6000 rows, every row read).`);
    expect(res.stdout).not.toMatch(/BLOCKING|warning/);
    const pasted = parse(res.stdout) as { schema: unknown };
    expect(pasted.schema).toEqual({
      target: 'y',
      task: 'classification',
      features: ['x', 'c'],
      columns: [
        { name: 'x', type: 'numeric' },
        { name: 'when', type: 'datetime' },
        { name: 'y', type: 'boolean', maxNullRate: 0 },
        { name: 'c', type: 'categorical' },
      ],
    });
    const spec = parsePipelineSpec({ model: 'pasted', dataset: { source, ...pasted }, trainer: { name: 'logistic-regression' } });
    expect(spec.dataset.schema?.task).toBe('classification');
    const regression = parse((await mlops(['schema', 'infer', source, '--target', 'y', '--task', 'regression'])).stdout) as {
      schema: { task: string; columns: { name: string; type: string }[] };
    };
    expect(regression.schema.task).toBe('regression');
    expect(regression.schema.columns.find((c) => c.name === 'y')!.type).toBe('numeric');
  });

  test('one inf, -Infinity or 1e999 keeps the column numeric wherever it sits, and is flagged as blocking with its row', async () => {
    for (const [row, token] of [
      [4, 'inf'],
      [5500, '-Infinity'],
      [2000, '1e999'],
    ] as const) {
      const res = await mlops(['schema', 'infer', file(`bad-${row}.csv`, table({ row, token })), '--target', 'y']);
      expect(res.code).toBe(0);
      expect((parse(res.stdout) as { schema: { columns: { name: string; type: string }[] } }).schema.columns[0]).toEqual({
        name: 'x',
        type: 'numeric',
      });
      expect(res.stdout).toContain('# Ingest would refuse this data as it is:');
      expect(res.stdout).toMatch(new RegExp(`# BLOCKING: .*x.*${token.replace('+', '\\+')}.*\\(rows ${row}\\)`));
    }
  });

  test('without --target prints the columns alone and says what to add', async () => {
    const res = await mlops(['schema', 'infer', file('cols.csv', table())]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('add target, task and features (or run again with --target <column>)');
    expect((parse(res.stdout) as { schema: { columns: unknown[] } }).schema.columns).toHaveLength(4);
  });

  test('--json prints the schema, the row count and the issues', async () => {
    const res = await mlops(['schema', 'infer', file('json.csv', table({ row: 10, token: 'inf' })), '--target', 'y', '--json']);
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out).toMatchObject({ rows: 6000, schema: { target: 'y', task: 'classification' } });
    expect(out.issues).toEqual([expect.objectContaining({ column: 'x', rule: 'type', severity: 'blocking', sampleRows: [10] })]);
  });

  test('a latin1 file is read with --encoding latin1 and refused without it, naming the byte offset and row', async () => {
    const source = file('latin1.csv', Buffer.concat([Buffer.from('city,n\nBonn,1\nK'), Buffer.from([0xf6]), Buffer.from('ln,0\n')]));
    const refused = await mlops(['schema', 'infer', source, '--target', 'n']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('latin1.csv: is not valid UTF-8: byte 0xF6 at byte offset 15 (line 3, data row 2)');
    const read = await mlops(['schema', 'infer', source, '--target', 'n', '--encoding', 'latin1', '--json']);
    expect(read.code).toBe(0);
    expect(JSON.parse(read.stdout).schema.columns[0]).toEqual({ name: 'city', type: 'categorical' });
  });

  test('--help describes the command; bad options are usage errors (exit 2); a missing file exits 1 naming it', async () => {
    const help = await mlops(['schema', 'infer', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: mlops schema infer \[options\] <source>/);
    expect(help.stdout).toContain('--target <column>');
    const task = await mlops(['schema', 'infer', join(dir, 'good.csv'), '--target', 'y', '--task', 'ranking']);
    expect(task.code).toBe(2);
    expect(task.stderr).toContain('--task: expected classification or regression, not "ranking"');
    const missing = await mlops(['schema', 'infer', join(dir, 'nope.csv'), '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error).toMatchObject({
      type: 'MlopsNotFound',
      message: expect.stringContaining('nope.csv does not exist'),
    });
  });
});
