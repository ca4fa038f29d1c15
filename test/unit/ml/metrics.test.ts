import { isMlopsError } from '../../../src/errors';
import {
  accuracy,
  balancedAccuracy,
  classificationMetrics,
  confusionMatrix,
  logLoss,
  macroF1,
  mae,
  r2,
  regressionMetrics,
  rmse,
  rocAuc,
  rocAucOvr,
} from '../../../src/ml/metrics';
import { binaryCase, multiclassCase, regressionCase } from '../../helpers/ml-data';
import { expectClose, reference } from '../../helpers/ml-reference';

const ref = reference.metrics;

describe('classification metrics agree with scikit-learn', () => {
  const { yTrue, scores } = binaryCase();
  const yPred = scores.map((s) => (s >= 0.5 ? 1 : 0));

  test('binary accuracy, balanced accuracy and macro-F1', () => {
    expectClose(accuracy(yTrue, yPred), ref.binary.accuracy);
    expectClose(balancedAccuracy(yTrue, yPred), ref.binary.balancedAccuracy);
    expectClose(macroF1(yTrue, yPred), ref.binary.macroF1);
    expect(confusionMatrix(yTrue, yPred).matrix).toEqual(ref.binary.confusionMatrix);
  });

  test('binary log-loss from a probability vector or a two-column matrix', () => {
    expectClose(logLoss(yTrue, scores, [0, 1]), ref.binary.logLoss);
    expectClose(
      logLoss(
        yTrue,
        scores.map((s) => [1 - s, s]),
        [0, 1],
      ),
      ref.binary.logLoss2d,
    );
  });

  test('binary ROC AUC with many tied scores', () => {
    expect(new Set(scores).size).toBeLessThan(scores.length / 2);
    expectClose(rocAuc(yTrue, scores), ref.binary.rocAuc);
  });

  test('multiclass metrics with string labels, log-loss and one-vs-rest AUC', () => {
    const { yTrue: y, proba, labels } = multiclassCase();
    const m = classificationMetrics(y, proba, labels);
    expectClose(m.accuracy, ref.multiclass.accuracy);
    expectClose(m.balancedAccuracy, ref.multiclass.balancedAccuracy);
    expectClose(m.macroF1, ref.multiclass.macroF1);
    expectClose(m.logLoss, ref.multiclass.logLoss);
    expectClose(m.rocAuc, ref.multiclass.rocAucOvr);
    expectClose(rocAucOvr(y, proba, labels), ref.multiclass.rocAucOvr);
    expect(m.confusionMatrix.matrix).toEqual(ref.multiclass.confusionMatrix);
  });

  test('a class that only appears in predictions is left out of balanced accuracy but scores 0 in macro-F1', () => {
    const e = ref.edge.predOnlyClass;
    expectClose(balancedAccuracy(e.yTrue, e.yPred), e.balancedAccuracy);
    expectClose(macroF1(e.yTrue, e.yPred), e.macroF1);
  });

  test('probabilities of exactly 0 and 1 are clipped to machine epsilon in log-loss', () => {
    const e = ref.edge.logLossClipped;
    const value = logLoss(e.yTrue, e.proba, [0, 1]);
    expect(Number.isFinite(value)).toBe(true);
    expectClose(value, e.value);
  });

  test('all-tied scores give an AUC of one half; a single class gives no AUC', () => {
    expectClose(rocAuc(ref.edge.aucAllTied.yTrue, ref.edge.aucAllTied.scores), ref.edge.aucAllTied.value);
    expect(rocAuc([1, 1, 1], [0.2, 0.4, 0.9])).toBeNaN();
    expect(
      classificationMetrics(
        [1, 1],
        [
          [0.3, 0.7],
          [0.6, 0.4],
        ],
        [0, 1],
      ).rocAuc,
    ).toBeNull();
  });

  test('empty inputs and mismatched lengths are rejected as invalid input', () => {
    for (const f of [() => accuracy([], []), () => macroF1([1], [1, 0]), () => rmse([], [])]) {
      let caught: unknown;
      try {
        f();
      } catch (err) {
        caught = err;
      }
      expect(isMlopsError(caught) && caught.type).toBe('MlopsInvalidInput');
    }
  });

  test('a probability outside [0, 1] is rejected', () => {
    expect(() => logLoss([0, 1], [0.5, 1.2], [0, 1])).toThrow(/outside \[0, 1\]/);
  });
});

describe('regression metrics agree with scikit-learn', () => {
  test('RMSE, MAE and R²', () => {
    const { yTrue, yPred } = regressionCase();
    expectClose(rmse(yTrue, yPred), ref.regression.rmse);
    expectClose(mae(yTrue, yPred), ref.regression.mae);
    expectClose(r2(yTrue, yPred), ref.regression.r2);
    expect(regressionMetrics(yTrue, yPred).r2).toBeCloseTo(ref.regression.r2, 12);
  });

  test('R² of a constant target is 1 for perfect predictions and 0 otherwise; undefined for one sample', () => {
    expect(r2([3, 3, 3], [3, 3, 3])).toBe(ref.edge.r2ConstantPerfect);
    expect(r2([3, 3, 3], [3, 2, 3])).toBe(ref.edge.r2ConstantImperfect);
    expect(r2([1], [2])).toBeNaN();
    expect(regressionMetrics([1], [2]).r2).toBeNull();
  });
});
