/**
 * ONNX models for the serving tests, made the way a team's Python trainer makes them: a scikit-learn
 * pipeline on penguin-like rows (median imputation, one-hot categoricals, gradient boosting) converted
 * with skl2onnx by the pinned Python (ensurePython), with the signature.json that maps each schema
 * column to the graph input skl2onnx named for it (`Beak Length (mm)` -> `Beak_Length__mm_`).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ensurePython } from '../../../src/dev/python';
import { ONNX_MODEL_FORMAT, type OnnxModel, type OnnxSignature } from '../../../src/ml/onnx';
import type { DatasetSchema } from '../../../src/ml/types';
import type { ArtifactRef } from '../../../src/storage/refs';
import type { ServingFixture } from './fixtures';

const run = promisify(execFile);

export const PENGUIN_NUMERIC = ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'];
export const PENGUIN_CATEGORICAL = ['Island', 'Sex'];

/** The penguins schema the ONNX models are trained on: four measurements, two categoricals, three species. */
export const penguinSchema: DatasetSchema = {
  columns: [
    ...PENGUIN_NUMERIC.map((name) => ({ name, type: 'numeric' as const })),
    ...PENGUIN_CATEGORICAL.map((name) => ({ name, type: 'categorical' as const })),
    { name: 'Species', type: 'categorical' },
  ],
  target: 'Species',
  features: [...PENGUIN_NUMERIC, ...PENGUIN_CATEGORICAL],
  task: 'classification',
};

/** Rows a client sends, one with a missing measurement and one with a missing category. */
export const penguinRows: Record<string, unknown>[] = [
  {
    'Beak Length (mm)': 39.1,
    'Beak Depth (mm)': 18.7,
    'Flipper Length (mm)': 181,
    'Body Mass (g)': 3750,
    Island: 'Torgersen',
    Sex: 'male',
  },
  { 'Beak Length (mm)': 46.5, 'Beak Depth (mm)': 17.9, 'Flipper Length (mm)': 192, 'Body Mass (g)': 3500, Island: 'Dream', Sex: 'female' },
  { 'Beak Length (mm)': 47.3, 'Beak Depth (mm)': 13.8, 'Flipper Length (mm)': 216, 'Body Mass (g)': 4725, Island: 'Biscoe', Sex: null },
  { 'Beak Length (mm)': null, 'Beak Depth (mm)': 15.2, 'Flipper Length (mm)': 221, 'Body Mass (g)': 5300, Island: 'Biscoe', Sex: 'male' },
];

/** Fits the pipeline on generated rows, converts it (zipmap off) and writes model.onnx and signature.json to argv[1]. */
export const MAKE_PENGUIN_MODEL = `
import json, os, sys
import numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from skl2onnx import to_onnx

out, seed, trees = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
numeric = ${JSON.stringify(PENGUIN_NUMERIC)}
categorical = ${JSON.stringify(PENGUIN_CATEGORICAL)}
rng = np.random.default_rng(seed)
n = 344
species = rng.choice(['Adelie', 'Chinstrap', 'Gentoo'], n)
means = {'Adelie': (38.8, 18.3, 190, 3700), 'Chinstrap': (48.8, 18.4, 196, 3730), 'Gentoo': (47.5, 15.0, 217, 5076)}
X = pd.DataFrame({name: np.array([means[s][k] for s in species]) * rng.normal(1, 0.05, n) for k, name in enumerate(numeric)})
X['Island'] = np.where(species == 'Gentoo', 'Biscoe', np.where(species == 'Chinstrap', 'Dream', rng.choice(['Biscoe', 'Dream', 'Torgersen'], n)))
X['Sex'] = rng.choice(['male', 'female'], n)
X.loc[rng.choice(n, 10), numeric[0]] = np.nan
X.loc[rng.choice(n, 10), 'Sex'] = ''  # the contract sends a missing category as ""
pipe = Pipeline([
    ('prep', ColumnTransformer([('num', SimpleImputer(strategy='median'), numeric), ('cat', OneHotEncoder(handle_unknown='ignore'), categorical)])),
    ('clf', GradientBoostingClassifier(n_estimators=trees, random_state=seed)),
])
pipe.fit(X, species)
sample = X[:1].astype({c: np.float32 for c in numeric})
onx = to_onnx(pipe, sample, options={GradientBoostingClassifier: {'zipmap': False}}, target_opset={'': 17, 'ai.onnx.ml': 3})
with open(os.path.join(out, 'model.onnx'), 'wb') as f:
    f.write(onx.SerializeToString())
graph_inputs = [i.name for i in onx.graph.input]
signature = {
    'inputs': [{'column': c, 'name': g, 'type': 'float' if c in numeric else 'string'} for c, g in zip(numeric + categorical, graph_inputs)],
    'outputs': {'label': 'label', 'probabilities': 'probabilities'},
    'classes': [str(c) for c in pipe.classes_],
}
with open(os.path.join(out, 'signature.json'), 'w') as f:
    json.dump(signature, f)
`;

