/**
 * Replays recorded histories of representative runs against today's workflow code, so a
 * non-deterministic change fails CI. Re-record (after a deliberate, versioned change) with:
 *   MLOPS_RECORD_HISTORIES=1 npx jest test/integration/lifecycle -t "whole seattle"
 *   MLOPS_RECORD_HISTORIES=1 npx jest test/integration/workflows/monitor-continue-as-new.test.ts
 *   MLOPS_RECORD_HISTORIES=1 npx jest test/integration/lifecycle/monitor-follows-deploy.test.ts
 *   MLOPS_RECORD_HISTORIES=1 npx jest test/integration/lifecycle/rollout.test.ts
 * The monitor's histories are one run that retrained, failed a check, rolled a version back, was paused, and
 * continued as new after 100 checks, the first checks of the run it continued into (still running), and a monitor
 * started by one run, then told of a second run's deploy (whose spec it then judges by).
 * Histories recorded before a versioned change are kept under a `before-<change>-` name: they are runs still
 * in flight when a worker is upgraded (the servability stage was added under patched('servability-check'), the
 * `mlops.` activity namespace under patched('mlops-activity-names'), the deploy by compare-and-swap under
 * patched('deploy-cas'), the monitor following the deployed version's spec under patched('monitor-follows-deploy'),
 * identity checks of approvals under patched('approval-identity'), and pipeline runs recording one baseline patch for
 * all of these under 'pipeline-baseline-1', src/workflows/patches.ts).
 * `upgraded-to-baseline-at-deploy.json` is a run in flight at that last upgrade: recorded before it up to the approval,
 * it continued at the deploy under the baseline's code, which records the baseline's marker where the run asks its next
 * patch (deploy-cas) instead of that patch's own; made from `before-baseline-deployed-after-approval.json` by renaming
 * that one marker (and its search attribute update), as the new code writes them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { PIPELINE_BASELINE, PIPELINE_BASELINE_PATCH } from '../../../src/workflows/patches';

const DIR = path.resolve(__dirname, '../../fixtures/histories');

describe('recorded runs replay deterministically', () => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has the representative histories to replay', () => {
    expect(files.sort()).toEqual([
      'before-activity-names-deployed-after-approval.json',
      'before-activity-names-rejected.json',
      'before-activity-names-validation-failed.json',
      'before-approval-identity-deployed-after-approval.json',
      'before-approval-identity-rejected.json',
      'before-approval-identity-validation-failed.json',
      'before-baseline-deployed-after-approval.json',
      'before-baseline-rejected.json',
      'before-baseline-validation-failed.json',
      'before-deploy-cas-deployed-after-approval.json',
      'before-monitor-spec-follows-deploy.json',
      'before-servability-deployed-after-approval.json',
      'before-servability-rejected.json',
      'before-servability-validation-failed.json',
      'deployed-after-approval.json',
      'monitor-after-continue-as-new.json',
      'monitor-continued-as-new.json',
      'monitor-follows-deploy.json',
      'rejected.json',
      'rollout-promoted.json',
      'rollout-steered.json',
      'upgraded-to-baseline-at-deploy.json',
      'validation-failed.json',
    ]);
  });

  /** The activity types a recorded history scheduled, in order. */
  const types = (f: string) =>
    (
      JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as {
        events: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }[];
      }
    ).events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType.name)
      .filter((name): name is string => name !== undefined);

  it('runs recorded before the activity namespace scheduled bare names, and runs after it namespaced ones', () => {
    for (const f of files) {
      const names = types(f);
      expect(names.length).toBeGreaterThan(0);
      if (/^before-(activity-names|servability)-/.test(f)) expect(names.filter((n) => n.startsWith('mlops.'))).toEqual([]);
      else expect(names.every((n) => n.startsWith('mlops.'))).toBe(true);
    }
  });

  /** The patch ids a recorded history's markers carry, in order. */
  const patchIds = (f: string) =>
    (
      JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as {
        events: { markerRecordedEventAttributes?: { markerName: string; details: Record<string, { payloads: { data: string }[] }> } }[];
      }
    ).events
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_patch')
      .map((m) => (JSON.parse(Buffer.from(m!.details['patch-data']!.payloads[0]!.data, 'base64').toString()) as { id: string }).id);

  it('a pipeline run records one baseline patch in place of the five it stands for; runs before it replay with each of theirs', () => {
    for (const f of ['deployed-after-approval.json', 'rejected.json', 'validation-failed.json'])
      expect(patchIds(f)).toEqual([PIPELINE_BASELINE_PATCH]);
    expect(patchIds('before-baseline-deployed-after-approval.json')).toEqual([
      'mlops-activity-names',
      'servability-check',
      'approval-identity',
      'deploy-cas',
    ]);
    expect(patchIds('before-baseline-deployed-after-approval.json').every((id) => PIPELINE_BASELINE.includes(id))).toBe(true);
    // In flight at the upgrade: its own markers before, the baseline's where it went on under the new code.
    expect(patchIds('upgraded-to-baseline-at-deploy.json')).toEqual([
      'mlops-activity-names',
      'servability-check',
      'approval-identity',
      PIPELINE_BASELINE_PATCH,
    ]);
  });

  it('has a monitor run that continued as new, with the commands a monitor makes, and the run it continued into', () => {
    const events = (f: string) => (JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as { events: { eventType: string }[] }).events;
    const continued = events('monitor-continued-as-new.json');
    expect(continued.at(-1)!.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    // Checks on timers, a failed check, a retraining child, and signals (deployed, pause, checkNow, resume).
    expect(continued.map((e) => e.eventType)).toEqual(
      expect.arrayContaining([
        'EVENT_TYPE_TIMER_FIRED',
        'EVENT_TYPE_ACTIVITY_TASK_FAILED',
        'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED',
        'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
      ]),
    );
    expect(events('monitor-after-continue-as-new.json')[0]!.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
  });

  it('has rollouts: one promoted step by step on timers by compare-and-swap, one steered by people and rolled back', () => {
    const events = (f: string) =>
      (JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as { events: { eventType: string }[] }).events.map((e) => e.eventType);
    const promoted = types('rollout-promoted.json');
    expect(promoted[0]).toBe('mlops.beginRollout');
    expect(promoted).toContain('mlops.assessRolloutStep');
    expect(promoted.at(-2)).toBe('mlops.promoteVersion');
    expect(events('rollout-promoted.json')).toContain('EVENT_TYPE_TIMER_FIRED');
    const steered = events('rollout-steered.json');
    expect(steered).toEqual(
      expect.arrayContaining(['EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED', 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED']),
    );
    expect(types('rollout-steered.json')).not.toContain('mlops.promoteVersion');
  });

  it('runs before the compare-and-swap deployed in one step, runs after it register then promote; only new monitors read a deployed spec', () => {
    expect(types('before-deploy-cas-deployed-after-approval.json')).toContain('mlops.deployCandidate');
    const deployed = types('deployed-after-approval.json');
    expect(deployed).not.toContain('mlops.deployCandidate');
    expect(deployed.indexOf('mlops.registerCandidate')).toBeLessThan(deployed.indexOf('mlops.promoteVersion'));
    expect(types('before-monitor-spec-follows-deploy.json')).not.toContain('mlops.readDeployedSpec');
    expect(types('monitor-follows-deploy.json')).toContain('mlops.readDeployedSpec');
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    const histories = files.map((f) => ({
      workflowId: f.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'))),
    }));
    const results = Worker.runReplayHistories({ workflowsPath: require.resolve('../../../src/workflows') }, histories);
    const failures: string[] = [];
    for await (const r of results) if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    expect(failures).toEqual([]);
  });
});
