import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../../src/activities/failures';
import { FailureType, isNetworkError, isProgrammingError, MlopsError, NON_RETRYABLE_FAILURE_TYPES } from '../../../src/errors';

describe('our own bugs are not retried as outages', () => {
  test('a TypeError, ReferenceError or RangeError becomes a non-retryable MlopsInternalError that says it is a bug', () => {
    for (const err of [
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      new ReferenceError('y is not defined'),
      new RangeError('Invalid array length'),
    ]) {
      const failure = toFailure(err) as ApplicationFailure;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure.type).toBe('MlopsInternalError');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toMatch(/Internal error in temporal-mlops \(a bug.*not retried\).*The stack is in the worker log/);
      expect(failure.message).toContain(err.message);
    }
    expect(NON_RETRYABLE_FAILURE_TYPES).toContain(FailureType.Bug);
  });

  test('network failures stay retryable, even when Node reports them as a TypeError', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
    const fetchFailed = new TypeError('fetch failed', { cause: refused });
    expect(isNetworkError(fetchFailed)).toBe(true);
    expect(isProgrammingError(fetchFailed)).toBe(false);
    expect(toFailure(fetchFailed)).toBe(fetchFailed);
    expect(toFailure(refused)).toBe(refused);
  });

  test('typed errors keep their type and retryability', () => {
    const unavailable = toFailure(new MlopsError(FailureType.Unavailable, 'MinIO is down')) as ApplicationFailure;
    expect([unavailable.type, unavailable.nonRetryable]).toEqual(['MlopsUnavailable', false]);
    const invalid = toFailure(new MlopsError(FailureType.InvalidInput, 'bad')) as ApplicationFailure;
    expect([invalid.type, invalid.nonRetryable]).toEqual(['MlopsInvalidInput', true]);
  });
});
