import { median, roundFigure } from '../../../src/bench/serving';

describe('serving benchmark figures over rounds', () => {
  it('the median of an odd number of rounds is the middle one, of an even number the mean of the two middle ones', () => {
    expect(median([9, 1, 5, 3, 7])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('a figure whose spread is wider than its margin to the goal is flagged, whether or not its median meets it', () => {
    // Median 0.6 against >= 0.5: a margin of 0.1, a spread of 0.2.
    expect(roundFigure([0.5, 0.55, 0.6, 0.65, 0.7], { op: '>=', value: 0.5 })).toEqual({
      median: 0.6,
      min: 0.5,
      max: 0.7,
      goal: { op: '>=', value: 0.5 },
      met: true,
      spreadWiderThanMargin: true,
    });
    // Median 12 against <= 10: not met, and a spread of 1 cannot bridge the margin of 2.
    expect(roundFigure([11.5, 12, 12.5], { op: '<=', value: 10 })).toMatchObject({ met: false, spreadWiderThanMargin: false });
    // Median 3 against < 5 with a spread of 1: met, and clearly so.
    expect(roundFigure([2.5, 3, 3.5], { op: '<', value: 5 })).toMatchObject({ met: true, spreadWiderThanMargin: false });
    expect(roundFigure([1, 2, 3])).toEqual({ median: 2, min: 1, max: 3 });
  });
});
