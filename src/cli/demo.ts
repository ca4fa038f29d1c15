/** `mlops demo`: the whole lifecycle on the local stack (the README's main command). */
import type { Command } from 'commander';
import { DEFAULT_DEMO_SPEC, formatSummary, runDemo } from '../demo';
import { emit, UsageError } from './output';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** Registers the demo command. */
export function registerDemo(program: Command, run: Runner): void {
  program
    .command('demo')
    .description('Run the closed loop on the local stack: train, approve, deploy, serve, replay traffic, drift, retrain, canary')
    .option('--auto-approve', 'approve every candidate as alice instead of waiting for a human')
    .option('--spec <path>', 'the pipeline spec', DEFAULT_DEMO_SPEC)
    .option('--port <port>', 'model server port', '8080')
    .option('--json', 'print the summary as JSON (progress goes to stderr)')
    .action(
      run(async (json, opts: { autoApprove?: boolean; spec: string; port: string }) => {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got "${opts.port}"`);
        const say = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
        const summary = await runDemo({ autoApprove: Boolean(opts.autoApprove), port, specPath: opts.spec, say });
        emit(json, summary, formatSummary(summary));
      }),
    );
}
