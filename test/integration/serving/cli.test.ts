import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { registerServe } from '../../../src/cli/serve';
import { readPredictionWindow } from '../../../src/serving';
import { postJson, requestRows, ServingFixture } from './fixtures';

let fx: ServingFixture;

beforeAll(async () => {
  fx = await ServingFixture.start('serving-cli');
  const { version } = await fx.registerModel('cli-model');
  await fx.moveAlias('cli-model', version);
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
});

/** The program with only `serve`, run the way src/cli/index.ts runs commands, reporting the exit code. */
function program(onExit: (code: number, err?: unknown) => void): Command {
  const p = new Command('mlops').exitOverride();
  const run =
    (fn: (json: boolean, ...args: any[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      const opts = (args[args.length - 2] ?? {}) as { json?: boolean };
      try {
        await fn(Boolean(opts.json), ...args.slice(0, -1));
        onExit(0);
      } catch (err) {
        onExit(1, err);
      }
    };
  registerServe(p, run);
  return p;
}

describe('mlops serve', () => {
  it('serves the aliased version, and on SIGTERM finishes and writes every answered prediction before returning', async () => {
    const cfg = fx.minio.config('serving-cli');
    const saved = { ...process.env };
    Object.assign(process.env, {
      MINIO_ENDPOINT: `http://127.0.0.1:${cfg.port}`,
      MINIO_ACCESS_KEY: cfg.accessKey,
      MINIO_SECRET_KEY: cfg.secretKey,
      MINIO_BUCKET: 'serving-cli',
      MLOPS_LOG_LEVEL: 'silent',
      MLOPS_SPOOL_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cli-spool-')),
    });
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    let exit: { code: number; err?: unknown } | undefined;
    try {
      const done = program((code, err) => (exit = { code, err })).parseAsync(
        ['serve', '--model', 'cli-model', '--port', '0', '--poll', '1s', '--json'],
        { from: 'user' },
      );
      while (out.length === 0 && !exit) await new Promise((r) => setTimeout(r, 20));
      expect(exit).toBeUndefined();
      const started = JSON.parse(out[0]!);
      expect(started).toMatchObject({ models: ['cli-model'], alias: 'production', ready: true });

      const answered: string[] = [];
      for (let i = 0; i < 25; i++)
        answered.push((await postJson(`${started.url}/v1/models/cli-model:predict`, { instances: [requestRows[i % 4]] })).body.id);
      process.emit('SIGTERM', 'SIGTERM');
      await done;
      expect(exit).toEqual({ code: 0 });

      const logged: string[] = [];
      for await (const p of readPredictionWindow(fx.storage.store, 'cli-model', { until: '2999-01-01T00:00:00Z' })) logged.push(p.id);
      expect(logged.sort()).toEqual(answered.sort());
    } finally {
      write.mockRestore();
      process.env = saved;
    }
  });

  it('with --wait-for-models, starts with an old-format model among the served ones, and says which model is not ready and why', async () => {
    const artifact = await fx.storage.store.putJson({
      format: 'temporal-mlops/external-model@1',
      command: ['python', 'train.py'],
      files: {},
      metrics: {},
    });
    const { version } = await fx.storage.registry.registerVersion({
      model: 'cli-legacy',
      artifact,
      dataset: { sha256: 'c'.repeat(64), name: 'old' },
      trainer: { name: 'command', params: {} },
      metrics: {},
      workflowId: 'cli-legacy-run',
      runId: 'cli-legacy-run-1',
    });
    await fx.moveAlias('cli-legacy', version.version);
    const cfg = fx.minio.config('serving-cli');
    const saved = { ...process.env };
    Object.assign(process.env, {
      MINIO_ENDPOINT: `http://127.0.0.1:${cfg.port}`,
      MINIO_ACCESS_KEY: cfg.accessKey,
      MINIO_SECRET_KEY: cfg.secretKey,
      MINIO_BUCKET: 'serving-cli',
      MLOPS_LOG_LEVEL: 'silent',
      MLOPS_SPOOL_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cli-spool-')),
    });
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    let exit: { code: number; err?: unknown } | undefined;
    try {
      const done = program((code, err) => (exit = { code, err })).parseAsync(
        ['serve', '--model', 'cli-model', '--model', 'cli-legacy', '--port', '0', '--poll', '0', '--wait-for-models'],
        { from: 'user' },
      );
      while (out.length === 0 && !exit) await new Promise((r) => setTimeout(r, 20));
      expect(exit).toBeUndefined();
      expect(out[0]).toMatch(/Serving cli-model v\d+, cli-legacy v\(not ready\)/);
      expect(out[0]).toMatch(/NOT READY cli-legacy: .*not servable: .*retrain with a trainer that writes ONNX/);
      process.emit('SIGTERM', 'SIGTERM');
      await done;
      expect(exit).toEqual({ code: 0 });
    } finally {
      write.mockRestore();
      process.env = saved;
    }
  });

  it('exits non-zero at start, saying why, when a named model is mistyped or its version cannot be served', async () => {
    const cfg = fx.minio.config('serving-cli');
    const saved = { ...process.env };
    Object.assign(process.env, {
      MINIO_ENDPOINT: `http://127.0.0.1:${cfg.port}`,
      MINIO_ACCESS_KEY: cfg.accessKey,
      MINIO_SECRET_KEY: cfg.secretKey,
      MINIO_BUCKET: 'serving-cli',
      MLOPS_LOG_LEVEL: 'silent',
      MLOPS_SPOOL_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cli-spool-')),
    });
    try {
      for (const [models, why] of [
        [
          ['cli-model', 'cli-modle'],
          /Cannot serve cli-modle \(no_version\): .*No model named "cli-modle" is registered \(registered: .*cli-model.*\)\. Check .*--wait-for-models/,
        ],
        [['cli-legacy'], /Cannot serve cli-legacy \(not_servable\): .*retrain with a trainer that writes ONNX/],
      ] as const) {
        let exit: { code: number; err?: unknown } | undefined;
        await program((code, err) => (exit = { code, err })).parseAsync(
          ['serve', ...models.flatMap((m) => ['--model', m]), '--port', '0', '--poll', '0'],
          { from: 'user' },
        );
        expect(exit?.code).toBe(1);
        expect((exit?.err as Error).message).toMatch(why);
      }
    } finally {
      process.env = saved;
    }
  });

  it('rejects a malformed --poll as a usage error', async () => {
    let exit: { code: number; err?: unknown } | undefined;
    await program((code, err) => (exit = { code, err })).parseAsync(['serve', '--model', 'm', '--poll', 'soon'], { from: 'user' });
    expect(exit?.code).toBe(1);
    expect(String(exit?.err)).toMatch(/--poll: expected a duration like 30s/);
  });
});
