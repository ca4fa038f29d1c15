/**
 * examples/python-sklearn through its whole closed loop on real Temporal and MinIO, the model trained by Python
 * and served as ONNX: approved, deployed, served over OIP v2 and v1, monitored, retrained on drift,
 * rolled back by its accuracy guardrail.
 */
import * as path from 'node:path';
import { closedLoopTest } from '../../helpers/closed-loop';

closedLoopTest(
  'a scikit-learn pipeline is deployed as ONNX, served, retrained on drift and rolled back by its accuracy guardrail',
  {
    specPath: path.resolve(__dirname, '../../../examples/python-sklearn/pipeline.yaml'),
    guardrailMetric: 'accuracy',
    shift: (row) => ({
      ...row,
      'Flipper Length (mm)': Number(row['Flipper Length (mm)']) + 40,
      'Body Mass (g)': Number(row['Body Mass (g)']) * 2,
    }),
  },
  'onnx',
);
