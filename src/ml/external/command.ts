/**
 * Runs a trainer written as any program (Python, R, a shell script) under contract v2 of
 * docs/external-trainers.md: it receives the training side of the split (never the holdout) as a local
 * JSON-lines file, as presigned Parquet parts in MinIO (remote-data.ts, for a cluster), or both, a sample
 * of those rows to predict itself, the schema and the parameters, through environment variables and
 * argv placeholders, and writes `model.onnx` and `signature.json` (plus anything else) into its output
 * directory. It may report progress by printing `PROGRESS <fraction>` lines.
 *
 * A run succeeds only when what the program wrote can be served: the signature fits the schema and
 * model.onnx loads in ONNX Runtime and answers the check rows. Anything else fails here, naming the
 * file and the fix, rather than after someone approved the model.
 *
 * The program runs in a process group of its own, so cancelling kills everything it started: SIGTERM to
 * the group, then SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { ensurePython } from '../../dev/python';
import { FailureType, MlopsError } from '../../errors';
import { ONNX_MODEL_FORMAT, loadOnnxPredictor, signatureProblems, type OnnxModel, type OnnxSignature } from '../onnx';
import type { Predictor } from '../predictor';
import { createRng } from '../random';
import { rowsToFrame } from '../trainers';
import type { DatasetSchema, ProgressCallback } from '../types';
import { claimedMetrics } from './model';

/** The contract version the program is told (`MLOPS_CONTRACT`). */
export const CONTRACT_VERSION = 2;

/** Most training rows handed to the program to predict itself (`MLOPS_CHECK_DATA`). */
export const CHECK_ROWS = 200;

/** The files of the contract, in the program's output directory. */
export const OUTPUT_FILES = {
  model: 'model.onnx',
  signature: 'signature.json',
  metrics: 'metrics.json',
  checkPredictions: 'check_predictions.jsonl',
} as const;

/** How to run an external trainer. */
export interface ExternalTrainerCommand {
  /**
   * The program and its arguments; `{train}`, `{uris}`, `{check}`, `{schema}`, `{params}`, `{output}` and `{seed}` are
   * replaced by the paths and seed of the run, `{python}` by the project's pinned Python (created on first use).
   */
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
  /** Path of the training rows (JSON lines): the training side of the split only. The check rows are drawn from it. */
  trainData: string;
  /**
   * Whether the program is given `trainData` (MLOPS_TRAIN_DATA, `{train}`); default true. When false the file is
   * removed once the check rows are drawn, before the program starts, and the program reads `trainUris` instead.
   */
  localTrainData?: boolean;
  /** Path of the MLOPS_TRAIN_URIS file (`TrainParts` of remote-data.ts): the training rows as presigned Parquet parts. */
  trainUris?: string;
  schema: DatasetSchema;
  params: Record<string, unknown>;
  seed: number;
  /** A private directory for this run: `schema.json`, `params.json` and `check.jsonl` are written here. */
  workDir: string;
  /** Where the program writes its files (default: `<workDir>/output`). */
  outputDir?: string;
  /** Receives each line the program prints, without its newline (PROGRESS lines excepted). */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  onProgress?: ProgressCallback;
  /** Aborting kills the program and everything it started. */
  signal?: AbortSignal;
  /** Resolves `{python}` (default: `ensurePython()`). */
  python?: () => Promise<string>;
}

/** What a successful external training produced. */
export interface ExternalTrainResult {
  outputDir: string;
  /** Files the program wrote, relative to `outputDir`, sorted. */
  files: string[];
  /** The checked contents of `signature.json`. */
  signature: OnnxSignature;
  /** What the program says it measured (`metrics.json`, names normalised); information only. */
  claimedMetrics: Record<string, number>;
  /** The rows the program was given to predict itself (JSON lines, features only), and how many. */
  checkData: string;
  checkRows: number;
  /** Whether the program wrote `check_predictions.jsonl` (one line per check row, checked). */
  checkPredictions: boolean;
  durationMs: number;
}

/** Lines of stderr kept for the error message of a failed run. */
const STDERR_TAIL_LINES = 20;
const PROGRESS_LINE = /^PROGRESS\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;
const PLACEHOLDER = /\{(train|uris|check|schema|params|output|seed|python)\}/g;

