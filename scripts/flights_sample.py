#!/usr/bin/env python3
"""Samples rows of vega-datasets' flights-3m.parquet into Parquet files, for benchmarks and scale tests.

    python scripts/flights_sample.py --rows 1000000 --holdout-rows 200000 --seed 7 --out-dir DIR
    python scripts/flights_sample.py --rows 10000000 --with-replacement --seed 7 --out-dir DIR

Writes DIR/train.parquet (--rows rows) and, with --holdout-rows, DIR/holdout.parquet: without replacement the
two are disjoint sets of the file's rows; with replacement (for sizes beyond the file's 3M rows) rows are
drawn independently, and the holdout too. The columns are the file's (date, delay, distance, origin,
destination), in the sampled order. Needs pandas and pyarrow (the pinned environment of src/dev/python.ts).
"""
import argparse
import os

import numpy as np
import pyarrow.parquet as pq

DEFAULT_SOURCE = os.path.join(os.path.dirname(__file__), '..', 'node_modules', 'vega-datasets', 'data', 'flights-3m.parquet')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--source', default=DEFAULT_SOURCE)
    parser.add_argument('--rows', type=int, required=True)
    parser.add_argument('--holdout-rows', type=int, default=0)
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--with-replacement', action='store_true')
    parser.add_argument('--out-dir', required=True)
    args = parser.parse_args()
    table = pq.read_table(args.source)
    n = table.num_rows
    rng = np.random.default_rng(args.seed)
    wanted = args.rows + args.holdout_rows
    if args.with_replacement:
        picked = rng.integers(0, n, size=wanted)
    else:
        if wanted > n:
            parser.error(f'{wanted} rows asked without replacement, but the file has {n}; pass --with-replacement')
        picked = rng.permutation(n)[:wanted]
    os.makedirs(args.out_dir, exist_ok=True)
    pq.write_table(table.take(picked[:args.rows]), os.path.join(args.out_dir, 'train.parquet'), compression='zstd')
    if args.holdout_rows:
        pq.write_table(table.take(picked[args.rows:]), os.path.join(args.out_dir, 'holdout.parquet'), compression='zstd')


if __name__ == '__main__':
    main()
