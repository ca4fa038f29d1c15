/**
 * The Python environment the examples, their tests and the benchmarks' references run in: one venv in
 * the tool cache with pinned versions from PyPI, created on first use (about 40 s) and checked by a
 * stamp naming every pin, so a change of pins rebuilds it. `MLOPS_PYTHON` names another Python that
 * already has these packages.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { FailureType, MlopsError } from '../errors';

/**
 * Pinned packages. Python 3.11 is what the machines have; xgboost 3.2.0 is the last release for it.
 * numpy and scipy are pinned too, so scikit-learn's numbers do not move under us.
 */
export const PYTHON_PACKAGES = {
  numpy: '2.4.6',
  scipy: '1.17.1',
  'scikit-learn': '1.9.1',
  onnx: '1.23.2',
  skl2onnx: '1.20.0',
  onnxmltools: '1.16.0',
  onnxruntime: '1.31.1',
  xgboost: '3.2.0',
  lightgbm: '4.7.0',
  pandas: '3.1.1',
  pyarrow: '26.0.1',
  dask: '2026.8.0',
  distributed: '2026.8.0',
  'tritonclient[http]': '2.73.0',
} as const;

const STAMP = `.mlops-pins-${Object.entries(PYTHON_PACKAGES)
  .map(([n, v]) => `${n}=${v}`)
  .join(',')
  .replace(/[^a-z0-9.=,-]/gi, '_')}`;

/** The cache directory of tools (`MLOPS_CACHE_DIR`, default ~/.cache/temporal-mlops). */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MLOPS_CACHE_DIR ?? path.join(homedir(), '.cache', 'temporal-mlops');
}

/** Path of the Python with every pinned package, creating the venv on first use. */
export async function ensurePython(say: (line: string) => void = () => {}, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.MLOPS_PYTHON) return env.MLOPS_PYTHON;
  const venv = path.join(toolCacheDir(env), 'pyenv');
  const python = path.join(venv, 'bin', 'python');
  const stamp = path.join(venv, STAMP);
  if (fs.existsSync(stamp)) return python;
  const run = promisify(execFile);
  const lock = path.join(toolCacheDir(env), 'pyenv.lock');
  fs.mkdirSync(toolCacheDir(env), { recursive: true });
  // One installer at a time: parallel test files may all ask at once.
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (fs.existsSync(stamp)) return python;
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 15 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    if (fs.existsSync(stamp)) return python;
    if (!fs.existsSync(python)) {
      say(`creating the Python environment for models in ${venv}`);
      try {
        await run('python3', ['-m', 'venv', venv]);
      } catch (err) {
        throw new MlopsError(
          FailureType.Configuration,
          `Could not create a Python venv with python3 (${(err as Error).message.split('\n')[0]}). ` +
            `Install python3 with venv (Debian: apt-get install python3-venv), or set MLOPS_PYTHON to a Python that has ` +
            `${Object.keys(PYTHON_PACKAGES).join(', ')}.`,
        );
      }
    }
    const specs = Object.entries(PYTHON_PACKAGES).map(([n, v]) => `${n}==${v}`);
    say(`installing ${specs.join(' ')} from PyPI (once, about 40 s)`);
    try {
      await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '--quiet', ...specs], {
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (err) {
      throw new MlopsError(
        FailureType.Configuration,
        `pip could not install the pinned Python packages into ${venv}: ${(err as Error).message.split('\n').slice(-3).join(' ')}. ` +
          `Check that PyPI is reachable, or set MLOPS_PYTHON.`,
      );
    }
    fs.writeFileSync(stamp, new Date().toISOString());
    return python;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
