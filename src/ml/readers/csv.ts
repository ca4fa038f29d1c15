/**
 * A streaming RFC 4180 CSV parser: header row, quoted fields with "" escapes and embedded newlines,
 * CRLF or LF line ends (a lone CR is data), a configurable delimiter. It is strict, because silently repairing a file
 * hides data problems: a ragged row, a quote inside an unquoted field, text after a closing quote or an
 * unterminated quote raise `MlopsInvalidInput` naming the line. Blank lines are skipped.
 *
 * Memory is bounded by the longest record (at most `maxRecordChars`), not by the file.
 */
import type { Readable } from 'node:stream';
import { DEFAULT_BATCH_ROWS, malformed, recordBatch, textPieces, type RowBatch } from './batch';

/** CSV parsing options. */
export interface CsvOptions {
  delimiter: string;
  batchRows?: number;
  /** Longest record accepted, in characters; a longer one almost always means an unterminated quote. */
  maxRecordChars?: number;
}

const LF = 10;
const CR = 13;
const QUOTE = 34;

/** Parses records out of text, keeping the unfinished tail for the next chunk. */
class CsvTokenizer {
  private readonly delim: number;
  private readonly delimiter: string;
  /** Line number (1-based) of the next unparsed character. */
  line = 1;
  constructor(
    private readonly source: string,
    delimiter: string,
  ) {
    this.delim = delimiter.charCodeAt(0);
    this.delimiter = delimiter;
  }

  /**
   * Parses complete records from `text`, calling `onRecord(fields, startLine)` for each. Returns the
   * index where an incomplete record starts (text.length if none). With `final`, the end of text ends
   * the last record and an open quote is an error.
   */
  parse(text: string, final: boolean, onRecord: (fields: string[], line: number) => void): number {
    const n = text.length;
    const delim = this.delim;
    let i = 0;
    let nextQuote = text.indexOf('"');
    while (i < n) {
      // Fast path: a whole line without quotes is split natively.
      const nl = text.indexOf('\n', i);
      if (nextQuote !== -1 && nextQuote < i) nextQuote = text.indexOf('"', i);
      if (nl !== -1 && (nextQuote === -1 || nextQuote > nl)) {
        const end = nl > i && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
        if (end > i) onRecord(text.slice(i, end).split(this.delimiter), this.line);
        this.line++;
        i = nl + 1;
        continue;
      }
      if (nl === -1 && !final) return i;
      const recordStart = i;
      const recordLine = this.line;
      const c0 = text.charCodeAt(i);
      if (c0 === CR && i + 1 >= n && !final) return recordStart;
      if (c0 === LF || (c0 === CR && (i + 1 >= n || text.charCodeAt(i + 1) === LF))) {
        // blank line
        i += c0 === CR && i + 1 < n ? 2 : 1;
        this.line++;
        continue;
      }
      const fields: string[] = [];
      let complete = false;
      let lines = 0;
      for (;;) {
        // one field starts at i
        if (i < n && text.charCodeAt(i) === QUOTE) {
          let value = '';
          let j = i + 1;
          for (;;) {
            const k = text.indexOf('"', j);
            if (k === -1 || (k + 1 >= n && !final)) {
              if (final) {
                throw malformed(
                  this.source,
                  recordLine,
                  'a quoted field is never closed (unterminated quote)',
                  'Close the quote or escape it as ""',
                );
              }
              this.line = recordLine;
              return recordStart;
            }
            const piece = text.slice(j, k);
            lines += countLf(piece);
            if (text.charCodeAt(k + 1) === QUOTE) {
              value += piece + '"';
              j = k + 2;
              continue;
            }
            value += piece;
            i = k + 1;
            break;
          }
          fields.push(value);
          if (i < n) {
            const c = text.charCodeAt(i);
            if (c !== delim && c !== LF && !(c === CR && (i + 1 >= n || text.charCodeAt(i + 1) === LF))) {
              throw malformed(
                this.source,
                recordLine + lines,
                `unexpected text after a closing quote in field ${fields.length}`,
                'A quote inside a quoted field must be doubled ("")',
              );
            }
          }
        } else {
          let j = i;
          while (j < n) {
            const c = text.charCodeAt(j);
            if (c === delim || c === LF) break;
            if (c === CR) {
              if (j + 1 >= n) {
                if (!final) {
                  this.line = recordLine;
                  return recordStart;
                }
                break;
              }
              if (text.charCodeAt(j + 1) === LF) break;
            }
            if (c === QUOTE) {
              throw malformed(
                this.source,
                recordLine + lines,
                `a quote inside unquoted field ${fields.length + 1}`,
                'Quote the whole field and double the inner quote ("")',
              );
            }
            j++;
          }
          if (j >= n && !final) {
            this.line = recordLine;
            return recordStart;
          }
          fields.push(text.slice(i, j));
          i = j;
        }
        // after a field: delimiter, line end, or end of text
        if (i >= n) {
          complete = true; // only reachable when final
          break;
        }
        const c = text.charCodeAt(i);
        if (c === delim) {
          i++;
          if (i >= n && !final) {
            this.line = recordLine;
            return recordStart;
          }
          continue;
        }
        if (c === CR) {
          if (i + 1 >= n && !final) {
            this.line = recordLine;
            return recordStart;
          }
          i += text.charCodeAt(i + 1) === LF ? 2 : 1;
        } else i++; // LF
        lines++;
        complete = true;
        break;
      }
      if (complete) {
        this.line = recordLine + lines;
        onRecord(fields, recordLine);
      }
    }
    return n;
  }
}

