import { compareWithCheck, parseCheckPredictions, predictionProblems } from '../../../src/ml/servability';

const classes = ['a', 'b'];

describe("comparing a model's answers with its program's own predictions", () => {
  test('identical labels and probabilities within 1e-4 agree', () => {
    const ours = {
      labels: ['a', 'b'],
      probabilities: [
        [0.7, 0.3],
        [0.2, 0.8],
      ],
    };
    const theirs = [
      { label: 'a', probabilities: [0.70005, 0.29995] },
      { label: 'b', probabilities: [0.2, 0.8] },
    ];
    expect(compareWithCheck('classification', classes, ours, theirs)).toEqual({ disagreements: [], problems: [] });
  });

  test('a different label or a probability further than 1e-4 is a disagreement naming the row, ours and theirs', () => {
    const ours = {
      labels: ['a', 'b', 'a'],
      probabilities: [
        [0.7, 0.3],
        [0.2, 0.8],
        [0.6, 0.4],
      ],
    };
    const theirs = [
      { label: 'b', probabilities: [0.3, 0.7] },
      { label: 'b', probabilities: [0.2003, 0.7997] },
      { label: 'a', probabilities: [0.6, 0.4] },
    ];
    const { disagreements } = compareWithCheck('classification', classes, ours, theirs);
    expect(disagreements.map((d) => d.row)).toEqual([0, 1]);
    expect(disagreements[0]).toMatchObject({ ours: { label: 'a' }, theirs: { label: 'b' }, why: 'labels differ: "a" against "b"' });
    expect(disagreements[1]!.why).toMatch(/probability of "[ab]" differs by 0\.000300, more than 0\.0001/);
  });

  test('regression values agree within 1e-4 relative, not absolute', () => {
    const ours = { values: Float64Array.from([1_000_000, 1, 0]) };
    const theirs = [{ value: 1_000_050 }, { value: 1.001 }, { value: 0 }];
    const { disagreements } = compareWithCheck('regression', [], ours, theirs);
    expect(disagreements.map((d) => d.row)).toEqual([1]);
    expect(disagreements[0]!.why).toMatch(/values differ by 0\.000999 \(relative\)/);
  });

  test('a different number of rows is a problem, not a silent pass', () => {
    expect(compareWithCheck('classification', classes, { labels: ['a'], probabilities: [[1, 0]] }, []).problems[0]).toMatch(
      /predicted 0 check rows, but there are 1/,
    );
  });

  test('NaN probabilities disagree', () => {
    const { disagreements } = compareWithCheck('classification', classes, { labels: ['a'], probabilities: [[NaN, NaN]] }, [
      { label: 'a', probabilities: [0.5, 0.5] },
    ]);
    expect(disagreements[0]!.why).toMatch(/undefined amount/);
  });
});

describe('the shape of the answers', () => {
  test('well-formed classifier answers have no problems', () => {
    expect(
      predictionProblems(
        'classification',
        classes,
        {
          labels: ['a', 'b'],
          probabilities: [
            [0.5, 0.5],
            [0.1, 0.9],
          ],
        },
        2,
      ),
    ).toEqual([]);
  });

  test('probabilities that do not sum to 1, non-finite values, wrong widths and unknown labels are each named with example rows', () => {
    const problems = predictionProblems(
      'classification',
      classes,
      { labels: ['a', 'c', 'a', 'b'], probabilities: [[0.5, 0.2], [0.5, 0.5], [NaN, 1], [1]] },
      4,
    );
    expect(problems.join('\n')).toMatch(/one per class\) in 1 row\(s\), e\.g\. row 3/);
    expect(problems.join('\n')).toMatch(/not a finite number in \[0, 1\] in 1 row\(s\), e\.g\. row 2/);
    expect(problems.join('\n')).toMatch(/do not sum to 1/);
    expect(problems.join('\n')).toMatch(/a label that is not one of the classes \(a, b\) in 1 row\(s\), e\.g\. row 1/);
  });

  test('a regressor must answer every row with a finite number', () => {
    expect(predictionProblems('regression', [], { values: Float64Array.from([1, Infinity]) }, 2)[0]).toMatch(
      /not a finite number in 1 row/,
    );
    expect(predictionProblems('regression', [], { values: Float64Array.from([1]) }, 2)[0]).toMatch(/expected 2 predicted values, got 1/);
  });
});

describe('check_predictions.jsonl', () => {
  test('is read line by line, labels as text', () => {
    expect(
      parseCheckPredictions('{"label":"a","probabilities":[1,0]}\n\n{"label":"b","probabilities":[0,1]}\n', 'classification', classes),
    ).toEqual([
      { label: 'a', probabilities: [1, 0] },
      { label: 'b', probabilities: [0, 1] },
    ]);
  });

  test('a malformed line is refused naming the line', () => {
    expect(() => parseCheckPredictions('{"label":"a","probabilities":[1]}', 'classification', classes)).toThrow(
      /line 1 needs "probabilities": 2 numbers/,
    );
    expect(() => parseCheckPredictions('{"value":1}\nnope', 'regression', [])).toThrow(/line 2 is not JSON/);
  });
});
