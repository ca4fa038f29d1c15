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
