/** An external trainer is any program that follows the contract of docs/external-trainers.md. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExternalTrainer, type ExternalTrainInput } from '../../../../src/ml/external/command';
import { FailureType, isMlopsError } from '../../../../src/errors';
import type { DatasetSchema } from '../../../../src/ml/types';

const schema: DatasetSchema = {
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'y', type: 'categorical' },
  ],
  target: 'y',
  features: ['x'],
  task: 'classification',
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'external-trainer-'));
  await writeFile(join(dir, 'train.csv'), 'x,y\n1,a\n2,b\n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

function input(extra: Partial<ExternalTrainInput> = {}): ExternalTrainInput {
  return { trainData: join(dir, 'train.csv'), schema, params: { depth: 3 }, seed: 42, workDir: join(dir, 'work'), ...extra };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('gives the program its inputs by environment and argv placeholders and collects its files and metrics', async () => {
  const train = await script(
    'train.sh',
    `set -e
cp "$MLOPS_TRAIN_DATA" "$MLOPS_OUTPUT_DIR/seen.csv"
cp "$MLOPS_PARAMS" "$MLOPS_OUTPUT_DIR/params-seen.json"
cp "$MLOPS_SCHEMA" "$MLOPS_OUTPUT_DIR/schema-seen.json"
echo "args: $1 $2 $3"
echo "target=$MLOPS_TARGET task=$MLOPS_TASK seed=$MLOPS_SEED validation=[$MLOPS_VALIDATION_DATA]"
mkdir -p "$MLOPS_OUTPUT_DIR/model"
echo weights > "$MLOPS_OUTPUT_DIR/model/weights.bin"
echo '{"accuracy": 0.75, "logLoss": 0.5}' > "$MLOPS_OUTPUT_DIR/metrics.json"`,
  );
  const lines: string[] = [];
  const result = await runExternalTrainer({ command: [train, '{train}', '{seed}', '{output}'] }, input({ onLog: (line, stream) => lines.push(`${stream}:${line}`) }));
  expect(result.metrics).toEqual({ accuracy: 0.75, logLoss: 0.5 });
  expect(result.files).toEqual(['metrics.json', 'model/weights.bin', 'params-seen.json', 'schema-seen.json', 'seen.csv']);
  expect(await readFile(join(result.outputDir, 'seen.csv'), 'utf8')).toBe('x,y\n1,a\n2,b\n');
  expect(JSON.parse(await readFile(join(result.outputDir, 'params-seen.json'), 'utf8'))).toEqual({ depth: 3 });
  expect(JSON.parse(await readFile(join(result.outputDir, 'schema-seen.json'), 'utf8'))).toEqual(schema);
  expect(lines).toEqual([`stdout:args: ${join(dir, 'train.csv')} 42 ${result.outputDir}`, 'stdout:target=y task=classification seed=42 validation=[]']);
});

it('surfaces PROGRESS lines as progress, clamped to [0, 1], and keeps them out of the log', async () => {
  const train = await script(
    'progress.sh',
    `echo "PROGRESS 0.25"
echo "working"
echo "PROGRESS 5e-1"
echo "PROGRESS 1.5"
echo "PROGRESS soon"
echo '{}' > "$MLOPS_OUTPUT_DIR/metrics.json"`,
  );
  const progress: number[] = [];
  const lines: string[] = [];
  await runExternalTrainer({ command: [train] }, input({ onProgress: (f) => progress.push(f), onLog: (l) => lines.push(l) }));
  expect(progress).toEqual([0.25, 0.5, 1]);
  expect(lines).toEqual(['working', 'PROGRESS soon']);
});

it('a non-zero exit fails as MlopsTrainerFailed with the exit code and the tail of stderr', async () => {
  const lines = Array.from({ length: 30 }, (_, i) => `echo "problem line ${i + 1}" >&2`).join('\n');
  const train = await script('fail.sh', `${lines}\nexit 3`);
  const err = await runExternalTrainer({ command: [train] }, input()).catch((e: unknown) => e);
  expect(isMlopsError(err) && err.type).toBe(FailureType.Trainer);
  const message = (err as Error).message;
  expect(message).toContain('exited with code 3');
  expect(message).toContain('problem line 30');
  expect(message).toContain('problem line 11');
  expect(message).not.toContain('problem line 10\n');
});

it('a program that does not exist fails with a message naming it', async () => {
  const err = await runExternalTrainer({ command: [join(dir, 'no-such-trainer')] }, input()).catch((e: unknown) => e);
  expect(isMlopsError(err) && err.type).toBe(FailureType.Trainer);
  expect((err as Error).message).toMatch(/no-such-trainer" was not found/);
});

it('a program that writes no metrics.json fails with a message that says so', async () => {
  const train = await script('nometrics.sh', 'echo done');
  await expect(runExternalTrainer({ command: [train] }, input())).rejects.toThrow(/wrote no metrics.json/);
});

it('cancelling kills the program and the processes it started', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  // The grandchild is a separate node process that ignores nothing; the shell waits on it.
  const train = await script('spawns.sh', `node -e "setInterval(() => {}, 1000)" &\necho $! > "${pidFile}"\necho started\nwait`);
  const controller = new AbortController();
  const running = runExternalTrainer({ command: [train], killGraceMs: 2000 }, input({ signal: controller.signal, onLog: (l) => l === 'started' && controller.abort(new Error('cancelled by user')) }));
  await expect(running).rejects.toThrow('cancelled by user');
  const pid = Number(await readFile(pidFile, 'utf8'));
  await waitFor(() => !isAlive(pid));
});

it('a program that ignores SIGTERM is killed after the grace period', async () => {
  const train = await script('stubborn.sh', `trap '' TERM\necho started\nwhile true; do sleep 0.05; done`);
  const controller = new AbortController();
  const started = Date.now();
  const running = runExternalTrainer({ command: [train], killGraceMs: 300 }, input({ signal: controller.signal, onLog: (l) => l === 'started' && controller.abort() }));
  await expect(running).rejects.toThrow();
  expect(Date.now() - started).toBeGreaterThanOrEqual(300);
});

it('a program that runs past its timeout is stopped and fails as MlopsTrainerFailed', async () => {
  const train = await script('slow.sh', 'sleep 30');
  const err = await runExternalTrainer({ command: [train], timeoutMs: 200, killGraceMs: 200 }, input()).catch((e: unknown) => e);
  expect(isMlopsError(err) && err.type).toBe(FailureType.Trainer);
  expect((err as Error).message).toMatch(/did not finish within 200 ms/);
});
