#!/usr/bin/env python3
"""Times scikit-learn on a table written by src/bench/ml-train.ts, for the trainer benchmark.

    python bench_trainers.py --dir DIR --estimator gbdt|logistic-regression

DIR holds meta.json ({"rows", "features", "trainRows", "params"}), X.f64 (rows × features, row-major
little-endian float64) and y.u8 (one class label, 0 or 1, per row). The first trainRows rows train, the
rest score. Prints one JSON line: {"fitSeconds", "accuracy", "iterations"}.
"""
import argparse
import json
import os
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--dir', required=True)
    parser.add_argument('--estimator', required=True, choices=['gbdt', 'logistic-regression'])
    args = parser.parse_args()
    with open(os.path.join(args.dir, 'meta.json')) as f:
        meta = json.load(f)
    n, d, m = meta['rows'], meta['features'], meta['trainRows']
    X = np.fromfile(os.path.join(args.dir, 'X.f64'), dtype='<f8').reshape(n, d)
    y = np.fromfile(os.path.join(args.dir, 'y.u8'), dtype=np.uint8)
    p = meta['params']
    if args.estimator == 'gbdt':
        from sklearn.ensemble import HistGradientBoostingClassifier
        est = HistGradientBoostingClassifier(
            learning_rate=p['learningRate'], max_iter=p['maxIter'], max_leaf_nodes=p['maxLeafNodes'],
            min_samples_leaf=p['minSamplesLeaf'], l2_regularization=p['l2Regularization'], max_bins=p['maxBins'],
            early_stopping=p['earlyStopping'], validation_fraction=p['validationFraction'],
            n_iter_no_change=p['nIterNoChange'], tol=p['tol'], random_state=0)
        X_fit = X[:m]
    else:
        from sklearn.linear_model import LogisticRegression
        est = LogisticRegression(C=p['C'], max_iter=p['maxIter'], tol=p['tol'])
        X_fit = X[:m]
    start = time.perf_counter()
    est.fit(X_fit, y[:m])
    seconds = time.perf_counter() - start
    accuracy = float((est.predict(X[m:]) == y[m:]).mean())
    iterations = int(np.max(est.n_iter_))
    print(json.dumps({'fitSeconds': seconds, 'accuracy': accuracy, 'iterations': iterations}))


if __name__ == '__main__':
    main()
