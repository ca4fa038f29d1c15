#!/usr/bin/env python3
"""Times scipy.stats.ks_2samp plus a numpy PSI over the reference's quantile bins, for src/bench/ml-data.ts.

Usage: bench_drift.py DIR FEATURES
DIR holds ref-K.f64 and cur-K.f64 (raw little-endian float64) for K in 0..FEATURES-1.
Prints JSON: {"seconds": total time of the statistics (not the file reads), "ks": [...], "psi": [...]}.
The PSI conventions match src/ml/drift.ts (see docs/drift.md).
"""
import json
import os
import sys
import time

import numpy as np
from scipy import stats

EPSILON = 1e-4


def psi(ref, cur, bins=10):
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    ref_counts, _ = np.histogram(ref, bins=edges)
    cur_counts = np.bincount(np.searchsorted(edges[1:-1], cur, side="right"), minlength=len(edges) - 1)
    p = np.maximum(ref_counts / ref_counts.sum(), EPSILON)
    q = np.maximum(cur_counts / cur_counts.sum(), EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def main():
    directory, features = sys.argv[1], int(sys.argv[2])
    data = [
        (np.fromfile(os.path.join(directory, f"ref-{k}.f64"), dtype="<f8"), np.fromfile(os.path.join(directory, f"cur-{k}.f64"), dtype="<f8"))
        for k in range(features)
    ]
    ks_results, psi_results = [], []
    start = time.perf_counter()
    for ref, cur in data:
        result = stats.ks_2samp(ref, cur)
        ks_results.append([float(result.statistic), float(result.pvalue)])
        psi_results.append(psi(ref, cur))
    seconds = time.perf_counter() - start
    json.dump({"seconds": seconds, "ks": ks_results, "psi": psi_results}, sys.stdout)


if __name__ == "__main__":
    main()
