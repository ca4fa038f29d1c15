/** How every `mlops` command prints: human text by default, one JSON document with --json. */
import { isMlopsError } from '../errors';

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A failure the user caused by calling a command wrongly (exit code 2). */
export class UsageError extends Error {}

/** Prints `data` as JSON when asked, otherwise the human text. */
export function emit(json: boolean | undefined, data: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human.endsWith('\n') ? human : `${human}\n`);
}

/** Prints an error the way every command does, and returns its exit code. */
export function reportError(err: unknown, json: boolean): number {
  const code = err instanceof UsageError ? EXIT.usage : EXIT.failure;
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    const type = isMlopsError(err) ? err.type : err instanceof UsageError ? 'UsageError' : 'Error';
    process.stdout.write(
      `${JSON.stringify({ error: { type, message, details: isMlopsError(err) ? err.details : undefined } }, null, 2)}\n`,
    );
  } else {
    process.stderr.write(`mlops: ${message}\n`);
  }
  return code;
}
