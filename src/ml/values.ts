/**
 * How raw cell values (CSV strings, JSON values, Parquet values) become typed values, shared by the
 * readers, validation, profiling and `readFrame`, so every stage agrees on what is missing or invalid.
 *
 * Missing: `undefined`, `null`, a NaN number, and the strings in `MISSING_TOKENS`.
 * Each `to*` function returns NaN (or null) for a missing value and `undefined` for a present value
 * that is not of the type.
 */
import type { ColumnType } from './types';

/** Strings that mean "no value" (a subset of pandas' defaults, so files written by pandas round-trip). */
export const MISSING_TOKENS: ReadonlySet<string> = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL']);

/** Whether a raw value is missing. */
export function isMissing(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value === 'string') return MISSING_TOKENS.has(value);
  if (typeof value === 'number') return Number.isNaN(value);
  return false;
}

const RADIX_PREFIX = /^\s*[+-]?0[xXoObB]/;

const POWERS_OF_TEN = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/**
 * Parses the common decimal form [-+]digits[.digits] without calling Number(), which dominates CSV
 * ingest otherwise. With at most 15 significant digits the mantissa and the power of ten are exact
 * doubles, so one correctly rounded division gives exactly Number()'s result (Clinger's fast path).
 * Anything else (exponents, more digits, spaces, text) returns undefined and takes the general path.
 */
function parsePlainDecimal(s: string): number | undefined {
  const n = s.length;
  if (n === 0 || n > 17) return undefined;
  let i = 0;
  let negative = false;
  const c0 = s.charCodeAt(0);
  if (c0 === 45 /* - */ || c0 === 43 /* + */) {
    negative = c0 === 45;
    i = 1;
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  let seenPoint = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48);
      digits++;
      if (seenPoint) scale++;
    } else if (c === 46 /* . */ && !seenPoint) {
      seenPoint = true;
    } else return undefined;
  }
  if (digits === 0 || digits > 15) return undefined;
  const value = scale === 0 ? mantissa : mantissa / POWERS_OF_TEN[scale];
  return negative ? -value : value;
}

/** A finite number, NaN if missing, `undefined` if present but not a finite number (hex, `inf`, text). */
export function toNumeric(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.isNaN(value) ? NaN : undefined;
  if (typeof value === 'string') {
    const fast = parsePlainDecimal(value);
    if (fast !== undefined) return fast;
    const n = +value;
    // every missing token except '' parses as NaN, so the common case never hashes the string
    if (!Number.isFinite(n)) return Number.isNaN(n) && MISSING_TOKENS.has(value) ? NaN : undefined;
    if (n === 0 && value.trim() === '') return NaN; // '' and blanks: Number() says 0, but there is no value
    // Number() also reads 0x1f, 0o17 and 0b11; those always come out as integers, so only they are checked.
    if (value.length > 2 && Number.isInteger(n) && RADIX_PREFIX.test(value)) return undefined;
    return n;
  }
  if (value === null || value === undefined) return NaN;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

/** 1 or 0, NaN if missing, `undefined` if not a boolean (accepts true/false in any case, 1/0). */
export function toBoolean(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    if (MISSING_TOKENS.has(value)) return NaN;
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1') return 1;
    if (v === 'false' || v === '0') return 0;
    return undefined;
  }
  if (typeof value === 'number') return value === 1 ? 1 : value === 0 ? 0 : Number.isNaN(value) ? NaN : undefined;
  if (typeof value === 'bigint') return value === 1n ? 1 : value === 0n ? 0 : undefined;
  if (value === null || value === undefined) return NaN;
  return undefined;
}

const ISO_DATETIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/;

function digitsAt(s: string, start: number, count: number): number {
  let v = 0;
  for (let i = start; i < start + count; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Fast path for the two most common shapes, YYYY-MM-DD and YYYY-MM-DDTHH:MM:SS[.mmm][Z], read as
 * UTC without a regular expression; anything else returns undefined and takes the general path.
 */
function parseIsoUtc(s: string): number | undefined {
  const n = s.length;
  if (n !== 10 && n !== 19 && n !== 20 && n !== 23 && n !== 24) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  let h = 0;
  let mi = 0;
  let sec = 0;
  let ms = 0;
  if (n > 10) {
    const t = s.charCodeAt(10);
    if ((t !== 84 && t !== 32) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
    h = digitsAt(s, 11, 2);
    mi = digitsAt(s, 14, 2);
    sec = digitsAt(s, 17, 2);
    let rest = 19;
    if (n >= 23) {
      if (s.charCodeAt(19) !== 46) return undefined;
      ms = digitsAt(s, 20, 3);
      rest = 23;
    }
    if (n === rest + 1 && s.charCodeAt(rest) !== 90 /* Z */) return undefined;
    if (n !== rest && n !== rest + 1) return undefined;
  }
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0) return undefined;
  const time = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  // a day past the end of the month (Date.UTC would roll it over) is left to the general path
  return new Date(time).getUTCDate() === d ? time : undefined;
}

/**
 * Epoch milliseconds (UTC), NaN if missing, `undefined` if not a datetime.
 * Accepts ISO 8601 dates and date-times; a date-time without an offset is read as UTC (never as the
 * machine's local time, so results do not depend on where a worker runs). Numbers are epoch ms.
 */
export function toDatetime(value: unknown): number | undefined {
  if (typeof value === 'string') {
    const fast = parseIsoUtc(value);
    if (fast !== undefined) return fast;
    if (MISSING_TOKENS.has(value)) return NaN;
    const m = ISO_DATETIME.exec(value.trim());
    if (!m) return undefined;
    const text = m[2] === undefined ? m[1] : `${m[1]}T${m[2]}${m[3] ?? 'Z'}`;
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.isNaN(value) ? NaN : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (value === null || value === undefined) return NaN;
  return undefined;
}

/** A category label, null if missing. Numbers and booleans become their text. */
export function toCategory(value: unknown): string | null {
  if (typeof value === 'string') return MISSING_TOKENS.has(value) ? null : value;
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isNaN(value) ? null : String(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Whether columns of this type are stored as numbers (Float64Array in a Frame). */
export function isNumericType(type: ColumnType): boolean {
  return type !== 'categorical';
}
