/**
 * docs/spec.md and schema/spec.schema.json are generated from the zod schema (src/spec/reference.ts): the
 * checked-in files must be what `npm run spec:docs` writes, every field must say what it is for, and the JSON
 * Schema an editor uses must accept every example spec and point at a wrong field the way `mlops run` does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { SPEC_SCHEMA_PATH, specJsonSchema, specReference } from '../../../src/spec/reference';

const ROOT = path.resolve(__dirname, '../../..');
const REGENERATE = 'run `npm run spec:docs` and commit the result (field descriptions live in src/spec/pipeline.ts)';

/** Fails naming the file, its first differing line and how to regenerate it. */
function expectGenerated(file: string, expected: string): void {
  const actual = fs.existsSync(path.join(ROOT, file)) ? fs.readFileSync(path.join(ROOT, file), 'utf8') : '';
  if (actual === expected) return;
  const a = actual.split('\n');
  const e = expected.split('\n');
  const line = e.findIndex((l, i) => l !== a[i]);
  throw new Error(
    `${file} is not what src/spec/pipeline.ts generates: ${REGENERATE}.\n` +
      `First difference at line ${line + 1}:\n  checked in: ${a[line] ?? '(end of file)'}\n  generated:  ${e[line] ?? '(end of file)'}`,
  );
}

test('docs/spec.md is what the spec schema generates', () => {
  expectGenerated('docs/spec.md', specReference());
});

test('schema/spec.schema.json is what the spec schema generates', () => {
  expectGenerated(SPEC_SCHEMA_PATH, JSON.stringify(specJsonSchema(), null, 2) + '\n');
});

test('every field of the spec says what it is for', () => {
  const rows = [...specReference().matchAll(/^\| `([^`]+)` \| ([^|]*) \| (.*) \|$/gm)];
  expect(rows.length).toBeGreaterThan(80);
  const undocumented = rows.filter((r) => r[3]!.trim() === '').map((r) => r[1]);
  expect(undocumented).toEqual([]);
});

test('the published schema carries no docs-only keys and is shipped in the package', () => {
  const text = JSON.stringify(specJsonSchema());
  expect(text).not.toMatch(/"docType"|"docIntro"/);
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  expect(manifest.files).toContain(path.dirname(SPEC_SCHEMA_PATH));
});

describe('an editor checking specs against the JSON Schema', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(specJsonSchema());
  const examples = fs
    .readdirSync(path.join(ROOT, 'examples'))
    .map((dir) => path.join('examples', dir, 'pipeline.yaml'))
    .filter((file) => fs.existsSync(path.join(ROOT, file)));

  it.each(examples)('accepts %s, whose first line points the editor at the schema', (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const first = text.split('\n')[0]!;
    const pointer = /^# yaml-language-server: \$schema=(.+)$/.exec(first);
    expect(pointer).not.toBeNull();
    expect(path.resolve(path.dirname(path.join(ROOT, file)), pointer![1]!)).toBe(path.join(ROOT, SPEC_SCHEMA_PATH));
    expect(validate(parseYaml(text))).toBe(true);
  });

  it('flags a misspelt field and a malformed duration where they are', () => {
    const spec = {
      model: 'm',
      dataset: { source: 'data.csv', target: 'y' },
      trainer: { name: 'gbdt' },
      monitor: { interval: 'hourly', windw: '7d' },
    };
    expect(validate(spec)).toBe(false);
    const problems = validate.errors!.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/monitor\/interval must match pattern/),
        expect.stringMatching(/^\/monitor .*"windw"/),
      ]),
    );
  });
});
