/**
 * Runs a trainer written as any program (Python, R, a shell script) under the contract of
 * docs/external-trainers.md: it receives the dataset, schema, parameters and an output directory through
 * environment variables and argv placeholders, writes its model files and `metrics.json` there, and may
 * report progress by printing `PROGRESS <fraction>` lines.
 *
 * The program runs in a process group of its own, so cancelling kills everything it started: SIGTERM to
 * the group, then SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { FailureType, MlopsError } from '../../errors';
import type { DatasetSchema, ProgressCallback } from '../types';

/** How to run an external trainer. */
export interface ExternalTrainerCommand {
  /** The program and its arguments; `{train}`, `{validation}`, `{schema}`, `{params}`, `{output}` and `{seed}` are replaced. */
  command: string[];
  /** Working directory of the program (default: the current one). */
  cwd?: string;
  /** Extra environment variables for the program. */
  env?: Record<string, string>;
  /** Fail the training after this long (default: no limit). */
  timeoutMs?: number;
  /** How long the program has to exit after SIGTERM before it gets SIGKILL (default 10 s). */
  killGraceMs?: number;
}

/** What an external trainer is given. */
export interface ExternalTrainInput {
  /** Path of the training data file. */
  trainData: string;
  /** Path of the validation data file, if there is one. */
  validationData?: string;
  schema: DatasetSchema;
  params: Record<string, unknown>;
  seed: number;
  /** A private directory for this run: `schema.json` and `params.json` are written here. */
  workDir: string;
  /** Where the program writes its files (default: `<workDir>/output`). */
  outputDir?: string;
  /** Receives each line the program prints, without its newline (PROGRESS lines excepted). */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  onProgress?: ProgressCallback;
  /** Aborting kills the program and everything it started. */
  signal?: AbortSignal;
}

/** What a successful external training produced. */
export interface ExternalTrainResult {
  outputDir: string;
  /** Files the program wrote, relative to `outputDir`, sorted. */
  files: string[];
  /** The contents of `metrics.json`. */
  metrics: Record<string, number>;
  durationMs: number;
}

/** Lines of stderr kept for the error message of a failed run. */
const STDERR_TAIL_LINES = 20;
const PROGRESS_LINE = /^PROGRESS\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;

/** Runs the program and returns its outputs; fails with `MlopsTrainerFailed` when it does not honour the contract. */
export async function runExternalTrainer(spec: ExternalTrainerCommand, input: ExternalTrainInput): Promise<ExternalTrainResult> {
  if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command.some((a) => typeof a !== 'string')) {
    throw new MlopsError(FailureType.InvalidInput, 'An external trainer needs a command: a non-empty list of strings, the program first.');
  }
  input.signal?.throwIfAborted();
  const outputDir = input.outputDir ?? join(input.workDir, 'output');
  const schemaPath = join(input.workDir, 'schema.json');
  const paramsPath = join(input.workDir, 'params.json');
  await mkdir(outputDir, { recursive: true });
  await writeFile(schemaPath, JSON.stringify(input.schema, null, 2));
  await writeFile(paramsPath, JSON.stringify(input.params ?? {}, null, 2));

  const values: Record<string, string> = {
    train: input.trainData,
    validation: input.validationData ?? '',
    schema: schemaPath,
    params: paramsPath,
    output: outputDir,
    seed: String(input.seed),
  };
  const argv = spec.command.map((arg) => arg.replace(/\{(train|validation|schema|params|output|seed)\}/g, (_, key: string) => values[key]));
  const env = {
    ...process.env,
    ...spec.env,
    MLOPS_TRAIN_DATA: values.train,
    MLOPS_VALIDATION_DATA: values.validation,
    MLOPS_SCHEMA: schemaPath,
    MLOPS_PARAMS: paramsPath,
    MLOPS_OUTPUT_DIR: outputDir,
    MLOPS_SEED: values.seed,
    MLOPS_TARGET: input.schema.target,
    MLOPS_TASK: input.schema.task,
  };
  const started = Date.now();
  await runProcess(argv, { cwd: spec.cwd, env, timeoutMs: spec.timeoutMs, killGraceMs: spec.killGraceMs ?? 10_000 }, input);
  const metrics = await readMetrics(outputDir, argv[0]);
  const files = (await listFiles(outputDir)).map((f) => relative(outputDir, f)).sort();
  return { outputDir, files, metrics, durationMs: Date.now() - started };
}

