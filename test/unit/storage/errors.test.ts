import { FailureType, isMlopsError, MlopsError } from '../../../src/errors';
import { toStorageError } from '../../../src/storage/errors';

/** An error shaped like the ones minio-js raises for an S3 error response. */
function s3Error(code: string, message = 'server says no'): Error {
  const e = new Error(message) as Error & { code: string };
  e.name = 'S3Error';
  e.code = code;
  return e;
}

function sysError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:9000`), { code });
}

const ctx = { op: 'get', bucket: 'mlops', key: 'blobs/x', endpoint: '127.0.0.1:9000' };

function classify(err: unknown): MlopsError {
  const out = toStorageError(err, ctx);
  if (!isMlopsError(out)) throw new Error(`not classified: ${String(out)}`);
  return out;
}

describe('storage error classification', () => {
  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN'])(
    '%s is retryable and names the endpoint',
    (code) => {
      const e = classify(sysError(code));
      expect(e).toMatchObject({ type: FailureType.Unavailable, retryable: true });
      expect(e.message).toContain(`MinIO at 127.0.0.1:9000 is unreachable (${code})`);
    },
  );

  it.each(['InternalError', 'ServiceUnavailable', 'SlowDown', 'RequestTimeout', 'XMinioServerNotInitialized'])(
    '%s is retryable',
    (code) => {
      expect(classify(s3Error(code))).toMatchObject({ type: FailureType.Unavailable, retryable: true });
    },
  );

  it('a 5xx that minio-js reports only by status is retryable', () => {
    expect(classify(new Error('Request failed after 0 retries: Error: Retryable HTTP status: 502'))).toMatchObject({
      type: FailureType.Unavailable,
    });
  });

  it.each(['InvalidAccessKeyId', 'SignatureDoesNotMatch'])('%s says to check the keys and is not retryable', (code) => {
    const e = classify(s3Error(code));
    expect(e).toMatchObject({ type: FailureType.AccessDenied, retryable: false });
    expect(e.message).toContain('check MINIO_ACCESS_KEY / MINIO_SECRET_KEY');
  });

  it('AccessDenied also points at the policy', () => {
    const e = classify(s3Error('AccessDenied'));
    expect(e).toMatchObject({ type: FailureType.AccessDenied, retryable: false });
    expect(e.message).toMatch(/MINIO_ACCESS_KEY.*policy allows it on bucket "mlops"/);
  });

  it('missing objects and buckets are not-found, with what to check', () => {
    expect(classify(s3Error('NoSuchKey'))).toMatchObject({
      type: FailureType.NotFound,
      message: expect.stringContaining('s3://mlops/blobs/x does not exist'),
    });
    expect(classify(s3Error('NotFound'))).toMatchObject({ type: FailureType.NotFound });
    expect(classify(s3Error('NoSuchBucket'))).toMatchObject({
      type: FailureType.NotFound,
      message: expect.stringContaining('check MINIO_BUCKET'),
    });
  });

  it('invalid names, bad digests, lost conditions, clock skew and region are typed', () => {
    expect(classify(Object.assign(new Error('Invalid object name: '), { name: 'InvalidObjectNameError' }))).toMatchObject({
      type: FailureType.InvalidInput,
    });
    expect(classify(Object.assign(new Error('Invalid bucket name: x'), { name: 'InvalidBucketNameError' }))).toMatchObject({
      type: FailureType.Configuration,
      message: expect.stringContaining('MINIO_BUCKET'),
    });
    expect(classify(s3Error('XAmzContentSHA256Mismatch'))).toMatchObject({ type: FailureType.Integrity });
    expect(classify(s3Error('PreconditionFailed'))).toMatchObject({
      type: FailureType.Conflict,
      retryable: true,
      details: expect.objectContaining({ code: 'PreconditionFailed' }),
    });
    expect(classify(s3Error('RequestTimeTooSkewed'))).toMatchObject({ type: FailureType.Configuration });
    expect(classify(s3Error('AuthorizationHeaderMalformed'))).toMatchObject({
      type: FailureType.Configuration,
      message: expect.stringContaining('MINIO_REGION'),
    });
  });

  it('an unknown S3 code stays retryable; a programming error is not dressed up as an outage', () => {
    expect(classify(s3Error('SomethingNew'))).toMatchObject({
      type: FailureType.Unavailable,
      message: expect.stringContaining('SomethingNew'),
    });
    const bug = new TypeError('x is not a function');
    expect(toStorageError(bug, ctx)).toBe(bug);
    const typed = new MlopsError(FailureType.Integrity, 'already typed');
    expect(toStorageError(typed, ctx)).toBe(typed);
  });
});
