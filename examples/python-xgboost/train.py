#!/usr/bin/env python3
"""An XGBoost trainer for temporal-mlops, under contract v2 (docs/external-trainers.md, docs/python-models.md).

It chooses the number of trees of an XGBClassifier by early stopping on a fifth of the training rows that it holds
out itself (its numbers there go to metrics.json as information; the pipeline measures the model itself on a
holdout this program never sees), refits on every training row, converts the booster to ONNX with onnxmltools,
and writes model.onnx, signature.json, metrics.json and check_predictions.jsonl.

Features must be numeric: XGBoost is given them as one float matrix, missing values as NaN (XGBoost's own
missing-value branches, kept by the converter). The ONNX graph takes one [rows, 1] input per column, as the
contract feeds them; a small Concat in front of the converted booster puts them side by side.

Parameters (params.json) go to XGBClassifier, e.g. {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1}.
"""
import json
import os
import re

import numpy as np
import pandas as pd
from onnx import TensorProto, compose, helper
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier

# The highest opset onnxmltools 1.16 converts XGBoost to.
OPSET = 15


def progress(fraction):
    print(f'PROGRESS {fraction:.2f}', flush=True)


def read_rows(path):
    return pd.read_json(path, lines=True, dtype=False) if os.path.getsize(path) > 0 else pd.DataFrame()


def matrix(rows, features):
    """The features as float32, missing as NaN: what the ONNX model gets, so both answer the same."""
    columns = [pd.to_numeric(rows[f], errors='coerce') if f in rows else pd.Series(np.nan, index=rows.index) for f in features]
    return np.column_stack(columns).astype(np.float32) if len(rows) > 0 else np.zeros((0, len(features)), np.float32)


def input_name(column):
    """An ONNX input name for a column (any text works in ONNX; plain identifiers are easier to read elsewhere)."""
    return re.sub(r'[^A-Za-z0-9_]', '_', column)


def with_column_inputs(model, features, feed):
    """Puts a Concat of one [rows, 1] input per feature in front of a graph that takes one [rows, features] input."""
    names = [input_name(f) for f in features]
    concat = helper.make_graph(
        [helper.make_node('Concat', names, ['columns'], axis=1)],
        'columns',
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in names],
        [helper.make_tensor_value_info('columns', TensorProto.FLOAT, [None, len(names)])],
    )
    if not any(o.domain in ('', 'ai.onnx') for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid('', OPSET))
    front = helper.make_model(concat, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return compose.merge_models(front, model, io_map=[('columns', feed)]), names


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
    not_numeric = [f for f in features if types[f] not in ('numeric', 'boolean')]
    if not_numeric:
        raise SystemExit(f'this example takes numeric features only; not numeric: {", ".join(not_numeric)}')

    rows = read_rows(os.environ['MLOPS_TRAIN_DATA'])
    rows = rows[rows[target].notna()]
    classes = sorted(rows[target].astype(str).unique())
    X, y = matrix(rows, features), rows[target].astype(str).map(classes.index).to_numpy()
    progress(0.1)

    # Early stopping on rows this program holds out itself, carved out of the training rows.
    X_fit, X_own, y_fit, y_own = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    options = {'n_estimators': 200, 'max_depth': 4, 'learning_rate': 0.1, **params}
    model = XGBClassifier(random_state=seed, early_stopping_rounds=20, eval_metric='mlogloss', **options)
    model.fit(X_fit, y_fit, eval_set=[(X_own, y_own)], verbose=False)
    own = model.predict_proba(X_own)
    metrics = {
        'accuracy': accuracy_score(y_own, own.argmax(axis=1)),
        'logLoss': log_loss(y_own, own, labels=list(range(len(classes)))),
        'trees': int(model.best_iteration) + 1,
    }
    progress(0.6)
    # Refit on every training row with the number of trees early stopping chose: the converter writes every tree
    # of the booster, so the booster must hold exactly the trees that predict.
    options['n_estimators'] = int(model.best_iteration) + 1
    model = XGBClassifier(random_state=seed, **options).fit(X, y)
    progress(0.8)

    booster = convert_xgboost(model, initial_types=[('features', FloatTensorType([None, len(features)]))], target_opset=OPSET)
    onx, names = with_column_inputs(booster, features, 'features')
    with open(os.path.join(out, 'model.onnx'), 'wb') as f:
        f.write(onx.SerializeToString())
    # The label output is the index of the class (int64); `classes` says which class each index is.
    signature = {
        'inputs': [{'column': f, 'name': n, 'type': 'float'} for f, n in zip(features, names)],
        'outputs': {'label': 'label', 'probabilities': 'probabilities'},
        'classes': classes,
    }
    with open(os.path.join(out, 'signature.json'), 'w') as f:
        json.dump(signature, f, indent=2)
    with open(os.path.join(out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)

    check = matrix(read_rows(os.environ['MLOPS_CHECK_DATA']), features)
    with open(os.path.join(out, 'check_predictions.jsonl'), 'w') as f:
        if len(check) > 0:
            for probabilities in model.predict_proba(check):
                f.write(json.dumps({'label': classes[int(np.argmax(probabilities))], 'probabilities': [float(p) for p in probabilities]}) + '\n')
    progress(1.0)


if __name__ == '__main__':
    main()