/** An ONNX model written to a directory: model.onnx and signature.json. */
export interface OnnxModelFiles {
  dir: string;
  onnx: string;
  signature: OnnxSignature;
}

/** Trains and converts a penguins model with the pinned Python (seed and trees vary it). */
export async function makePenguinModel(seed = 1, trees = 20): Promise<OnnxModelFiles> {
  const python = await ensurePython();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-onnx-'));
  const script = path.join(dir, 'make.py');
  fs.writeFileSync(script, MAKE_PENGUIN_MODEL);
  await run(python, [script, dir, String(seed), String(trees)], { maxBuffer: 16 * 1024 * 1024 });
  return {
    dir,
    onnx: path.join(dir, 'model.onnx'),
    signature: JSON.parse(fs.readFileSync(path.join(dir, 'signature.json'), 'utf8')) as OnnxSignature,
  };
}

/** Stores model.onnx and its manifest, as the train stage does, and registers the manifest as the next version of `name`. */
export async function registerOnnxModel(
  fx: ServingFixture,
  name: string,
  files: OnnxModelFiles,
): Promise<{ version: number; manifest: OnnxModel; artifact: ArtifactRef; onnx: ArtifactRef }> {
  const store = fx.storage.store;
  const onnx = await store.putFile(files.onnx);
  const manifest: OnnxModel = {
    format: ONNX_MODEL_FORMAT,
    task: 'classification',
    schema: penguinSchema,
    classes: files.signature.classes ?? [],
    onnx,
    signature: files.signature,
    // A distinct manifest per registration, so tampering with one never touches another test's.
    trainer: {
      command: ['python', 'make.py'],
      params: { registration: `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}` },
    },
    files: { 'model.onnx': onnx },
    claimedMetrics: {},
  };
  const artifact = await store.putJson(manifest);
  const run = `run-${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const { version } = await fx.storage.registry.registerVersion({
    model: name,
    artifact,
    dataset: { sha256: 'b'.repeat(64), name: 'penguins' },
    trainer: { name: 'command', params: {} },
    metrics: {},
    workflowId: run,
    runId: `${run}-1`,
  });
  return { version: version.version, manifest, artifact, onnx };
}

/** Penguin-like rows for a built-in model of the same schema (deterministic). */
export function penguinTrainingRows(n = 300, seed = 3): Record<string, unknown>[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const means: Record<string, number[]> = {
    Adelie: [38.8, 18.3, 190, 3700],
    Chinstrap: [48.8, 18.4, 196, 3730],
    Gentoo: [47.5, 15.0, 217, 5076],
  };
  const species = Object.keys(means);
  return Array.from({ length: n }, () => {
    const sp = species[Math.floor(rand() * 3)]!;
    const row: Record<string, unknown> = {
      Species: sp,
      Island: sp === 'Gentoo' ? 'Biscoe' : sp === 'Chinstrap' ? 'Dream' : 'Torgersen',
      Sex: rand() < 0.5 ? 'male' : 'female',
    };
    PENGUIN_NUMERIC.forEach((name, k) => (row[name] = means[sp]![k]! * (0.95 + rand() * 0.1)));
    return row;
  });
}

/** Trains a built-in logistic regression on penguin rows and registers it as the next version of `name`. */
export async function registerBuiltinPenguinModel(fx: ServingFixture, name: string): Promise<{ version: number; artifact: ArtifactRef }> {
  const { rowsToFrame, trainModel } = await import('../../../src/ml/trainers');
  const train = rowsToFrame({ ...penguinSchema, features: [...penguinSchema.features, 'Species'] }, penguinTrainingRows());
  const model = await trainModel('logistic-regression', { train, schema: penguinSchema, params: { C: 1 }, seed: 7 });
  const artifact = await fx.storage.store.putJson(model);
  const run = `run-${name}-builtin-${Date.now()}`;
  const { version } = await fx.storage.registry.registerVersion({
    model: name,
    artifact,
    dataset: { sha256: 'b'.repeat(64), name: 'penguins' },
    trainer: { name: 'logistic-regression', params: { C: 1 } },
    metrics: {},
    workflowId: run,
    runId: `${run}-1`,
  });
  return { version: version.version, artifact };
}

/** Registers a document as the next version of `name` as it is (an old-format or broken model). */
export async function registerDocument(
  fx: ServingFixture,
  name: string,
  document: unknown,
): Promise<{ version: number; artifact: ArtifactRef }> {
  const artifact = await fx.storage.store.putJson(document);
  const run = `run-${name}-doc-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const { version } = await fx.storage.registry.registerVersion({
    model: name,
    artifact,
    dataset: { sha256: 'b'.repeat(64), name: 'penguins' },
    trainer: { name: 'command', params: {} },
    metrics: {},
    workflowId: run,
    runId: `${run}-1`,
  });
  return { version: version.version, artifact };
}
