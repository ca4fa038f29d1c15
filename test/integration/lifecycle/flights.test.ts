/**
 * The flights example (examples/flights/pipeline.yaml) end to end on a real Temporal dev server and MinIO, at a
 * small size: 50,000 flights of vega-datasets' flights-3m.parquet. The label (delay > 15) and the time features
 * are derived by the spec's SQL at ingest, so the snapshot's lineage shows how they were made; the run trains the
 * built-in gbdt with the airports as native categories, validates, checks servability and deploys without approval.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { stageDataset } from '../../../src/cli/upload';
import { startRun } from '../../../src/client';
import type { MlopsConfig } from '../../../src/config';
import { literal, withEngine } from '../../../src/data/engine';
import type { MlopsDependencies } from '../../../src/activities/dependencies';
import { loadSpecFile } from '../../../src/spec/load';
import { pipelineStatusQuery, type PipelineRunResult } from '../../../src/workflows';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'examples/flights/pipeline.yaml');
const FLIGHTS = path.join(ROOT, 'node_modules/vega-datasets/data/flights-3m.parquet');
const ROWS = 50_000;

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let deps: MlopsDependencies;
let stopWorkers: () => Promise<void>;
let dir: string;
let source: string;

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio);
  ({ deps, stop: stopWorkers } = await startWorkers(env, config));
  // Every 60th flight of the year, so the sample spans all months, days and hours.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-flights-'));
  source = path.join(dir, 'flights-50k.parquet');
  await withEngine({}, (engine) =>
    engine.run(`COPY (SELECT date, delay, distance, origin, destination
        FROM read_parquet(${literal(FLIGHTS)}, file_row_number = true) WHERE file_row_number % 60 = 0 LIMIT ${ROWS})
      TO ${literal(source)} (FORMAT parquet)`),
  );
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the flights example on the dev server', () => {
  it('derives its label in the spec, trains gbdt on the airports as categories, and deploys', async () => {
    const spec = loadSpecFile(EXAMPLE);
    spec.dataset = await stageDataset(config, { ...spec.dataset, source });
    const { workflowId } = await startRun(env.client, config, spec, { requestedBy: 'dave' });
    const result = (await env.client.workflow.getHandle(workflowId).result()) as PipelineRunResult;

    expect(result).toMatchObject({ status: 'deployed', model: 'flights', version: 1 });
    // About 20 % of flights leave late: a model that learned something ranks them above chance.
    expect(result.metrics!.rocAuc).toBeGreaterThan(0.6);
    const status = await env.client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
    expect(status.stages.map((s) => [s.name, s.state])).toEqual([
      ['ingest', 'done'],
      ['train', 'done'],
      ['validate', 'done'],
      ['servability', 'done'],
      ['approve', 'done'],
      ['deploy', 'done'],
      ['monitor', 'skipped'],
    ]);

    // The deployed version points at a snapshot whose lineage shows the derived label and features.
    const version = await deps.registry.getVersion('flights', 1);
    const [snapshot] = (await deps.snapshots.list('flights')).filter((s) => s.sha256 === version.dataset.sha256);
    expect(snapshot.rowCount).toBe(ROWS);
    expect(snapshot.lineage).toMatchObject({
      derived: {
        delayed: 'delay > 15',
        hour: 'hour(date) + minute(date) / 60',
        day_of_week: 'isodow(date)',
        day_of_year: 'dayofyear(date)',
      },
    });
    expect(version.schema).toMatchObject({
      target: 'delayed',
      features: ['hour', 'day_of_week', 'day_of_year', 'distance', 'origin', 'destination'],
    });
  });
});
