/**
 * The data cases of issue 15 through the real `mlops` command and worker against real Temporal and
 * MinIO: bad data is refused with its source rows, declared choices (dropping rows whose target is
 * missing, an encoding) are honoured and shown, and warnings appear where people look (status, --json,
 * the Temporal UI details, the model card), never only in one place.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MlopsConfig } from '../../../src/config';
import { ArtifactStore } from '../../../src/storage/artifact-store';
import { startTemporal, TestMinio } from '../../helpers/servers';
import { startWorkers, testConfig } from '../../helpers/worker';

const ROOT = path.resolve(__dirname, '../../..');

let env: TestWorkflowEnvironment;
let minio: TestMinio;
let config: MlopsConfig;
let stopWorkers: () => Promise<void>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-data-cases-'));

beforeAll(async () => {
  [env, minio] = await Promise.all([startTemporal(), TestMinio.start()]);
  config = testConfig(env, minio, 'mlops-data-cases');
  ({ stop: stopWorkers } = await startWorkers(env, config));
}, 15 * 60_000);

afterAll(async () => {
  await stopWorkers?.();
  await env?.teardown();
  await minio?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Result = { code: number; stdout: string; stderr: string };

function mlops(args: string[], timeoutMs = 300_000): Promise<Result> {
  const cliEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: env.address,
    MINIO_ENDPOINT: `http://127.0.0.1:${minio.port}`,
    MINIO_ACCESS_KEY: minio.accessKey,
    MINIO_SECRET_KEY: minio.secretKey,
    MINIO_BUCKET: config.minio.bucket,
    MLOPS_TASK_QUEUE: config.taskQueue,
    MLOPS_TRAINING_TASK_QUEUE: config.trainingTaskQueue,
    MLOPS_LOG_LEVEL: 'warn',
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/mlops.js'), ...args],
      { env: cliEnv, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A separable table of `rows` rows: x numeric, c a category (a/b), y a 0/1 label; `edit(i, cells)` changes row i (1-based). */
function table(rows: number, edit?: (i: number, cells: string[]) => string[], header = 'x,c,y'): string {
  const lines = [header];
  for (let i = 1; i <= rows; i++) {
    const y = i % 2;
    const cells = [`${y ? 5 + (i % 7) : -5 - (i % 7)}.5`, i % 3 ? 'a' : 'b', String(y)];
    lines.push((edit ? edit(i, cells) : cells).join(','));
  }
  return `${lines.join('\n')}\n`;
}

function specFile(name: string, dataset: Record<string, unknown>, trainer = 'logistic-regression'): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ model: name, dataset, trainer: { name: trainer }, approval: { required: false } }));
  return file;
}

