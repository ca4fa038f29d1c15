#!/usr/bin/env python3
"""Times scikit-learn on a table written by src/bench/ml-train.ts, for the trainer benchmark.

    python bench_trainers.py --dir DIR --estimator gbdt|logistic-regression

DIR holds meta.json ({"rows", "features", "trainRows", "params"}), X.f64 (rows × features, row-major
little-endian float64) and y.u8 (one class label, 0 or 1, per row). The first trainRows rows train, the
rest score. Prints one JSON line: {"fitSeconds", "accuracy", "iterations"}, plus "bareFitSeconds" (the
classifier alone, without the preprocessing our trainer also does) for logistic-regression.
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
        # Our logistic-regression imputes missing values with the median and standardises its inputs
        # itself, so scikit-learn does the same work here.
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        est = make_pipeline(SimpleImputer(strategy='median'), StandardScaler(),
                            LogisticRegression(C=p['C'], max_iter=p['maxIter'], tol=p['tol']))
        X_fit = X[:m]
    start = time.perf_counter()
    est.fit(X_fit, y[:m])
    seconds = time.perf_counter() - start
    accuracy = float((est.predict(X[m:]) == y[m:]).mean())
    iterations = int(np.max(est[-1].n_iter_ if hasattr(est, 'steps') else est.n_iter_))
    result = {'fitSeconds': seconds, 'accuracy': accuracy, 'iterations': iterations}
    if hasattr(est, 'steps'):
        # The classifier alone, on the raw inputs, for reference.
        bare = est[-1]
        start = time.perf_counter()
        bare.fit(X_fit, y[:m])
        result['bareFitSeconds'] = time.perf_counter() - start
    print(json.dumps(result))


if __name__ == '__main__':
    main()
