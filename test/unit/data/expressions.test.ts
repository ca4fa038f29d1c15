import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkDatasetExpressions } from '../../../src/data/expressions';

const ROOT = resolve(__dirname, '../../..');
let dir: string;
let source: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-expressions-'));
  source = join(dir, 'flights.csv');
  writeFileSync(source, 'delay,distance,origin\n20,100,SEA\n-3,0,SFO\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the spec's SQL is checked before any workflow starts", () => {
  test('good derived columns and filters pass', async () => {
    await expect(
      checkDatasetExpressions({ source, columns: { delayed: 'delay > 15', route: "origin || '-x'" }, where: 'distance > 0' }),
    ).resolves.toBeUndefined();
  });

  test("an unknown column is refused naming the expression and the engine's message", async () => {
    await expect(checkDatasetExpressions({ source, columns: { delayed: 'dealy > 15' } })).rejects.toThrow(
      /dataset\.columns\.delayed: "dealy > 15" is not a valid expression over the dataset's columns: .*"dealy" not found.*delay/,
    );
  });

  test('a syntax error or a second statement is refused even for a remote source', async () => {
    const remote = { source: 's3://bucket/flights.parquet' };
    await expect(checkDatasetExpressions({ ...remote, where: 'distance >' })).rejects.toThrow(
      /dataset\.where: "distance >" .*syntax error/i,
    );
    await expect(checkDatasetExpressions({ ...remote, where: 'true; DROP TABLE x' })).rejects.toThrow(
      /dataset\.where: "true; DROP TABLE x" is not a valid expression/,
    );
  });

  test('a type error against the declared schema is refused', async () => {
    const schema = {
      columns: [
        { name: 'delay', type: 'numeric' as const },
        { name: 'distance', type: 'numeric' as const },
        { name: 'origin', type: 'categorical' as const },
      ],
      target: 'origin',
      features: ['delay'],
      task: 'classification' as const,
    };
    await expect(checkDatasetExpressions({ source, schema, where: 'origin + 1 > delay' })).rejects.toThrow(
      /dataset\.where: "origin \+ 1 > delay"/,
    );
  });

  test('mlops run refuses a spec with a bad expression before connecting or uploading anything', async () => {
    const spec = join(dir, 'pipeline.yaml');
    writeFileSync(
      spec,
      `model: flights\ndataset:\n  source: flights.csv\n  target: delayed\n  columns:\n    delayed: "dealy > 15"\ntrainer: { name: gbdt }\n`,
    );
    const result = await new Promise<{ code: number; stderr: string }>((done) =>
      execFile(
        process.execPath,
        [join(ROOT, 'bin/mlops.js'), 'run', spec],
        // Nothing listens on these ports: reaching them would fail differently.
        {
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: '127.0.0.1:25999',
            MINIO_ENDPOINT: 'http://127.0.0.1:25998',
            MINIO_ACCESS_KEY: 'nobody',
            MINIO_SECRET_KEY: 'nothing-here',
          },
        },
        (err, _stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/dataset\.columns\.delayed: "dealy > 15" is not a valid expression/);
    expect(result.stderr).not.toMatch(/Uploading/);
  });
});