interface ProcessOptions {
  cwd?: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  killGraceMs: number;
}

function runProcess(argv: string[], options: ProcessOptions, input: ExternalTrainInput): Promise<void> {
  const [program, ...args] = argv;
  return new Promise<void>((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let stopping: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // The group is already gone.
      }
    };
    const stop = (reason: Error) => {
      if (stopping) return;
      stopping = reason;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs);
      killTimer.unref();
    };
    const onAbort = () => stop(asError(input.signal?.reason, 'The training was cancelled.'));
    input.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(
        () => stop(new MlopsError(FailureType.Trainer, `External trainer ${program} did not finish within ${options.timeoutMs} ms and was stopped.`, { program, timeoutMs: options.timeoutMs })),
        options.timeoutMs,
      );
    }

    const watch = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') => {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        const progress = PROGRESS_LINE.exec(line);
        if (progress) {
          input.onProgress?.(Math.min(1, Math.max(0, Number(progress[1]))));
          return;
        }
        if (name === 'stderr') {
          tail.push(line);
          if (tail.length > STDERR_TAIL_LINES) tail.shift();
        }
        input.onLog?.(line, name);
      });
    };
    watch(child.stdout, 'stdout');
    watch(child.stderr, 'stderr');

    const finish = (err?: Error) => {
      input.signal?.removeEventListener('abort', onAbort);
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      if (err) reject(err);
      else resolve();
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        const why = err.code === 'ENOENT' ? 'was not found' : 'is not executable';
        finish(new MlopsError(FailureType.Trainer, `External trainer program "${program}" ${why}; check the command and the worker's PATH.`, { program, code: err.code }, { cause: err }));
      } else {
        finish(new MlopsError(FailureType.Trainer, `External trainer ${program} could not be started: ${err.message}`, { program }, { cause: err }));
      }
    });
    child.on('exit', () => {
      // The program is done; anything it left running in its group (and holding its output open) goes too.
      if (!stopping) {
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs);
        killTimer.unref();
      }
    });
    // 'close' waits for the output streams too, so every line has been delivered.
    child.on('close', (code, sig) => {
      if (stopping) {
        // Whatever the program itself started may still be running; nothing of the group may outlive the run.
        killGroup('SIGKILL');
        return finish(stopping);
      }
      if (code === 0) return finish();
      const how = code !== null ? `exited with code ${code}` : `was killed by ${sig}`;
      const stderr = tail.length > 0 ? `\nLast lines of stderr:\n${tail.join('\n')}` : ' (it wrote nothing to stderr)';
      finish(new MlopsError(FailureType.Trainer, `External trainer ${argv.join(' ')} ${how}.${stderr}`, { program, exitCode: code, signal: sig, stderrTail: tail.slice() }));
    });
  });
}

async function readMetrics(outputDir: string, program: string): Promise<Record<string, number>> {
  const path = join(outputDir, 'metrics.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new MlopsError(FailureType.Trainer, `External trainer ${program} exited successfully but wrote no metrics.json in its output directory ($MLOPS_OUTPUT_DIR); the contract requires one (see docs/external-trainers.md).`, {
      program,
      outputDir,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new MlopsError(FailureType.Trainer, `metrics.json written by ${program} is not valid JSON: ${(err as Error).message}`, { program, path });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new MlopsError(FailureType.Trainer, `metrics.json written by ${program} must be a JSON object of metric names to numbers.`, { program, path });
  }
  const metrics: Record<string, number> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new MlopsError(FailureType.Trainer, `metrics.json written by ${program}: metric "${name}" must be a finite number, got ${JSON.stringify(value)}.`, { program, metric: name });
    }
    metrics[name] = value;
  }
  return metrics;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await listFiles(path)));
    else if (e.isFile()) files.push(path);
  }
  return files;
}

function asError(reason: unknown, fallback: string): Error {
  return reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : fallback);
}