/** Runs the program and returns its outputs; fails with `MlopsTrainerFailed` when what it wrote cannot be served. */
export async function runExternalTrainer(spec: ExternalTrainerCommand, input: ExternalTrainInput): Promise<ExternalTrainResult> {
  if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command.some((a) => typeof a !== 'string')) {
    throw new MlopsError(FailureType.InvalidInput, 'An external trainer needs a command: a non-empty list of strings, the program first.');
  }
  if (spec.command.some((a) => a.includes('{validation}'))) {
    throw new MlopsError(
      FailureType.InvalidInput,
      'The {validation} placeholder is gone in contract v2: the program never sees the holdout. Carve early-stopping data out of {train} instead.',
    );
  }
  const local = input.localTrainData ?? true;
  const uses = (placeholder: string) => spec.command.some((a) => a.includes(placeholder));
  const missing = !local && uses('{train}') ? '{train}' : !input.trainUris && uses('{uris}') ? '{uris}' : undefined;
  if (missing) {
    const why =
      missing === '{train}'
        ? 'the training rows are not copied to the worker (trainer.data: remote)'
        : 'no remote training data is given (trainer.data: local)';
    throw new MlopsError(
      FailureType.InvalidInput,
      `The command uses ${missing}, but ${why}; use the other placeholder or change trainer.data.`,
    );
  }
  if (!local && !input.trainUris) {
    throw new MlopsError(
      FailureType.InvalidInput,
      'An external trainer must be given its training rows: locally, as remote parts, or both.',
    );
  }
  input.signal?.throwIfAborted();
  const outputDir = input.outputDir ?? join(input.workDir, 'output');
  const schemaPath = join(input.workDir, 'schema.json');
  const paramsPath = join(input.workDir, 'params.json');
  const checkPath = join(input.workDir, 'check.jsonl');
  await mkdir(outputDir, { recursive: true });
  await writeFile(schemaPath, JSON.stringify(input.schema, null, 2));
  await writeFile(paramsPath, JSON.stringify(input.params ?? {}, null, 2));
  const checkRows = await writeCheckRows(input.trainData, input.schema, input.seed, checkPath, CHECK_ROWS);
  // Remote data only: the worker's disk does not keep a copy of the rows while the program runs.
  if (!local) await rm(input.trainData, { force: true });

  const values: Record<string, string> = {
    train: local ? input.trainData : '',
    uris: input.trainUris ?? '',
    check: checkPath,
    schema: schemaPath,
    params: paramsPath,
    output: outputDir,
    seed: String(input.seed),
    python: spec.command.some((a) => a.includes('{python}')) ? await (input.python ?? ensurePython)() : '',
  };
  const argv = spec.command.map((arg) => arg.replace(PLACEHOLDER, (_, key: string) => values[key]!));
  const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
  // An inherited variable of the old contract would point at a file that does not exist.
  delete env.MLOPS_VALIDATION_DATA;
  // Nor may an inherited MLOPS_TRAIN_DATA or MLOPS_TRAIN_URIS stand in for data this run does not give.
  delete env.MLOPS_TRAIN_DATA;
  delete env.MLOPS_TRAIN_URIS;
  if (local) env.MLOPS_TRAIN_DATA = input.trainData;
  if (input.trainUris) env.MLOPS_TRAIN_URIS = input.trainUris;
  Object.assign(env, {
    MLOPS_CONTRACT: String(CONTRACT_VERSION),
    MLOPS_CHECK_DATA: checkPath,
    MLOPS_SCHEMA: schemaPath,
    MLOPS_PARAMS: paramsPath,
    MLOPS_OUTPUT_DIR: outputDir,
    MLOPS_SEED: values.seed,
    MLOPS_TARGET: input.schema.target,
    MLOPS_TASK: input.schema.task,
  });
  const started = Date.now();
  await runProcess(argv, { cwd: spec.cwd, env, timeoutMs: spec.timeoutMs, killGraceMs: spec.killGraceMs ?? 10_000 }, input);
  const program = argv.join(' ');
  const outputs = await readOutputs(outputDir, program, input.schema, checkRows);
  await checkServable(outputDir, program, input.schema, outputs.signature, checkPath);
  const files = (await listFiles(outputDir)).map((f) => relative(outputDir, f)).sort();
  return { outputDir, files, ...outputs, checkData: checkPath, checkRows, durationMs: Date.now() - started };
}

