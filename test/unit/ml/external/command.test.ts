/**
 * @jest-environment ./test/helpers/onnx-environment.js
 *
 * An external trainer is any program that follows contract v2 of docs/external-trainers.md: it gets the
 * training rows and a sample of them to predict itself, and must leave a model.onnx that can be served.
 * The programs here are shell scripts; the ONNX model they "train" is a fixture (test/fixtures/onnx).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CHECK_ROWS, runExternalTrainer, writeCheckRows, type ExternalTrainInput } from '../../../../src/ml/external/command';
import { FailureType, isMlopsError } from '../../../../src/errors';
import type { DatasetSchema } from '../../../../src/ml/types';

const FIXTURE = resolve(__dirname, '../../../fixtures/onnx/tiny-classifier.onnx');

const schema: DatasetSchema = {
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'note', type: 'categorical' },
    { name: 'y', type: 'categorical' },
  ],
  target: 'y',
  features: ['x'],
  task: 'classification',
};

const SIGNATURE = {
  inputs: [{ column: 'x', name: 'x', type: 'float' }],
  outputs: { label: 'label', probabilities: 'probabilities' },
  classes: ['a', 'b'],
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'external-trainer-'));
  await copyFile(FIXTURE, join(dir, 'fixture.onnx'));
  await writeFile(join(dir, 'signature.json'), JSON.stringify(SIGNATURE));
  await writeFile(join(dir, 'train.jsonl'), '{"x":1,"note":"n1","y":"a"}\n{"x":2,"note":"n2","y":"b"}\n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Shell lines that leave a servable model, as a real trainer would. */
const writesModel = () => `${copiesOnnx()}\ncp "${join(dir, 'signature.json')}" "$MLOPS_OUTPUT_DIR/signature.json"`;
/** A shell line that leaves the fixture model (or another file) as model.onnx. */
const copiesOnnx = (from = join(dir, 'fixture.onnx')) => `cp "${from}" "$MLOPS_OUTPUT_DIR/model.onnx"`;
/** A shell line that writes a JSON document into the output directory. */
const writesJson = (name: string, doc: unknown) => `echo '${JSON.stringify(doc)}' > "$MLOPS_OUTPUT_DIR/${name}"`;

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

function input(extra: Partial<ExternalTrainInput> = {}): ExternalTrainInput {
  return { trainData: join(dir, 'train.jsonl'), schema, params: { depth: 3 }, seed: 42, workDir: join(dir, 'work'), ...extra };
}

async function failure(run: Promise<unknown>): Promise<Error> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMlopsError(err) && err.type).toBe(FailureType.Trainer);
  return err as Error;
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

