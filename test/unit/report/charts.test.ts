import { confusionHeatmap, histogramChart, rocChart, thinCurve } from '../../../src/report/charts';
import { axisPct, esc, num, ticks } from '../../../src/report/html';

describe('chart drawing', () => {
  test('a confusion heatmap has one cell per pair of classes, each with its count and share in a tooltip', () => {
    const svg = confusionHeatmap(
      {
        labels: ['a', 'b', 'c'],
        matrix: [
          [5, 1, 0],
          [0, 2, 2],
          [0, 0, 0],
        ],
      },
      'cm',
    );
    expect(svg.match(/<rect\b/g)).toHaveLength(9);
    expect(svg).toContain('<title>true a, predicted b: 1 (17% of a)</title>');
    expect(svg).toContain('<title>true c, predicted c: 0 (no rows of c)</title>');
  });

  test('a long ROC curve is thinned to a few hundred points, keeping both ends', () => {
    const n = 100_000;
    const fpr = Array.from({ length: n }, (_, i) => i / (n - 1));
    const tpr = fpr.map((x) => Math.sqrt(x));
    const points = thinCurve(fpr, tpr);
    expect(points.length).toBeLessThanOrEqual(301);
    expect(points[0]).toEqual([0, 0]);
    expect(points[points.length - 1]).toEqual([1, 1]);
    expect(rocChart([{ label: 'yes', fpr, tpr, auc: 2 / 3 }], 'roc').length).toBeLessThan(10_000);
  });

  test('a class absent from the holdout is named in the legend but not drawn', () => {
    const svg = rocChart([{ label: 'snow', fpr: [0, NaN], tpr: [0, 1], auc: NaN }], 'roc');
    expect(svg).toContain('snow: not in the holdout');
    expect(svg).not.toContain('<polyline');
  });

  test('histogram bars are shares of each side, so sides of different sizes compare', () => {
    const svg = histogramChart(
      { column: 'x', bins: ['< 1', '≥ 1'], edges: ['1'], reference: [50, 50], current: [1, 3], psi: 0.1 },
      { reference: 'train', current: 'holdout' },
    );
    expect(svg).toContain('x &lt; 1: train 50% (50), holdout 25% (1)');
    expect(svg).toContain('x ≥ 1: train 50% (50), holdout 75% (3)');
  });
});

describe('the card vocabulary', () => {
  test('escaping covers the five characters that matter in content and attributes', () => {
    expect(esc(`<a href="x" title='y'>&`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;');
  });

  test('numbers read naturally', () => {
    expect([num(1461), num(2.80984), num(54.1), num(0), num(null), num(1e-5)]).toEqual(['1,461', '2.8098', '54.1', '0', '–', '1.00e-5']);
    expect([axisPct(0.05), axisPct(0.1), axisPct(0.025)]).toEqual(['5%', '10%', '2.5%']);
  });

  test('axis ticks are round numbers inside the range', () => {
    expect(ticks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(-0.73, 0.73, 4)).toEqual([-0.5, 0, 0.5]);
    expect(ticks(3, 3)).toEqual([3]);
  });
});
