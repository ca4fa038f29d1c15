/** The `command` trainer section of a pipeline spec: what a user can set, and what is refused when the spec is read. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpecFile } from '../../../src/spec/load';
import { parsePipelineSpec } from '../../../src/spec/pipeline';

const dataset = { source: 's3://data/toy.csv', target: 'y' };
const spec = (trainer: Record<string, unknown>) => ({ model: 'toy', dataset, trainer: { name: 'command', ...trainer } });

it('timeout, killGrace and env can be set, durations in words', () => {
  const parsed = parsePipelineSpec(
    spec({ command: ['{python}', 'train.py'], timeout: '2h', killGrace: '30s', env: { OMP_NUM_THREADS: '1' } }),
  );
  expect(parsed.trainer).toMatchObject({ name: 'command', timeout: 7_200_000, killGrace: 30_000, env: { OMP_NUM_THREADS: '1' } });
});

it('a command using {validation} is refused when the spec is parsed, saying the holdout is never given', () => {
  expect(() => parsePipelineSpec(spec({ command: ['python', 'train.py', '--validation', '{validation}'] }), 'pipeline.yaml')).toThrow(
    /trainer\.command.*\{validation\} placeholder is gone: the program never sees the holdout/,
  );
});

it('a timeout that is not a duration is refused with the field named', () => {
  expect(() => parsePipelineSpec(spec({ command: ['train'], timeout: 600 }))).toThrow(/trainer\.timeout/);
});

it('a spec file runs its program beside it unless a working directory is given, relative to the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-'));
  try {
    const head = 'model: toy\ndataset: { source: data.csv, target: y }\n';
    writeFileSync(join(dir, 'a.yaml'), `${head}trainer: { name: command, command: [train.sh] }\n`);
    writeFileSync(join(dir, 'b.yaml'), `${head}trainer: { name: command, command: [train.sh], workingDirectory: ../elsewhere }\n`);
    expect(loadSpecFile(join(dir, 'a.yaml')).trainer).toMatchObject({ workingDirectory: dir });
    expect(loadSpecFile(join(dir, 'b.yaml')).trainer).toMatchObject({ workingDirectory: join(dir, '../elsewhere') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
