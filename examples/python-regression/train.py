#!/usr/bin/env python3
"""A scikit-learn regressor for temporal-mlops, under contract v2 (docs/external-trainers.md, docs/python-models.md).

It fits Pipeline(ColumnTransformer(median imputer for numeric columns, one-hot for categorical ones),
GradientBoostingRegressor) on the training rows it is given, with its own held-out numbers on a fifth of them
(metrics.json, information only: the pipeline measures the model itself on a holdout this program never sees),
converts the pipeline to ONNX with skl2onnx and writes model.onnx, signature.json, metrics.json and
check_predictions.jsonl ({"value": ...} per check row).

Parameters (params.json) go to GradientBoostingRegressor, e.g. {"n_estimators": 100, "max_depth": 3}.
"""
import json
import os

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def progress(fraction):
    print(f'PROGRESS {fraction:.2f}', flush=True)


def read_rows(path):
    return pd.read_json(path, lines=True, dtype=False) if os.path.getsize(path) > 0 else pd.DataFrame()


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


def main():
    with open(os.environ['MLOPS_SCHEMA']) as f:
        schema = json.load(f)
    with open(os.environ['MLOPS_PARAMS']) as f:
        params = json.load(f)
    out = os.environ['MLOPS_OUTPUT_DIR']
    seed = int(os.environ['MLOPS_SEED'])
    target, features = schema['target'], schema['features']
    types = {c['name']: c['type'] for c in schema['columns']}
    if schema['task'] != 'regression':
        raise SystemExit('this example trains a regressor; see examples/python-sklearn for a classifier')
    if any(types[f] == 'datetime' for f in features):
        raise SystemExit('datetime features are not handled by this example')
    categorical = [f for f in features if types[f] == 'categorical']
    numeric = [f for f in features if types[f] != 'categorical']

    rows = read_rows(os.environ['MLOPS_TRAIN_DATA'])
    rows = rows[rows[target].notna()]
    X, y = features_frame(rows, schema), pd.to_numeric(rows[target]).astype('float64')
    progress(0.1)

    model = Pipeline([
        ('columns', ColumnTransformer([
            ('numeric', SimpleImputer(strategy='median'), numeric),
            ('categorical', OneHotEncoder(handle_unknown='ignore'), categorical),
        ])),
        ('regressor', GradientBoostingRegressor(random_state=seed, **params)),
    ])
    # Our own held-out numbers, carved out of the training rows: information for the model card, never a gate.
    X_fit, X_own, y_fit, y_own = train_test_split(X, y, test_size=0.2, random_state=seed)
    model.fit(X_fit, y_fit)
    predicted = model.predict(X_own)
    metrics = {'rmse': float(np.sqrt(mean_squared_error(y_own, predicted))), 'mae': mean_absolute_error(y_own, predicted), 'r2': r2_score(y_own, predicted)}
    progress(0.5)
    model.fit(X, y)
    progress(0.8)

    # One ONNX input per column, shape [rows, 1]; skl2onnx may rename them, so the signature reads the graph's names.
    initial_types = [(f, StringTensorType([None, 1]) if f in categorical else FloatTensorType([None, 1])) for f in features]
    onx = to_onnx(model, initial_types=initial_types, target_opset={'': 17, 'ai.onnx.ml': 3})
    with open(os.path.join(out, 'model.onnx'), 'wb') as f:
        f.write(onx.SerializeToString())
    graph_inputs = [i.name for i in onx.graph.input]
    signature = {
        'inputs': [{'column': f, 'name': graph_inputs[k], 'type': 'string' if f in categorical else 'float'} for k, f in enumerate(features)],
        'outputs': {'value': onx.graph.output[0].name},
    }
    with open(os.path.join(out, 'signature.json'), 'w') as f:
        json.dump(signature, f, indent=2)
    with open(os.path.join(out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)

    check = features_frame(read_rows(os.environ['MLOPS_CHECK_DATA']), schema)
    with open(os.path.join(out, 'check_predictions.jsonl'), 'w') as f:
        if len(check) > 0:
            for value in model.predict(check):
                f.write(json.dumps({'value': float(value)}) + '\n')
    progress(1.0)


if __name__ == '__main__':
    main()
