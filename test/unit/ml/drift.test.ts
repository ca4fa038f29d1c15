import {
  binCounts,
  categoricalDrift,
  chiSquareTest,
  driftReport,
  ksTwoSample,
  numericDrift,
  numericPsi,
  PSI_EPSILON,
  psiFromCounts,
  referenceFromProfile,
  wasserstein,
} from '../../../src/ml/drift';
import { profileNumeric } from '../../../src/ml/profile';
import { kolmogorovSf } from '../../../src/ml/stats/kolmogorov';
import { chiSquareSf } from '../../../src/ml/stats/special';
import { categoricalDriftCase, driftCases, normals } from '../../helpers/ml-data';
import { expectClose, reference } from '../../helpers/ml-reference';

const ref = reference.drift;
const cases = driftCases();

describe('numeric drift statistics agree with scipy', () => {
  test.each(Object.keys(cases))('%s: KS statistic and p-value (method auto) match ks_2samp', (name) => {
    const { reference: a, current: b } = cases[name];
    const expected = ref.numeric[name];
    const ks = ksTwoSample(a, b);
    expect(ks.method).toBe(Math.max(a.length, b.length) <= 10_000 ? 'exact' : 'asymp');
    expectClose(ks.statistic, expected.ksStatistic);
    expectClose(ks.pValue, expected.ksPValue);
  });

  test.each(Object.keys(cases))('%s: asymptotic KS p-value matches ks_2samp(method="asymp")', (name) => {
    const { reference: a, current: b } = cases[name];
    expectClose(ksTwoSample(a, b, 'asymp').pValue, ref.numeric[name].ksAsympPValue);
  });

  test.each(Object.keys(cases))('%s: Wasserstein-1 distance matches wasserstein_distance', (name) => {
    const { reference: a, current: b } = cases[name];
    expectClose(wasserstein(a, b), ref.numeric[name].wasserstein);
  });

  test.each(Object.keys(cases))("%s: PSI over the reference profile's quantile bins matches the numpy computation", (name) => {
    const { reference: a, current: b } = cases[name];
    const profile = profileNumeric(name, a);
    expectClose(numericPsi(profile.histogram, b), ref.numeric[name].psi);
  });

  test('one pass over sorted values gives the same numbers as the separate functions', () => {
    const { reference: a, current: b } = cases.exactUnequal;
    const drift = numericDrift({ name: 'x', kind: 'numeric', histogram: profileNumeric('x', a).histogram, values: a }, b);
    expectClose(drift.psi, ref.numeric.exactUnequal.psi);
    expectClose(drift.ks!.pValue, ref.numeric.exactUnequal.ksPValue);
    expectClose(drift.wasserstein!, ref.numeric.exactUnequal.wasserstein);
  });

  test('missing values (NaN) are ignored by KS and Wasserstein', () => {
    const a = Float64Array.from([1, 2, NaN, 3]);
    const b = Float64Array.from([2, NaN, 4]);
    expect(ksTwoSample(a, b)).toEqual(ksTwoSample([1, 2, 3], [2, 4]));
    expect(wasserstein(a, b)).toBe(wasserstein([1, 2, 3], [2, 4]));
  });
});

describe('categorical drift agrees with scipy', () => {
  test('chi-square test of homogeneity and PSI, with a category unseen in the reference', () => {
    const { reference: a, current: b } = categoricalDriftCase();
    const drift = categoricalDrift(
      { name: 'c', kind: 'categorical', frequencies: ['a', 'b', 'c'].map((v) => ({ value: v, count: a.filter((x) => x === v).length })) },
      b,
    );
    expectClose(drift.psi, ref.categorical.psi);
    expectClose(drift.chiSquare!.statistic, ref.categorical.chiSquare.statistic);
    expectClose(drift.chiSquare!.pValue, ref.categorical.chiSquare.pValue);
    expect(drift.chiSquare!.dof).toBe(ref.categorical.chiSquare.dof);
  });

  test('a single category on both sides has no drift', () => {
    expect(chiSquareTest(new Map([['x', 5]]), new Map([['x', 9]]))).toEqual({ statistic: 0, pValue: 1, dof: 0 });
  });
});

