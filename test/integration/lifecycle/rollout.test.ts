/**
 * Canary rollouts on real servers (Temporal dev server, MinIO, the model server `mlops serve` runs) with real traffic:
 * a client sends requests and, once it knows the truth, feedback. The rollout reads the prediction log the server
 * writes and decides. A worse candidate is rolled back having answered at most its step's share; a better one is
 * promoted step by step; people steer it from the CLI and with signals; a worker SIGKILLed mid-rollout is replaced
 * and the rollout goes on from where it was.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsConfig } from '../../../src/config';
import {
  promoteSignal,
  rolloutPolicyOf,
  rolloutRunWorkflow,
  rolloutStatusQuery,
  rolloutWorkflowId,
  type RolloutRunResult,
  type RolloutRunStatus,
} from '../../../src/contracts';
import { createLogger } from '../../../src/logger';
import { rowsToFrame, trainModel } from '../../../src/ml/trainers';
import type { DatasetSchema } from '../../../src/ml/types';
import { registrySource, startModelServer, type ModelServer } from '../../../src/serving';
import { parsePipelineSpec, type PipelineSpecInput } from '../../../src/spec/pipeline';
import { createStorage, type Storage } from '../../../src/storage';
import { recordHistory } from '../../helpers/histories';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');
const MODELS = ['worse', 'better', 'shadowed', 'steered', 'killed'];

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let storage: Storage;
let server: ModelServer;
let stopWorkers: (() => Promise<void>) | undefined;
const children: ChildProcess[] = [];

const schema: DatasetSchema = {
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'y', type: 'numeric' },
    { name: 'kind', type: 'categorical' },
  ],
  target: 'kind',
  features: ['x', 'y'],
  task: 'classification',
};

/** The truth the traffic follows. */
const truth = (x: number, y: number) => (x + y < 8 ? 'low' : x > y ? 'right' : 'up');
/** A model that learned something else: the classes rotated. */
const rotated: Record<string, string> = { low: 'up', up: 'right', right: 'low' };

function rows(n: number, seed: number, label: (kind: string) => string = (k) => k): Record<string, unknown>[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => {
    const x = rand() * 10;
    const y = rand() * 10;
    return { x, y, kind: label(truth(x, y)) };
  });
}

let registered = 0;

/** Trains and registers a version of `model`: a good one, or one that learned rotated classes. */
async function register(model: string, good: boolean): Promise<number> {
  const train = rowsToFrame({ ...schema, features: ['x', 'y', 'kind'] }, rows(400, good ? 3 : 5, good ? undefined : (k) => rotated[k]!));
  const trained = await trainModel('logistic-regression', { train, schema, params: {}, seed: 7 });
  const artifact = await storage.store.putJson(trained);
  const { version } = await storage.registry.registerVersion({
    model,
    artifact,
    dataset: { sha256: 'c'.repeat(64), name: model },
    trainer: { name: 'logistic-regression', params: {} },
    metrics: {},
    schema,
    workflowId: `train-${model}-${++registered}`,
    runId: '1',
  });
  return version.version;
}

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio, 'rollout-e2e');
  storage = createStorage(config.minio);
  await storage.store.ensureBucket();
  // Each model: v1 in production, v2 the candidate: worse than v1 for `worse`, better for the others.
  for (const model of MODELS) {
    await register(model, model === 'worse');
    await register(model, model !== 'worse');
    await storage.registry.moveAlias({ model, alias: 'production', version: 1, by: 'test', reason: 'champion' });
  }
  server = await startModelServer({
    store: storage.store,
    source: registrySource(storage.registry),
    models: MODELS,
    port: 0,
    pollMs: 200,
    logger: createLogger({ level: 'warn', format: 'json' }),
    predictionLog: { flushIntervalMs: 200 },
  });
}, 15 * 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await stopWorkers?.().catch(() => undefined);
  await server?.close();
  await env?.teardown();
  await minio?.stop();
});

/** A client: requests with fresh ids, and the true label as feedback once answered; records who answered. */
class Traffic {
  readonly answered: { id: string; version: number; at: number }[] = [];
  private running = true;
  private readonly done: Promise<void>;
  private n = 0;

