/**
 * The local stack's Temporal store: the dev server started as `mlops dev up` starts it (startTemporalServer, with the
 * SQLite pragmas of DEV_SERVER_SQLITE_PRAGMAS) keeps its state in a file, and a server killed outright loses none of
 * what it had committed: the next server on the same file recovers it from the write-ahead log.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultCacheDir } from '../../../src/config';
import { freePort, startTemporalServer, stopProcess, type ServerProcess } from '../../../src/dev/servers';
import { ensureTemporalCli, isAlive } from '../../../src/dev/tools';

let cli: string;
let dir: string;
const running = new Set<ServerProcess>();

beforeAll(async () => {
  cli = await ensureTemporalCli(defaultCacheDir(), () => undefined);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-temporal-store-'));
}, 10 * 60_000);

afterAll(async () => {
  await Promise.all([...running].map((p) => stopProcess(p.pid, 5000)));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function startServer(dbFile: string | null): Promise<{ proc: ServerProcess; client: Client }> {
  const port = await freePort();
  const proc = await startTemporalServer({
    cli,
    port,
    uiPort: await freePort(),
    dbFile,
    logFile: path.join(dir, `temporal-${port}.log`),
  });
  running.add(proc);
  return { proc, client: new Client({ connection: await Connection.connect({ address: `127.0.0.1:${port}` }) }) };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("the local stack's Temporal store", () => {
  it(
    'a server killed outright (SIGKILL) loses no run it had recorded: the next server on the same file has them all',
    async () => {
      const dbFile = path.join(dir, 'stack', 'temporal.db');
      const first = await startServer(dbFile);
      // No worker: each run stays open with what the server committed for it (its start, a signal, its visibility record).
      const ids = Array.from({ length: 20 }, (_, i) => `store-kept-${i}`);
      for (const workflowId of ids) {
        const handle = await first.client.workflow.start('notRegisteredAnywhere', { taskQueue: 'no-worker-here', workflowId });
        await handle.signal('kept', workflowId);
      }
      await first.client.connection.close();
      // Killed with no chance to checkpoint or close the database: what it committed is still only in the log.
      expect(fs.statSync(`${dbFile}-wal`).size).toBeGreaterThan(0);
      process.kill(first.proc.pid, 'SIGKILL');
      await waitFor('the killed server to exit', async () => !isAlive(first.proc.pid));
      running.delete(first.proc);

      const second = await startServer(dbFile);
      try {
        for (const workflowId of ids) {
          const handle = second.client.workflow.getHandle(workflowId);
          expect((await handle.describe()).status.name).toBe('RUNNING');
          const history = await handle.fetchHistory();
          const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
          expect(signals).toHaveLength(1);
        }
        // The visibility store is in the same file: the runs are listed too.
        await waitFor('the runs to be listed', async () => {
          let listed = 0;
          for await (const run of second.client.workflow.list({ query: "WorkflowType = 'notRegisteredAnywhere'" }))
            if (ids.includes(run.workflowId)) listed++;
          return listed === ids.length;
        });
      } finally {
        await second.client.connection.close();
      }
    },
    5 * 60_000,
  );

  it(
    "with no file, the same server keeps its state in the dev server's own memory: the next server starts empty",
    async () => {
      const first = await startServer(null);
      const handle = await first.client.workflow.start('notRegisteredAnywhere', { taskQueue: 'no-worker-here', workflowId: 'in-memory' });
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await first.client.connection.close();
      await stopProcess(first.proc.pid, 5000);
      running.delete(first.proc);

      const second = await startServer(null);
      try {
        await expect(second.client.workflow.getHandle('in-memory').describe()).rejects.toThrow(/not found/i);
      } finally {
        await second.client.connection.close();
      }
    },
    5 * 60_000,
  );
});