/**
 * Writes up to `max` training rows, features only, chosen with the seed (the same file and seed always
 * give the same rows, in file order). Returns how many were written.
 */
export async function writeCheckRows(
  trainFile: string,
  schema: DatasetSchema,
  seed: number,
  outFile: string,
  max = CHECK_ROWS,
): Promise<number> {
  let total = 0;
  for await (const line of createInterface({ input: createReadStream(trainFile), crlfDelay: Infinity })) if (line.length > 0) total++;
  const k = Math.min(max, total);
  // Floyd's sampling: k distinct indices in O(k), whatever the size of the file.
  const rng = createRng(seed ^ 0x5eed);
  const chosen = new Set<number>();
  for (let j = total - k; j < total; j++) {
    const t = rng.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  const out = createWriteStream(outFile);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(trainFile), crlfDelay: Infinity })) {
    if (line.length === 0) continue;
    if (chosen.has(i++)) {
      const row = JSON.parse(line) as Record<string, unknown>;
      const features = Object.fromEntries(schema.features.map((f) => [f, row[f] ?? null]));
      if (!out.write(`${JSON.stringify(features)}\n`)) await once(out, 'drain');
    }
  }
  out.end();
  await finished(out);
  return k;
}

interface ProcessOptions {
  cwd?: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  killGraceMs: number;
}

function runProcess(argv: string[], options: ProcessOptions, input: ExternalTrainInput): Promise<void> {
  const [program, ...args] = argv as [string, ...string[]];
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
      timeoutTimer = setTimeout(() => {
        const message = `External trainer ${program} did not finish within ${options.timeoutMs} ms and was stopped.`;
        stop(new MlopsError(FailureType.Trainer, message, { program, timeoutMs: options.timeoutMs }));
      }, options.timeoutMs);
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
        const message = `External trainer program "${program}" ${why}; check the command and the worker's PATH.`;
        finish(new MlopsError(FailureType.Trainer, message, { program, code: err.code }, { cause: err }));
      } else {
        finish(
          new MlopsError(
            FailureType.Trainer,
            `External trainer ${program} could not be started: ${err.message}`,
            { program },
            { cause: err },
          ),
        );
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
      const details = { program, exitCode: code, signal: sig, stderrTail: tail.slice() };
      finish(new MlopsError(FailureType.Trainer, `External trainer ${argv.join(' ')} ${how}.${stderr}`, details));
    });
  });
}

function trainerFailed(program: string, what: string, details: Record<string, unknown> = {}): MlopsError {
  return new MlopsError(FailureType.Trainer, `External trainer ${program} ${what} (contract v2, docs/external-trainers.md).`, {
    program,
    ...details,
  });
}

async function readJsonFile(path: string, name: string, program: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw trainerFailed(program, `wrote a ${name} that is not valid JSON: ${(err as Error).message}`, { path });
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** Reads and checks the contract's files: model.onnx and signature.json required, metrics.json and check predictions optional. */
async function readOutputs(outputDir: string, program: string, schema: DatasetSchema, checkRows: number) {
  if (!(await isFile(join(outputDir, OUTPUT_FILES.model)))) {
    const what = `exited successfully but wrote no ${OUTPUT_FILES.model} in its output directory ($MLOPS_OUTPUT_DIR)`;
    throw trainerFailed(program, `${what}; convert the fitted model to ONNX (skl2onnx, onnxmltools) and save it there`, { outputDir });
  }
  const signaturePath = join(outputDir, OUTPUT_FILES.signature);
  if (!(await isFile(signaturePath))) {
    throw trainerFailed(
      program,
      `wrote no ${OUTPUT_FILES.signature}: it must map each schema feature to its ONNX input and name the outputs`,
      { outputDir },
    );
  }
  const signature = await readJsonFile(signaturePath, OUTPUT_FILES.signature, program);
  const problems = signatureProblems(signature, schema);
  if (problems.length > 0)
    throw trainerFailed(program, `wrote a ${OUTPUT_FILES.signature} that does not fit the schema: ${problems.join('; ')}`, { problems });

  const metricsPath = join(outputDir, OUTPUT_FILES.metrics);
  let claimed: Record<string, number> = {};
  if (await isFile(metricsPath)) {
    const parsed = await readJsonFile(metricsPath, OUTPUT_FILES.metrics, program);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw trainerFailed(program, `wrote a ${OUTPUT_FILES.metrics} that is not a JSON object of metric names to numbers`);
    }
    claimed = claimedMetrics(parsed as Record<string, unknown>);
  }

  const predictionsPath = join(outputDir, OUTPUT_FILES.checkPredictions);
  const checkPredictions = await isFile(predictionsPath);
  if (checkPredictions) await checkPredictionLines(predictionsPath, program, schema, signature as OnnxSignature, checkRows);
  return { signature: signature as OnnxSignature, claimedMetrics: claimed, checkPredictions };
}