  constructor(
    private readonly model: string,
    concurrency = 3,
  ) {
    this.done = Promise.all(Array.from({ length: concurrency }, () => this.loop())).then(() => undefined);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const id = `${this.model}-${++this.n}-${Math.random().toString(36).slice(2, 8)}`;
      const [row] = rows(1, this.n * 7919 + 1);
      const { kind, ...features } = row!;
      try {
        const res = await fetch(`${server.url}/v1/models/${this.model}:predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, instances: [features] }),
        });
        const body = (await res.json()) as { model_version?: number };
        if (res.status !== 200) throw new Error(`predict answered ${res.status}: ${JSON.stringify(body)}`);
        this.answered.push({ id, version: Number(body.model_version), at: Date.now() });
        await fetch(`${server.url}/v2/models/${this.model}/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, label: kind }),
        });
      } catch (err) {
        if (this.running) throw err;
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /** Who answered the requests sent in [from, to). */
  between(from: number, to = Infinity) {
    return this.answered.filter((a) => a.at >= from && a.at < to);
  }
}

/** A canary policy with thresholds small enough for a test: 30 requests and 20 labels per version and step. */
function policy(
  model: string,
  rollout: Record<string, unknown> = {},
  more: Partial<PipelineSpecInput> = {},
  strategy: 'canary' | 'shadow' = 'canary',
) {
  return rolloutPolicyOf(
    parsePipelineSpec({
      model,
      dataset: { source: 'unused.csv', target: 'kind' },
      trainer: { name: 'logistic-regression' },
      validation: { champion: { metric: 'accuracy', margin: 0 } },
      deploy: {
        strategy,
        rollout: {
          ...(strategy === 'canary' ? { steps: [0.2, 0.5, 1] } : {}),
          evidence: { minRequests: 30, minLabelled: 20, checkEvery: '1s', maxWait: '5m' },
          compare: { tolerance: 0.05, maxP99Ratio: 20, p99SlackMs: 200 },
          ...rollout,
        },
      },
      ...more,
    }),
  )!;
}