describe('distribution functions agree with scipy', () => {
  test('kstwo.sf over small, moderate and very large n and every region of d', () => {
    for (const [n, x, sf] of reference.special.kstwoSf as [number, number, number][]) {
      const ours = kolmogorovSf(n, x);
      if (Math.abs(ours - sf) > 1e-9) throw new Error(`kstwo.sf(${x}, ${n}): expected ${sf}, got ${ours}`);
    }
  });

  test('chi2.sf to 1e-9 relative, down to tiny p-values', () => {
    for (const [k, x, sf] of reference.special.chi2Sf as [number, number, number][]) {
      const ours = chiSquareSf(x, k);
      if (Math.abs(ours - sf) > 1e-9 * Math.max(sf, 1e-300) && Math.abs(ours - sf) > 1e-300) {
        throw new Error(`chi2.sf(${x}, ${k}): expected ${sf}, got ${ours}`);
      }
    }
  });
});

describe('PSI conventions', () => {
  test('empty bins are floored at epsilon instead of giving an infinite PSI', () => {
    const value = psiFromCounts([10, 0], [5, 5]);
    const p = [1, PSI_EPSILON];
    const q = [0.5, 0.5];
    expect(value).toBeCloseTo((q[0] - p[0]) * Math.log(q[0] / p[0]) + (q[1] - p[1]) * Math.log(q[1] / p[1]), 12);
  });

  test('values beyond the reference range fall into the end bins', () => {
    const histogram = { edges: [0, 1, 2, 3], counts: [1, 1, 1] };
    expect(binCounts(histogram, Float64Array.from([-5, 0.5, 1, 2.5, 3, 99])).current).toEqual([2, 1, 3]);
  });

  test('a constant reference gets below / equal / above bins, so a shift is still seen', () => {
    const histogram = profileNumeric('x', [4, 4, 4, 4]).histogram;
    expect(binCounts(histogram, Float64Array.from([3, 4, 5, 6])).current).toEqual([1, 1, 2]);
    expect(numericPsi(histogram, [5, 6, 7])).toBeGreaterThan(1);
  });
});

describe('drift report', () => {
  const train = { rowCount: 4000, columns: { x: normals(81, 4000), c: Array.from({ length: 4000 }, (_, i) => (i % 4 === 0 ? 'u' : 'v')) } };
  const profile = {
    rowCount: 4000,
    columns: [
      profileNumeric('x', train.columns.x),
      {
        name: 'c',
        type: 'categorical' as const,
        kind: 'categorical' as const,
        count: 4000,
        nulls: 0,
        invalid: 0,
        distinct: 2,
        otherCount: 0,
        frequencies: [
          { value: 'v', count: 3000 },
          { value: 'u', count: 1000 },
        ],
      },
    ],
  };
  const references = referenceFromProfile(profile, ['x', 'c'], { x: train.columns.x });

  test('a shifted feature is flagged with the reason, an unchanged one is not', () => {
    const current = {
      rowCount: 2000,
      columns: { x: normals(82, 2000, 1, 1), c: Array.from({ length: 2000 }, (_, i) => (i % 4 === 0 ? 'u' : 'v')) },
    };
    const report = driftReport(references, current, { thresholds: { psi: 0.2, chiSquarePValue: 0.01 } });
    expect(report.breached).toBe(true);
    const [x, c] = report.features;
    expect(x.breached).toBe(true);
    expect(x.breaches[0]).toMatch(/^psi [\d.]+ > 0\.2$/);
    expect(c.breached).toBe(false);
    expect(c.chiSquare!.pValue).toBeGreaterThan(0.01);
  });

  test('per-feature thresholds override the defaults', () => {
    const current = { rowCount: 2000, columns: { x: normals(83, 2000, 0.05, 1), c: Array.from({ length: 2000 }, () => 'v') } };
    const loose = driftReport(references, current, { perFeature: { c: { psi: 10 } } });
    expect(loose.features.map((f) => f.breached)).toEqual([false, false]);
    const strict = driftReport(references, current, { perFeature: { x: { ksStatistic: 0.001 } } });
    expect(strict.features[0].breached).toBe(true);
    expect(strict.features[0].breaches).toEqual([expect.stringMatching(/^ks statistic/)]);
    expect(strict.features[1].breached).toBe(true); // c lost its 'u' category: default PSI limit
  });

  test('the report is plain JSON', () => {
    const current = { rowCount: 10, columns: { x: normals(84, 10), c: Array.from({ length: 10 }, () => 'u') } };
    const report = driftReport(references, current);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