/** check_predictions.jsonl: one well-formed answer per check row, in order, so the servability check can compare them. */
async function checkPredictionLines(
  path: string,
  program: string,
  schema: DatasetSchema,
  signature: OnnxSignature,
  checkRows: number,
): Promise<void> {
  const name = OUTPUT_FILES.checkPredictions;
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim().length > 0);
  if (lines.length !== checkRows) {
    throw trainerFailed(
      program,
      `wrote ${lines.length} lines in ${name} for the ${checkRows} rows of $MLOPS_CHECK_DATA; write one per row, in order`,
    );
  }
  const classes = signature.classes ?? [];
  lines.forEach((line, i) => {
    let p: { label?: unknown; probabilities?: unknown; value?: unknown };
    try {
      p = JSON.parse(line) as typeof p;
    } catch {
      throw trainerFailed(program, `wrote line ${i + 1} of ${name} that is not JSON: ${line.slice(0, 80)}`);
    }
    const probabilities = Array.isArray(p?.probabilities) ? (p.probabilities as unknown[]) : undefined;
    const ok =
      schema.task === 'classification'
        ? typeof p?.label === 'string' &&
          classes.includes(p.label) &&
          probabilities?.length === classes.length &&
          probabilities.every((v) => typeof v === 'number')
        : typeof p?.value === 'number';
    if (!ok) {
      const want =
        schema.task === 'classification'
          ? `{"label": one of ${JSON.stringify(classes)}, "probabilities": [${classes.length} numbers]}`
          : '{"value": <number>}';
      throw trainerFailed(program, `wrote line ${i + 1} of ${name} as ${line.slice(0, 120)}; each line must be ${want}`);
    }
  });
}

/** Loads model.onnx exactly as the server will and predicts the check rows; a model that cannot answer fails the training. */
async function checkServable(
  outputDir: string,
  program: string,
  schema: DatasetSchema,
  signature: OnnxSignature,
  checkPath: string,
): Promise<void> {
  const onnxPath = join(outputDir, OUTPUT_FILES.model);
  const size = (await stat(onnxPath)).size;
  const local: OnnxModel = {
    format: ONNX_MODEL_FORMAT,
    task: schema.task,
    schema,
    classes: signature.classes ?? [],
    onnx: { uri: `file://${onnxPath}`, sha256: '', size },
    signature,
    trainer: { command: [program], params: {} },
    files: {},
    claimedMetrics: {},
  };
  const rows = (await readFile(checkPath, 'utf8'))
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  let predictor: Predictor | undefined;
  try {
    predictor = await loadOnnxPredictor(local, () => readFile(onnxPath));
    if (rows.length > 0) await predictor.predict(rowsToFrame(schema, rows));
  } catch (err) {
    const reason = (err as Error).message;
    // onnxruntime-node's words for an output that is a sequence of maps, which is what zipmap makes.
    const zipmap = /non tensor type/i.test(reason);
    const hint = zipmap
      ? ' (an output is not a plain tensor: convert classifiers with zipmap off, e.g. skl2onnx options {"zipmap": False})'
      : '';
    throw trainerFailed(program, `wrote a ${OUTPUT_FILES.model} that cannot be served: ${reason}${hint}`, { reason });
  } finally {
    await predictor?.release();
  }
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
