import { benchIngest } from '../../../src/bench/ml-data';

test('the ingest benchmark validates and profiles its generated CSV without blocking issues', async () => {
  const result = await benchIngest({ bytes: 2_000_000, inProcess: true });
  expect(result.valid).toBe(true);
  expect(result.bytes).toBeGreaterThanOrEqual(2_000_000);
  expect(result.rows).toBeGreaterThan(10_000);
  expect(result.ingestMBps).toBeGreaterThan(0);
  expect(result.ingestPeakRssMb).toBeGreaterThan(0);
});
