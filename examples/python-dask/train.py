#!/usr/bin/env python3
"""XGBoost on a Dask cluster, trained from remote data, for temporal-mlops (contract v2, docs/scaling.md).

The worker hands this program the training rows as Parquet parts in MinIO, each behind a presigned GET URL
(MLOPS_TRAIN_URIS). The rows never pass through this process: each part is downloaded, checked against its
sha256 and read by a Dask task on whichever cluster worker runs it, and xgboost.dask trains on the partitions
where they are.

The cluster is a LocalCluster started here (params `workers` and `threads_per_worker`, default 2 x 1), or the
scheduler at DASK_SCHEDULER_ADDRESS when that is set: any scheduler whose workers can reach MinIO and have
pyarrow and xgboost. Numeric features only, missing values as NaN, as examples/python-xgboost.

It chooses the number of trees by early stopping on a fifth of the training rows that it holds out itself (its
numbers there go to metrics.json as information; the pipeline measures the model on a holdout this program never
sees), keeps the trees up to the best round, converts the booster to ONNX with onnxmltools behind a Concat of
per-column inputs, and writes model.onnx, signature.json, metrics.json and check_predictions.jsonl.

Other params (params.json) go to XGBoost, e.g. {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1}.
"""
import hashlib
import io
import json
import os
import re
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xgboost as xgb
import xgboost.dask  # noqa: F401  (xgb.dask)
from dask import dataframe as dd
from distributed import Client, LocalCluster
from onnx import TensorProto, compose, helper
from onnxmltools import convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType

# The highest opset onnxmltools 1.16 converts XGBoost to.
OPSET = 15
PANDAS_TYPES = {'DOUBLE': 'float64', 'BOOLEAN': 'boolean', 'VARCHAR': 'string'}


def progress(fraction):
    print(f'PROGRESS {fraction:.2f}', flush=True)


def read_part(part):
    """Runs in a Dask worker: downloads one part from its presigned URL, checks its digest, returns its rows."""
    try:
        with urllib.request.urlopen(part['url'], timeout=300) as response:
            data = response.read()
    except urllib.error.HTTPError as e:
        # 403 is what MinIO answers once a presigned URL has expired.
        raise RuntimeError(f"part {part['uri']} was refused (HTTP {e.code}); its URL may have expired (MLOPS_TRAIN_URIS 'expires')") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != part['sha256']:
        raise ValueError(f"part {part['uri']}: sha256 {digest}, expected {part['sha256']}")
    return pq.read_table(io.BytesIO(data)).to_pandas()


def empty_frame(columns):
    """The partitions' shape, so Dask need not download a part to learn it."""
    return pd.DataFrame({c['name']: pd.Series(dtype=PANDAS_TYPES[c['parquet']]) for c in columns})


def start_cluster(params):
    address = os.environ.get('DASK_SCHEDULER_ADDRESS')
    if address:
        return Client(address), None
    cluster = LocalCluster(
        n_workers=int(params.get('workers', 2)),
        threads_per_worker=int(params.get('threads_per_worker', 1)),
        processes=True,
        dashboard_address=None,
    )
    return Client(cluster), cluster


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


def matrix(rows, features):
    """The features as float32, missing as NaN: what the ONNX model gets, so both answer the same."""
    columns = [pd.to_numeric(rows[f], errors='coerce') if f in rows else pd.Series(np.nan, index=rows.index) for f in features]
    return np.column_stack(columns).astype(np.float32) if len(rows) > 0 else np.zeros((0, len(features)), np.float32)


def main():
    with open(os.environ['MLOPS_SCHEMA']) as f:
        schema = json.load(f)
    with open(os.environ['MLOPS_PARAMS']) as f:
        params = dict(json.load(f))
    with open(os.environ['MLOPS_TRAIN_URIS']) as f:
        remote = json.load(f)
    out = os.environ['MLOPS_OUTPUT_DIR']
    seed = int(os.environ['MLOPS_SEED'])
    target, features = schema['target'], schema['features']
    types = {c['name']: c['type'] for c in schema['columns']}
    if schema['task'] != 'classification':
        raise SystemExit('this example trains a classifier')
    not_numeric = [f for f in features if types[f] not in ('numeric', 'boolean')]
    if not_numeric:
        raise SystemExit(f'this example takes numeric features only; not numeric: {", ".join(not_numeric)}')

    client, cluster = start_cluster(params)
    try:
        print(f"reading {len(remote['parts'])} parts ({remote['rows']} rows) on {len(client.scheduler_info()['workers'])} Dask workers", flush=True)
        rows = dd.from_map(read_part, remote['parts'], meta=empty_frame(remote['columns']), enforce_metadata=False)
        rows = rows.dropna(subset=[target]).persist()
        classes = sorted(set(rows[target].astype(str).map_partitions(lambda s: s.drop_duplicates()).compute()))
        progress(0.2)

        # Early stopping on rows this program holds out itself, carved out of the training rows.
        fit, own = rows.random_split([0.8, 0.2], random_state=seed)
        dfit = xgb.dask.DaskDMatrix(client, fit[features].astype('float32'), y_of(fit, target, classes))
        down = xgb.dask.DaskDMatrix(client, own[features].astype('float32'), y_of(own, target, classes))
        options = {'n_estimators': 200, 'max_depth': 4, 'learning_rate': 0.1, **params}
        booster_params = {
            'objective': 'multi:softprob',
            'num_class': len(classes),
            'eval_metric': 'mlogloss',
            'tree_method': 'hist',
            'max_depth': int(options['max_depth']),
            'learning_rate': float(options['learning_rate']),
            'seed': seed,
        }
        trained = xgb.dask.train(
            client, booster_params, dfit, num_boost_round=int(options['n_estimators']), evals=[(down, 'own')], early_stopping_rounds=20, verbose_eval=False
        )
        # The converter writes every tree of the booster, so keep exactly the trees up to the best round.
        best = int(trained['booster'].best_iteration) + 1
        booster = trained['booster'][:best]
        # The converter knows features by position (f0, f1, ...), as the ONNX graph takes them.
        booster.feature_names = None
        progress(0.7)

        own_p = xgb.dask.predict(client, booster, down).compute()
        own_y = np.asarray(y_of(own, target, classes).compute())
        metrics = {
            'accuracy': float(np.mean(own_p.argmax(axis=1) == own_y)),
            'logLoss': float(-np.mean(np.log(np.clip(own_p[np.arange(len(own_y)), own_y], 1e-15, 1)))),
            'trees': best,
            'daskWorkers': len(client.scheduler_info()['workers']),
            'parts': len(remote['parts']),
        }
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    progress(0.8)

    converted = convert_xgboost(booster, initial_types=[('features', FloatTensorType([None, len(features)]))], target_opset=OPSET)
    onx, names = with_column_inputs(converted, features, 'features')
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

    check_path = os.environ['MLOPS_CHECK_DATA']
    check = matrix(pd.read_json(check_path, lines=True, dtype=False) if os.path.getsize(check_path) > 0 else pd.DataFrame(), features)
    with open(os.path.join(out, 'check_predictions.jsonl'), 'w') as f:
        if len(check) > 0:
            for probabilities in booster.predict(xgb.DMatrix(check)):
                f.write(json.dumps({'label': classes[int(np.argmax(probabilities))], 'probabilities': [float(p) for p in probabilities]}) + '\n')
    progress(1.0)


def y_of(rows, target, classes):
    """The target as class indices, in `classes` order."""
    return rows[target].astype(str).map({c: i for i, c in enumerate(classes)}, meta=(target, 'int64'))


if __name__ == '__main__':
    main()
