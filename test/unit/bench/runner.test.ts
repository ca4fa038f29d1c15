import { flatten, main } from '../../../src/bench/run';
import { percentile } from '../../../src/bench/orchestration';

describe('benchmark runner', () => {
  it('nearest-rank percentiles: the smallest value with at least q% of the values at or below it', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 95)).toBe(10);
    expect(percentile(values, 10)).toBe(1);
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([], 50)).toBeNaN();
  });

  it('flattens nested figures into camelCase keys, keeping names that already carry the prefix and leaving arrays out', () => {
    const flat = flatten({ gbdtTimeVsSklearn: 1.2, rows: 10, ours: { put: { seconds: 2 } }, samples: [1, 2], ok: true }, 'gbdt');
    expect(flat).toEqual({ gbdtTimeVsSklearn: 1.2, gbdtRows: 10, gbdtOursPutSeconds: 2, gbdtOk: true });
    expect(flatten({ bare: { rps: 3 } })).toEqual({ bareRps: 3 });
  });

  it('an unknown suite is a usage error (exit 2) that names the known suites', async () => {
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['storge'])).toBe(2);
      expect(String(err.mock.calls[0]?.[0])).toMatch(
        /unknown suite "storge"; expected one of storage, ml, data, orchestration, serving, models/,
      );
    } finally {
      err.mockRestore();
    }
  });

  it('--help prints the usage and starts nothing', async () => {
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--help'])).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toMatch(/Usage: npm run bench -- \[options\] \[suite\.\.\.\]/);
    } finally {
      out.mockRestore();
    }
  });
});
