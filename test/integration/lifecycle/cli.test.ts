/**
 * The `mlops` command as users run it: a separate process against real servers, checked for its exit
 * codes (0 success, 1 failure, 2 bad usage), its --json output and its messages.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsConfig } from '../../../src/config';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'examples/seattle-weather/pipeline.yaml');

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let stopWorkers: () => Promise<void>;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
});

function mlops(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/mlops.js'), ...args],
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.address,
          MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
          MINIO_ACCESS_KEY: minio.accessKey,
          MINIO_SECRET_KEY: minio.secretKey,
          MINIO_BUCKET: config.minio.bucket,
          MLOPS_TASK_QUEUE: config.taskQueue,
          MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
        },
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function waitForGate(workflowId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { stdout } = await mlops('status', workflowId, '--json');
    if (JSON.parse(stdout).status?.approval?.state === 'waiting') return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('never reached the gate');
}

describe('the mlops command', () => {
  it('every command answers --help with exit 0, and bad usage exits 2', async () => {
    for (const cmd of [
      [],
      ['run'],
      ['status'],
      ['approve'],
      ['reject'],
      ['models', 'show'],
      ['promote'],
      ['rollback'],
      ['schedule', 'create'],
      ['dev', 'up'],
      ['worker'],
      ['check'],
      ['gc'],
    ]) {
      const help = await mlops(...cmd, '--help');
      expect([cmd.join(' '), help.code]).toEqual([cmd.join(' '), 0]);
      expect(help.stdout).toMatch(/Usage: mlops/);
    }
    expect((await mlops('approve')).code).toBe(2);
    expect((await mlops('frobnicate')).code).toBe(2);
    expect((await mlops('reject', 'some-run', '--as', 'bob')).code).toBe(2);
    expect((await mlops('promote', 'm', 'not-a-number')).code).toBe(2);
    const gc = await mlops('gc', '--older-than', 'soon');
    expect(gc.code).toBe(2);
    expect(gc.stderr).toMatch(/--older-than: expected a duration like 30s/);
  });

  it('run --json prints the workflow and run ids; approve through the CLI deploys; models show lists the approver', async () => {
    const started = await mlops('run', EXAMPLE, '--requested-by', 'dave', '--json');
    expect(started.code).toBe(0);
    const { workflowId, runId } = JSON.parse(started.stdout);
    expect(workflowId).toMatch(/^seattle-weather-manual-/);
    expect(runId).toMatch(/[0-9a-f-]{36}/);
    await waitForGate(workflowId);

    const refused = await mlops('approve', workflowId, '--as', 'mallory', '--json');
    expect(refused.code).toBe(1);
    // One JSON document: the refusal as the command's error, the gate's answer in its details.
    expect(JSON.parse(refused.stdout)).toMatchObject({
      error: {
        type: 'MlopsInvalidInput',
        message: expect.stringMatching(/^approve refused: .*mallory is not an allowed approver/),
        details: { answer: { accepted: false, reason: expect.stringMatching(/mallory is not an allowed approver/) } },
      },
    });

    const approved = await mlops('approve', workflowId, '--as', 'bob', '--comment', 'ship it');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(/Accepted: approved/);

    const final = await mlops('status', workflowId, '--follow', '--json');
    expect(JSON.parse(final.stdout).result).toMatchObject({ status: 'deployed', version: 1 });
    const shown = JSON.parse((await mlops('models', 'show', 'seattle-weather', '--json')).stdout);
    expect(shown.aliases.production.version).toBe(1);
    expect(shown.versions[0].approvals).toEqual([expect.objectContaining({ approver: 'bob', comment: 'ship it' })]);

    const late = await mlops('approve', workflowId, '--as', 'alice');
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/has already ended \(COMPLETED\)/);
  });

  it('unknown runs and models are clear not-found errors with exit 1', async () => {
    const status = await mlops('status', 'no-such-run');
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/No run with workflow id "no-such-run"/);
    const model = await mlops('models', 'show', 'no-such-model', '--json');
    expect(model.code).toBe(1);
    expect(JSON.parse(model.stdout).error.type).toBe('MlopsNotFound');
  });

  it('an invalid spec names the field path and what is expected', async () => {
    const res = await mlops('run', path.join(ROOT, 'test/fixtures/specs/invalid.yaml'));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/invalid\.yaml\.trainer\.name/);
    expect(res.stderr).toMatch(/invalid\.yaml\.approval\.quorum: a quorum of 3 needs at least 3 approvers/);
  });

  it('schedules: create, describe, trigger a run with trigger "schedule", pause, unpause, delete', async () => {
    const spec = path.join(ROOT, 'test/fixtures/specs/scheduled.yaml');
    expect((await mlops('schedule', 'create', spec)).code).toBe(0);
    const described = JSON.parse((await mlops('schedule', 'describe', 'scheduled-weather', '--json')).stdout);
    expect(described).toMatchObject({ scheduleId: 'retrain-schedule-scheduled-weather', paused: true });

    expect((await mlops('schedule', 'trigger', 'scheduled-weather')).code).toBe(0);
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      workflowId = JSON.parse((await mlops('schedule', 'describe', 'scheduled-weather', '--json')).stdout).recentActions[0]?.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 200));
    }
    expect(workflowId).toMatch(/^scheduled-weather-schedule/);
    const run = JSON.parse((await mlops('status', workflowId!, '--follow', '--json')).stdout);
    expect(run.status.trigger).toBe('schedule');
    expect(run.result.status).toBe('deployed');

    expect((await mlops('schedule', 'unpause', 'scheduled-weather')).code).toBe(0);
    expect(JSON.parse((await mlops('schedule', 'describe', 'scheduled-weather', '--json')).stdout).paused).toBe(false);
    expect((await mlops('schedule', 'pause', 'scheduled-weather', '--note', 'holiday')).code).toBe(0);
    const listed = JSON.parse((await mlops('schedule', 'list', '--json')).stdout);
    expect(listed).toEqual(
      expect.arrayContaining([expect.objectContaining({ scheduleId: 'retrain-schedule-scheduled-weather', paused: true })]),
    );
    expect((await mlops('schedule', 'delete', 'scheduled-weather')).code).toBe(0);
    const gone = await mlops('schedule', 'describe', 'scheduled-weather');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/No such schedule/);
  });
});
