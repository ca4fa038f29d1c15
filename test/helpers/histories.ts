/**
 * Replay fixtures: finished (or still running) workflow histories saved under test/fixtures/histories when
 * MLOPS_RECORD_HISTORIES=1, and replayed against today's workflow code by test/integration/workflows/replay.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = path.resolve(__dirname, '../fixtures/histories');

/** Whether this test run records histories (MLOPS_RECORD_HISTORIES=1). */
export function recordingHistories(): boolean {
  return process.env.MLOPS_RECORD_HISTORIES === '1';
}

/** Saves one run's history (the latest run of `workflowId` unless `runId` is given) as `<name>.json`, when recording. */
export async function recordHistory(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (!recordingHistories()) return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), historyToJSON(history));
}
