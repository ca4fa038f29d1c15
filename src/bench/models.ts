/**
 * Models benchmark: ONNX models through the Predictor seam, measured against references in the same run
 * on the same machine.
 *
 * - Serving: single-row v1 predictions of a scikit-learn pipeline converted to ONNX, and of a built-in
 *   logistic regression on the same schema, each through the model server with the prediction log on,
 *   against a bare Fastify handler answering a fixed body of the same shape (load from autocannon in a
 *   second process; phases interleaved in rounds, as the serving suite does).
 * - Scoring: a generated holdout (1M rows at full size) scored with the same model.onnx through
 *   `loadPredictor` and through Python's onnxruntime, both single-threaded, on the same rows; the two
 *   answers are compared row by row.
 *
 * The model and the holdout are made by the pinned Python (ensurePython); scripts/bench.mjs runs it.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import pino from 'pino';
import type { MlopsConfig } from '../config';
import { ensurePython } from '../dev/python';
import { ONNX_MODEL_FORMAT, type OnnxModel, type OnnxSignature } from '../ml/onnx';
import { MODEL_FILE_MAX_BYTES, loadPredictor } from '../ml/predictor';
import { rowsToFrame, trainModel } from '../ml/trainers';
import type { DatasetSchema, Frame } from '../ml/types';
import { fixedSource, startModelServer, type ModelServer, type RecordLogStats } from '../serving';
import { ArtifactStore } from '../storage/artifact-store';
import { combine, load, type LoadFigures } from './serving';

const execFileAsync = promisify(execFile);

/** Inputs of `runModelsBench`. */
export interface ModelsBenchOptions {
  minio: MlopsConfig['minio'];
  /** Rows of the holdout scored by both sides (default 1,000,000). */
  scoringRows?: number;
  /** Times each side scores the holdout; the best run counts (default 3). */
  scoringRepeats?: number;
  /** Seconds of measured load per serving target, over all rounds (default 15). */
  durationS?: number;
  /** Seconds of unmeasured load before each target (default 2). */
  warmupS?: number;
  connections?: number;
  rounds?: number;
  /** Gradient-boosting stages of the model (default 20). */
  trees?: number;
  log?: (line: string) => void;
}

type PhaseFigures = LoadFigures & { p99MaxMs: number };

/** What `runModelsBench` measured. */
export interface ModelsBenchResult {
  /** ONNX model server (log on) requests/s over the bare handler's (goal ≥ 0.5). */
  onnxServingVsBare: number;
  /** p99 latency of the ONNX model server, ms (goal < 5). */
  onnxP99Ms: number;
  /** Built-in model server (log on) requests/s over the bare handler's. */
  builtinServingVsBare: number;
  builtinP99Ms: number;
  /** Our scoring time over Python onnxruntime's on the same rows (goal ≤ 1.5). */
  onnxScoringVsPython: number;
  /** Best time to score the holdout through loadPredictor, s. */
  onnxScoringS: number;
  /** Best time for Python's onnxruntime to score it, s. */
  pythonScoringS: number;
  scoringRows: number;
  scoringRowsPerS: number;
  /** Rows whose label differs between the two sides (should be 0). */
  scoringLabelMismatches: number;
  /** Largest difference of a probability between the two sides. */
  scoringMaxProbabilityDiff: number;
  bare: PhaseFigures;
  onnx: PhaseFigures;
  builtin: PhaseFigures;
  /** Rows each server answered and how many its prediction log dropped (should be 0). */
  onnxServedRows: number;
  onnxDroppedRows: number;
  builtinServedRows: number;
  builtinDroppedRows: number;
  trees: number;
  connections: number;
  durationS: number;
  rounds: number;
  pythonOnnxruntime: string;
  nodeOnnxruntime: string;
  /** Whether every goal is met, no request failed, nothing was dropped and both sides agree on every row. */
  met: boolean;
}

export const MODELS_GOALS = { minOnnxServingVsBare: 0.5, maxOnnxP99Ms: 5, maxOnnxScoringVsPython: 1.5, minBuiltinServingVsBare: 0.5 };

