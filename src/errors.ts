/**
 * The failure types of temporal-mlops, declared once.
 *
 * This module has no imports, so it is safe both in the workflow sandbox and in the pure core.
 * The core throws `MlopsError`; the activity interceptor turns it into an `ApplicationFailure`
 * of the same type, and workflows name these types in their retry policies.
 */

/** Every failure type this package raises, by the name that appears in Temporal's UI and history. */
export const FailureType = {
  /** Configuration is missing or invalid: fix the named variable. */
  Configuration: 'MlopsConfigurationError',
  /** An input (spec, data file, signal payload, name) is malformed: fix the input. */
  InvalidInput: 'MlopsInvalidInput',
  /** A model, version, alias, dataset or object does not exist. */
  NotFound: 'MlopsNotFound',
  /** Stored bytes no longer match their recorded sha256: the artifact was altered or corrupted. */
  Integrity: 'MlopsIntegrityError',
  /** The storage credentials are wrong or lack a permission. */
  AccessDenied: 'MlopsAccessDenied',
  /** Data failed a blocking validation rule. */
  DataValidation: 'MlopsDataValidationFailed',
  /** A trainer (built-in or external command) failed in a way that retrying will not fix. */
  Trainer: 'MlopsTrainerFailed',
  /** A compare-and-swap lost to a concurrent writer; retrying re-reads and tries again. */
  Conflict: 'MlopsConflict',
  /** A dependency (MinIO, a URL) is unreachable or overloaded for now; retrying may succeed. */
  Unavailable: 'MlopsUnavailable',
  /** A bug in temporal-mlops itself (a TypeError and the like): retrying runs the same code again, so it is reported at once. */
  Bug: 'MlopsInternalError',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that retrying cannot fix; workflows pass this list as `nonRetryableErrorTypes`. */
export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureTypeName[] = [
  FailureType.Configuration,
  FailureType.InvalidInput,
  FailureType.NotFound,
  FailureType.Integrity,
  FailureType.AccessDenied,
  FailureType.DataValidation,
  FailureType.Trainer,
  FailureType.Bug,
];

/** Whether a failure of this type is worth retrying. */
export function isRetryableFailureType(type: string): boolean {
  return !(NON_RETRYABLE_FAILURE_TYPES as readonly string[]).includes(type);
}

/** An error raised by the core, carrying its failure type and structured details for the user. */
export class MlopsError extends Error {
  readonly type: FailureTypeName;
  readonly details?: Record<string, unknown>;

  constructor(type: FailureTypeName, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = type;
    this.type = type;
    this.details = details;
  }

  /** Whether retrying the operation that raised this error can succeed. */
  get retryable(): boolean {
    return isRetryableFailureType(this.type);
  }
}

/** Whether a value is an `MlopsError` (works across module copies, unlike `instanceof`). */
export function isMlopsError(err: unknown): err is MlopsError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as MlopsError).type === 'string' &&
    Object.values(FailureType).includes((err as MlopsError).type) &&
    err instanceof Error
  );
}

/** The JavaScript errors that mean a mistake in code (ours), never a condition of the world outside. */
const PROGRAMMING_ERRORS = new Set(['TypeError', 'ReferenceError', 'RangeError', 'SyntaxError', 'EvalError', 'URIError']);

/** Codes of network errors (Node's and the operating system's) that are outages, worth retrying. */
const NETWORK_CODES =
  /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ENETDOWN|UND_ERR_\w+)$/;

/** Whether an error (or one of its causes) is a network failure: `fetch failed`, a refused or reset connection. */
export function isNetworkError(err: unknown): boolean {
  // Duck-typed, not `instanceof`: errors from Node internals may come from another realm (jest, vm).
  for (let e = err, depth = 0; isErrorLike(e) && depth < 5; e = (e as Error & { cause?: unknown }).cause, depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.test(code)) return true;
    if (e.name === 'TypeError' && /^fetch failed$|terminated|socket/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Whether an error is a bug in our code: a TypeError, ReferenceError, RangeError (and the other
 * built-in programming errors) that is not an `MlopsError` and not a network failure in disguise
 * (Node's fetch reports a refused connection as `TypeError: fetch failed`).
 */
export function isProgrammingError(err: unknown): err is Error {
  if (!isErrorLike(err) || isMlopsError(err)) return false;
  return PROGRAMMING_ERRORS.has(err.name) && !isNetworkError(err);
}

function isErrorLike(e: unknown): e is Error {
  return typeof e === 'object' && e !== null && typeof (e as Error).name === 'string' && typeof (e as Error).message === 'string';
}

/** The message a user sees for a bug: what happened, that it is ours, and where the details are. */
export function bugMessage(err: Error): string {
  return (
    `Internal error in temporal-mlops (a bug, not a problem with your data or model, so it is not retried): ${err.name}: ${err.message}. ` +
    'The stack is in the worker log; please report it with that stack.'
  );
}
