/** The unit every reader produces: a batch of rows with their positions in the source, for error messages. */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { FailureType, MlopsError } from '../../errors';

/** One row as read: column name to raw value (strings from CSV, JSON values, Parquet values). */
export type Row = Record<string, unknown>;

/** Consecutive rows of one source. */
export interface RowBatch {
  /** Column names seen in this batch (the header for CSV and Parquet; the union of keys for JSON). */
  columns: string[];
  rows: Row[];
  /** 1-based row number of `rows[0]` (data rows, not counting a CSV header). */
  firstRow: number;
  /** 1-based line of the source where each row starts (Parquet: the row number). */
  lines: number[];
  /**
   * The same rows as arrays aligned with `columns`, when the reader has them (CSV). Bulk consumers
   * read these; `rows` is then built only if someone asks for it.
   */
  records?: unknown[][];
}

/** A batch whose `rows` objects are built from `records` on first access. */
export function recordBatch(columns: string[], records: unknown[][], firstRow: number, lines: number[]): RowBatch {
  let rows: Row[] | undefined;
  const batch = { columns, firstRow, lines, records } as RowBatch;
  Object.defineProperty(batch, 'rows', {
    enumerable: true,
    get(): Row[] {
      rows ??= records.map((values) => {
        const row: Row = {};
        for (let k = 0; k < columns.length; k++) row[columns[k]] = values[k];
        return row;
      });
      return rows;
    },
  });
  return batch;
}

/** Rows per batch: large enough to amortise async overhead, small enough to keep memory flat. */
export const DEFAULT_BATCH_ROWS = 4096;

/** The `MlopsInvalidInput` raised for a malformed source, naming the source and the line. */
export function malformed(source: string, line: number | undefined, message: string, hint?: string): MlopsError {
  const where = line === undefined ? source : `${source} line ${line}`;
  return new MlopsError(FailureType.InvalidInput, `${where}: ${message}${hint ? `. ${hint}` : ''}`, { source, line });
}

/**
 * Decodes a byte stream as UTF-8 text in pieces of at most 64 KiB. Text parsers keep the unfinished
 * tail of one piece and prepend it to the next; V8 handles such concatenations of small strings far
 * faster than of megabyte-sized ones (which Node hands out as external strings), so large chunks are
 * cut first. Multi-byte characters split across pieces are reassembled by the decoder.
 */
export async function* textPieces(stream: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  const piece = 64 * 1024;
  try {
    for await (const chunk of stream) {
      if (typeof chunk === 'string') {
        for (let off = 0; off < chunk.length; off += piece) yield chunk.slice(off, off + piece);
        continue;
      }
      const bytes = chunk as Buffer;
      for (let off = 0; off < bytes.length; off += piece) {
        const text = decoder.write(bytes.subarray(off, off + piece));
        if (text.length > 0) yield text;
      }
    }
  } finally {
    stream.destroy();
  }
  const rest = decoder.end();
  if (rest.length > 0) yield rest;
}
