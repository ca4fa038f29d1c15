#!/usr/bin/env python3
"""An external trainer for temporal-mlops, following docs/external-trainers.md.

Reads the training (and optional validation) CSV or JSON lines, the schema and the parameters from the paths in
MLOPS_* environment variables, fits a scikit-learn pipeline, and writes model.joblib and metrics.json to
MLOPS_OUTPUT_DIR, printing PROGRESS lines as it goes.

Parameters (params.json):
  estimator   "hist-gradient-boosting" (default) or "logistic-regression"
  any other key is passed to the estimator, e.g. {"max_iter": 200, "learning_rate": 0.05} or {"C": 0.5}
"""
import json
import os
import sys

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def progress(fraction):
    print(f'PROGRESS {fraction:.3f}', flush=True)


def load(path, schema):
    types = {c['name']: c['type'] for c in schema['columns']}
    frame = pd.read_json(path, lines=True) if path.endswith(('.jsonl', '.ndjson')) else pd.read_csv(path)
    for name in schema['features']:
        if types[name] == 'datetime':
            # Epoch seconds: a plain number every estimator can use.
            frame[name] = pd.to_datetime(frame[name], utc=True).astype('int64') / 1e9
        elif types[name] == 'boolean':
            frame[name] = frame[name].map({True: 1.0, False: 0.0, 'true': 1.0, 'false': 0.0, 1: 1.0, 0: 0.0})
    return frame


def build(schema, params):
    params = dict(params)
    name = params.pop('estimator', 'hist-gradient-boosting')
    types = {c['name']: c['type'] for c in schema['columns']}
    categorical = [f for f in schema['features'] if types[f] == 'categorical']
    numeric = [f for f in schema['features'] if types[f] != 'categorical']
    classify = schema['task'] == 'classification'
    seed = int(os.environ.get('MLOPS_SEED', '0'))
    if name == 'logistic-regression':
        if not classify:
            sys.exit('logistic-regression needs a classification task')
        estimator = LogisticRegression(**params)
    elif name == 'hist-gradient-boosting':
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        estimator = cls(random_state=seed, **params)
    else:
        sys.exit(f'unknown estimator {name!r}: use hist-gradient-boosting or logistic-regression')
    transformers = [('numeric', make_pipeline(SimpleImputer(strategy='median'), StandardScaler()), numeric)]
    if categorical:
        transformers.append(('categorical', make_pipeline(
            SimpleImputer(strategy='constant', fill_value='(missing)'),
            OneHotEncoder(handle_unknown='ignore')), categorical))
    return make_pipeline(ColumnTransformer(transformers), estimator), classify


def main():
    with open(os.environ['MLOPS_SCHEMA']) as f:
        schema = json.load(f)
    with open(os.environ['MLOPS_PARAMS']) as f:
        params = json.load(f)
    out = os.environ['MLOPS_OUTPUT_DIR']
    target = schema['target']
    progress(0.0)

    train = load(os.environ['MLOPS_TRAIN_DATA'], schema)
    train = train[train[target].notna()]
    validation_path = os.environ.get('MLOPS_VALIDATION_DATA') or ''
    validation = load(validation_path, schema) if validation_path else None
    print(f'read {len(train)} training rows', file=sys.stderr)
    progress(0.2)

    model, classify = build(schema, params)
    X, y = train[schema['features']], train[target]
    if classify:
        y = y.astype(str)
    model.fit(X, y)
    progress(0.8)

    metrics = {'trainRows': float(len(train))}
    scored = [('train', train)] + ([('validation', validation[validation[target].notna()])] if validation is not None else [])
    for name, frame in scored:
        Xs, ys = frame[schema['features']], frame[target]
        predicted = model.predict(Xs)
        if classify:
            metrics[f'{name}Accuracy'] = float(accuracy_score(ys.astype(str), predicted))
        else:
            metrics[f'{name}Rmse'] = float(np.sqrt(mean_squared_error(ys, predicted)))
            metrics[f'{name}R2'] = float(r2_score(ys, predicted))

    joblib.dump(model, os.path.join(out, 'model.joblib'))
    with open(os.path.join(out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=2)
    progress(1.0)


if __name__ == '__main__':
    main()
