#!/usr/bin/env node
// Thin entry point for `npm run bench -- [suite...]`; the runner is src/bench/run.ts, run from dist/.
// It compiles the package first when dist/ is missing or older than src/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runner = join(root, 'dist', 'bench', 'run.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

if (!existsSync(runner) || statSync(runner).mtimeMs < newestSource(join(root, 'src'))) {
  console.log('[bench] compiling src/ into dist/ (tsc)');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const built = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (built.status !== 0) {
    console.error('[bench] the build failed; fix the errors above and run again');
    process.exit(built.status ?? 1);
  }
}

const { main } = createRequire(import.meta.url)(runner);
process.exitCode = await main(process.argv.slice(2));
