/**
 * Replays recorded histories of representative runs against today's workflow code, so a
 * non-deterministic change fails CI. Re-record (after a deliberate, versioned change) with:
 *   MLOPS_RECORD_HISTORIES=1 npx jest test/integration/lifecycle -t "whole seattle"
 * Histories recorded before a versioned change are kept under a `before-<change>-` name: they are runs still
 * in flight when a worker is upgraded (the servability stage was added under patched('servability-check')).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const DIR = path.resolve(__dirname, '../../fixtures/histories');

describe('recorded runs replay deterministically', () => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));

  it('has the representative histories to replay', () => {
    expect(files.sort()).toEqual([
      'before-servability-deployed-after-approval.json',
      'before-servability-rejected.json',
      'before-servability-validation-failed.json',
      'deployed-after-approval.json',
      'rejected.json',
      'validation-failed.json',
    ]);
  });

  it('replays every recorded history without a nondeterminism error', async () => {
    const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'))) }));
    const results = Worker.runReplayHistories({ workflowsPath: require.resolve('../../../src/workflows') }, histories);
    const failures: string[] = [];
    for await (const r of results) if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    expect(failures).toEqual([]);
  });
});
