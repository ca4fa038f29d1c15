/**
 * Turns what minio-js, MinIO and the network throw into `MlopsError`s of the package's failure types,
 * each with a message that says what to fix. Transient trouble becomes `MlopsUnavailable` (retryable);
 * wrong credentials, bad names and missing objects become non-retryable types.
 */
import { FailureType, MlopsError, isMlopsError, type FailureTypeName } from '../errors';

/** What was being done when an error happened, for the message. */
export interface StorageErrorContext {
  /** The operation, in words: "put", "get", "stat", "create bucket", ... */
  op: string;
  bucket?: string;
  key?: string;
  /** `host:port` of MinIO. */
  endpoint?: string;
}

/** Socket and DNS error codes that mean "not reachable right now". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** S3 codes for server trouble, overload and timeouts. */
const TRANSIENT_S3_CODES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'SlowDownRead',
  'SlowDownWrite',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequests',
  'RequestTimeout',
  'OperationTimedOut',
  'XMinioServerNotInitialized',
  'XMinioReadQuorum',
  'XMinioWriteQuorum',
  'XMinioStorageFull',
  'XMinioBackendDown',
]);

const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'InvalidSecurity']);
const DENIED_CODES = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem']);
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload', 'NoSuchVersion']);
const CONFLICT_CODES = new Set(['PreconditionFailed', 'ConditionalRequestConflict', 'OperationAborted']);
const DIGEST_CODES = new Set([
  'XAmzContentSHA256Mismatch',
  'XAmzContentChecksumMismatch',
  'BadDigest',
  'InvalidDigest',
  'IncompleteBody',
  'IncorrectSizeError',
]);
const INVALID_CODES = new Set([
  'InvalidObjectName',
  'KeyTooLongError',
  'EntityTooLarge',
  'EntityTooSmall',
  'InvalidArgument',
  'InvalidPart',
  'InvalidPartOrder',
  'InvalidRange',
  'MetadataTooLarge',
  // minio-js raises these before sending anything.
  'InvalidObjectNameError',
  'InvalidArgumentError',
  'InvalidPrefixError',
  'ExpiresParamError',
]);

/** The S3, socket or minio-js code of an error, if it has one. */
export function storageErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code) return code;
  const name = (err as { name?: unknown }).name;
  if (typeof name === 'string' && name !== 'Error' && name !== 'S3Error') return name;
  return undefined;
}

/** Whether a conditional write lost: the object changed or appeared since it was read. */
export function isPreconditionFailed(err: unknown): boolean {
  const code = isMlopsError(err) ? (err.details?.code as string | undefined) : storageErrorCode(err);
  return code === 'PreconditionFailed' || code === 'ConditionalRequestConflict';
}

/** Whether an error says the object or bucket does not exist. */
export function isNotFoundError(err: unknown): boolean {
  if (isMlopsError(err)) return err.type === FailureType.NotFound;
  const code = storageErrorCode(err);
  return code !== undefined && NOT_FOUND_CODES.has(code);
}

function where(ctx: StorageErrorContext): string {
  if (ctx.bucket && ctx.key) return `s3://${ctx.bucket}/${ctx.key}`;
  if (ctx.bucket) return `bucket "${ctx.bucket}"`;
  return 'MinIO';
}

function make(type: FailureTypeName, message: string, ctx: StorageErrorContext, code: string | undefined, cause: unknown): MlopsError {
  return new MlopsError(type, message, { ...ctx, code, cause: cause instanceof Error ? cause.message : String(cause) }, { cause });
}

/**
 * Classifies an error from a storage call. Known storage failures become `MlopsError`s; an
 * `MlopsError` passes through; anything else (a programming error) is returned unchanged, so a bug
 * is not dressed up as an outage.
 */
