/**
 * examples/python-lightgbm through its whole closed loop on real Temporal and MinIO, the model trained by Python
 * and served as ONNX: approved, deployed, served over OIP v2 and v1, monitored, retrained on drift,
 * rolled back by its accuracy guardrail.
 */
import * as path from 'node:path';
import { closedLoopTest } from '../../helpers/closed-loop';

closedLoopTest(
  'a LightGBM model is deployed as ONNX, served, retrained on drift and rolled back by its accuracy guardrail',
  {
    specPath: path.resolve(__dirname, '../../../examples/python-lightgbm/pipeline.yaml'),
    guardrailMetric: 'accuracy',
    shift: (row) => ({ ...row, Horsepower: Number(row.Horsepower) * 2, Weight_in_lbs: Number(row.Weight_in_lbs) * 1.8 }),
  },
  'onnx',
);