const NUMERIC = ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'];
const CATEGORICAL = ['Island', 'Sex'];

const SCHEMA: DatasetSchema = {
  columns: [
    ...NUMERIC.map((name) => ({ name, type: 'numeric' as const })),
    ...CATEGORICAL.map((name) => ({ name, type: 'categorical' as const })),
    { name: 'Species', type: 'categorical' },
  ],
  target: 'Species',
  features: [...NUMERIC, ...CATEGORICAL],
  task: 'classification',
};

const ROW = {
  'Beak Length (mm)': 46.5,
  'Beak Depth (mm)': 17.9,
  'Flipper Length (mm)': 192,
  'Body Mass (g)': 3500,
  Island: 'Dream',
  Sex: 'female',
};

/**
 * `make <dir> <rows> <trees>`: fits the penguins pipeline on 344 generated rows, writes model.onnx,
 * signature.json, training.json (for the built-in model) and a holdout of <rows> rows (numeric columns
 * as raw float64, categorical ones as lines of text). `score <dir> <repeats>`: scores the holdout with
 * onnxruntime, single-threaded, and writes its labels and probabilities for the comparison.
 */
export const MODELS_SCRIPT = `
import json, os, sys, time
import numpy as np

NUMERIC = ${JSON.stringify(NUMERIC)}
CATEGORICAL = ${JSON.stringify(CATEGORICAL)}
MEANS = {'Adelie': (38.8, 18.3, 190, 3700), 'Chinstrap': (48.8, 18.4, 196, 3730), 'Gentoo': (47.5, 15.0, 217, 5076)}

def penguins(rng, n):
    species = rng.choice(list(MEANS), n)
    cols = {name: np.array([MEANS[s][k] for s in species]) * rng.normal(1, 0.05, n) for k, name in enumerate(NUMERIC)}
    adelie_island = rng.choice(['Biscoe', 'Dream', 'Torgersen'], n)
    cols['Island'] = np.where(species == 'Gentoo', 'Biscoe', np.where(species == 'Chinstrap', 'Dream', adelie_island)).astype(object)
    cols['Sex'] = rng.choice(['male', 'female'], n).astype(object)
    for name in NUMERIC[:1]:
        cols[name][rng.random(n) < 0.01] = np.nan
    cols['Sex'][rng.random(n) < 0.01] = ''
    return cols, species

def make(out, rows, trees):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from skl2onnx import to_onnx
    cols, species = penguins(np.random.default_rng(1), 344)
    X = pd.DataFrame(cols)
    pipe = Pipeline([
        ('prep', ColumnTransformer([('num', SimpleImputer(strategy='median'), NUMERIC), ('cat', OneHotEncoder(handle_unknown='ignore'), CATEGORICAL)])),
        ('clf', GradientBoostingClassifier(n_estimators=trees, random_state=1)),
    ])
    pipe.fit(X, species)
    sample = X[:1].astype({c: np.float32 for c in NUMERIC})
    onx = to_onnx(pipe, sample, options={GradientBoostingClassifier: {'zipmap': False}}, target_opset={'': 17, 'ai.onnx.ml': 3})
    with open(os.path.join(out, 'model.onnx'), 'wb') as f:
        f.write(onx.SerializeToString())
    names = [i.name for i in onx.graph.input]
    signature = {'inputs': [{'column': c, 'name': g, 'type': 'float' if c in NUMERIC else 'string'} for c, g in zip(NUMERIC + CATEGORICAL, names)],
                 'outputs': {'label': 'label', 'probabilities': 'probabilities'}, 'classes': [str(c) for c in pipe.classes_]}
    with open(os.path.join(out, 'signature.json'), 'w') as f:
        json.dump(signature, f)
    missing = lambda v: isinstance(v, float) and np.isnan(v)
    train = [{**{c: (None if missing(X[c][i]) else X[c][i]) for c in X.columns}, 'Species': str(species[i])} for i in range(len(X))]
    with open(os.path.join(out, 'training.json'), 'w') as f:
        json.dump(train, f, default=float)
    cols, _ = penguins(np.random.default_rng(2), rows)
    for k, c in enumerate(NUMERIC):
        cols[c].astype('<f8').tofile(os.path.join(out, f'holdout-{k}.f64'))
    for k, c in enumerate(CATEGORICAL):
        with open(os.path.join(out, f'holdout-{k}.txt'), 'w') as f:
            f.write('\\n'.join(cols[c]))

def score(out, repeats):
    import onnxruntime as ort
    sig = json.load(open(os.path.join(out, 'signature.json')))
    feeds = {}
    for i in sig['inputs']:
        c = i['column']
        if c in NUMERIC:
            feeds[i['name']] = np.fromfile(os.path.join(out, f'holdout-{NUMERIC.index(c)}.f64'), dtype='<f8').astype(np.float32).reshape(-1, 1)
        else:
            with open(os.path.join(out, f'holdout-{CATEGORICAL.index(c)}.txt')) as f:
                feeds[i['name']] = np.array(f.read().split('\\n'), dtype=object).reshape(-1, 1)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(os.path.join(out, 'model.onnx'), so, providers=['CPUExecutionProvider'])
    wanted = [sig['outputs']['label'], sig['outputs']['probabilities']]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        label, probabilities = sess.run(wanted, feeds)
        times.append(time.perf_counter() - t)
    with open(os.path.join(out, 'python-labels.txt'), 'w') as f:
        f.write('\\n'.join(str(l) for l in label.reshape(-1)))
    probabilities.astype('<f4').tofile(os.path.join(out, 'python-probabilities.f32'))
    print(json.dumps({'bestS': min(times), 'times': times, 'onnxruntime': ort.__version__}))

if sys.argv[1] == 'make':
    make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
else:
    score(sys.argv[2], int(sys.argv[3]))
`;

