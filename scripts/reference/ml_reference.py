#!/usr/bin/env python3
"""Computes the reference numbers the ML core is tested against, with scikit-learn, scipy, numpy and pandas.

Run with the reference virtualenv (kept outside the repository):

    python3 -m venv ~/.cache/temporal-mlops/refvenv
    ~/.cache/temporal-mlops/refvenv/bin/pip install numpy scipy scikit-learn pandas
    ~/.cache/temporal-mlops/refvenv/bin/python scripts/reference/ml_reference.py > test/fixtures/ml-reference.json

Test data is generated exactly as test/helpers/ml-data.ts generates it (mulberry32 uniforms and
Irwin-Hall normals use only + and *, so both languages produce identical doubles). Tests read only
the JSON this prints; they never need Python.
"""
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import scipy
import sklearn
from scipy import stats
from sklearn import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEATTLE = os.path.join(ROOT, "examples", "data", "seattle-weather.csv")
QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
PSI_EPSILON = 1e-4


# ---------------------------------------------------------------- data generation (mirrors ml-data.ts)
class Mulberry32:
    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296


def uniforms(seed, n):
    rng = Mulberry32(seed)
    return np.array([rng.next() for _ in range(n)])


def normals(seed, n, mean=0.0, sd=1.0):
    rng = Mulberry32(seed)
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for _ in range(12):
            s += rng.next()
        out[i] = (s - 6) * sd + mean
    return out


def round_to(x, digits):
    f = 10.0 ** digits
    return np.floor(x * f + 0.5) / f


def binary_case():
    u = uniforms(101, 400)
    y = (u[0::2] < 0.4).astype(int)
    scores = np.array([round_to(0.3 * y[i] + 0.7 * u[2 * i + 1], 2) for i in range(200)])
    return y, scores


def multiclass_case():
    labels = ["bird", "cat", "dog"]
    u = uniforms(202, 1200)
    y, proba = [], []
    for i in range(300):
        c = int(math.floor(u[4 * i] * 3))
        y.append(labels[c])
        w = [u[4 * i + 1 + k] + (0.8 if k == c else 0.0) for k in range(3)]
        s = w[0] + w[1] + w[2]
        proba.append([x / s for x in w])
    return np.array(y), np.array(proba), labels


def regression_case():
    a = normals(303, 250, 10, 3)
    noise = normals(304, 250, 0, 1)
    return a, 0.9 * a + 1 + noise


def categories(seed, n, cuts, names):
    out = []
    for x in uniforms(seed, n):
        for k, c in enumerate(cuts):
            if x < c:
                out.append(names[k])
                break
        else:
            out.append(names[-1])
    return out


def drift_cases():
    r1 = lambda a: round_to(a, 1)
    return {
        "exactUnequal": (normals(11, 5000), normals(12, 4000, 0.1, 1.1)),
        "asymptotic": (normals(21, 20000), normals(22, 15000, 0.02, 1)),
        "equalSizes": (normals(31, 1000), normals(32, 1000, 0.1, 1)),
        "ties": (r1(normals(41, 3000)), r1(normals(42, 2500, 0.05, 1))),
        "small": (normals(51, 30), normals(52, 45, 0.5, 1)),
        "asymptoticSmallEffective": (normals(61, 50000), normals(62, 60, 0.3, 1)),
    }


# ---------------------------------------------------------------- reference computations
def quantile_bins(x, bins=10):
    """Profile histogram: unique quantile edges at 0, 1/bins, ..., 1 and numpy.histogram counts."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        return edges, np.array([len(x)])
    counts, _ = np.histogram(x, bins=edges)
    return edges, counts


def psi_numeric(ref, cur, bins=10):
    """PSI over the reference's quantile bins, end bins open to +-inf, proportions floored at 1e-4."""
    edges, ref_counts = quantile_bins(ref, bins)
    if len(edges) == 1:
        v = edges[0]
        ref_counts = np.array([0, len(ref), 0])
        cur_counts = np.array([(cur < v).sum(), (cur == v).sum(), (cur > v).sum()])
    else:
        idx = np.searchsorted(edges[1:-1], cur, side="right")
        cur_counts = np.bincount(idx, minlength=len(edges) - 1)
    return psi_counts(ref_counts, cur_counts)


