import { withEngine } from '../../../src/data/engine';
import { checkTyped, profileTyped, QUANTILE_SAMPLE, type TypedRelation } from '../../../src/data/checks';
import { selectRanks } from '../../../src/ml/stats/quantile';
import type { NumericColumnProfile } from '../../../src/ml/profile';

// Rows enough that every k-th row (k >= 2) is a real sample, values spread so no column counts as "few values".
const ROWS = 2 * QUANTILE_SAMPLE + 12_345;
const relation = (engine: { run(sql: string): Promise<void> }) =>
  engine.run(
    `CREATE TABLE t AS SELECT range + 1 AS __row, ((range * 7919) % ${ROWS}) / 10.0 + (range % 3) * 1000 AS v_0, false AS b_0, ` +
      `CAST(NULL AS VARCHAR) AS x_0 FROM range(${ROWS})`,
  );
const typed: TypedRelation = { relation: 't', specs: [{ name: 'x', type: 'numeric' }], present: [true], extra: [] };

describe('quantiles past the exact limit', () => {
  test('come from a sample of rows, with the histogram spanning every value and every count and rank within the stated error', async () => {
    await withEngine({}, async (engine) => {
      await relation(engine);
      const exact = (await profileTyped(engine, typed)).columns[0] as NumericColumnProfile;
      const sampled = (await profileTyped(engine, typed, { exactLimit: 100_000 })).columns[0] as NumericColumnProfile;
      expect(exact.quantileMethod).toBe('exact');
      expect(sampled.quantileMethod).toBe('sample');
      expect(sampled.count).toBe(ROWS);
      expect([sampled.min, sampled.max]).toEqual([exact.min, exact.max]);
      expect(sampled.mean).toBeCloseTo(exact.mean!, 6);
      // The histogram spans every value; its counts (numpy's [lo, hi) bins over all rows) are estimated from the sample,
      // every count of values below an edge within the stated rank error, and they add up to the column's count.
      const edges = sampled.histogram.edges;
      expect([edges[0], edges[edges.length - 1]]).toEqual([exact.min, exact.max]);
      const counted = await engine.one<Record<string, number>>(
        `SELECT ${edges.map((e, k) => `count_if(v_0 < ${e}) AS c${k}`).join(', ')} FROM t`,
      );
      let cumulative = 0;
      sampled.histogram.counts.forEach((c, k) => {
        cumulative += c;
        const exactBelow = k === edges.length - 2 ? ROWS : Number(counted[`c${k + 1}`]);
        expect(Math.abs(cumulative - exactBelow) / ROWS).toBeLessThanOrEqual(sampled.rankError);
      });
      expect(cumulative).toBe(ROWS);
      // The stated rank error is what the values' ranks show: each quantile lies within it of its exact rank.
      expect(sampled.rankError).toBeGreaterThan(0);
      expect(sampled.rankError).toBeLessThan(0.01);
      for (const [name, value] of Object.entries(sampled.quantiles)) {
        const q = Number(name.slice(1)) / 100;
        const { lt, le } = await engine.one<{ lt: number; le: number }>(
          `SELECT count_if(v_0 < ${value}) AS lt, count_if(v_0 <= ${value}) AS le FROM t`,
        );
        const p = q * (ROWS - 1);
        const off = Math.max(0, Number(lt) - Math.ceil(p), Math.floor(p) + 1 - Number(le));
        expect(off / ROWS).toBeLessThanOrEqual(sampled.rankError);
        expect(Math.abs(value! - exact.quantiles[name]!)).toBeLessThan(0.01 * (exact.max! - exact.min!));
      }
    });
  });

  test('stay exact under the limit and for columns with few distinct values', async () => {
    await withEngine({}, async (engine) => {
      await engine.run(
        `CREATE TABLE t AS SELECT range + 1 AS __row, CAST(range % 7 AS DOUBLE) AS v_0, false AS b_0, CAST(NULL AS VARCHAR) AS x_0 ` +
          `FROM range(${ROWS})`,
      );
      const col = (await profileTyped(engine, typed, { exactLimit: 100_000 })).columns[0] as NumericColumnProfile;
      expect(col.quantileMethod).toBe('exact');
      expect(col.rankError).toBe(0);
    });
  });

  test('are drawn beside the aggregate scan when the row count is known, with the same profile; a column with too few values stays exact', async () => {
    await withEngine({}, async (engine) => {
      // x has every row; y one row in four (under the limit although the relation's rows are past it).
      await engine.run(
        `CREATE TABLE t AS SELECT range + 1 AS __row, ((range * 7919) % ${ROWS}) / 10.0 + (range % 3) * 1000 AS v_0, false AS b_0, ` +
          `CAST(NULL AS VARCHAR) AS x_0, CASE WHEN range % 4 = 0 THEN ((range * 104729) % ${ROWS}) / 7.0 END AS v_1, false AS b_1, ` +
          `CAST(NULL AS VARCHAR) AS x_1 FROM range(${ROWS})`,
      );
      const two: TypedRelation = {
        relation: 't',
        specs: [
          { name: 'x', type: 'numeric' },
          { name: 'y', type: 'numeric' },
        ],
        present: [true, true],
        extra: [],
      };
      const options = { exactLimit: 200_000 };
      const after = await profileTyped(engine, two, options);
      const beside = await profileTyped(engine, { ...two, rowCount: ROWS }, options);
      const [x, y] = beside.columns as NumericColumnProfile[];
      expect([x.quantileMethod, y.quantileMethod]).toEqual(['sample', 'exact']);
      expect(y.count).toBe(Math.ceil(ROWS / 4));
      expect(y.rankError).toBe(0);
      expect(x.rankError).toBeGreaterThan(0);
      // Moments are sums over threads (their last bits may differ between runs); everything else is the same.
      const stable = (p: typeof after) =>
        p.columns.map((c) => ({ ...c, mean: Number((c as NumericColumnProfile).mean?.toPrecision(12)), std: 0 }));
      expect(stable(beside)).toEqual(stable(after));
      expect((beside.columns[0] as NumericColumnProfile).std).toBeCloseTo((after.columns[0] as NumericColumnProfile).std!, 6);
    });
  });
});