describe('what the program is given', () => {
  it('the training rows, check rows, schema, params, seed and contract version, by environment and argv placeholders', async () => {
    const train = await script(
      'train.sh',
      `set -e
cp "$MLOPS_TRAIN_DATA" "$MLOPS_OUTPUT_DIR/seen.jsonl"
cp "$MLOPS_CHECK_DATA" "$MLOPS_OUTPUT_DIR/check-seen.jsonl"
cp "$MLOPS_PARAMS" "$MLOPS_OUTPUT_DIR/params-seen.json"
cp "$MLOPS_SCHEMA" "$MLOPS_OUTPUT_DIR/schema-seen.json"
echo "args: $1 $2 $3 $4"
echo "contract=$MLOPS_CONTRACT target=$MLOPS_TARGET task=$MLOPS_TASK seed=$MLOPS_SEED validation=[$MLOPS_VALIDATION_DATA]"
mkdir -p "$MLOPS_OUTPUT_DIR/extra"
echo notes > "$MLOPS_OUTPUT_DIR/extra/notes.txt"
${writesModel()}`,
    );
    const lines: string[] = [];
    const before = process.env.MLOPS_VALIDATION_DATA;
    process.env.MLOPS_VALIDATION_DATA = '/left/over/from/v1';
    try {
      const onLog = (line: string, stream: string) => lines.push(`${stream}:${line}`);
      const result = await runExternalTrainer({ command: [train, '{train}', '{check}', '{seed}', '{output}'] }, input({ onLog }));
      const seen = [
        'check-seen.jsonl',
        'extra/notes.txt',
        'model.onnx',
        'params-seen.json',
        'schema-seen.json',
        'seen.jsonl',
        'signature.json',
      ];
      expect(result.files).toEqual(seen);
      expect(await readFile(join(result.outputDir, 'seen.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'train.jsonl'), 'utf8'));
      // Check rows hold the features only, never the target.
      expect(await readFile(join(result.outputDir, 'check-seen.jsonl'), 'utf8')).toBe('{"x":1}\n{"x":2}\n');
      expect(result.checkRows).toBe(2);
      expect(JSON.parse(await readFile(join(result.outputDir, 'params-seen.json'), 'utf8'))).toEqual({ depth: 3 });
      expect(JSON.parse(await readFile(join(result.outputDir, 'schema-seen.json'), 'utf8'))).toEqual(schema);
      expect(result.signature).toEqual(SIGNATURE);
      expect(result.claimedMetrics).toEqual({});
      expect(result.checkPredictions).toBe(false);
      expect(lines).toEqual([
        `stdout:args: ${join(dir, 'train.jsonl')} ${result.checkData} 42 ${result.outputDir}`,
        'stdout:contract=2 target=y task=classification seed=42 validation=[]',
      ]);
    } finally {
      if (before === undefined) delete process.env.MLOPS_VALIDATION_DATA;
      else process.env.MLOPS_VALIDATION_DATA = before;
    }
  });

  it(`at most ${CHECK_ROWS} check rows, drawn from the training rows with the seed: the same seed gives the same rows`, async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ x: i, note: `n${i}`, y: i % 2 ? 'a' : 'b' }));
    await writeFile(join(dir, 'big.jsonl'), `${rows.join('\n')}\n`);
    const sample = async (seed: number, name: string) => {
      const n = await writeCheckRows(join(dir, 'big.jsonl'), schema, seed, join(dir, name));
      const xs = (await readFile(join(dir, name), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { x: number }).x);
      expect(xs.length).toBe(n);
      return xs;
    };
    const first = await sample(7, 'a.jsonl');
    expect(first.length).toBe(CHECK_ROWS);
    expect(new Set(first).size).toBe(CHECK_ROWS);
    expect([...first].sort((p, q) => p - q)).toEqual(first); // in file order
    expect(await sample(7, 'b.jsonl')).toEqual(first);
    expect(await sample(8, 'c.jsonl')).not.toEqual(first);
    // Spread over the file, not its first rows.
    expect(Math.max(...first)).toBeGreaterThan(800);
  });

  it('the {validation} placeholder of contract v1 is refused: there is no validation data to give', async () => {
    const train = await script('v1.sh', writesModel());
    await expect(runExternalTrainer({ command: [train, '{validation}'] }, input())).rejects.toThrow(/\{validation\} placeholder is gone/);
  });

  it('{python} is the pinned Python the caller resolves', async () => {
    const train = await script('py.sh', writesModel());
    const result = await runExternalTrainer({ command: ['{python}', train] }, input({ python: async () => '/bin/sh' }));
    expect(result.files).toEqual(['model.onnx', 'signature.json']);
  });
});

