/** The lint rule that keeps workflow code sandbox-safe: it refuses Node built-ins and the core's heavy modules in src/workflows/. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * Lints `code` as if it were `file`, with the project's eslint.config.mjs, through the eslint command (jest cannot load an
 * ES-module config). The import rule needs no type information; the type-aware rules are left to `npm run lint`.
 */
function problems(code: string, file = 'src/workflows/probe.ts'): Promise<string[]> {
  const args = [
    '--stdin',
    '--stdin-filename',
    file,
    '--format',
    'json',
    '--parser-options',
    'projectService:false',
    '--rule',
    JSON.stringify({ '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off' }),
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(path.join(ROOT, 'node_modules/.bin/eslint'), args, { cwd: ROOT }, (err, stdout, stderr) => {
      try {
        const [result] = JSON.parse(stdout) as { messages: { ruleId: string | null; message: string }[] }[];
        resolve(result!.messages.map((m) => `${m.ruleId}: ${m.message}`));
      } catch {
        reject(new Error(`eslint failed: ${err?.message ?? ''}\n${stderr}`));
      }
    });
    child.stdin!.end(code);
  });
}

describe('imports in workflow code', () => {
  it('refuses Node built-ins, with or without the node: prefix', async () => {
    expect(await problems("import * as fs from 'node:fs';\nexport const a = fs;\n")).toEqual([
      expect.stringMatching(/no-restricted-imports: .*no Node APIs/),
    ]);
    expect(await problems("import { createHash } from 'crypto';\nexport const h = createHash;\n")).toHaveLength(1);
  });

  it("refuses the core's heavy modules as values, but lets their types in", async () => {
    expect(await problems("import { loadOnnxPredictor } from '../ml/onnx';\nexport const l = loadOnnxPredictor;\n")).toHaveLength(1);
    expect(await problems("import { ArtifactStore } from '../storage/artifact-store';\nexport const s = ArtifactStore;\n")).toHaveLength(1);
    expect(await problems("import type { ArtifactRef } from '../storage/refs';\nexport type R = ArtifactRef;\n")).toEqual([]);
  });

  it('allows the workflow API, the failure types and sibling modules', async () => {
    expect(
      await problems(
        "import { sleep } from '@temporalio/workflow';\nimport { FailureType } from '../errors';\n" +
          "import { Timeline } from './timeline';\nexport const x = [sleep, FailureType, Timeline];\n",
      ),
    ).toEqual([]);
  });

  it('leaves activities free to use Node', async () => {
    expect(await problems("import * as fs from 'node:fs';\nexport const a = fs;\n", 'src/activities/probe.ts')).toEqual([]);
  });
});