function countLf(s: string): number {
  let count = 0;
  for (let p = s.indexOf('\n'); p !== -1; p = s.indexOf('\n', p + 1)) count++;
  return count;
}

/** Streams rows from CSV bytes, in batches. */
export async function* readCsvBatches(stream: Readable, source: string, options: CsvOptions): AsyncGenerator<RowBatch> {
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const maxRecordChars = options.maxRecordChars ?? 16 * 1024 * 1024;
  const tokenizer = new CsvTokenizer(source, options.delimiter);
  let header: string[] | undefined;
  let records: string[][] = [];
  let lines: number[] = [];
  let rowNumber = 0;
  let firstRow = 1;
  let pending = '';
  let first = true;

  const onRecord = (fields: string[], line: number): void => {
    if (!header) {
      header = checkHeader(fields, source, line);
      return;
    }
    if (fields.length !== header.length) {
      throw malformed(
        source,
        line,
        `expected ${header.length} fields (as in the header) but found ${fields.length}`,
        'Every row needs one value per header column; quote values that contain the delimiter',
      );
    }
    rowNumber++;
    records.push(fields);
    lines.push(line);
  };
  const flush = (): RowBatch => {
    const batch = recordBatch(header ?? [], records, firstRow, lines);
    firstRow = rowNumber + 1;
    records = [];
    lines = [];
    return batch;
  };

  for await (const piece of textPieces(stream)) {
    let text = piece;
    if (first) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    const buffer = pending + text;
    const consumed = tokenizer.parse(buffer, false, onRecord);
    pending = buffer.slice(consumed);
    if (pending.length > maxRecordChars) {
      throw malformed(
        source,
        tokenizer.line,
        `a record longer than ${maxRecordChars} characters`,
        'This usually means a quote that is never closed',
      );
    }
    if (records.length >= batchRows) yield flush();
  }
  tokenizer.parse(pending, true, onRecord);
  if (!header) throw malformed(source, undefined, 'the file is empty: a CSV file needs a header row');
  if (records.length > 0) yield flush();
}

function checkHeader(fields: string[], source: string, line: number): string[] {
  const seen = new Set<string>();
  fields.forEach((name, i) => {
    if (name.trim() === '') throw malformed(source, line, `header column ${i + 1} has no name`);
    if (seen.has(name)) throw malformed(source, line, `header column "${name}" appears twice`);
    seen.add(name);
  });
  return fields;
}
