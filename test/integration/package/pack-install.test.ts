/**
 * The package as a user gets it: `npm pack`, the tarball installed into an empty TypeScript project (with the
 * Temporal SDK as the host's own dependency, since ours are peer dependencies), a host worker built with its own
 * workflow and activity plus MlopsPlugin (test/fixtures/host-worker, the README's plugin example), and both the
 * host's workflow and a whole pipeline run (started and approved with the installed `mlops` command, on the
 * example data shipped in the package) run on real Temporal and MinIO servers.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTemporal, TestMinio } from '../../helpers/servers';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const HOST = path.join(ROOT, 'test/fixtures/host-worker');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let project: string;
let worker: ChildProcess | undefined;
let workerLog = '';
let environment: NodeJS.ProcessEnv;

/** Runs a command in the host project, failing with its output. */
async function sh(cmd: string, args: string[], options: { cwd?: string; timeout?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      cwd: options.cwd ?? project,
      env: environment,
      timeout: options.timeout ?? 10 * 60_000,
      maxBuffer: 64 << 20,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-host-'));
  const suffix = Math.random().toString(36).slice(2, 8);
  const inherited = Object.fromEntries(['PATH', 'HOME', 'npm_config_cache'].flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
  environment = {
    ...inherited,
    TEMPORAL_ADDRESS: env.address,
    MINIO_ENDPOINT: `127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: 'mlops-host',
    MLOPS_TASK_QUEUE: `host-${suffix}`,
    MLOPS_TRAINING_TASK_QUEUE: `host-training-${suffix}`,
    MLOPS_LOG_FORMAT: 'json',
    MLOPS_WORKER_METRICS_PORT: '0',
    MLOPS_TEMPORAL_METRICS_PORT: '0',
  };

  // The tarball of what `npm test` just built (prepare would build it again).
  const tarball = (await sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: ROOT }))
    .trim()
    .split('\n')
    .pop()!;
  const dev = (name: string) => pkg.devDependencies[name]!;
  const manifest = {
    name: 'host-app',
    private: true,
    dependencies: {
      'temporal-mlops': `file:./${tarball}`,
      ...Object.fromEntries(
        ['activity', 'client', 'common', 'envconfig', 'plugin', 'worker', 'workflow'].map((p) => [
          `@temporalio/${p}`,
          dev(`@temporalio/${p}`),
        ]),
      ),
    },
    devDependencies: { typescript: dev('typescript'), '@types/node': dev('@types/node') },
  };
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify(manifest, null, 2));
  fs.copyFileSync(path.join(ROOT, '.npmrc'), path.join(project, '.npmrc'));
  fs.cpSync(path.join(HOST, 'src'), path.join(project, 'src'), { recursive: true });
  fs.copyFileSync(path.join(HOST, 'tsconfig.json'), path.join(project, 'tsconfig.json'));
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error']);
  await sh('npx', ['tsc', '-p', 'tsconfig.json']);

  worker = spawn(process.execPath, ['dist/worker.js'], { cwd: project, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
  worker.stdout!.on('data', (d: Buffer) => (workerLog += d.toString()));
  worker.stderr!.on('data', (d: Buffer) => (workerLog += d.toString()));
}, 20 * 60_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    worker.kill('SIGTERM');
    await exited;
  }
  await env?.teardown();
  await minio?.stop();
  if (project) fs.rmSync(project, { recursive: true, force: true });
}, 120_000);

describe('the packed package installed into a host project', () => {
  it('installs without the bench, the sources or a copy of the SDK, and with the example data', () => {
    const installed = path.join(project, 'node_modules/temporal-mlops');
    expect(fs.existsSync(path.join(installed, 'dist/workflows/index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'examples/data/seattle-weather.csv'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'dist/bench'))).toBe(false);
    expect(fs.existsSync(path.join(installed, 'src'))).toBe(false);
    expect(fs.existsSync(path.join(installed, 'node_modules/@temporalio'))).toBe(false);
    expect(fs.existsSync(path.join(project, 'node_modules/vega-datasets'))).toBe(false);
  });

  it('ships the workflow code prebundled, matching the installed workflows and SDK, so `mlops worker` starts without webpack', async () => {
    const script = "console.log(JSON.stringify(require('temporal-mlops').workflowBundleStatus()))";
    const status = JSON.parse(await sh(process.execPath, ['-e', script])) as { usable: boolean; reason?: string };
    expect(status).toMatchObject({ usable: true });
  });

  it(
    "runs the host's own workflow and activity on the worker that has the plugin",
    async () => {
      const { Client, Connection } = await import('@temporalio/client');
      const client = new Client({ connection: await Connection.connect({ address: env.address }) });
      const result = await client.workflow.execute('hostGreeting', {
        taskQueue: environment.MLOPS_TASK_QUEUE!,
        workflowId: `host-${Date.now()}`,
        args: ['dave'],
      });
      expect(result).toBe("hello, dave, from the host's own activity");
      await client.connection.close();
    },
    5 * 60_000,
  );

  it(
    'runs a whole pipeline run, started and approved with the installed mlops command, to deployed',
    async () => {
      const spec = path.join(project, 'node_modules/temporal-mlops/examples/seattle-weather/pipeline.yaml');
      const started = JSON.parse(await sh('npx', ['mlops', 'run', spec, '--requested-by', 'dave', '--json'])) as { workflowId: string };
      const { Client, Connection } = await import('@temporalio/client');
      const client = new Client({ connection: await Connection.connect({ address: env.address }) });
      const handle = client.workflow.getHandle(started.workflowId);
      // Approve once the gate is open (the answer says so), as an approver at a terminal would.
      const deadline = Date.now() + 10 * 60_000;
      for (;;) {
        const answer = await sh('npx', ['mlops', 'approve', started.workflowId, '--as', 'alice', '--json']).then(
          (out) => JSON.parse(out) as { accepted: boolean },
          () => undefined,
        );
        if (answer?.accepted) break;
        if (Date.now() > deadline) throw new Error(`the run never reached its approval gate; worker log:\n${workerLog.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const result = (await handle.result()) as { status: string; version?: number };
      expect(result).toMatchObject({ status: 'deployed', version: 1 });
      const history = await handle.fetchHistory();
      const types = history.events!.flatMap((e) =>
        e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : [],
      );
      expect(types).toContain('mlops.trainModel');
      await client.connection.close();
    },
    15 * 60_000,
  );

  it('says at start which task queue each worker serves', () => {
    expect(workerLog).toContain(`temporal-mlops serves task queue ${environment.MLOPS_TASK_QUEUE}: orchestration`);
    expect(workerLog).toContain(`temporal-mlops serves task queue ${environment.MLOPS_TRAINING_TASK_QUEUE}: training`);
    expect(workerLog).not.toContain('no worker of this plugin polls');
  });
});

describe("the README's plugin example", () => {
  it('is the host worker this test builds, word for word', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const file of ['worker.ts', 'workflows.ts']) {
      expect(readme).toContain(fs.readFileSync(path.join(HOST, 'src', file), 'utf8').trim());
    }
  });
});