def psi_counts(ref_counts, cur_counts):
    p = np.maximum(ref_counts / ref_counts.sum(), PSI_EPSILON)
    q = np.maximum(cur_counts / cur_counts.sum(), PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_profile(x):
    x = x[~np.isnan(x)]
    edges, counts = quantile_bins(x)
    return {
        "count": int(len(x)),
        "mean": float(np.mean(x)),
        "std": float(np.std(x)),
        "min": float(np.min(x)),
        "max": float(np.max(x)),
        "quantiles": {f"p{round(q * 100)}": float(np.quantile(x, q)) for q in QUANTILES},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def seattle():
    df = pd.read_csv(SEATTLE)
    out = {"rowCount": int(len(df)), "numeric": {}, "categorical": {}}
    for col in ["precipitation", "temp_max", "temp_min", "wind"]:
        out["numeric"][col] = numeric_profile(df[col].to_numpy(dtype=float))
    dates = pd.to_datetime(df["date"], utc=True)
    epoch_ms = (dates - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)
    out["numeric"]["date"] = numeric_profile(epoch_ms.to_numpy(dtype=float))
    vc = df["weather"].value_counts()
    out["categorical"]["weather"] = {str(k): int(v) for k, v in vc.items()}
    return out


def metric_cases():
    y, scores = binary_case()
    pred = (scores >= 0.5).astype(int)
    proba2 = np.column_stack([1 - scores, scores])
    binary = {
        "accuracy": metrics.accuracy_score(y, pred),
        "balancedAccuracy": metrics.balanced_accuracy_score(y, pred),
        "macroF1": metrics.f1_score(y, pred, average="macro"),
        "logLoss": metrics.log_loss(y, scores),
        "logLoss2d": metrics.log_loss(y, proba2),
        "rocAuc": metrics.roc_auc_score(y, scores),
        "confusionMatrix": metrics.confusion_matrix(y, pred).tolist(),
    }
    ym, proba, labels = multiclass_case()
    predm = np.array(labels)[np.argmax(proba, axis=1)]
    multiclass = {
        "accuracy": metrics.accuracy_score(ym, predm),
        "balancedAccuracy": metrics.balanced_accuracy_score(ym, predm),
        "macroF1": metrics.f1_score(ym, predm, average="macro"),
        "logLoss": metrics.log_loss(ym, proba, labels=labels),
        "rocAucOvr": metrics.roc_auc_score(ym, proba, multi_class="ovr", average="macro", labels=labels),
        "confusionMatrix": metrics.confusion_matrix(ym, predm, labels=labels).tolist(),
    }
    yt, yp = regression_case()
    regression = {
        "rmse": metrics.root_mean_squared_error(yt, yp),
        "mae": metrics.mean_absolute_error(yt, yp),
        "r2": metrics.r2_score(yt, yp),
    }
    edge = {
        # a class only in the predictions: left out of balanced accuracy, scores 0 in macro F1
        "predOnlyClass": {
            "yTrue": [0, 0, 1, 1, 1],
            "yPred": [0, 2, 1, 1, 0],
            "balancedAccuracy": metrics.balanced_accuracy_score([0, 0, 1, 1, 1], [0, 2, 1, 1, 0]),
            "macroF1": metrics.f1_score([0, 0, 1, 1, 1], [0, 2, 1, 1, 0], average="macro"),
        },
        # probabilities of exactly 0 and 1 are clipped to [eps, 1 - eps]
        "logLossClipped": {
            "yTrue": [1, 0, 1],
            "proba": [1.0, 1.0, 0.0],
            "value": metrics.log_loss([1, 0, 1], [1.0, 1.0, 0.0]),
        },
        # all scores tied: AUC one half
        "aucAllTied": {"yTrue": [0, 1, 0, 1], "scores": [0.5, 0.5, 0.5, 0.5], "value": metrics.roc_auc_score([0, 1, 0, 1], [0.5] * 4)},
        "r2ConstantPerfect": metrics.r2_score([3.0, 3.0, 3.0], [3.0, 3.0, 3.0]),
        "r2ConstantImperfect": metrics.r2_score([3.0, 3.0, 3.0], [3.0, 2.0, 3.0]),
    }
    return {"binary": binary, "multiclass": multiclass, "regression": regression, "edge": edge}


def drift():
    out = {"numeric": {}, "categorical": {}}
    for name, (ref, cur) in drift_cases().items():
        ks = stats.ks_2samp(ref, cur)  # method='auto'
        ks_asymp = stats.ks_2samp(ref, cur, method="asymp")
        out["numeric"][name] = {
            "n1": len(ref),
            "n2": len(cur),
            "ksStatistic": float(ks.statistic),
            "ksPValue": float(ks.pvalue),
            "ksAsympPValue": float(ks_asymp.pvalue),
            "wasserstein": float(stats.wasserstein_distance(ref, cur)),
            "psi": psi_numeric(ref, cur),
        }
    ref = categories(71, 3000, [0.5, 0.8], ["a", "b", "c"])
    cur = categories(72, 2000, [0.45, 0.75, 0.97], ["a", "b", "c", "d"])
    cats = ["a", "b", "c", "d"]
    rc = np.array([ref.count(c) for c in cats])
    cc = np.array([cur.count(c) for c in cats])
    chi = stats.chi2_contingency(np.array([rc, cc]), correction=False)
    out["categorical"] = {
        "psi": psi_counts(rc, cc),
        "chiSquare": {"statistic": float(chi.statistic), "pValue": float(chi.pvalue), "dof": int(chi.dof)},
    }
    return out


def special():
    kstwo = []
    for n in [1, 2, 5, 10, 50, 100, 140, 141, 500, 1000, 5000, 20000, 100000, 200000, 1500000]:
        for x in [0.001, 0.004, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.45, 0.5, 0.6, 0.9, 0.999]:
            kstwo.append([n, x, float(stats.kstwo.sf(x, n))])
    chi2 = []
    for k in [1, 2, 3, 10, 50, 500]:
        for x in [0.01, 0.5, 1, 3, 10, 50, 200, 1000, 5000]:
            chi2.append([k, x, float(stats.chi2.sf(x, k))])
    return {"kstwoSf": kstwo, "chi2Sf": chi2}


def main():
    result = {
        "generatedBy": "scripts/reference/ml_reference.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__, "pandas": pd.__version__},
        "seattle": seattle(),
        "metrics": metric_cases(),
        "drift": drift(),
        "special": special(),
    }
    json.dump(result, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
