/**
 * Text encodings of sources. The engine reads UTF-8 only: a source declared in another encoding
 * (`dataset.encoding: latin1 | windows-1252`) is transcoded to UTF-8 in the scratch directory first;
 * a source that is not valid UTF-8 and declares nothing is refused with the byte offset, line and
 * data row of its first bad byte (found by our own scan, run only once the engine has refused it),
 * never repaired in silence.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { FailureType, MlopsError } from '../errors';
import { engineMessage } from './engine';
import type { LocalSource } from './sources';

/** Encodings a dataset may declare (UTF-8 is the default). */
export const SOURCE_ENCODINGS = ['utf-8', 'latin1', 'windows-1252'] as const;
export type SourceEncoding = (typeof SOURCE_ENCODINGS)[number];

function open(path: string): Readable {
  const raw = createReadStream(path);
  return path.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

/**
 * The source as UTF-8: itself when it is UTF-8 (or Parquet, whose strings are UTF-8 by definition),
 * else a transcoded copy in `dir`. latin1 is ISO-8859-1 (every byte is the code point of its value);
 * windows-1252 differs from it in 0x80-0x9F (€, curly quotes, dashes).
 */
export async function asUtf8(source: LocalSource, encoding: SourceEncoding | undefined, dir: string): Promise<LocalSource> {
  if (!encoding || encoding === 'utf-8' || source.format === 'parquet') return source;
  await fs.mkdir(dir, { recursive: true });
  const path = join(dir, `utf8-${randomUUID()}.${source.format}`);
  const decoder = encoding === 'windows-1252' ? new TextDecoder('windows-1252') : undefined;
  const transcode = new Transform({
    transform(chunk: Buffer, _enc, done) {
      // Both are single-byte encodings: a chunk boundary never splits a character.
      done(null, Buffer.from(decoder ? decoder.decode(chunk, { stream: true }) : chunk.toString('latin1'), 'utf8'));
    },
  });
  try {
    await pipeline(open(source.path), transcode, createWriteStream(path));
  } catch (err) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `${source.name}: cannot be read as ${encoding} (${err instanceof Error ? err.message : String(err)})`,
      undefined,
      { cause: err },
    );
  }
  return { ...source, path };
}

/** Where a source's first byte that is not UTF-8 sits. */
export interface Utf8Fault {
  /** Offset of the bad byte from the start of the (decompressed) file, from 0. */
  offset: number;
  /** The bad byte. */
  byte: number;
  /** 1-based line of the file. */
  line: number;
  /** 1-based data row: CSV rows after the header (quoted newlines stay inside their row), JSON lines; absent in a CSV header or a JSON array. */
  row?: number;
}

/** Scans a local source for its first byte sequence that is not UTF-8; undefined when it is all valid. */
export async function firstInvalidUtf8(source: LocalSource): Promise<Utf8Fault | undefined> {
  let offset = 0;
  let line = 1;
  let records = 0; // CSV record breaks outside quotes
  let quoted = false;
  let need = 0; // continuation bytes still expected
  let lead = 0;
  let min = 0; // the smallest allowed second byte of the current sequence (overlongs, surrogates)
  let max = 0xbf;
  let seen = 0;
  const rowOf = (): number | undefined => (source.format === 'csv' ? records || undefined : source.format === 'jsonl' ? line : undefined);
  for await (const chunk of open(source.path) as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++, offset++) {
      const b = chunk[i];
      if (need > 0) {
        const lo = seen === 0 ? min : 0x80;
        const hi = seen === 0 ? max : 0xbf;
        if (b < lo || b > hi) return { offset: offset - seen - 1, byte: lead, line, row: rowOf() };
        seen++;
        need--;
        continue;
      }
      if (b < 0x80) {
        if (b === 0x0a) {
          line++;
          if (!quoted) records++;
        } else if (b === 0x22 && source.format === 'csv') quoted = !quoted;
        continue;
      }
      lead = b;
      seen = 0;
      min = 0x80;
      max = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b === 0xe0) min = 0xa0;
        if (b === 0xed) max = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b === 0xf0) min = 0x90;
        if (b === 0xf4) max = 0x8f;
      } else return { offset, byte: b, line, row: rowOf() };
    }
  }
  return need > 0 ? { offset: offset - seen - 1, byte: lead, line, row: rowOf() } : undefined;
}

/**
 * When the engine refused a source for its encoding, the error that says where: the byte offset,
 * line and data row of the first bad byte, and what to do. Undefined for any other failure.
 */
export async function encodingError(source: LocalSource, err: unknown): Promise<MlopsError | undefined> {
  if (!/unicode|utf-?8/i.test(engineMessage(err))) return undefined;
  const fault = await firstInvalidUtf8(source).catch(() => undefined);
  if (!fault) return undefined;
  const where = `byte offset ${fault.offset} (line ${fault.line}${fault.row !== undefined ? `, data row ${fault.row}` : ''})`;
  const hex = `0x${fault.byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return new MlopsError(
    FailureType.InvalidInput,
    `${source.name}: is not valid UTF-8: byte ${hex} at ${where}. Declare the file's encoding in the spec (dataset.encoding: ` +
      `latin1 or windows-1252) or convert it to UTF-8`,
    { source: source.name, offset: fault.offset, line: fault.line, ...(fault.row !== undefined ? { row: fault.row } : {}) },
    { cause: err },
  );
}