/** The holdout as a Frame, read from the files the script wrote. */
function readHoldout(dir: string, rows: number): Frame {
  const columns: Frame['columns'] = {};
  NUMERIC.forEach((c, k) => {
    const buf = fs.readFileSync(path.join(dir, `holdout-${k}.f64`));
    columns[c] = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  });
  CATEGORICAL.forEach((c, k) => {
    columns[c] = fs
      .readFileSync(path.join(dir, `holdout-${k}.txt`), 'utf8')
      .split('\n')
      .map((v) => (v === '' ? null : v));
  });
  for (const [c, col] of Object.entries(columns))
    if (col.length !== rows) throw new Error(`holdout column ${c} has ${col.length} rows, expected ${rows}`);
  return { rowCount: rows, columns };
}

/** Runs the models benchmark: ONNX and built-in serving against a bare handler, and ONNX scoring against Python. */
export async function runModelsBench(options: ModelsBenchOptions): Promise<ModelsBenchResult> {
  const o = {
    scoringRows: options.scoringRows ?? 1_000_000,
    scoringRepeats: options.scoringRepeats ?? 3,
    durationS: options.durationS ?? 15,
    warmupS: options.warmupS ?? 2,
    connections: options.connections ?? 10,
    rounds: options.rounds ?? 3,
    trees: options.trees ?? 20,
  };
  const log = options.log ?? (() => undefined);
  const python = await ensurePython(log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-bench-models-'));
  const script = path.join(dir, 'models.py');
  fs.writeFileSync(script, MODELS_SCRIPT);
  try {
    log(`making the ONNX model (${o.trees}-stage gradient boosting pipeline, skl2onnx) and a ${o.scoringRows}-row holdout with ${python}`);
    await execFileAsync(python, [script, 'make', dir, String(o.scoringRows), String(o.trees)], { maxBuffer: 16 * 1024 * 1024 });
    const store = ArtifactStore.connect(options.minio);
    await store.ensureBucket();
    const signature = JSON.parse(fs.readFileSync(path.join(dir, 'signature.json'), 'utf8')) as OnnxSignature;
    const onnxRef = await store.putFile(path.join(dir, 'model.onnx'));
    const manifest: OnnxModel = {
      format: ONNX_MODEL_FORMAT,
      task: 'classification',
      schema: SCHEMA,
      classes: signature.classes ?? [],
      onnx: onnxRef,
      signature,
      trainer: { command: ['python', 'models.py'], params: { trees: o.trees } },
      files: { 'model.onnx': onnxRef },
      claimedMetrics: {},
    };
    const onnxArtifact = await store.putJson(manifest);
    const training = JSON.parse(fs.readFileSync(path.join(dir, 'training.json'), 'utf8')) as Record<string, unknown>[];
    const trainFrame = rowsToFrame({ ...SCHEMA, features: [...SCHEMA.features, 'Species'] }, training);
    const builtin = await trainModel('logistic-regression', { train: trainFrame, schema: SCHEMA, params: {}, seed: 1 });
    const builtinArtifact = await store.putJson(builtin);

    const scoring = await benchScoring(dir, script, python, manifest, store, o, log);
    const serving = await benchServing(store, { onnx: onnxArtifact, builtin: builtinArtifact }, o, log);

    const onnxServingVsBare = serving.onnx.rps / serving.bare.rps;
    const builtinServingVsBare = serving.builtin.rps / serving.bare.rps;
    const onnxScoringVsPython = scoring.onnxScoringS / scoring.pythonScoringS;
    const met =
      onnxServingVsBare >= MODELS_GOALS.minOnnxServingVsBare &&
      serving.onnx.p99Ms < MODELS_GOALS.maxOnnxP99Ms &&
      onnxScoringVsPython <= MODELS_GOALS.maxOnnxScoringVsPython &&
      builtinServingVsBare >= MODELS_GOALS.minBuiltinServingVsBare &&
      serving.onnx.failed + serving.builtin.failed === 0 &&
      serving.onnxStats.dropped + serving.builtinStats.dropped === 0 &&
      scoring.scoringLabelMismatches === 0;
    return {
      onnxServingVsBare,
      onnxP99Ms: serving.onnx.p99Ms,
      builtinServingVsBare,
      builtinP99Ms: serving.builtin.p99Ms,
      onnxScoringVsPython,
      ...scoring,
      scoringRows: o.scoringRows,
      scoringRowsPerS: o.scoringRows / scoring.onnxScoringS,
      bare: serving.bare,
      onnx: serving.onnx,
      builtin: serving.builtin,
      onnxServedRows: serving.onnxStats.appended + serving.onnxStats.dropped,
      onnxDroppedRows: serving.onnxStats.dropped,
      builtinServedRows: serving.builtinStats.appended + serving.builtinStats.dropped,
      builtinDroppedRows: serving.builtinStats.dropped,
      trees: o.trees,
      connections: o.connections,
      durationS: o.durationS,
      rounds: o.rounds,
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a package's own version, read as JSON
      nodeOnnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
      met,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Scores the holdout through the seam and in Python, best of `repeats` each, and compares the answers. */
async function benchScoring(
  dir: string,
  script: string,
  python: string,
  manifest: OnnxModel,
  store: ArtifactStore,
  o: { scoringRows: number; scoringRepeats: number },
  log: (line: string) => void,
) {
  const frame = readHoldout(dir, o.scoringRows);
  const predictor = await loadPredictor(manifest, (ref) => store.getBuffer(ref, MODEL_FILE_MAX_BYTES));
  let best = Infinity;
  let preds: Awaited<ReturnType<typeof predictor.predict>> | undefined;
  try {
    for (let r = 0; r < o.scoringRepeats; r++) {
      preds = undefined;
      (globalThis as { gc?: () => void }).gc?.();
      const t = process.hrtime.bigint();
      preds = await predictor.predict(frame);
      best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
      log(`scoring: ${o.scoringRows} rows through loadPredictor in ${best.toFixed(3)} s (best so far)`);
    }
  } finally {
    await predictor.release();
  }
  const { stdout } = await execFileAsync(python, [script, 'score', dir, String(o.scoringRepeats)], { maxBuffer: 16 * 1024 * 1024 });
  const py = JSON.parse(stdout) as { bestS: number; onnxruntime: string };
  log(`scoring: the same rows in Python onnxruntime ${py.onnxruntime} in ${py.bestS.toFixed(3)} s (best of ${o.scoringRepeats})`);

  const labels = fs.readFileSync(path.join(dir, 'python-labels.txt'), 'utf8').split('\n');
  const buf = fs.readFileSync(path.join(dir, 'python-probabilities.f32'));
  const probs = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  let mismatches = 0;
  let maxDiff = 0;
  const C = manifest.classes.length;
  for (let i = 0; i < o.scoringRows; i++) {
    if (preds!.labels![i] !== labels[i]) mismatches += 1;
    const row = preds!.probabilities![i]!;
    for (let k = 0; k < C; k++) maxDiff = Math.max(maxDiff, Math.abs(row[k]! - probs[i * C + k]!));
  }
  return {
    onnxScoringS: best,
    pythonScoringS: py.bestS,
    scoringLabelMismatches: mismatches,
    scoringMaxProbabilityDiff: maxDiff,
    pythonOnnxruntime: py.onnxruntime,
  };
}

/** Bare handler, ONNX server and built-in server (both logging) under the same single-row load, interleaved. */
async function benchServing(
  store: ArtifactStore,
  artifacts: { onnx: OnnxModel['onnx']; builtin: OnnxModel['onnx'] },
  o: { durationS: number; warmupS: number; connections: number; rounds: number },
  log: (line: string) => void,
) {
  const logger = pino({ level: 'warn' });
  const name = `bench-models-${randomUUID().slice(0, 8)}`;
  const body = JSON.stringify({ instances: [ROW] });
  const fixed = {
    predictions: [{ label: 'Chinstrap', probabilities: { Adelie: 0.1, Chinstrap: 0.8, Gentoo: 0.1 } }],
    model_version: 1,
    id: randomUUID(),
  };
  const bare = Fastify({ logger: false });
  bare.post('/v1/models/:name', async () => fixed);
  await bare.listen({ port: 0, host: '127.0.0.1' });
  const serve = (artifact: OnnxModel['onnx']) =>
    startModelServer({ store, source: fixedSource({ [name]: { version: 1, artifact } }), models: [name], port: 0, pollMs: 0, logger });
  const servers: Record<'onnx' | 'builtin', ModelServer> = {
    onnx: await serve(artifacts.onnx),
    builtin: await serve(artifacts.builtin),
  };
  const targets = {
    bare: `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/v1/models/${name}:predict`,
    onnx: `${servers.onnx.url}/v1/models/${name}:predict`,
    builtin: `${servers.builtin.url}/v1/models/${name}:predict`,
  };
  const phases = Object.keys(targets) as (keyof typeof targets)[];
  const rounds: Record<keyof typeof targets, LoadFigures[]> = { bare: [], onnx: [], builtin: [] };
  let onnxStats: RecordLogStats | undefined;
  let builtinStats: RecordLogStats | undefined;
  try {
    for (const p of phases) {
      log(`warm-up ${p}: ${o.warmupS}s`);
      if (o.warmupS > 0) await load(targets[p], body, o.warmupS, o.connections);
    }
    const roundS = Math.max(1, Math.round(o.durationS / o.rounds));
    for (let r = 0; r < o.rounds; r++) {
      for (const p of r % 2 === 0 ? phases : [...phases].reverse()) {
        log(`round ${r + 1}/${o.rounds} ${p}: ${o.connections} connections, ${roundS}s`);
        rounds[p].push(await load(targets[p], body, roundS, o.connections));
      }
    }
  } finally {
    await bare.close();
    onnxStats = (await servers.onnx.close()).predictions;
    builtinStats = (await servers.builtin.close()).predictions;
  }
  return {
    bare: combine(rounds.bare),
    onnx: combine(rounds.onnx),
    builtin: combine(rounds.builtin),
    onnxStats: onnxStats!,
    builtinStats: builtinStats!,
  };
}