describe('what the program must leave', () => {
  it('metrics.json is optional information; v1 names like validationAccuracy are read as accuracy, non-numbers left out', async () => {
    const metrics = { validationAccuracy: 0.9, logLoss: 0.3, note: 'fine', rmse: null };
    const train = await script('metrics.sh', `${writesModel()}\n${writesJson('metrics.json', metrics)}`);
    const result = await runExternalTrainer({ command: [train] }, input());
    expect(result.claimedMetrics).toEqual({ accuracy: 0.9, logLoss: 0.3 });
  });

  it('check predictions are accepted when there is one well-formed line per check row', async () => {
    const answer = '{"label": "a", "probabilities": [0.7, 0.3]}';
    const train = await script(
      'check.sh',
      `${writesModel()}\nprintf '%s\\n%s\\n' '${answer}' '${answer}' > "$MLOPS_OUTPUT_DIR/check_predictions.jsonl"`,
    );
    const result = await runExternalTrainer({ command: [train] }, input());
    expect(result.checkPredictions).toBe(true);
  });

  it('check predictions with a line missing fail, saying how many lines are needed', async () => {
    const train = await script(
      'short.sh',
      `${writesModel()}\n${writesJson('check_predictions.jsonl', { label: 'a', probabilities: [0.7, 0.3] })}`,
    );
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(/wrote 1 lines in check_predictions.jsonl for the 2 rows of \$MLOPS_CHECK_DATA/);
  });

  it('a program that writes no model.onnx fails with MlopsTrainerFailed naming the file and the fix', async () => {
    const train = await script(
      'nomodel.sh',
      `${writesJson('signature.json', SIGNATURE)}\n${writesJson('metrics.json', { accuracy: 0.99 })}`,
    );
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(/wrote no model\.onnx in its output directory .*convert the fitted model to ONNX/);
  });

  it('a program that writes no signature.json fails, saying what the signature is for', async () => {
    const train = await script('nosig.sh', copiesOnnx());
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(/wrote no signature\.json: it must map each schema feature to its ONNX input/);
  });

  it('a signature that does not fit the schema fails, listing every problem', async () => {
    const bad = { inputs: [{ column: 'note', name: 'x', type: 'float' }], outputs: { label: 'label' }, classes: ['a', 'b'] };
    const train = await script('badsig.sh', `${copiesOnnx()}\n${writesJson('signature.json', bad)}`);
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(/signature\.json that does not fit the schema/);
    expect(err.message).toMatch(/"note" is not a feature of the schema/);
    expect(err.message).toMatch(/no ONNX input for the feature "x"/);
    expect(err.message).toMatch(/must name its "probabilities" output/);
  });

  it('a signature naming an input the graph does not have fails: the model could not be served', async () => {
    const renamed = { ...SIGNATURE, inputs: [{ column: 'x', name: 'X (cm)', type: 'float' }] };
    const train = await script('rename.sh', `${copiesOnnx()}\n${writesJson('signature.json', renamed)}`);
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(
      /model\.onnx that cannot be served: signature\.json does not match model\.onnx \(signature inputs not in the graph: X \(cm\)/,
    );
    expect(err.message).toMatch(/The graph has inputs x/);
  });

  it('a classifier converted with zipmap on fails, saying to turn zipmap off', async () => {
    const zipmapped = { ...SIGNATURE, outputs: { label: 'output_label', probabilities: 'output_probability' } };
    const train = await script(
      'zipmap.sh',
      `${copiesOnnx(resolve(FIXTURE, '../tiny-classifier-zipmap.onnx'))}\n${writesJson('signature.json', zipmapped)}`,
    );
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(/model\.onnx that cannot be served: .*zipmap/);
  });

  it('a model.onnx that is not ONNX fails: it does not load', async () => {
    const train = await script(
      'garbage.sh',
      `echo 'not a model' > "$MLOPS_OUTPUT_DIR/model.onnx"\n${writesJson('signature.json', SIGNATURE)}`,
    );
    const err = await failure(runExternalTrainer({ command: [train] }, input()));
    expect(err.message).toMatch(/model\.onnx that cannot be served: model\.onnx does not load in ONNX Runtime/);
  });
});

describe('running the program', () => {
  it('surfaces PROGRESS lines as progress, clamped to [0, 1], and keeps them out of the log', async () => {
    const train = await script(
      'progress.sh',
      `echo "PROGRESS 0.25"
echo "working"
echo "PROGRESS 5e-1"
echo "PROGRESS 1.5"
echo "PROGRESS soon"
${writesModel()}`,
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
    const message = (await failure(runExternalTrainer({ command: [train] }, input()))).message;
    expect(message).toContain('exited with code 3');
    expect(message).toContain('problem line 30');
    expect(message).toContain('problem line 11');
    expect(message).not.toContain('problem line 10\n');
  });

  it('a program that does not exist fails with a message naming it', async () => {
    const err = await failure(runExternalTrainer({ command: [join(dir, 'no-such-trainer')] }, input()));
    expect(err.message).toMatch(/no-such-trainer" was not found/);
  });

  it('cancelling kills the program and the processes it started', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    // The grandchild is a separate node process that ignores nothing; the shell waits on it.
    const train = await script('spawns.sh', `node -e "setInterval(() => {}, 1000)" &\necho $! > "${pidFile}"\necho started\nwait`);
    const controller = new AbortController();
    const onLog = (l: string) => l === 'started' && controller.abort(new Error('cancelled by user'));
    const running = runExternalTrainer({ command: [train], killGraceMs: 2000 }, input({ signal: controller.signal, onLog }));
    await expect(running).rejects.toThrow('cancelled by user');
    const pid = Number(await readFile(pidFile, 'utf8'));
    await waitFor(() => !isAlive(pid));
  });

  it('a program that ignores SIGTERM is killed after the grace period', async () => {
    const train = await script('stubborn.sh', `trap '' TERM\necho started\nwhile true; do sleep 0.05; done`);
    const controller = new AbortController();
    const started = Date.now();
    const onLog = (l: string) => l === 'started' && controller.abort();
    const running = runExternalTrainer({ command: [train], killGraceMs: 300 }, input({ signal: controller.signal, onLog }));
    await expect(running).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('a program that runs past its timeout is stopped and fails as MlopsTrainerFailed', async () => {
    const train = await script('slow.sh', 'sleep 30');
    const err = await failure(runExternalTrainer({ command: [train], timeoutMs: 200, killGraceMs: 200 }, input()));
    expect(err.message).toMatch(/did not finish within 200 ms/);
  });
});
