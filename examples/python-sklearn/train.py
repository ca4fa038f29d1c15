#!/usr/bin/env python3
"""A scikit-learn trainer for temporal-mlops, under contract v2 (docs/external-trainers.md).

It fits Pipeline(ColumnTransformer(median imputer for numeric columns, one-hot for categorical ones),
GradientBoostingClassifier) on the training rows it is given, holds out a fifth of them for its own
early-stopping-free sanity number (metrics.json, information only: the pipeline measures the model
itself on a holdout this program never sees), converts the pipeline to ONNX with skl2onnx and writes:

  model.onnx               the converted pipeline, zipmap off (plain label and probability tensors)
  signature.json           which ONNX input each schema column feeds, and which outputs to read
  metrics.json             what this program measured on the rows it held out itself
  check_predictions.jsonl  scikit-learn's own answers for the rows of MLOPS_CHECK_DATA, in order

Why GradientBoostingClassifier and not HistGradientBoostingClassifier: with skl2onnx 1.20.0 the latter
fails to convert ("Unable to create node 'TreeEnsembleClassifier'").

Parameters (params.json) go to GradientBoostingClassifier, e.g. {"n_estimators": 50, "max_depth": 3}.
"""
import json
import os

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def progress(fraction):
    print(f'PROGRESS {fraction:.2f}', flush=True)


def features_frame(rows, schema):
    """The feature columns as the ONNX model will get them: numbers as float64 (missing = NaN), text (missing = '')."""
    types = {c['name']: c['type'] for c in schema['columns']}
    frame = pd.DataFrame(index=rows.index)
    for name in schema['features']:
        values = rows[name] if name in rows else pd.Series(None, index=rows.index, dtype=object)
        if types[name] == 'categorical':
            frame[name] = values.map(lambda v: '' if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype(object)
        else:
            frame[name] = pd.to_numeric(values, errors='coerce').astype('float64')
    return frame


def read_rows(path):
    return pd.read_json(path, lines=True, dtype=False) if os.path.getsize(path) > 0 else pd.DataFrame()


def main():
    with open(os.environ['MLOPS_SCHEMA']) as f:
        schema = json.load(f)
    with open(os.environ['MLOPS_PARAMS']) as f:
        params = json.load(f)
    out = os.environ['MLOPS_OUTPUT_DIR']
    seed = int(os.environ['MLOPS_SEED'])
    target, features = schema['target'], schema['features']
    types = {c['name']: c['type'] for c in schema['columns']}
    if schema['task'] != 'classification':
        raise SystemExit('this example trains a classifier; see examples/python-regression for a regressor')
    categorical = [f for f in features if types[f] == 'categorical']
    numeric = [f for f in features if types[f] != 'categorical']
    if any(types[f] == 'datetime' for f in features):
        raise SystemExit('datetime features are not handled by this example')

    rows = read_rows(os.environ['MLOPS_TRAIN_DATA'])
    rows = rows[rows[target].notna()]
    X, y = features_frame(rows, schema), rows[target].astype(str)
    progress(0.1)

    model = Pipeline([
        ('columns', ColumnTransformer([
            ('numeric', SimpleImputer(strategy='median'), numeric),
            ('categorical', OneHotEncoder(handle_unknown='ignore'), categorical),
        ])),
        ('classifier', GradientBoostingClassifier(random_state=seed, **params)),
    ])
    # Our own held-out numbers, carved out of the training rows: information for the model card, never a gate.
    X_fit, X_own, y_fit, y_own = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    model.fit(X_fit, y_fit)
    metrics = {'accuracy': accuracy_score(y_own, model.predict(X_own)), 'logLoss': log_loss(y_own, model.predict_proba(X_own), labels=model.classes_)}
    progress(0.5)
    model.fit(X, y)
    progress(0.8)

    # One ONNX input per column, shape [rows, 1], typed as the contract feeds them.
    initial_types = [(f, StringTensorType([None, 1]) if f in categorical else FloatTensorType([None, 1])) for f in features]
    onx = to_onnx(model, initial_types=initial_types, options={id(model): {'zipmap': False}}, target_opset={'': 17, 'ai.onnx.ml': 3})
    with open(os.path.join(out, 'model.onnx'), 'wb') as f:
        f.write(onx.SerializeToString())

    # skl2onnx renames inputs ('Beak Length (mm)' becomes 'Beak_Length__mm_'): read the names from the graph, in order.
    graph_inputs = [i.name for i in onx.graph.input]
    signature = {
        'inputs': [{'column': f, 'name': graph_inputs[k], 'type': 'string' if f in categorical else 'float'} for k, f in enumerate(features)],
        'outputs': {'label': onx.graph.output[0].name, 'probabilities': onx.graph.output[1].name},
        'classes': [str(c) for c in model.classes_],
    }
    with open(os.path.join(out, 'signature.json'), 'w') as f:
        json.dump(signature, f, indent=2)
    with open(os.path.join(out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)

    check = features_frame(read_rows(os.environ['MLOPS_CHECK_DATA']), schema)
    with open(os.path.join(out, 'check_predictions.jsonl'), 'w') as f:
        if len(check) > 0:
            for label, probabilities in zip(model.predict(check), model.predict_proba(check)):
                f.write(json.dumps({'label': str(label), 'probabilities': [float(p) for p in probabilities]}) + '\n')
    progress(1.0)


if __name__ == '__main__':
    main()
