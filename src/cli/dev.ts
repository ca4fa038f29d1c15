/** `mlops dev up|down|status|setup`: the local Temporal + MinIO stack. */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { ensureMinio, ensureTemporalCli, ensureTestServer } from '../dev/tools';
import { formatStatus, stackDown, stackStatus, stackUp } from '../dev/stack';
import { emit } from './output';

const say = (json: boolean) => (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

/** Registers the `dev` command group on the program. */
export function registerDev(
  program: Command,
  run: (fn: (json: boolean) => Promise<void>) => (opts: { json?: boolean }) => Promise<void>,
): void {
  const dev = program.command('dev').description('Run the local stack: a real Temporal dev server and a real MinIO on 127.0.0.1');
  dev
    .command('up')
    .description('Start Temporal (with its Web UI) and MinIO, wait until healthy, create the bucket (idempotent)')
    .option('--json', 'print the status as JSON')
    .action(
      run(async (json) => {
        const status = await stackUp(say(json));
        const t = status.find((s) => s.name === 'temporal');
        const m = status.find((s) => s.name === 'minio');
        emit(
          json,
          status,
          `\n${formatStatus(status)}\n\nTemporal Web UI: ${t?.ui ?? t?.endpoint}\nMinIO console:   ${m?.ui ?? m?.endpoint}\nStop with: npm run stack:down`,
        );
      }),
    );
  dev
    .command('down')
    .description('Stop the servers that "dev up" started; their data stays in .data/')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (json) => {
        await stackDown(say(json));
        if (json) emit(true, await stackStatus(), '');
      }),
    );
  dev
    .command('status')
    .description('Say what runs where, and whether it is healthy')
    .option('--json', 'print the status as JSON')
    .action(
      run(async (json) => {
        const status = await stackStatus();
        emit(json, status, formatStatus(status));
      }),
    );
  dev
    .command('setup')
    .description('Install the Temporal CLI, the time-skipping test server and MinIO into the tool cache')
    .option('--json', 'print the tool paths as JSON')
    .action(
      run(async (json) => {
        const { cacheDir } = loadConfig({ requireCredentials: false });
        const tools = {
          temporal: await ensureTemporalCli(cacheDir, say(json)),
          temporalTestServer: await ensureTestServer(cacheDir, say(json)),
          minio: await ensureMinio(cacheDir, say(json)),
        };
        emit(
          json,
          tools,
          `Tools ready:\n  temporal: ${tools.temporal}\n  temporal-test-server: ${tools.temporalTestServer}\n  minio: ${tools.minio}`,
        );
      }),
    );
}
