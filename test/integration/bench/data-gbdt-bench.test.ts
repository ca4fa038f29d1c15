/** The data suite's gbdt measurement at a tiny size with the pinned Python, so it keeps working as gbdt and the scripts change. */
import { ensurePython } from '../../../src/dev/python';
import { benchFlightsGbdt } from '../../../src/bench/data-gbdt';

describe('data benchmark: gbdt on the flights task', () => {
  it(
    'fits ours and HistGradientBoostingClassifier on the same sampled rows and compares fit time and holdout AUC',
    async () => {
      const python = await ensurePython();
      const r = await benchFlightsGbdt({ python, rows: 20_000, holdoutRows: 5_000, params: { maxIter: 10 } });
      expect(r.gbdtFlightsRows).toBe(20_000);
      expect(r.gbdtFlightsHoldoutRows).toBe(5_000);
      // Origin and destination stay one input each: four numbers and two categories.
      expect(r.gbdtFlightsModelInputs).toBe(6);
      expect(r.gbdtFlightsVsSklearn).toBeCloseTo(r.gbdtFlightsSeconds / r.sklearnFlightsSeconds, 10);
      expect(r.gbdtFlightsAucDelta).toBeCloseTo(100 * (r.gbdtFlightsAuc - r.sklearnFlightsAuc), 10);
      // Both learn something from these features, and about as much.
      expect(r.gbdtFlightsAuc).toBeGreaterThan(0.6);
      expect(r.sklearnFlightsAuc).toBeGreaterThan(0.6);
      expect(Math.abs(r.gbdtFlightsAucDelta)).toBeLessThan(3);
      expect(r.gbdtFlightsPeakRssMb).toBeGreaterThanOrEqual(r.gbdtFlightsRssBeforeFitMb);
      expect(r.sklearnFlightsPeakRssMb).toBeGreaterThanOrEqual(r.sklearnFlightsRssBeforeFitMb);
    },
    10 * 60_000,
  );
});