function dataFile(name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

async function runToEnd(spec: string): Promise<{ code: number; view: any; stderr: string }> {
  const res = await mlops(['run', spec, '--follow', '--json']);
  // A run that does not deploy prints its final view, then the error document.
  const end = res.stdout.indexOf('\n}\n');
  return { code: res.code, view: JSON.parse(end >= 0 ? res.stdout.slice(0, end + 2) : res.stdout), stderr: res.stderr };
}

describe('data cases of a run, through the CLI and the worker', () => {
  it('a 0/1 target with logistic-regression is a classification run that deploys', async () => {
    const spec = specFile('zero-one', { source: dataFile('zero-one.csv', table(300)), target: 'y' });
    const { code, view } = await runToEnd(spec);
    expect(view.result).toMatchObject({ status: 'deployed' });
    expect(code).toBe(0);
    // Classification metrics, measured on the holdout (a regression run would have rmse instead).
    expect(view.status.candidate.rmse).toBeUndefined();
    expect(view.status.candidate.accuracy).toBeGreaterThan(0.95);
  });

  it('one inf at row 5,500 fails the run naming that source row, as at row 3', async () => {
    for (const row of [3, 5500]) {
      const source = dataFile(
        `inf-${row}.csv`,
        table(6000, (i, cells) => (i === row ? ['inf', cells[1], cells[2]] : cells)),
      );
      const { code, view } = await runToEnd(specFile(`inf-${row}`, { source, target: 'y' }));
      expect(code).toBe(1);
      expect(view.result.status).toBe('failed');
      expect(view.result.reason).toMatch(/data validation failed: .*x.*"inf"/);
      expect(view.result.reason).toContain(`(source row ${row})`);
      expect(view.status.stages[0]).toMatchObject({ name: 'ingest', state: 'failed' });
    }
  });

  it('dates in three formats fail the run naming rows instead of becoming a categorical feature', async () => {
    const source = dataFile(
      'dates.csv',
      table(300, (i, cells) => [...cells, i % 3 === 0 ? '2024-01-05' : i % 3 === 1 ? '01/05/2024' : '5 Jan 2024'], 'x,c,y,d'),
    );
    const { code, view } = await runToEnd(specFile('three-dates', { source, target: 'y' }));
    expect(code).toBe(1);
    expect(view.result.reason).toMatch(
      /column "d" mixes ISO 8601 dates \(100 of 300 present values\) with other text, e\.g\. "01\/05\/2024" \(row 1\)/,
    );
  });

  it('bytes that are not UTF-8 fail the ingest naming the byte offset and row; a declared latin1 source deploys', async () => {
    // Row 7's city is Köln written in latin1 (one byte 0xF6).
    const text = ['x,c,y'];
    for (let i = 1; i <= 200; i++) text.push(`${i % 2 ? 5 + (i % 7) : -5 - (i % 7)}.5,${i === 7 ? 'K\u00f6ln' : 'Bonn'},${i % 2}`);
    const latin1 = dataFile('latin1.csv', Buffer.from(`${text.join('\n')}\n`, 'latin1'));
    const refused = await runToEnd(specFile('latin1-undeclared', { source: latin1, target: 'y' }));
    expect(refused.code).toBe(1);
    expect(refused.view.result.reason).toMatch(
      /: is not valid UTF-8: byte 0xF6 at byte offset \d+ \(line 8, data row 7\)\. Declare the file's encoding/,
    );
    const declared = await runToEnd(specFile('latin1-declared', { source: latin1, target: 'y', encoding: 'latin1' }));
    expect(declared.view.result.status).toBe('deployed');
  });

  it(
    'a missing target fails ingest naming source rows; with dropMissingTarget the run deploys and every place shows the dropped rows ' +
      'and the warnings',
    async () => {
      // Rows 11 and 40 have no target; the data has a column the schema does not declare, and a category the schema does not allow.
      const source = dataFile(
        'no-target.csv',
        table(300, (i, cells) => [cells[0], i === 50 ? 'zebra' : cells[1], i === 11 || i === 40 ? '' : cells[2], String(i)], 'x,c,y,extra'),
      );
      const schema = {
        target: 'y',
        task: 'classification',
        features: ['x', 'c'],
        columns: [
          { name: 'x', type: 'numeric' },
          { name: 'c', type: 'categorical', allowed: ['a', 'b'] },
          { name: 'y', type: 'boolean' },
        ],
      };
      const strict = await runToEnd(specFile('target-strict', { source, schema }));
      expect(strict.code).toBe(1);
      expect(strict.view.result.reason).toContain(
        'target "y" is missing in 2 of 300 rows (rate 0.006667, at most 0 allowed) (source rows 11, 40)',
      );

      // With the target's maxNullRate raised, the run still stops at ingest on source rows, not in training on a split index.
      const raised = { ...schema, columns: schema.columns.map((c) => (c.name === 'y' ? { ...c, maxNullRate: 0.5 } : c)) };
      const lenient = await runToEnd(specFile('target-raised', { source, schema: raised }));
      expect(lenient.code).toBe(1);
      expect(lenient.view.status.stages[0]).toMatchObject({ name: 'ingest', state: 'failed' });
      expect(lenient.view.result.reason).toContain(
        'target "y" is missing in 2 rows (source rows 11, 40), which no trainer can learn from; set dataset.dropMissingTarget: true',
      );

      const spec = specFile('target-dropped', { source, schema, dropMissingTarget: true });
      const { code, view } = await runToEnd(spec);
      expect(view.result.status).toBe('deployed');
      expect(code).toBe(0);
      expect(view.status.data).toMatchObject({ rows: 298, droppedMissingTarget: 2 });
      expect(view.status.data.warnings).toEqual(
        expect.arrayContaining([expect.stringMatching(/"extra" is not in the schema/), expect.stringMatching(/c.*zebra|zebra.*c/)]),
      );

      const text = await mlops(['status', view.workflowId]);
      expect(text.stdout).toContain('298 rows');
      expect(text.stdout).toContain('2 rows dropped (target missing)');
      expect(text.stdout).toMatch(/! data warning: .*"extra" is not in the schema/);
      expect(text.stdout).toMatch(/! data warning: .*zebra/);
      const json = JSON.parse((await mlops(['status', view.workflowId, '--json'])).stdout);
      expect(json.status.data).toMatchObject({ droppedMissingTarget: 2, warnings: view.status.data.warnings });

      const metadata = await env.client.workflow
        .getHandle(view.workflowId)
        .query<{ currentDetails: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toContain('**Dropped**: 2 rows whose target is missing (dataset.dropMissingTarget).');
      expect(metadata.currentDetails).toMatch(/\*\*Data warning\*\*: .*"extra" is not in the schema/);

      const store = ArtifactStore.connect(config.minio);
      const card = (await store.getBuffer(view.status.card)).toString('utf8');
      expect(card).toContain('2 rows whose target is missing were dropped at ingest');
      expect(card).toContain('zebra');
    },
  );
});
