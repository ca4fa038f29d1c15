/** @jest-environment ./test/helpers/onnx-environment.js */
/**
 * The validate and servability stages on real Temporal and MinIO: whatever trained them, the candidate and
 * the production version are measured by us on the same sealed holdout rows; a program's false claim is
 * flagged; an ONNX model that disagrees with its own program is refused before approval; a production
 * version that cannot be loaded leaves the run judged on its thresholds; a bug of ours fails at once.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { createValidateActivities } from '../../../src/activities/validate';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { startRun } from '../../../src/client';
import { stageDataset } from '../../../src/cli/upload';
import type { MlopsConfig } from '../../../src/config';
import { ensurePython } from '../../../src/dev/python';
import { parsePipelineSpec, type PipelineSpec } from '../../../src/spec/pipeline';
import { type PipelineRunResult, pipelineStatusQuery } from '../../../src/contracts';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const TRAINER = path.join(ROOT, 'test/fixtures/trainers/tiny-onnx.py');

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stopWorkers: (() => Promise<void>) | undefined;
let dataFile: string;

/** 500 rows: two informative numeric features, a third one, and a noisy yes/no label (a model scores about 0.8). */
function writeData(dir: string): string {
  let s = 7;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const lines = ['x1,x2,x3,label'];
  for (let i = 0; i < 500; i++) {
    const [x1, x2, x3] = [rnd() * 2, rnd() * 2, rnd()];
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x3.toFixed(4)},${x1 + x2 + (rnd() - 0.5) * 1.2 > 2 ? 'yes' : 'no'}`);
  }
  const file = path.join(dir, 'points.csv');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start(), ensurePython()]);
  config = testConfig(env, minio);
  ({ deps, stop: stopWorkers } = await startWorkers(env, config));
  dataFile = writeData(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-seam-')));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

type Trainer = 'gbdt' | { claim?: number; tamper?: boolean };

async function spec(model: string, trainer: Trainer, extra: Record<string, unknown> = {}, features = ['x1', 'x2']): Promise<PipelineSpec> {
  const s = parsePipelineSpec({
    model,
    dataset: {
      source: dataFile,
      format: 'csv',
      schema: {
        target: 'label',
        task: 'classification',
        features,
        columns: [...features.map((name) => ({ name, type: 'numeric' })), { name: 'label', type: 'categorical' }],
      },
    },
    trainer:
      trainer === 'gbdt' ? { name: 'gbdt', params: { maxIter: 20 } } : { name: 'command', command: ['{python}', TRAINER], params: trainer },
    validation: { thresholds: { accuracy: { min: 0.6 } }, champion: { metric: 'accuracy', margin: 0.5 } },
    approval: { required: false },
    ...extra,
  });
  s.dataset = await stageDataset(config, s.dataset);
  return s;
}

async function runToEnd(s: PipelineSpec): Promise<{ workflowId: string; result: PipelineRunResult }> {
  const { workflowId } = await startRun(env.client, config, s, { requestedBy: 'dave' });
  return { workflowId, result: (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult };
}

interface Report {
  holdoutRows: number;
  candidate: { flavor: string; metrics: Record<string, number> };
  champion?: { version: number; metrics: Record<string, number> };
  notes: string[];
  claims: { mismatches: string[] };
}

describe('champion and challenger of different kinds', () => {
  it.each([
    ['a built-in champion and an ONNX challenger', 'builtin-then-onnx', 'gbdt', {}, 'onnx'],
    ['an ONNX champion and a built-in challenger', 'onnx-then-builtin', {}, 'gbdt', 'builtin'],
  ] as [string, string, Trainer, Trainer, string][])(
    '%s are scored on the same holdout rows',
    async (_, model, first, second, flavor) => {
      const one = await runToEnd(await spec(model, first));
      expect(one.result.status).toBe('deployed');
      const two = await runToEnd(await spec(model, second));
      expect(two.result).toMatchObject({ status: 'deployed', version: 2, previousVersion: 1 });
      const [before, after] = [await deps.store.getJson<Report>(one.result.report!), await deps.store.getJson<Report>(two.result.report!)];
      expect(after.candidate.flavor).toBe(flavor);
      // Production version 1, re-measured by the second run, scores exactly what it scored when it was the candidate.
      expect(after.champion).toEqual({ version: 1, metrics: before.candidate.metrics, confusionMatrix: expect.anything() });
      expect(after.holdoutRows).toBe(before.holdoutRows);
      expect(two.result.championMetrics).toEqual(before.candidate.metrics);
      const status = await env.client.workflow.getHandle(two.workflowId).query(pipelineStatusQuery);
      expect(status.stages.find((s) => s.name === 'servability')).toMatchObject({
        state: 'done',
        note: expect.stringMatching(/loads as the server loads it; \d+ holdout rows predicted/),
      });
    },
    10 * 60_000,
  );
});

describe('the validate stage heartbeats', () => {
  it(
    'beats with the step it is on, from loading through scoring both models to the card',
    async () => {
      // Version 2 of builtin-then-onnx (an ONNX model) against version 1 (built-in), as the stage does it.
      const version = await deps.registry.getVersion('builtin-then-onnx', 2);
      const activity = new MockActivityEnvironment({ heartbeatTimeoutMs: 300 });
      const beats: { step: string }[] = [];
      activity.on('heartbeat', (d: { step: string }) => beats.push(d));
      const s = await spec('builtin-then-onnx', 'gbdt');
      const result = await activity.run(createValidateActivities(deps).evaluateCandidate, {
        model: 'builtin-then-onnx',
        candidate: version.artifact,
        snapshot: version.dataset.snapshot!,
        schema: version.schema as PipelineSpec['dataset']['schema'] & object,
        split: s.dataset.split,
        policy: s.validation,
        alias: 'production',
      });
      expect(result.champion?.version).toBe(2);
      const steps = beats.map((b) => b.step).filter((step, i, all) => all[i - 1] !== step);
      expect(steps[0]).toMatch(/^loading/);
      expect(steps).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^scoring the candidate on \d+ holdout rows$/),
          'scoring production version 2 on the same rows',
          'drawing the model card',
        ]),
      );
    },
    5 * 60_000,
  );
});

describe("a training program's claims", () => {
  it(
    'a false accuracy claim is flagged in status, the Temporal UI details, the report, the card and `mlops status --json`',
    async () => {
      const { workflowId, result } = await runToEnd(await spec('false-claim', { claim: 0.99 }));
      expect(result.status).toBe('deployed');
      const report = await deps.store.getJson<Report>(result.report!);
      const sentence = new RegExp(`^the program claimed accuracy 0\\.99; measured on ${report.holdoutRows} sealed holdout rows: 0\\.\\d+`);
      expect(report.claims.mismatches[0]).toMatch(sentence);
      const handle = env.client.workflow.getHandle(workflowId);
      const status = await handle.query(pipelineStatusQuery);
      expect(status.claimMismatches![0]).toMatch(sentence);
      // The current details the Temporal UI shows, read the way the UI reads them.
      const metadata = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toMatch(
        /Claimed vs measured\*\*: the program claimed accuracy 0\.99; measured on \d+ sealed holdout rows/,
      );
      const card = (await deps.store.getBuffer(status.card!)).toString('utf8');
      expect(card).toContain(`The program claimed accuracy 0.99; measured on ${report.holdoutRows} sealed holdout rows`);

      const cli = await run(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'status', workflowId, '--json'], { env: cliEnv() });
      expect(JSON.parse(cli.stdout).status.claimMismatches[0]).toMatch(sentence);
      const text2 = await run(process.execPath, [path.join(ROOT, 'bin/mlops.js'), 'status', workflowId], { env: cliEnv() });
      expect(text2.stdout).toMatch(/! claimed vs measured: the program claimed accuracy 0\.99/);
    },
    10 * 60_000,
  );

  it(
    'with onMismatch: fail, a false claim fails validation',
    async () => {
      const { result } = await runToEnd(
        await spec('false-claim-fails', { claim: 0.99 }, { validation: { thresholds: {}, claims: { onMismatch: 'fail' } } }),
      );
      expect(result.status).toBe('validation-failed');
      expect(result.reason).toMatch(/the program claimed accuracy 0\.99; measured on \d+ sealed holdout rows: .*onMismatch is fail/);
    },
    10 * 60_000,
  );
});

describe('the servability check', () => {
  it(
    'an ONNX model that disagrees with the predictions of the program that trained it is refused before approval, its rows listed',
    async () => {
      const s = await spec('tampered-check', { tamper: true }, { approval: { required: true, approvers: ['alice'] } });
      const { workflowId, result } = await runToEnd(s);
      expect(result.status).toBe('failed');
      expect(result.reason).toMatch(/servability check failed: .*disagrees with the program that trained it on (\d+) of \1 check rows/);
      const report = await deps.store.getJson<{
        kind: string;
        passed: boolean;
        check: { rows: number; disagreeing: number; disagreements: { row: number; ours: { label: string }; theirs: { label: string } }[] };
      }>(result.report!);
      expect(report).toMatchObject({ kind: 'temporal-mlops/servability@1', passed: false });
      expect(report.check.disagreeing).toBe(report.check.rows);
      const first = report.check.disagreements[0]!;
      expect(first.row).toBe(0);
      expect(first.ours.label).not.toBe(first.theirs.label);
      const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
      expect(status.stages.map((x) => [x.name, x.state])).toEqual([
        ['ingest', 'done'],
        ['train', 'done'],
        ['validate', 'done'],
        ['servability', 'failed'],
        ['approve', 'skipped'],
        ['deploy', 'skipped'],
        ['monitor', 'skipped'],
      ]);
      expect(status.approval).toBeUndefined();
    },
    10 * 60_000,
  );
});

describe('a production version that cannot be loaded', () => {
  it(
    'one whose features are gone from the data leaves the run judged on its thresholds, with that said',
    async () => {
      expect((await runToEnd(await spec('features-gone', 'gbdt', {}, ['x1', 'x2', 'x3']))).result.status).toBe('deployed');
      const { workflowId, result } = await runToEnd(await spec('features-gone', 'gbdt'));
      expect(result).toMatchObject({ status: 'deployed', version: 2 });
      const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
      expect(status.validationNotes![0]).toMatch(
        /production version 1 could not be evaluated on this holdout \(Column "x3" is missing.*\); this run is judged on its thresholds alone/,
      );
      expect((await deps.store.getBuffer(status.card!)).toString('utf8')).toContain(
        'Production version 1 could not be evaluated on this holdout',
      );
    },
    10 * 60_000,
  );

  /** Registers version 1 of `model` with this artifact and points production at it, as an older release would have. */
  async function production(model: string, artifact: { uri: string; sha256: string; size: number }): Promise<void> {
    const v = await deps.registry.registerVersion({
      model,
      artifact,
      dataset: { sha256: 'a'.repeat(64) },
      trainer: { name: 'command', params: {} },
      metrics: { accuracy: 0.99 },
      workflowId: `${model}-old-run`,
      runId: 'r1',
    });
    await deps.registry.moveAlias({
      model,
      alias: 'production',
      version: v.version.version,
      by: 'test',
      reason: 'an old version',
      expectedVersion: null,
    });
  }

  it(
    'one stored in the old external format leaves the run judged on its thresholds, with that said',
    async () => {
      const legacy = {
        format: 'temporal-mlops/external-model@1',
        command: ['python', 'old.py'],
        files: {},
        metrics: { validationAccuracy: 0.99 },
      };
      await production('old-external', await deps.store.putJson(legacy));
      const { workflowId, result } = await runToEnd(await spec('old-external', 'gbdt'));
      expect(result.status).toBe('deployed');
      const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
      expect(status.validationNotes![0]).toMatch(
        new RegExp(
          'production version 1 could not be loaded \\(Not servable: .*retrain it with a trainer that writes model\\.onnx.*\\); ' +
            'this run is judged on its thresholds alone',
          'i',
        ),
      );
      expect(status.champion).toBeUndefined();
    },
    10 * 60_000,
  );

  it(
    'one whose model file is missing from storage leaves the run judged on its thresholds, with that said',
    async () => {
      // A model document unique to this test, registered, then removed from storage behind the registry's back.
      const artifact = await deps.store.putJson({ format: 'temporal-mlops/model@1', gone: Date.now() });
      await production('file-gone', artifact);
      await deps.store.delete(artifact);
      const { workflowId, result } = await runToEnd(await spec('file-gone', 'gbdt'));
      expect(result.status).toBe('deployed');
      const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
      expect(status.validationNotes![0]).toMatch(
        /^production version 1 could not be loaded \(.+\); this run is judged on its thresholds alone\.$/,
      );
    },
    10 * 60_000,
  );
});

describe('a bug of ours', () => {
  it(
    'a TypeError in an activity fails the run after one attempt, as an MlopsInternalError that says it is a bug',
    async () => {
      const s = await spec('bug-not-retried', 'gbdt');
      // Malformed policy that only a bug elsewhere could produce: the evaluator hits a TypeError on it.
      (s.validation as unknown as { thresholds: null }).thresholds = null;
      const { workflowId, result } = await runToEnd(s);
      expect(result.status).toBe('failed');
      expect(result.reason).toMatch(/^validate failed: Internal error in temporal-mlops \(a bug, .*not retried\): TypeError: /);
      const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      const attempts = history
        .events!.filter((e) => e.activityTaskStartedEventAttributes && e.eventId! > 0)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      const failed = history.events!.find((e) => e.activityTaskFailedEventAttributes)!.activityTaskFailedEventAttributes!;
      expect(failed.failure!.applicationFailureInfo).toMatchObject({ type: 'MlopsInternalError', nonRetryable: true });
      expect(attempts.every((a) => a === 1)).toBe(true);
    },
    10 * 60_000,
  );
});

describe('labels of every kind', () => {
  it(
    'a true/false target trains, validates and passes the servability check',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bool-'));
      const file = path.join(dir, 'flags.csv');
      fs.writeFileSync(
        file,
        // Each row distinct (id), so the hash split sends single rows, not whole groups of equal rows, to the holdout.
        ['id,x,flag', ...Array.from({ length: 200 }, (_, i) => `${i},${i % 20},${i % 20 >= 10 ? 'true' : 'false'}`)].join('\n'),
      );
      const s = parsePipelineSpec({
        model: 'boolean-labels',
        dataset: {
          source: file,
          format: 'csv',
          schema: {
            target: 'flag',
            task: 'classification',
            features: ['x'],
            columns: [
              { name: 'id', type: 'numeric' },
              { name: 'x', type: 'numeric' },
              { name: 'flag', type: 'boolean' },
            ],
          },
        },
        trainer: { name: 'logistic-regression' },
        validation: { thresholds: { accuracy: { min: 0.9 } } },
        approval: { required: false },
      });
      s.dataset = await stageDataset(config, s.dataset);
      const { result } = await runToEnd(s);
      expect(result.status).toBe('deployed');
      expect(result.metrics!.accuracy).toBeGreaterThan(0.9);
      const report = await deps.store.getJson<{ candidate: { confusionMatrix: { labels: string[] } } }>(result.report!);
      expect(report.candidate.confusionMatrix.labels).toEqual(['false', 'true']);
    },
    10 * 60_000,
  );
});

function cliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: config.minio.bucket,
    TEMPORAL_ADDRESS: env.address,
  };
}
