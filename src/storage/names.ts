/**
 * Validation of the names that become parts of object keys (model, alias and dataset names, version
 * numbers, pipeline-run keys) and of the references stored next to them. Every check runs before any
 * request, so a bad name never reaches MinIO.
 *
 * Pure (its imports have no imports), so workflows and the CLI can validate early with the same rules.
 */
import { FailureType, MlopsError } from '../errors';
import { isSha256, parseS3Uri, type ArtifactRef } from './refs';

/** The kinds of names the registry and snapshot store accept. */
export type NameKind = 'model' | 'alias' | 'dataset';

/** Longest accepted model, alias or dataset name. */
export const MAX_NAME_LENGTH = 128;

/** Longest accepted pipeline-run key (a Temporal workflow id is at most 1000 bytes by default). */
export const MAX_RUN_KEY_LENGTH = 1000;

/**
 * Alias names that would be ambiguous where a version can be written instead of an alias
 * (`model@3`, `model@latest`).
 */
const RESERVED_ALIASES = new Set(['latest']);

const ALLOWED = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Returns the problem with a name, or undefined when it is valid. */
export function nameProblem(kind: NameKind, value: unknown): string | undefined {
  if (typeof value !== 'string') return `a ${kind} name must be a string, got ${value === null ? 'null' : typeof value}`;
  if (value.length === 0) return `a ${kind} name must not be empty`;
  if (value.length > MAX_NAME_LENGTH) return `a ${kind} name must be at most ${MAX_NAME_LENGTH} characters, got ${value.length}`;
  if (CONTROL.test(value)) return `${kind} name ${JSON.stringify(value)} must not contain control characters`;
  if (value.includes('/') || value.includes('\\')) return `${kind} name ${JSON.stringify(value)} must not contain "/" or "\\"`;
  if (value.includes('..')) return `${kind} name ${JSON.stringify(value)} must not contain ".."`;
  if (!ALLOWED.test(value)) {
    return `${kind} name ${JSON.stringify(value)} may use only letters, digits, ".", "_" and "-", and must start with a letter or digit`;
  }
  if (kind === 'alias' && /^[0-9]+$/.test(value)) return `alias name ${JSON.stringify(value)} must not be a number: numbers name versions`;
  if (kind === 'alias' && RESERVED_ALIASES.has(value)) return `alias name ${JSON.stringify(value)} is reserved`;
  return undefined;
}

/** Throws `MlopsInvalidInput` unless the value is a valid name of this kind; returns it typed. */
export function assertName(kind: NameKind, value: unknown): string {
  const problem = nameProblem(kind, value);
  if (problem) throw new MlopsError(FailureType.InvalidInput, `Invalid ${kind} name: ${problem}.`, { kind, name: value });
  return value as string;
}

/** Throws `MlopsInvalidInput` unless the value is a version number (a positive whole number). */
export function assertVersion(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new MlopsError(FailureType.InvalidInput, `Invalid model version ${JSON.stringify(value)}: expected a whole number from 1 up.`, {
      version: value,
    });
  }
  return value;
}

/** Throws `MlopsInvalidInput` unless the value can key a pipeline run (a non-empty string of bounded length). */
export function assertRunKey(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RUN_KEY_LENGTH) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Invalid pipeline-run key ${JSON.stringify(typeof value === 'string' ? value.slice(0, 80) : value)}: ` +
        `expected the workflow id, 1 to ${MAX_RUN_KEY_LENGTH} characters.`,
      { runKey: value },
    );
  }
  return value;
}

/** Throws `MlopsInvalidInput` unless the value is a non-empty string (a person, a reason, a trainer name). */
export function assertText(what: string, value: unknown, maxLength = 10_000): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > maxLength) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Invalid ${what}: expected a non-empty string of at most ${maxLength} characters, got ${JSON.stringify(value)?.slice(0, 80)}.`,
      { what },
    );
  }
  return value;
}

/** Throws `MlopsInvalidInput` unless the value is a lowercase hex sha256. */
export function assertSha256(what: string, value: unknown): string {
  if (!isSha256(value))
    throw new MlopsError(
      FailureType.InvalidInput,
      `Invalid ${what}: expected a lowercase hex sha256 (64 characters), got ${JSON.stringify(value)}.`,
      { what },
    );
  return value;
}

/** Throws `MlopsInvalidInput` unless the value is a well-formed artifact reference. */
export function assertArtifactRef(what: string, value: unknown): ArtifactRef {
  const ref = value as ArtifactRef;
  if (typeof ref !== 'object' || ref === null || typeof ref.uri !== 'string' || !parseS3Uri(ref.uri)) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Invalid ${what}: expected an artifact reference { uri: "s3://bucket/key", sha256, size }, got ${JSON.stringify(value)?.slice(0, 200)}.`,
      { what },
    );
  }
  assertSha256(`${what}.sha256`, ref.sha256);
  if (!Number.isSafeInteger(ref.size) || ref.size < 0) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Invalid ${what}.size: expected a whole number of bytes, got ${JSON.stringify(ref.size)}.`,
      { what },
    );
  }
  return ref;
}