async function startRollout(model: string, p = policy(model)) {
  return env.client.workflow.start(rolloutRunWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: rolloutWorkflowId(model, 2),
    args: [{ model, alias: 'production', champion: 1, candidate: 2, policy: p, requestedBy: 'carol', runWorkflowId: `run-${model}` }],
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 180_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs the CLI against the test servers. */
function mlops(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/mlops.js'), ...args], {
      env: serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function serverEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: env.address,
    MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: config.minio.bucket,
    MLOPS_TASK_QUEUE: config.taskQueue,
    MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
    MLOPS_WORKER_METRICS_PORT: '0',
    MLOPS_LOG_LEVEL: 'warn',
    MLOPS_LOG_FORMAT: 'json',
  };
}

const status = (workflowId: string) => env.client.workflow.getHandle(workflowId).query(rolloutStatusQuery) as Promise<RolloutRunStatus>;

describe('canary rollouts with real traffic', () => {
  beforeAll(async () => {
    ({ stop: stopWorkers } = await startWorkers(env, config));
  }, 5 * 60_000);

  it(
    'a worse candidate is rolled back automatically, having answered at most its step share of requests',
    async () => {
      const traffic = new Traffic('worse');
      const started = Date.now();
      const handle = await startRollout('worse');
      const result = (await handle.result()) as RolloutRunResult;
      const ended = Date.now();
      await new Promise((r) => setTimeout(r, 1000));
      await traffic.stop();

      expect(result.outcome).toBe('rolled-back');
      expect(result.step).toBe(0);
      expect(result.reason).toMatch(/^the candidate did worse: accuracy \d\.\d{4} against the champion's \d\.\d{4}/);
      const during = traffic.between(started, ended);
      const byCandidate = during.filter((a) => a.version === 2).length;
      expect(byCandidate).toBeGreaterThan(0);
      // A stable hash of random ids: the candidate's fraction is its share, within sampling noise.
      expect(byCandidate / during.length).toBeLessThanOrEqual(0.2 + 3 * Math.sqrt((0.2 * 0.8) / during.length));
      expect(await storage.registry.findAlias('worse', 'production')).toMatchObject({ to: 1 });
      const history = await storage.registry.rolloutHistory('worse');
      expect(history.map((h) => [h.candidateShare, h.status])).toEqual([
        [0.2, 'running'],
        [0, 'finished'],
      ]);
      expect(history.at(-1)!.reason).toMatch(/^rolled-back: the candidate did worse: accuracy/);
      // Once the server read the finished rollout, the candidate answers no one.
      const after = traffic.between(ended + 1000);
      expect(after.every((a) => a.version === 1)).toBe(true);
      const s = await status(handle.workflowId);
      expect(s.decisions.at(-1)).toMatchObject({ action: 'rolled-back', by: 'rollout' });
      // Judged on the metric as soon as each version had its 20 labelled rows.
      expect(s.evidence!.candidate.labelled).toBeGreaterThanOrEqual(20);
    },
    10 * 60_000,
  );

  it(
    'a better candidate is promoted step by step to 100 %',
    async () => {
      const traffic = new Traffic('better');
      const handle = await startRollout('better');
      const result = (await handle.result()) as RolloutRunResult;
      // A replay fixture (MLOPS_RECORD_HISTORIES=1): steps judged on timers, the promotion by compare-and-swap.
      await recordHistory(env.client, handle.workflowId, 'rollout-promoted');
      const ended = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      await traffic.stop();

      expect(result.outcome).toBe('promoted');
      const s = await status(handle.workflowId);
      expect(s.decisions.filter((d) => d.action !== 'refused').map((d) => [d.action, d.share])).toEqual([
        ['started', 0.2],
        ['next-step', 0.2],
        ['next-step', 0.5],
        ['promoted', 1],
      ]);
      for (const d of s.decisions.filter((x) => x.action === 'next-step')) {
        expect(d.evidence!.candidate.metric!).toBeGreaterThan(d.evidence!.champion.metric!);
        expect(d.reason).toMatch(/^no worse than the champion: /);
      }
      expect(await storage.registry.findAlias('better', 'production')).toMatchObject({ to: 2 });
      const moves = await storage.registry.aliasHistory('better', 'production');
      expect(moves.at(-1)).toMatchObject({
        from: 1,
        to: 2,
        reason: expect.stringMatching(/^rollout rollout-better-v2: every step passed/),
      });
      const history = await storage.registry.rolloutHistory('better');
      expect(history.map((h) => [h.candidateShare, h.status])).toEqual([
        [0.2, 'running'],
        [0.5, 'running'],
        [1, 'finished'],
      ]);
      const after = traffic.between(ended + 1000);
      expect(after.length).toBeGreaterThan(0);
      expect(after.every((a) => a.version === 2)).toBe(true);
    },
    10 * 60_000,
  );

  it(
    'a shadow candidate never answers a client, and is compared with the champion on the very same requests',
    async () => {
      const traffic = new Traffic('shadowed');
      const started = Date.now();
      const handle = await startRollout('shadowed', policy('shadowed', {}, {}, 'shadow'));
      const result = (await handle.result()) as RolloutRunResult;
      const ended = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      await traffic.stop();

      expect(result.outcome).toBe('promoted');
      // Until the promotion moved production to the candidate, only the champion answered: the shadow never did.
      // (Between the move and the client seeing the result, the server may already answer with v2.)
      const promotedAt = Date.parse((await storage.registry.aliasHistory('shadowed', 'production')).at(-1)!.at);
      expect(promotedAt).toBeGreaterThan(started);
      const during = traffic.between(started, promotedAt);
      expect(during.length).toBeGreaterThan(0);
      expect(during.every((a) => a.version === 1)).toBe(true);
      const s = await status(handle.workflowId);
      const passed = s.decisions.find((d) => d.action === 'next-step')!;
      expect(passed.evidence).toMatchObject({ sameRequests: true });
      expect(passed.evidence!.candidate.requests).toBe(passed.evidence!.champion.requests);
      expect(passed.evidence!.candidate.labelled).toBe(passed.evidence!.champion.labelled);
      expect((await storage.registry.rolloutHistory('shadowed')).map((h) => [h.strategy, h.candidateShare, h.status])).toEqual([
        ['shadow', 0, 'running'],
        ['shadow', 0, 'finished'],
      ]);
      expect(traffic.between(ended + 1000).every((a) => a.version === 2)).toBe(true);
    },
    10 * 60_000,
  );

  it(
    'pause, resume and abort from the CLI; promote as a signal is refused to a non-approver when a step needs a person, and recorded',
    async () => {
      const traffic = new Traffic('steered', 2);
      // Labels are never enough, so the rollout waits at its first step until someone acts.
      const handle = await startRollout(
        'steered',
        policy(
          'steered',
          { evidence: { minRequests: 5, minLabelled: 100_000, checkEvery: '1s', maxWait: '1h' }, approveBefore: [1] },
          { approval: { approvers: ['alice'] } },
        ),
      );
      try {
        await waitFor('the first step', async () => ((await status(handle.workflowId)).registry ? true : undefined));

        const paused = await mlops('rollout', 'pause', 'steered', '--as', 'dave', '--reason', 'incident 42', '--json');
        expect(paused.code).toBe(0);
        expect(JSON.parse(paused.stdout)).toMatchObject({ accepted: true, state: 'paused', workflowId: 'rollout-steered-v2' });
        await waitFor('the paused document', async () =>
          (await storage.registry.getRollout('steered'))?.status === 'paused' ? true : undefined,
        );
        const shown = await mlops('rollout', 'status', 'steered');
        expect(shown.code).toBe(0);
        expect(shown.stdout).toMatch(/rollout-steered-v2: canary of steered v2 against v1: PAUSED/);
        expect(shown.stdout).toMatch(/paused by dave: incident 42/);
        const again = await mlops('rollout', 'pause', 'steered', '--as', 'dave');
        expect(again.code).toBe(1);
        expect(again.stderr).toMatch(/pause refused: the rollout is already paused/);

        expect((await mlops('rollout', 'resume', 'rollout-steered-v2', '--as', 'dave')).code).toBe(0);
        await waitFor('the running document', async () =>
          (await storage.registry.getRollout('steered'))?.status === 'running' ? true : undefined,
        );

        await env.client.workflow.getHandle(handle.workflowId).signal(promoteSignal, { by: 'mallory' });
        await waitFor('the refused promote', async () =>
          (await status(handle.workflowId)).decisions.some((d) => d.action === 'refused' && d.by === 'mallory') ? true : undefined,
        );

        const aborted = await mlops('rollout', 'abort', 'steered', '--as', 'erin', '--reason', 'changed our mind', '--json');
        expect(aborted.code).toBe(0);
        const result = (await handle.result()) as RolloutRunResult;
        expect(result).toMatchObject({ outcome: 'rolled-back', reason: 'changed our mind' });
        // A replay fixture (MLOPS_RECORD_HISTORIES=1): controls through the Update and a signal, the rollback.
        await recordHistory(env.client, handle.workflowId, 'rollout-steered');
        expect(await storage.registry.findAlias('steered', 'production')).toMatchObject({ to: 1 });
        const s = await status(handle.workflowId);
        expect(s.decisions.map((d) => [d.action, d.by])).toEqual([
          ['started', 'rollout'],
          ['paused', 'dave'],
          ['refused', 'dave'],
          ['resumed', 'dave'],
          ['refused', 'mallory'],
          ['abort-requested', 'erin'],
          ['rolled-back', 'erin'],
        ]);
        const late = await mlops('rollout', 'resume', 'steered', '--as', 'dave');
        expect(late.code).toBe(1);
        expect(late.stderr).toMatch(/has ended|the rollout has ended/);
      } finally {
        await traffic.stop();
      }
    },
    10 * 60_000,
  );
});

describe('a rollout whose worker is SIGKILLed', () => {
  it(
    'continues from where it was on another worker, with no step repeated',
    async () => {
      // Only a separate worker process polls now, so it alone runs the rollout until it is killed.
      await stopWorkers?.();
      stopWorkers = undefined;
      const worker = spawn(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'worker'], { env: serverEnv(), stdio: 'ignore' });
      children.push(worker);
      const traffic = new Traffic('killed');
      try {
        const handle = await startRollout('killed');
        // Killed once the first step has passed and the second is under way.
        await waitFor('the second step', async () =>
          (await storage.registry.getRollout('killed'))?.candidateShare === 0.5 ? true : undefined,
        );
        worker.kill('SIGKILL');
        await new Promise((r) => worker.once('exit', r));
        ({ stop: stopWorkers } = await startWorkers(env, config));
        const result = (await handle.result()) as RolloutRunResult;
        expect(result.outcome).toBe('promoted');
        const s = await status(handle.workflowId);
        expect(s.decisions.map((d) => [d.action, d.share])).toEqual([
          ['started', 0.2],
          ['next-step', 0.2],
          ['next-step', 0.5],
          ['promoted', 1],
        ]);
        const history = await storage.registry.rolloutHistory('killed');
        expect(history.map((h) => [h.seq, h.candidateShare, h.status])).toEqual([
          [1, 0.2, 'running'],
          [2, 0.5, 'running'],
          [3, 1, 'finished'],
        ]);
        expect(await storage.registry.findAlias('killed', 'production')).toMatchObject({ to: 2 });
      } finally {
        await traffic.stop();
      }
    },
    10 * 60_000,
  );
});
