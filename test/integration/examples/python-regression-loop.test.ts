/**
 * examples/python-regression through its whole closed loop on real Temporal and MinIO, the model trained by Python
 * and served as ONNX: approved, deployed, served over OIP v2 and v1, monitored, retrained on drift,
 * rolled back by its rmse guardrail.
 */
import * as path from 'node:path';
import { closedLoopTest } from '../../helpers/closed-loop';

closedLoopTest(
  'a regressor is deployed as ONNX, served, retrained on drift and rolled back by its rmse guardrail, the worse version',
  {
    specPath: path.resolve(__dirname, '../../../examples/python-regression/pipeline.yaml'),
    guardrailMetric: 'rmse',
    shift: (row) => ({ ...row, Horsepower: Number(row.Horsepower) * 2, Displacement: Number(row.Displacement) * 2 }),
  },
  'onnx',
);
