/** A trained model is one JSON document; serving it from JSON rows predicts exactly as from the training frame. */
import { FailureType, isMlopsError } from '../../../../src/errors';
import { MODEL_FORMAT, parseModel, predict, predictRows, trainModel, type Model, type TrainerName } from '../../../../src/ml/trainers';
import { seattleSchema, seattleWeather, takeRows } from '../../../helpers/seattle-weather';

const frame = seattleWeather();
const train = takeRows(
  frame,
  Array.from({ length: 600 }, (_, i) => 2 * i),
);
const models = new Map<TrainerName, Model>();

beforeAll(async () => {
  models.set('logistic-regression', await trainModel('logistic-regression', { train, schema: seattleSchema, params: {}, seed: 1 }));
  models.set('gbdt', await trainModel('gbdt', { train, schema: seattleSchema, params: { maxIter: 30 }, seed: 1 }));
});

function jsonRows(rows: number[]): Record<string, unknown>[] {
  const dates = frame.columns.date as Float64Array;
  return rows.map((i) => ({
    date: new Date(dates[i]).toISOString().slice(0, 10),
    precipitation: (frame.columns.precipitation as Float64Array)[i],
    temp_max: (frame.columns.temp_max as Float64Array)[i],
    temp_min: (frame.columns.temp_min as Float64Array)[i],
    wind: (frame.columns.wind as Float64Array)[i],
    weather: 'ignored: not a feature',
  }));
}

describe.each(['logistic-regression', 'gbdt'] as const)('%s model', (name) => {
  it('is self-contained JSON: after a round trip through text it predicts identically', () => {
    const model = models.get(name)!;
    expect(model.format).toBe(MODEL_FORMAT);
    expect(model.kind).toBe(name);
    const copy = parseModel(JSON.parse(JSON.stringify(model)));
    expect(predict(copy, frame)).toEqual(predict(model, frame));
  });

  it('predicts JSON rows exactly as it predicts the same rows of a frame', () => {
    const model = models.get(name)!;
    const rows = [1, 3, 500, 1001];
    expect(predictRows(model, jsonRows(rows))).toEqual(predict(model, takeRows(frame, rows)));
  });

  it('gives one probability per class, in model.classes order, summing to 1, and labels the most probable', () => {
    const model = models.get(name)!;
    const { labels, probabilities } = predict(model, takeRows(frame, [0, 1, 2]));
    expect(model.classes).toEqual(['drizzle', 'fog', 'rain', 'snow', 'sun']);
    probabilities!.forEach((p, i) => {
      expect(p).toHaveLength(5);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(labels![i]).toBe(model.classes[p.indexOf(Math.max(...p))]);
    });
  });

  it('imputes a feature that is absent or null instead of failing', () => {
    const model = models.get(name)!;
    const out = predictRows(model, [{ precipitation: null, temp_max: 10 }]);
    expect(out.labels).toHaveLength(1);
    expect(out.probabilities![0].every(Number.isFinite)).toBe(true);
  });

  it('rejects a value of the wrong type with MlopsInvalidInput naming the row and the field', () => {
    const model = models.get(name)!;
    const rows = jsonRows([1, 2]);
    rows[1].wind = 'very windy';
    const err = (() => {
      try {
        predictRows(model, rows);
      } catch (e) {
        return e;
      }
    })();
    expect(isMlopsError(err) && err.type).toBe(FailureType.InvalidInput);
    expect((err as Error).message).toBe('Row 1: field "wind" must be a number (it is numeric), got "very windy".');
    expect((err as { details?: unknown }).details).toEqual({ row: 1, field: 'wind', expected: 'numeric' });
  });

  it('rejects a date that is not a date', () => {
    const rows = jsonRows([1]);
    rows[0].date = 'yesterday';
    expect(() => predictRows(models.get(name)!, rows)).toThrow(/Row 0: field "date" must be an ISO 8601 date/);
  });
});

it('refuses a document that is not a model of this format', () => {
  expect(() => parseModel({ format: 'something-else' })).toThrow(/Not a temporal-mlops\/model@1 model/);
  expect(() => parseModel({ format: MODEL_FORMAT, kind: 'svm' })).toThrow(/Unknown model kind "svm"/);
});
