import { isMlopsError } from '../../../src/errors';
import { rocCurve, rocCurvesByClass, trapezoidArea } from '../../../src/ml/curves';
import { rocAuc, rocAucOvr } from '../../../src/ml/metrics';
import { multiclassCase } from '../../helpers/ml-data';
import { expectClose } from '../../helpers/ml-reference';

function expectAllClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expectClose(a, expected[i]!));
}

describe('ROC curves follow scikit-learn roc_curve', () => {
  // Worked by hand: positives score 0.8, 0.6, 0.4; negatives 0.9, 0.8, 0.2.
  // Descending distinct scores 0.9, 0.8, 0.6, 0.4, 0.2 leave (fp, tp) = (1,0) (2,1) (2,2) (2,3) (3,3).
  const yTrue = [0, 0, 1, 1, 1, 0];
  const scores = [0.9, 0.8, 0.8, 0.6, 0.4, 0.2];

  test('every distinct score is a point when intermediate points are kept, after a first point at +infinity', () => {
    const c = rocCurve(yTrue, scores, 1, { dropIntermediate: false });
    expect(c.thresholds).toEqual([Infinity, 0.9, 0.8, 0.6, 0.4, 0.2]);
    expectAllClose(c.fpr, [0, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 1]);
    expectAllClose(c.tpr, [0, 0, 1 / 3, 2 / 3, 1, 1]);
  });

  test('a point in the middle of a straight segment is dropped by default', () => {
    const c = rocCurve(yTrue, scores, 1);
    expect(c.thresholds).toEqual([Infinity, 0.9, 0.8, 0.4, 0.2]);
    expectAllClose(c.fpr, [0, 1 / 3, 2 / 3, 2 / 3, 1]);
    expectAllClose(c.tpr, [0, 0, 1 / 3, 1, 1]);
  });

  test('the example of the scikit-learn documentation, with string labels', () => {
    const c = rocCurve(['a', 'a', 'b', 'b'], [0.1, 0.4, 0.35, 0.8], 'b');
    expect(c.thresholds).toEqual([Infinity, 0.8, 0.4, 0.35, 0.1]);
    expect(c.fpr).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(c.tpr).toEqual([0, 0.5, 0.5, 1, 1]);
  });

  test('the trapezoidal area under the curve equals the ROC AUC, ties included', () => {
    const c = rocCurve(yTrue, scores, 1);
    expectClose(trapezoidArea(c.fpr, c.tpr), 7 / 18);
    expectClose(rocAuc(yTrue, scores), 7 / 18);
  });

  test('all scores tied give the diagonal from (0, 0) to (1, 1)', () => {
    const c = rocCurve([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 1);
    expect(c.fpr).toEqual([0, 1]);
    expect(c.tpr).toEqual([0, 1]);
  });

  test('without negatives the false positive rates are NaN, as in scikit-learn', () => {
    const c = rocCurve([1, 1], [0.2, 0.9], 1);
    expect(c.fpr.every(Number.isNaN)).toBe(true);
    expect(c.tpr).toEqual([0, 0.5, 1]);
  });

  test('a score that is not a finite number is refused', () => {
    for (const bad of [NaN, Infinity]) {
      try {
        rocCurve([0, 1], [0.1, bad], 1);
        throw new Error('expected an error');
      } catch (err) {
        expect(isMlopsError(err)).toBe(true);
      }
    }
  });
});

describe('ROC curves by class', () => {
  test('two classes give the single curve of the second label', () => {
    const curves = rocCurvesByClass(
      ['no', 'yes', 'no', 'yes'],
      [
        [0.9, 0.1],
        [0.4, 0.6],
        [0.35, 0.65],
        [0.2, 0.8],
      ],
      ['no', 'yes'],
    );
    expect(curves.map((c) => c.label)).toEqual(['yes']);
    expectClose(curves[0]!.auc, 0.75);
  });

  test('more classes give one curve per class whose mean area is the one-vs-rest macro AUC', () => {
    const { yTrue, proba, labels } = multiclassCase();
    const curves = rocCurvesByClass(yTrue, proba, labels);
    expect(curves.map((c) => c.label)).toEqual(labels);
    const mean = curves.reduce((s, c) => s + c.auc, 0) / curves.length;
    expectClose(mean, rocAucOvr(yTrue, proba, labels));
  });

  test('a class absent from the true labels has an undefined area', () => {
    const curves = rocCurvesByClass(
      ['a', 'a', 'b'],
      [
        [0.5, 0.3, 0.2],
        [0.6, 0.2, 0.2],
        [0.1, 0.8, 0.1],
      ],
      ['a', 'b', 'c'],
    );
    expect(Number.isNaN(curves[2]!.auc)).toBe(true);
    expectClose(curves[0]!.auc, 1);
  });
});

describe('on many tied scores', () => {
  // Scores on a coarse grid (many ties, zeros of both signs), labels at random: checked against definitions, not a library.
  let seed = 5;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const n = 3000;
  const scores = Array.from({ length: n }, () => {
    const s = Math.round(next() * 20) / 20 - 0.5;
    return s === 0 && next() < 0.5 ? -0 : s;
  });
  const y = scores.map((s) => (next() < 0.3 + s / 2 ? 'yes' : 'no'));

  it('ROC AUC is the share of (positive, negative) pairs ordered right, ties counting half, to the last bit', () => {
    let right = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] !== 'yes') continue;
      for (let j = 0; j < n; j++) {
        if (y[j] !== 'no') continue;
        pairs++;
        right += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    expect(rocAuc(y, scores, 'yes')).toBe(right / pairs);
  });

  it('the ROC curve has one point per distinct score, counting every sample at or above it', () => {
    const curve = rocCurve(y, scores, 'yes', { dropIntermediate: false });
    const distinct = [...new Set(scores.map((s) => (s === 0 ? 0 : s)))].sort((a, b) => b - a);
    expect(curve.thresholds).toEqual([Infinity, ...distinct]);
    const positives = y.filter((l) => l === 'yes').length;
    distinct.forEach((t, k) => {
      const tp = scores.filter((s, i) => s >= t && y[i] === 'yes').length;
      const fp = scores.filter((s, i) => s >= t && y[i] === 'no').length;
      expect(curve.tpr[k + 1]).toBe(tp / positives);
      expect(curve.fpr[k + 1]).toBe(fp / (n - positives));
    });
  });
});
