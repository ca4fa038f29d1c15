/**
 * examples/python-xgboost through its whole closed loop on real Temporal and MinIO, the model trained by Python
 * and served as ONNX: approved, deployed, served over OIP v2 and v1, monitored, retrained on drift,
 * rolled back by its accuracy guardrail.
 */
import * as path from 'node:path';
import { closedLoopTest } from '../../helpers/closed-loop';

closedLoopTest(
  'an XGBoost model is deployed as ONNX, served, retrained on drift and rolled back by its accuracy guardrail',
  {
    specPath: path.resolve(__dirname, '../../../examples/python-xgboost/pipeline.yaml'),
    guardrailMetric: 'accuracy',
    shift: (row) => ({ ...row, temp_max: Number(row.temp_max) + 15, temp_min: Number(row.temp_min) + 15, wind: Number(row.wind) * 3 }),
  },
  'onnx',
);
