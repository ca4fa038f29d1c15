/**
 * The deploy moves the alias by compare-and-swap against the champion the candidate was compared with: a run approved
 * after production moved does not overwrite it (it is judged again, or stops, as the spec says), and two runs of one
 * model finishing at once never leave the alias on a candidate compared with an older champion. Real runs of the
 * seattle-weather example on a real Temporal dev server and a real MinIO.
 */
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { decide, describeRun, startRun } from '../../../src/client';
import { stageDataset } from '../../../src/cli/upload';
import type { MlopsConfig } from '../../../src/config';
import { type PipelineRunResult, type PipelineRunStatus, pipelineStatusQuery } from '../../../src/contracts';
import { loadSpecFile } from '../../../src/spec/load';
import { parsePipelineSpec, type PipelineSpec } from '../../../src/spec/pipeline';
import { approveThrough } from '../../helpers/closed-loop';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'examples/seattle-weather/pipeline.yaml');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stopWorkers: (() => Promise<void>) | undefined;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ deps, stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

interface Options {
  /** Hold the run at its approval gate (alice or bob approves). */
  gate?: boolean;
  /** GBDT iterations: 2 makes a weak model (a learning rate too small to move off the class prior), 60 a strong one. */
  iterations?: number;
  /** How much worse than production a candidate may be. */
  margin?: number;
  onChampionChanged?: 'revalidate' | 'stop';
  /** Deploy by a canary rollout (its defaults) instead of at once. */
  canary?: boolean;
}

/** The example, test-sized, without a monitor. */
async function specFor(model: string, o: Options = {}): Promise<PipelineSpec> {
  const spec = loadSpecFile(EXAMPLE);
  spec.model = model;
  spec.dataset = await stageDataset(config, spec.dataset);
  spec.trainer = {
    ...spec.trainer,
    // The weak model must be worse on any holdout: at rate 0.2, two rounds on seattle-weather already split on
    // precipitation and can tie a strong model on some holdouts; at 0.001 they predict the most frequent class.
    params: { maxIter: o.iterations ?? 20, learningRate: (o.iterations ?? 20) <= 2 ? 0.001 : 0.2, maxLeafNodes: 15 },
  } as PipelineSpec['trainer'];
  spec.validation = { ...spec.validation, thresholds: {}, champion: { metric: 'accuracy', margin: o.margin ?? 0.5 } };
  spec.approval = { ...spec.approval, required: o.gate ?? false, approvers: ['alice', 'bob'], quorum: 1 };
  const deploy = { onChampionChanged: o.onChampionChanged ?? 'revalidate', ...(o.canary ? { strategy: 'canary' } : {}) };
  spec.deploy = parsePipelineSpec({
    ...{ model, dataset: { source: 's3://b/d.csv', target: 'y' }, trainer: { name: 'gbdt' }, deploy },
    validation: { champion: { metric: 'accuracy' } },
  }).deploy;
  delete spec.monitor;
  return spec;
}

/** Starts a run and, when it has a gate, waits until it waits there (validated against the production of now). */
async function startToGate(spec: PipelineSpec): Promise<string> {
  const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
  for (let i = 0; i < 2400; i++) {
    const view = await describeRun(env.client, workflowId);
    if (view.status?.approval?.state === 'waiting') return workflowId;
    if (view.execution !== 'RUNNING') throw new Error(`run ${workflowId} ended before its gate: ${JSON.stringify(view.result)}`);
    await sleep(250);
  }
  throw new Error(`run ${workflowId} never reached its approval gate`);
}

/** Deploys a version straight away (no gate) and returns its number. */
async function deployNow(spec: PipelineSpec): Promise<number> {
  const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
  const result = await approveThrough(env.client, workflowId);
  expect(result.status).toBe('deployed');
  return result.version!;
}

async function finished(workflowId: string): Promise<{ result: PipelineRunResult; status: PipelineRunStatus }> {
  const handle = env.client.workflow.getHandle(workflowId);
  const result = (await handle.result()) as PipelineRunResult;
  return { result, status: await handle.query(pipelineStatusQuery) };
}

const production = async (model: string) => (await deps.registry.findAlias(model, 'production'))?.to;

