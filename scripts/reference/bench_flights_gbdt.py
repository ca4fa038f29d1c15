#!/usr/bin/env python3
"""The flights task for the gbdt benchmark of the data suite (src/bench/data-gbdt.ts), in two steps.

    python bench_flights_gbdt.py prepare --dir DIR
    python bench_flights_gbdt.py fit --dir DIR --params JSON

DIR holds train.parquet and holdout.parquet (scripts/flights_sample.py). `prepare` derives the task from them,
label delayed = delay > 15, features hour (with minutes as a fraction), dayOfWeek (Monday 0), dayOfYear,
distance, origin and destination, and writes it for the Node side: DIR/table/meta.json (row counts, numeric
feature names, each categorical feature's categories in either split) and one little-endian file per split
and column: `<split>.<name>.f64` for numbers, `<split>.<name>.u16` for category codes (index into those
categories), `<split>.y.u8` for the label.

`fit` times scikit-learn's HistGradientBoostingClassifier on the same rows with origin and destination as
native categories (pandas category dtype) and the given settings (our parameter names), and prints one
JSON line: {"fitSeconds", "auc", "iterations", "peakRssMb", "rssBeforeFitMb"}.
"""
import argparse
import json
import os
import resource
import time

import numpy as np
import pandas as pd

NUMERIC = ['hour', 'dayOfWeek', 'dayOfYear', 'distance']
CATEGORICAL = ['origin', 'destination']


def task(df):
    date = df['date']
    out = pd.DataFrame({
        'hour': date.dt.hour + date.dt.minute / 60.0,
        'dayOfWeek': date.dt.day_of_week.astype('float64'),
        'dayOfYear': date.dt.day_of_year.astype('float64'),
        'distance': df['distance'].astype('float64'),
        'origin': df['origin'].astype(str),
        'destination': df['destination'].astype(str),
    })
    return out, (df['delay'] > 15).to_numpy(dtype=np.uint8)


def read(dir_, split):
    return task(pd.read_parquet(os.path.join(dir_, f'{split}.parquet')))


def prepare(dir_):
    out = os.path.join(dir_, 'table')
    os.makedirs(out, exist_ok=True)
    (train, y_train), (holdout, y_holdout) = read(dir_, 'train'), read(dir_, 'holdout')
    categories = {c: sorted(set(train[c].unique()) | set(holdout[c].unique())) for c in CATEGORICAL}
    for split, X, y in (('train', train, y_train), ('holdout', holdout, y_holdout)):
        for c in NUMERIC:
            X[c].to_numpy(dtype='<f8').tofile(os.path.join(out, f'{split}.{c}.f64'))
        for c in CATEGORICAL:
            pd.Categorical(X[c], categories=categories[c]).codes.astype('<u2').tofile(os.path.join(out, f'{split}.{c}.u16'))
        y.tofile(os.path.join(out, f'{split}.y.u8'))
    meta = {'trainRows': len(train), 'holdoutRows': len(holdout), 'numeric': NUMERIC,
            'categorical': [{'name': c, 'categories': categories[c]} for c in CATEGORICAL]}
    with open(os.path.join(out, 'meta.json'), 'w') as f:
        json.dump(meta, f)


def rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def fit(dir_, p):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    (train, y_train), (holdout, y_holdout) = read(dir_, 'train'), read(dir_, 'holdout')
    for c in CATEGORICAL:
        train[c] = train[c].astype('category')
        # A category the training rows never had is missing to scikit-learn (it would refuse it otherwise).
        known = train[c].cat.categories
        holdout[c] = pd.Categorical(holdout[c].where(holdout[c].isin(known)), categories=known)
    est = HistGradientBoostingClassifier(
        learning_rate=p['learningRate'], max_iter=p['maxIter'], max_leaf_nodes=p['maxLeafNodes'],
        min_samples_leaf=p['minSamplesLeaf'], l2_regularization=p['l2Regularization'], max_bins=p['maxBins'],
        early_stopping=p['earlyStopping'], categorical_features='from_dtype', random_state=0)
    before = rss_mb()
    start = time.perf_counter()
    est.fit(train, y_train)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    auc = roc_auc_score(y_holdout, est.predict_proba(holdout)[:, 1])
    print(json.dumps({'fitSeconds': seconds, 'auc': float(auc), 'iterations': int(est.n_iter_), 'peakRssMb': peak, 'rssBeforeFitMb': before}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('step', choices=['prepare', 'fit'])
    parser.add_argument('--dir', required=True)
    parser.add_argument('--params', default='{}')
    args = parser.parse_args()
    if args.step == 'prepare':
        prepare(args.dir)
    else:
        fit(args.dir, json.loads(args.params))


if __name__ == '__main__':
    main()
