/**
 * The workflow code prebundled at build time: a bundle written as `npm run build` writes it replays recorded runs,
 * the plugin hands it to a worker when it matches the installed code, and bundles at start, saying why, when it
 * does not.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { Writable } from 'node:stream';
import { loadConfig } from '../../../src/config';
import { createLogger, temporalLoggerFrom } from '../../../src/logger';
import { MlopsPlugin } from '../../../src/plugin';
import { workflowBundleStatus, writeWorkflowBundle, type WorkflowBundleManifest } from '../../../src/prebundle';

const HISTORIES = path.resolve(__dirname, '../../fixtures/histories');
const config = loadConfig({
  env: { MINIO_ACCESS_KEY: 'k', MINIO_SECRET_KEY: 'secret-key', HOME: process.env.HOME, MLOPS_LOG_LEVEL: 'error' },
});

let dir: string;
let bundlePath: string;
let manifest: WorkflowBundleManifest;
/** The log lines written while bundling, at info level, as JSON. */
const buildLog: string[] = [];
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-prebundle-'));
  bundlePath = path.join(dir, 'workflow-bundle.js');
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buildLog.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = temporalLoggerFrom(createLogger({ level: 'info', format: 'json' }, stream));
  manifest = await writeWorkflowBundle({ bundlePath, logger });
}, 5 * 60_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A plugin whose log lines are collected, using the bundle at `bundle`. */
function pluginWithLog(bundle: string | false) {
  const lines: string[] = [];
  const logger = { info: (_: unknown, msg: string) => lines.push(msg), warn: (_: unknown, msg: string) => lines.push(`WARN ${msg}`) };
  const base = new MlopsPlugin({ config });
  const plugin = new MlopsPlugin({ dependencies: { ...base.dependencies, logger: logger as never }, workflowBundle: bundle });
  const configure = (options: Partial<WorkerOptions> = {}) =>
    plugin.configureWorker({ taskQueue: config.taskQueue, ...options } as WorkerOptions);
  return { configure, lines };
}

/** Writes a copy of the bundle whose manifest differs from the real one by `change`. */
function alteredCopy(name: string, change: Partial<WorkflowBundleManifest>): string {
  const copy = path.join(dir, `${name}.js`);
  fs.copyFileSync(bundlePath, copy);
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ ...manifest, ...change }));
  return copy;
}

describe('the prebundled workflow code', () => {
  it("logs webpack's report as one short summary line, not the whole report in one JSON line", () => {
    const messages = buildLog.map((line) => JSON.parse(line) as { msg: string; asset?: string });
    expect(messages.map((m) => m.msg)).toContainEqual(
      expect.stringMatching(/^workflow bundle: webpack [\d.]+ compiled successfully in \d+ ms$/),
    );
    expect(messages.find((m) => m.msg.startsWith('workflow bundle:'))!.asset).toMatch(/MiB/);
    for (const line of buildLog) expect(line.length).toBeLessThan(400);
  });

  it('replays a recorded run as the bundle made at start does', async () => {
    const file = 'deployed-after-approval.json';
    const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')));
    await expect(Worker.runReplayHistory({ workflowBundle: { codePath: bundlePath } }, history, file)).resolves.toBeUndefined();
  });

  it('is given to a worker that gets our workflows when it matches the installed code, and says so', () => {
    expect(workflowBundleStatus(bundlePath)).toMatchObject({ usable: true, codePath: bundlePath });
    const { configure, lines } = pluginWithLog(bundlePath);
    const options = configure();
    expect(options.workflowBundle).toEqual({ codePath: bundlePath });
    expect(options.workflowsPath).toBeUndefined();
    expect(lines).toContain('workflow code: prebundled at build time');
  });

  it('is not used once the workflow code changed: the worker bundles at start and the log line says why', () => {
    const stale = alteredCopy('stale', { digest: '0'.repeat(64) });
    const { configure, lines } = pluginWithLog(stale);
    const options = configure();
    expect(options.workflowBundle).toBeUndefined();
    expect(options.workflowsPath).toBe(MlopsPlugin.workflowsPath);
    expect(lines.find((l) => l.startsWith('workflow code: bundling at start'))).toMatch(
      /the workflow code changed since .*stale\.js was built/,
    );
  });

  it('is not used when it holds another @temporalio/workflow than the one installed', () => {
    const other = alteredCopy('other-sdk', { workflowSdkVersion: '1.0.0' });
    expect(workflowBundleStatus(other)).toEqual({
      usable: false,
      reason: `the prebundle holds @temporalio/workflow 1.0.0, but ${manifest.workflowSdkVersion} is installed`,
    });
  });

  it('is not used without its manifest, nor by a worker with workflow interceptor modules, nor when turned off', () => {
    const bare = path.join(dir, 'bare.js');
    fs.copyFileSync(bundlePath, bare);
    expect(workflowBundleStatus(bare)).toMatchObject({ usable: false, reason: expect.stringContaining('bare.json is missing') });
    expect(
      pluginWithLog(bundlePath).configure({ interceptors: { workflowModules: ['/host/interceptors.js'] } }).workflowBundle,
    ).toBeUndefined();
    const off = pluginWithLog(false);
    expect(off.configure().workflowsPath).toBe(MlopsPlugin.workflowsPath);
    expect(off.lines.join('\n')).toContain('workflowBundle: false');
  });
});