describe('deploy by compare-and-swap (dev server, MinIO)', () => {
  it('a run approved after production moved is validated again against the new champion, and failing it, overwrites nothing', async () => {
    const model = 'cas-revalidate';
    const v1 = await deployNow(await specFor(model, { iterations: 2 }));
    // Validated against v1 (its equal: the same weak trainer), then held at the gate; no margin allowed.
    const held = await startToGate(await specFor(model, { gate: true, iterations: 2, margin: 0 }));
    expect((await describeRun(env.client, held)).status!.deploy).toBeUndefined();
    // Meanwhile a much stronger version becomes production.
    const v2 = await deployNow(await specFor(model, { iterations: 60 }));
    expect(await production(model)).toBe(v2);

    await decide(env.client, held, { decision: 'approve', approver: 'alice' });
    const { result, status } = await finished(held);

    expect(result.status).toBe('validation-failed');
    expect(result.reason).toMatch(
      new RegExp(
        `production moved from v${v1} to v${v2} after v\\d+ was validated against it; validated again against v${v2}, it failed: ` +
          `accuracy .* worse than production's`,
      ),
    );
    expect(status.deploy).toMatchObject({
      comparedWith: v2,
      championChanges: [{ expected: v1, current: v2, action: 'revalidated', passed: false }],
    });
    expect(status.champion!.version).toBe(v2);
    expect(status.stages.find((s) => s.name === 'deploy')).toMatchObject({ state: 'failed' });
    expect(await production(model)).toBe(v2);
    const history = await deps.registry.aliasHistory(model, 'production');
    expect(history.map((m) => [m.from, m.to])).toEqual([
      [null, v1],
      [v1, v2],
    ]);
  });

  it('with deploy.onChampionChanged: stop, a run approved after production moved ends champion-changed and leaves it alone', async () => {
    const model = 'cas-stop';
    const v1 = await deployNow(await specFor(model));
    const held = await startToGate(await specFor(model, { gate: true, onChampionChanged: 'stop' }));
    const v2 = await deployNow(await specFor(model));

    await decide(env.client, held, { decision: 'approve', approver: 'bob' });
    const { result, status } = await finished(held);

    expect(result.status).toBe('champion-changed');
    expect(result.reason).toMatch(
      new RegExp(
        `production moved from v${v1} to v${v2} .*not deployed \\(deploy.onChampionChanged is stop\\): start a new run to compare with v${v2}`,
      ),
    );
    expect(status.deploy!.championChanges).toMatchObject([{ expected: v1, current: v2, action: 'stopped' }]);
    expect(await production(model)).toBe(v2);
    // Its version is registered (with its approval), never production.
    const versions = await deps.registry.listVersions(model);
    const own = versions.find((v) => v.workflowId === held)!;
    expect(own.approvals.map((a) => a.approver)).toEqual(['bob']);
    expect((await deps.registry.aliasHistory(model, 'production')).map((m) => m.to)).not.toContain(own.version);
  });

  it('two runs of one model approved at once: the alias never ends on a candidate compared with an older champion', async () => {
    const model = 'cas-race';
    const v1 = await deployNow(await specFor(model));
    const runs = [
      await startToGate(await specFor(model, { gate: true })),
      await startToGate(await specFor(model, { gate: true, iterations: 25 })),
    ];
    // Both were compared with v1; both are approved at the same moment.
    for (const id of runs) expect((await describeRun(env.client, id)).status!.champion?.version).toBe(v1);
    await Promise.all(runs.map((id) => decide(env.client, id, { decision: 'approve', approver: 'alice' })));
    const ends = await Promise.all(runs.map(finished));

    // One moved v1 to its version; the other found production moved, was judged again against it, and moved it on.
    expect(ends.map((e) => e.result.status)).toEqual(['deployed', 'deployed']);
    const [first, second] = [...ends].sort((a, b) => a.status.deploy!.championChanges.length - b.status.deploy!.championChanges.length);
    expect(first!.status.deploy).toEqual({ comparedWith: v1, championChanges: [] });
    expect(first!.result.previousVersion).toBe(v1);
    expect(second!.status.deploy).toMatchObject({
      comparedWith: first!.result.version,
      championChanges: [{ expected: v1, current: first!.result.version, action: 'revalidated', passed: true }],
    });
    expect(second!.result.previousVersion).toBe(first!.result.version);
    expect(second!.status.stages.find((s) => s.name === 'deploy')!.note).toMatch(/validated again against it/);

    // Every move a run made went from the champion that run was last compared with; the alias ends on the second.
    const history = await deps.registry.aliasHistory(model, 'production');
    expect(history.map((m) => [m.from, m.to])).toEqual([
      [null, v1],
      [v1, first!.result.version],
      [first!.result.version, second!.result.version],
    ]);
    expect(await production(model)).toBe(second!.result.version);
    for (const end of ends) {
      const move = history.find((m) => m.to === end.result.version)!;
      expect(move.from).toBe(end.status.deploy!.comparedWith);
      expect(move.reason).toContain(`compared with v${end.status.deploy!.comparedWith}`);
    }
  });

  it('a canary whose champion changed after validation is judged again (or stops) before its rollout starts, and no request reaches it', async () => {
    const model = 'cas-canary';
    const v1 = await deployNow(await specFor(model, { iterations: 2 }));
    const stopping = await startToGate(await specFor(model, { gate: true, canary: true, onChampionChanged: 'stop' }));
    const judged = await startToGate(await specFor(model, { gate: true, canary: true, iterations: 2, margin: 0 }));
    const v2 = await deployNow(await specFor(model, { iterations: 60 }));

    await Promise.all([stopping, judged].map((id) => decide(env.client, id, { decision: 'approve', approver: 'alice' })));
    const [stopped, failed] = await Promise.all([finished(stopping), finished(judged)]);

    expect(stopped.result.status).toBe('champion-changed');
    expect(stopped.status.deploy!.championChanges).toMatchObject([{ expected: v1, current: v2, action: 'stopped' }]);
    expect(failed.result.status).toBe('validation-failed');
    expect(failed.status.deploy).toMatchObject({
      comparedWith: v2,
      championChanges: [{ expected: v1, current: v2, action: 'revalidated', passed: false }],
    });
    // Neither started a rollout: no traffic share was ever written, and production is still v2.
    for (const end of [stopped, failed]) expect(end.status.rollout).toBeUndefined();
    expect(await deps.registry.getRollout(model)).toBeUndefined();
    expect(await production(model)).toBe(v2);
    // Their versions carry the spec they ran by, stored with them.
    const versions = await deps.registry.listVersions(model);
    for (const id of [stopping, judged])
      expect(versions.find((v) => v.workflowId === id)!.spec).toMatchObject({ uri: expect.stringMatching(/^s3:\/\//) });
  });
});
