/**
 * The `mlops` command line. Every command has --help and --json, and exits 0 on success,
 * 1 on failure and 2 on bad usage.
 */
import { Command, CommanderError } from 'commander';
import { registerCodec } from './codec';
import { registerDemo } from './demo';
import { registerDev } from './dev';
import { registerGc } from './gc';
import { registerModels } from './models';
import { registerMonitor } from './monitor';
import { registerRollout } from './rollout';
import { registerRuns } from './runs';
import { registerSchedules } from './schedules';
import { registerSchema } from './schema';
import { registerServe } from './serve';
import { EXIT, reportError } from './output';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../package.json') as { version: string };

/** Builds the program; each command group registers itself from its own module. */
export function buildProgram(onExit: (code: number) => void): Command {
  const program = new Command('mlops')
    .description('Run the whole life of a machine-learning model as durable Temporal workflows, with every artifact in MinIO')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const run =
    (fn: (json: boolean, ...args: any[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      // commander passes (...positionals, options, command)
      const opts = (args[args.length - 2] ?? {}) as { json?: boolean };
      try {
        await fn(Boolean(opts.json), ...args.slice(0, -1));
        onExit(EXIT.ok);
      } catch (err) {
        onExit(reportError(err, Boolean(opts.json)));
      }
    };
  registerDemo(program, run);
  registerRuns(program, run);
  registerModels(program, run);
  registerMonitor(program, run);
  registerRollout(program, run);
  registerSchedules(program, run);
  registerSchema(program, run);
  registerServe(program, run);
  registerCodec(program, run);
  registerGc(program, run);
  registerDev(program, run as never);
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.commands.forEach(function exitOverrideAll(c: Command) {
    c.exitOverride();
    c.commands.forEach(exitOverrideAll);
  });
  return program;
}

/** Runs the CLI with these arguments (without `node` and the script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help'
        ? EXIT.ok
        : EXIT.usage;
    }
    return reportError(err, argv.includes('--json'));
  }
  return code;
}
