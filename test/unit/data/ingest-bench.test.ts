import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withEngine } from '../../../src/data/engine';
import { benchCsvIngest, benchFlightsIngest, FLIGHTS_3M } from '../../../src/bench/data-ingest';
import { ensurePython } from '../../../src/dev/python';

let dir: string;
let python: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-data-bench-'));
  python = await ensurePython();
}, 15 * 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the data suite at a tiny size', () => {
  test('flights: both sides read the same rows, and the figures the goals judge are measured', async () => {
    const sample = join(dir, 'flights-20k.parquet');
    await withEngine({}, (e) => e.run(`COPY (SELECT * FROM read_parquet('${FLIGHTS_3M}') LIMIT 20000) TO '${sample}' (FORMAT parquet)`));
    const r = await benchFlightsIngest({ python, rounds: 1, file: sample });
    expect(r.ingestRows).toBe(20_000);
    expect(r.ingestOursS).toBeGreaterThan(0);
    expect(r.ingestPandasS).toBeGreaterThan(0);
    expect(r.ingestVsPandas).toBeCloseTo(r.ingestOursS / r.ingestPandasS, 9);
    expect(r.ingestPeakRssMb).toBeGreaterThan(20);
    expect(r.ingestSteps).toMatch(/load .*type .*check .*write/);
  });

  test('CSV: the generated file is ingested with its declared schema, with no blocking issue', async () => {
    const r = await benchCsvIngest({ python, bytes: 2e6 });
    expect(r.csvIngestRows).toBeGreaterThan(5000);
    expect(r.csvIngestBlocking).toBe(0);
    expect(r.csvIngestVsPandas).toBeGreaterThan(0);
    expect(r.csvIngestSnapshotMb).toBeLessThan(r.csvIngestMb);
  });
});
