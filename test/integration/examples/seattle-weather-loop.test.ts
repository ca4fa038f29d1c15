/**
 * The built-in seattle-weather example through its whole closed loop on real Temporal and MinIO:
 * approved, deployed, served over OIP v2 and v1, monitored, retrained on drift, rolled back by the guardrail.
 */
import * as path from 'node:path';
import { closedLoopTest } from '../../helpers/closed-loop';

closedLoopTest(
  'a built-in model is deployed, served, retrained on drift and rolled back by its accuracy guardrail',
  {
    specPath: path.resolve(__dirname, '../../../examples/seattle-weather/pipeline.yaml'),
    guardrailMetric: 'accuracy',
    shift: (row) => ({ ...row, temp_max: Number(row.temp_max) + 15, temp_min: Number(row.temp_min) + 15, wind: Number(row.wind) * 3 }),
  },
  'builtin',
);
