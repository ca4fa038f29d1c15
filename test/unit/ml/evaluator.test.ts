import { compareClaims, evaluateModel, higherIsBetter, judgeCandidate } from '../../../src/ml/evaluate';
import { metricNameProblem, metricNames, METRICS } from '../../../src/ml/metric-catalog';
import { builtinPredictor, predictInBatches } from '../../../src/ml/predictor';
import { trainModel } from '../../../src/ml/trainers';
import type { DatasetSchema, Frame } from '../../../src/ml/types';
import { parsePipelineSpec } from '../../../src/spec/pipeline';
import { holdoutDiagnostics } from '../../../src/report';

describe('the metric catalog', () => {
  test('declares each direction once: errors and losses are lower-is-better, scores higher-is-better', () => {
    expect(['rmse', 'mae', 'logLoss'].map(higherIsBetter)).toEqual([false, false, false]);
    expect(['accuracy', 'balancedAccuracy', 'macroF1', 'rocAuc', 'r2'].map(higherIsBetter)).toEqual([true, true, true, true, true]);
    expect(metricNames('regression').sort()).toEqual(['mae', 'r2', 'rmse']);
    expect(Object.values(METRICS).every((m) => m.description.length > 0)).toBe(true);
  });

  test('an unknown name is refused with the known ones listed, and a metric of the other task is named as such', () => {
    expect(metricNameProblem('acuracy')).toMatch(/unknown metric "acuracy" \(known metrics: accuracy, balancedAccuracy/);
    expect(metricNameProblem('rmse', 'classification')).toMatch(/"rmse" is a regression metric, but this model's task is classification/);
    expect(metricNameProblem('accuracy', 'classification')).toBeUndefined();
  });
});

describe('judging a candidate', () => {
  test('a maximum on a lower-is-better metric fails when the error is too large, saying lower is better', () => {
    expect(judgeCandidate({ rmse: 2.5 }, undefined, { thresholds: { rmse: { max: 2 } } })).toEqual([
      'rmse 2.5000 is above the maximum 2 (lower is better)',
    ]);
    expect(judgeCandidate({ rmse: 1.5 }, undefined, { thresholds: { rmse: { max: 2 } } })).toEqual([]);
  });

  test('a minimum on a lower-is-better metric is allowed and checked as written', () => {
    expect(judgeCandidate({ logLoss: 0.1 }, undefined, { thresholds: { logLoss: { min: 0.2 } } })).toEqual([
      'logLoss 0.1000 is below the minimum 0.2 (lower is better)',
    ]);
  });

  test('the champion margin honours direction: a larger rmse than production is worse, a smaller one is not', () => {
    const policy = { thresholds: {}, champion: { metric: 'rmse', margin: 0.1 } };
    expect(judgeCandidate({ rmse: 1.0 }, { rmse: 1.5 }, policy)).toEqual([]);
    const [failure] = judgeCandidate({ rmse: 1.5 }, { rmse: 1.0 }, policy);
    expect(failure).toMatch(
      /rmse 1\.5000 is worse than production's 1\.0000 \(higher by 0\.5000; lower is better\), more than the allowed margin 0\.1/,
    );
    expect(
      judgeCandidate({ accuracy: 0.8 }, { accuracy: 0.85 }, { thresholds: {}, champion: { metric: 'accuracy', margin: 0.02 } })[0],
    ).toMatch(/lower by 0\.0500; higher is better/);
  });
});

describe('claims of the training program against our measurement', () => {
  test('a false accuracy claim is flagged in a plain sentence naming the holdout rows', () => {
    const [check] = compareClaims({ accuracy: 0.99 }, { accuracy: 0.3478 }, 69);
    expect(check).toMatchObject({ metric: 'accuracy', claimed: 0.99, measured: 0.3478, mismatch: true });
    expect(check!.message).toMatch(
      /^the program claimed accuracy 0\.99; measured on 69 sealed holdout rows: 0\.3478 \(0\.6422 apart, more than the tolerance 0\.05\)$/,
    );
  });

  test('a claim within the tolerance matches; metrics we did not measure are not compared', () => {
    const checks = compareClaims({ accuracy: 0.86, f2: 0.5 }, { accuracy: 0.84 }, 100, 0.05);
    expect(checks).toHaveLength(1);
    expect(checks[0]!.mismatch).toBe(false);
  });

  test('errors are compared relative to our measurement, since their scale depends on the data', () => {
    expect(compareClaims({ rmse: 1040 }, { rmse: 1000 }, 10, 0.05)[0]!.mismatch).toBe(false);
    expect(compareClaims({ rmse: 2 }, { rmse: 1 }, 10, 0.05)[0]!.message).toMatch(/100\.0% apart/);
  });

  test('the old validationAccuracy style is compared as accuracy', () => {
    expect(compareClaims({ validationAccuracy: 0.9, rmse: 'x' }, { accuracy: 0.5, rmse: 1 }, 10)).toMatchObject([
      { metric: 'accuracy', claimed: 0.9, mismatch: true },
    ]);
  });
});

describe('the spec checks metric names when it is parsed', () => {
  const base = { model: 'm', dataset: { source: 'data.csv', target: 'y' }, trainer: { name: 'gbdt' } };
  test('an unknown threshold metric is refused, listing the known metrics', () => {
    expect(() => parsePipelineSpec({ ...base, validation: { thresholds: { acuracy: { min: 0.5 } } } })).toThrow(
      /validation\.thresholds\.acuracy.*unknown metric "acuracy" \(known metrics: accuracy/s,
    );
  });

  test('champion, monitor performance and guardrail metrics are checked too', () => {
    const spec = {
      ...base,
      validation: { champion: { metric: 'f1' } },
      monitor: { performance: { metric: 'acc', min: 0.5 }, guardrail: { metric: 'auc' } },
    };
    let message = '';
    try {
      parsePipelineSpec(spec);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/validation\.champion\.metric.*unknown metric "f1"/);
    expect(message).toMatch(/monitor\.performance\.metric.*unknown metric "acc"/);
    expect(message).toMatch(/monitor\.guardrail\.metric.*unknown metric "auc"/);
  });

  test('a negative minimum for a metric bounded in [0, 1] is refused', () => {
    expect(() => parsePipelineSpec({ ...base, validation: { thresholds: { accuracy: { min: -0.5 } } } })).toThrow(
      /min -0\.5 is outside the values accuracy can take \(0 to 1\)/,
    );
  });

  test('a metric of the wrong task is refused when the schema declares the task', () => {
    const dataset = {
      source: 'data.csv',
      schema: {
        target: 'y',
        task: 'classification',
        features: ['x'],
        columns: [
          { name: 'x', type: 'numeric' },
          { name: 'y', type: 'categorical' },
        ],
      },
    };
    expect(() => parsePipelineSpec({ ...base, dataset, validation: { thresholds: { rmse: { max: 1 } } } })).toThrow(
      /"rmse" is a regression metric/,
    );
  });

  test('claims default to warn, and onMismatch must be warn or fail', () => {
    expect(parsePipelineSpec({ ...base, validation: { claims: {} } }).validation.claims).toEqual({ tolerance: 0.05, onMismatch: 'warn' });
    expect(() => parsePipelineSpec({ ...base, validation: { claims: { onMismatch: 'ignore' } } })).toThrow(
      /validation\.claims\.onMismatch/,
    );
  });
});

describe('true/false, 0/1 and string labels', () => {
  function frame(target: Float64Array | string[], n: number): Frame {
    const x = Float64Array.from({ length: n }, (_, i) => i % 10);
    return { rowCount: n, columns: { x, y: target } };
  }
  const schemaOf = (type: 'boolean' | 'numeric' | 'categorical'): DatasetSchema => ({
    columns: [
      { name: 'x', type: 'numeric' },
      { name: 'y', type },
    ],
    target: 'y',
    features: ['x'],
    task: 'classification',
  });
  const n = 60;
  const cases: [string, 'boolean' | 'numeric' | 'categorical', Float64Array | string[], string[]][] = [
    ['true/false', 'boolean', Float64Array.from({ length: n }, (_, i) => (i % 10 >= 5 ? 1 : 0)), ['false', 'true']],
    ['0/1', 'numeric', Float64Array.from({ length: n }, (_, i) => (i % 10 >= 5 ? 1 : 0)), ['0', '1']],
    ['string', 'categorical', Array.from({ length: n }, (_, i) => (i % 10 >= 5 ? 'high' : 'low')), ['high', 'low']],
  ];
  test.each(cases)('%s labels validate, with the class names a built-in model has', async (_, type, target, classes) => {
    const schema = schemaOf(type);
    const model = await trainModel('logistic-regression', { train: frame(target, n), schema, params: {}, seed: 1 });
    expect(model.classes).toEqual(classes);
    const predictor = builtinPredictor(model);
    const evaluation = await evaluateModel(predictor, frame(target, n));
    expect(evaluation.rows).toBe(n);
    expect(evaluation.metrics.accuracy).toBe(1);
    expect(evaluation.confusionMatrix!.labels).toEqual(classes);
    const { roc } = holdoutDiagnostics(predictor, frame(target, n), await predictor.predict(frame(target, n)));
    expect(roc!.length).toBeGreaterThan(0);
  });

  test('a model whose classes are named otherwise ("True"/"False") is refused, saying how labels are named', async () => {
    const schema = schemaOf('boolean');
    const target = Float64Array.from({ length: n }, (_, i) => (i % 10 >= 5 ? 1 : 0));
    const model = await trainModel('logistic-regression', { train: frame(target, n), schema, params: {}, seed: 1 });
    const renamed = { ...builtinPredictor(model), classes: ['False', 'True'] };
    await expect(evaluateModel(renamed, frame(target, n))).rejects.toThrow(
      new RegExp(
        'The holdout\'s "y" has label\\(s\\) "false", "true" that the model has no class for \\(its classes: "False", "True"\\)\\. ' +
          'A true/false target is labelled "true" and "false"',
      ),
    );
  });

  test('a missing boolean label is left out of the scored rows', async () => {
    const schema = schemaOf('boolean');
    const target = Float64Array.from({ length: n }, (_, i) => (i % 10 >= 5 ? 1 : 0));
    const model = await trainModel('logistic-regression', { train: frame(target, n), schema, params: {}, seed: 1 });
    const withMissing = Float64Array.from(target, (v, i) => (i === 3 ? NaN : v));
    expect((await evaluateModel(builtinPredictor(model), frame(withMissing, n))).rows).toBe(n - 1);
  });
});

describe('scoring a large holdout in slices', () => {
  test('the answers of a model scored slice by slice are the answers it gives the whole holdout at once', async () => {
    const n = 1003;
    const x = Float64Array.from({ length: n }, (_, i) => (i * 7919) % 101);
    const z = Array.from({ length: n }, (_, i) => ['a', 'b', 'c'][i % 3]);
    const classes = Array.from({ length: n }, (_, i) => (x[i] + (z[i] === 'b' ? 30 : 0) > 60 ? 'late' : 'on time'));
    const schema: DatasetSchema = {
      columns: [
        { name: 'x', type: 'numeric' },
        { name: 'z', type: 'categorical' },
        { name: 'y', type: 'categorical' },
        { name: 'v', type: 'numeric' },
      ],
      target: 'y',
      features: ['x', 'z'],
      task: 'classification',
    };
    const holdout: Frame = { rowCount: n, columns: { x, z, y: classes } };
    const gbdt = builtinPredictor(await trainModel('gbdt', { train: holdout, schema, params: { maxIter: 5 }, seed: 1 }));
    const whole = await gbdt.predict(holdout);
    expect(await predictInBatches(gbdt, holdout, 100)).toEqual(whole);
    expect(whole.labels).toContain('late');

    const regression: DatasetSchema = { ...schema, target: 'v', task: 'regression' };
    const values: Frame = { rowCount: n, columns: { x, z, v: Float64Array.from(x, (v) => 2 * v + 1) } };
    const linear = builtinPredictor(await trainModel('gbdt', { train: values, schema: regression, params: { maxIter: 5 }, seed: 1 }));
    expect(await predictInBatches(linear, values, 64)).toEqual(await linear.predict(values));
  });
});
