import { withEngine } from '../../../src/data/engine';
import { profileTyped, QUANTILE_SAMPLE, type TypedRelation } from '../../../src/data/checks';
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
  test('come from a sample, with histogram counts exact over every row and the rank error measured, not assumed', async () => {
    await withEngine({}, async (engine) => {
      await relation(engine);
      const exact = (await profileTyped(engine, typed)).columns[0] as NumericColumnProfile;
      const sampled = (await profileTyped(engine, typed, { exactLimit: 100_000 })).columns[0] as NumericColumnProfile;
      expect(exact.quantileMethod).toBe('exact');
      expect(sampled.quantileMethod).toBe('sample');
      expect(sampled.count).toBe(ROWS);
      expect([sampled.min, sampled.max]).toEqual([exact.min, exact.max]);
      expect(sampled.mean).toBeCloseTo(exact.mean!, 6);
      // The histogram spans every value and its counts are numpy's [lo, hi) counts over all rows.
      const edges = sampled.histogram.edges;
      expect([edges[0], edges[edges.length - 1]]).toEqual([exact.min, exact.max]);
      const counted = await engine.one<Record<string, number>>(
        `SELECT ${edges
          .slice(0, -1)
          .map((lo, k) => `count_if(v_0 >= ${lo} AND v_0 ${k === edges.length - 2 ? '<=' : '<'} ${edges[k + 1]}) AS c${k}`)
          .join(', ')} FROM t`,
      );
      expect(sampled.histogram.counts).toEqual(edges.slice(0, -1).map((_, k) => Number(counted[`c${k}`])));
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
