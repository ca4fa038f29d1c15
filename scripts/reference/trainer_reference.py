#!/usr/bin/env python3
"""Reference results from scikit-learn for the built-in trainers, written to test/fixtures/trainer-reference.json.

Run with the reference venv (see docs/benchmarks.md):
    ~/.cache/temporal-mlops/refvenv/bin/python scripts/reference/trainer_reference.py

The split is fixed as row indices in the fixture, so the TypeScript tests train and score on exactly the
same rows. Date features are derived exactly as src/ml/preprocess.ts derives them.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DATA = os.path.join(ROOT, 'examples', 'data', 'seattle-weather.csv')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'trainer-reference.json')
NUMERIC = ['precipitation', 'temp_max', 'temp_min', 'wind']
SPLIT_SEED = 20240601
TEST_FRACTION = 0.2


def date_features(dates):
    """year + fraction of year, day of year and day of week on the unit circle, time of day (0 for dates)."""
    dates = pd.DatetimeIndex(pd.to_datetime(dates, utc=True))
    days_in_year = np.where(dates.is_leap_year, 366.0, 365.0)
    doy = dates.day_of_year.to_numpy() - 1
    dow = (dates.day_of_week.to_numpy() + 1) % 7  # Sunday = 0, as JavaScript's getUTCDay
    year_angle = 2 * np.pi * doy / days_in_year
    week_angle = 2 * np.pi * dow / 7
    day_angle = np.zeros(len(dates))
    return np.column_stack([
        dates.year.to_numpy() + doy / days_in_year,
        np.sin(year_angle), np.cos(year_angle),
        np.sin(week_angle), np.cos(week_angle),
        np.sin(day_angle), np.cos(day_angle),
    ])


def main():
    df = pd.read_csv(DATA)
    n = len(df)
    X = np.column_stack([df[NUMERIC].to_numpy(dtype=float), date_features(df['date'])])
    y = df['weather'].to_numpy()
    order = np.random.RandomState(SPLIT_SEED).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    test = np.sort(order[:n_test])
    train = np.sort(order[n_test:])

    lr = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=100))
    lr.fit(X[train], y[train])
    lr_acc = accuracy_score(y[test], lr.predict(X[test]))

    # Fitted to a tight tolerance, the optimum is unique: our probabilities must match these closely.
    tight = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=10_000, tol=1e-10))
    tight.fit(X[train], y[train])
    tight_proba = tight.predict_proba(X[test[:20]])

    binary_rows = np.isin(y, ['rain', 'sun'])
    btrain = train[binary_rows[train]]
    btest = test[binary_rows[test]]
    btight = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=10_000, tol=1e-10))
    btight.fit(X[btrain], y[btrain])
    btight_proba = btight.predict_proba(X[btest[:20]])

    hgb = HistGradientBoostingClassifier(random_state=0)
    hgb.fit(X[train], y[train])
    hgb_acc = accuracy_score(y[test], hgb.predict(X[test]))

    # Regression: temp_max from the other weather measurements and the date.
    reg_cols = [0, 2, 3] + list(range(4, X.shape[1]))
    Xr = X[:, reg_cols]
    yr = df['temp_max'].to_numpy(dtype=float)
    hgbr = HistGradientBoostingRegressor(random_state=0).fit(Xr[train], yr[train])
    hgbr_r2 = r2_score(yr[test], hgbr.predict(Xr[test]))

    fixture = {
        'generatedBy': 'scripts/reference/trainer_reference.py',
        'sklearnVersion': sklearn.__version__,
        'dataset': 'examples/data/seattle-weather.csv',
        'features': NUMERIC + ['date'],
        'target': 'weather',
        'split': {'seed': SPLIT_SEED, 'train': train.tolist(), 'test': test.tolist()},
        'classes': [str(c) for c in lr.classes_],
        'logisticRegression': {
            'estimator': 'make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=100))',
            'accuracy': lr_acc,
            'tight': {'C': 1.0, 'tol': 1e-10, 'rows': test[:20].tolist(), 'probabilities': tight_proba.tolist()},
            'binaryTight': {
                'classes': [str(c) for c in btight.classes_],
                'C': 0.5, 'tol': 1e-10,
                'trainRows': btrain.tolist(),
                'rows': btest[:20].tolist(),
                'probabilities': btight_proba.tolist(),
            },
        },
        'gbdt': {
            'estimator': 'HistGradientBoostingClassifier(random_state=0)',
            'accuracy': hgb_acc,
            'iterations': int(hgb.n_iter_),
        },
        'gbdtRegression': {
            'estimator': 'HistGradientBoostingRegressor(random_state=0)',
            'target': 'temp_max',
            'features': ['precipitation', 'temp_min', 'wind', 'date'],
            'r2': hgbr_r2,
        },
    }
    with open(OUT, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(json.dumps({'lr': lr_acc, 'hgb': hgb_acc, 'hgbr_r2': hgbr_r2}), file=sys.stderr)


if __name__ == '__main__':
    main()