describe('value counts', () => {
  test('of a column with many (but few enough) distinct values give the exact profile and validation', async () => {
    await withEngine({}, async (engine) => {
      // a: 4,800 distinct values in 24,000 rows (thousands in the opening rows, at most a quarter of them),
      // one missing and one bad value; c: 7 distinct values; k: 3 categories.
      const rows = 24_000;
      await engine.run(
        `CREATE TABLE t AS SELECT range + 1 AS __row, CASE WHEN range IN (5, 6) THEN NULL ELSE CAST(range % 4800 AS DOUBLE) END AS v_0, ` +
          `range = 6 AS b_0, CASE WHEN range = 6 THEN '"x"' END AS x_0, CAST(range % 7 AS DOUBLE) AS v_1, false AS b_1, CAST(NULL AS VARCHAR) AS x_1, ` +
          `['p', 'q', 'r'][range % 3 + 1] AS v_2, false AS b_2, CAST(NULL AS VARCHAR) AS x_2 FROM range(${rows})`,
      );
      const typed3: TypedRelation = {
        relation: 't',
        specs: [
          { name: 'a', type: 'numeric', max: 4000 },
          { name: 'c', type: 'numeric' },
          { name: 'k', type: 'categorical' },
        ],
        present: [true, true, true],
        extra: [],
      };
      const schema = { columns: typed3.specs, target: 'k', features: ['a', 'c'], task: 'classification' as const };
      const { profile, validation } = await checkTyped(engine, typed3, schema, { validation: {}, profile: {} });
      const a = profile!.columns[0] as NumericColumnProfile;
      expect([a.count, a.nulls, a.invalid, a.quantileMethod]).toEqual([rows - 2, 1, 1, 'exact']);
      const exact = await engine.one<Record<string, number>>(
        `SELECT quantile_cont(v_0, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]) AS q, avg(v_0) AS mean FROM t`,
      );
      expect(Object.values(a.quantiles)).toEqual((exact.q as unknown as number[]).map(Number));
      expect(a.mean).toBeCloseTo(Number(exact.mean), 9);
      const edges = a.histogram.edges;
      const counted = await engine.one<Record<string, number>>(
        `SELECT ${edges
          .slice(0, -1)
          .map((lo, k) => `count_if(v_0 >= ${lo} AND v_0 ${k === edges.length - 2 ? '<=' : '<'} ${edges[k + 1]}) AS c${k}`)
          .join(', ')} FROM t`,
      );
      expect(a.histogram.counts).toEqual(edges.slice(0, -1).map((_, k) => Number(counted[`c${k}`])));
      expect((profile!.columns[1] as NumericColumnProfile).quantiles.p50).toBe(3);
      expect(profile!.columns[2]).toMatchObject({ distinct: 3, count: rows });
      // Validation: the bad value (row 7) and the values above the maximum, with their first rows.
      const range = validation!.issues.find((i) => i.rule === 'range');
      expect(range?.sampleRows[0]).toBe(4002);
      expect(validation!.issues.find((i) => i.rule === 'type')?.sampleRows).toEqual([7]);
    });
  });
});

describe('selecting ranks of a sample', () => {
  test('puts exactly the values a sort would at the ranks asked for, with ties, runs and any order of values', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const cases: number[][] = [
      Array.from({ length: 5000 }, () => next()),
      Array.from({ length: 5000 }, () => Math.floor(next() * 7)),
      Array.from({ length: 3000 }, (_, k) => k),
      Array.from({ length: 3000 }, (_, k) => 3000 - k),
      Array.from({ length: 17 }, () => 1),
      [2, 1],
      [5],
    ];
    for (const values of cases) {
      const sorted = Float64Array.from(values).sort();
      const ranks = [...new Set([0, 1, Math.floor(values.length / 3), Math.floor(values.length / 2), values.length - 2, values.length - 1])]
        .filter((r) => r >= 0 && r < values.length)
        .sort((a, b) => a - b);
      const a = Float64Array.from(values);
      selectRanks(a, ranks);
      expect(ranks.map((r) => a[r])).toEqual(ranks.map((r) => sorted[r]));
      expect(Float64Array.from(a).sort()).toEqual(sorted);
    }
  });
});
