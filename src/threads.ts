/**
 * Worker threads that run a module of this package. Built, the package runs the module's compiled `.js`;
 * run from its TypeScript sources (the test suite), the thread compiles `.ts` files as it loads them, with
 * swc, the compiler the tests already use, so a test exercises the sources it is testing.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts a thread running `file` (a module path without its extension, next to the caller's module). */
export function startModuleThread(file: string, options: WorkerOptions = {}): Worker {
  if (!__filename.endsWith('.ts')) return new Worker(`${file}.js`, options);
  const entry = `${file}.ts`;
  const bootstrap = `
    const Module = require('node:module');
    const fs = require('node:fs');
    const load = Module.createRequire(${JSON.stringify(entry)});
    const { transformSync } = load('@swc/core');
    Module._extensions['.ts'] = (module, filename) => {
      const source = fs.readFileSync(filename, 'utf8');
      const options = { filename, jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } };
      module._compile(transformSync(source, options).code, filename);
    };
    load(${JSON.stringify(entry)});
  `;
  return new Worker(bootstrap, { ...options, eval: true });
}