export function toStorageError(err: unknown, ctx: StorageErrorContext): Error {
  if (isMlopsError(err)) return err;
  const code = storageErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const at = where(ctx);
  const endpoint = ctx.endpoint ? `MinIO at ${ctx.endpoint}` : 'MinIO';

  if (code && NETWORK_CODES.has(code)) {
    return make(
      FailureType.Unavailable,
      `${endpoint} is unreachable (${code}) during ${ctx.op} of ${at}: ` +
        `check that MinIO is running and that MINIO_ENDPOINT / MINIO_PORT point at it; retrying may succeed.`,
      ctx,
      code,
      err,
    );
  }
  const httpStatus = /Retryable HTTP status: (\d{3})/.exec(message)?.[1];
  if ((code && TRANSIENT_S3_CODES.has(code)) || httpStatus) {
    return make(
      FailureType.Unavailable,
      `${endpoint} is overloaded or failing (${code ?? `HTTP ${httpStatus}`}) during ${ctx.op} of ${at}: ${message}; retrying may succeed.`,
      ctx,
      code ?? `HTTP${httpStatus}`,
      err,
    );
  }
  if (code && CREDENTIAL_CODES.has(code)) {
    return make(
      FailureType.AccessDenied,
      `${endpoint} rejected the credentials (${code}) during ${ctx.op} of ${at}: check MINIO_ACCESS_KEY / MINIO_SECRET_KEY.`,
      ctx,
      code,
      err,
    );
  }
  if (code && DENIED_CODES.has(code)) {
    return make(
      FailureType.AccessDenied,
      `${endpoint} denied ${ctx.op} of ${at} (${code}): check MINIO_ACCESS_KEY / MINIO_SECRET_KEY, and that this user's policy ` +
        `allows it on bucket "${ctx.bucket ?? '?'}".`,
      ctx,
      code,
      err,
    );
  }
  if (code === 'RequestTimeTooSkewed') {
    return make(
      FailureType.Configuration,
      `${endpoint} refused ${ctx.op} of ${at}: this machine's clock differs too much from the server's; synchronise the clock (NTP).`,
      ctx,
      code,
      err,
    );
  }
  if (code === 'AuthorizationHeaderMalformed' || code === 'InvalidRegion') {
    return make(FailureType.Configuration, `${endpoint} refused ${ctx.op} of ${at} (${code}): check MINIO_REGION.`, ctx, code, err);
  }
  if (code === 'InvalidEndpointError' || code === 'InvalidPortError') {
    return make(FailureType.Configuration, `Invalid MinIO endpoint (${message}): check MINIO_ENDPOINT / MINIO_PORT.`, ctx, code, err);
  }
  if (code === 'NoSuchBucket') {
    return make(
      FailureType.NotFound,
      `Bucket "${ctx.bucket ?? '?'}" does not exist (during ${ctx.op}): check MINIO_BUCKET, or store something first to create it.`,
      ctx,
      code,
      err,
    );
  }
  if (code && NOT_FOUND_CODES.has(code)) {
    return make(FailureType.NotFound, `${at} does not exist (during ${ctx.op}).`, ctx, code, err);
  }
  if (code && CONFLICT_CODES.has(code)) {
    return make(FailureType.Conflict, `${at} changed concurrently during ${ctx.op} (${code}); retrying re-reads it.`, ctx, code, err);
  }
  if (code && DIGEST_CODES.has(code)) {
    return make(
      FailureType.Integrity,
      `The bytes MinIO received for ${at} do not match what was sent (${code}) during ${ctx.op}: ` +
        `the source changed while it was being uploaded, or was corrupted in transit.`,
      ctx,
      code,
      err,
    );
  }
  if (code === 'InvalidBucketName' || code === 'InvalidBucketNameError') {
    return make(
      FailureType.Configuration,
      `${message} (during ${ctx.op}): check MINIO_BUCKET (3-63 lowercase letters, digits, "." or "-").`,
      ctx,
      code,
      err,
    );
  }
  if (code && INVALID_CODES.has(code)) {
    return make(FailureType.InvalidInput, `${ctx.op} of ${at} was refused as invalid (${code}): ${message}`, ctx, code, err);
  }
  if (code && /^(S3Error|[A-Z][A-Za-z]+)$/.test(code) && (err as { name?: string }).name === 'S3Error') {
    // An S3 error this module does not know: report it with its code, and let retrying decide.
    return make(FailureType.Unavailable, `${endpoint} failed ${ctx.op} of ${at} (${code}): ${message}`, ctx, code, err);
  }
  if (code && /^E[A-Z]+$/.test(code)) {
    return make(
      FailureType.Unavailable,
      `${endpoint} failed ${ctx.op} of ${at} (${code}): ${message}; retrying may succeed.`,
      ctx,
      code,
      err,
    );
  }
  return err instanceof Error ? err : new Error(message);
}
