/**
 * Streaming JSON readers: JSON lines (one object per line) and a top-level JSON array of objects.
 * Each row must be a JSON object; anything else, or invalid JSON, raises `MlopsInvalidInput` naming
 * the line. Memory is bounded by the largest single row, not by the file.
 */
import type { Readable } from 'node:stream';
import { DEFAULT_BATCH_ROWS, malformed, textPieces, type Row, type RowBatch } from './batch';

/** JSON reader options. */
export interface JsonOptions {
  batchRows?: number;
  /** Longest row accepted, in characters. */
  maxRowChars?: number;
}

/** Collects rows into batches and tracks the union of their keys. */
class Batcher {
  private rows: Row[] = [];
  private lines: number[] = [];
  private keys = new Set<string>();
  private firstRow = 1;
  count = 0;
  constructor(readonly size: number) {}
  add(row: Row, line: number): void {
    for (const k in row) this.keys.add(k);
    this.rows.push(row);
    this.lines.push(line);
    this.count++;
  }
  get full(): boolean {
    return this.rows.length >= this.size;
  }
  get empty(): boolean {
    return this.rows.length === 0;
  }
  take(): RowBatch {
    const batch = { columns: [...this.keys], rows: this.rows, firstRow: this.firstRow, lines: this.lines };
    this.firstRow = this.count + 1;
    this.rows = [];
    this.lines = [];
    this.keys = new Set();
    return batch;
  }
}

function asRow(value: unknown, source: string, line: number): Row {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw malformed(
      source,
      line,
      `expected a JSON object per row, found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  return value as Row;
}

function parseJson(text: string, source: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw malformed(source, line, `invalid JSON (${(err as Error).message})`);
  }
}

/** Streams rows from JSON lines; blank lines are skipped. */
export async function* readJsonLinesBatches(stream: Readable, source: string, options: JsonOptions = {}): AsyncGenerator<RowBatch> {
  const batcher = new Batcher(options.batchRows ?? DEFAULT_BATCH_ROWS);
  const maxRowChars = options.maxRowChars ?? 16 * 1024 * 1024;
  let pending = '';
  let line = 0;
  const handle = (text: string): void => {
    line++;
    if (text.trim() === '') return;
    batcher.add(asRow(parseJson(text, source, line), source, line), line);
  };
  for await (const piece of textPieces(stream)) {
    const text = pending + piece;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      handle(text.slice(start, nl));
      start = nl + 1;
    }
    pending = text.slice(start);
    if (pending.length > maxRowChars) throw malformed(source, line + 1, `a line longer than ${maxRowChars} characters`);
    if (batcher.full) yield batcher.take();
  }
  if (pending.length > 0) handle(pending);
  if (!batcher.empty) yield batcher.take();
}

const enum State {
  BeforeArray,
  BeforeElement,
  InElement,
  Done,
}

/**
 * Streams rows from a top-level JSON array. A small scanner finds where each element ends
 * (tracking strings, escapes and nesting depth) and hands the element's text to JSON.parse.
 */
export async function* readJsonArrayBatches(stream: Readable, source: string, options: JsonOptions = {}): AsyncGenerator<RowBatch> {
  const batcher = new Batcher(options.batchRows ?? DEFAULT_BATCH_ROWS);
  const maxRowChars = options.maxRowChars ?? 16 * 1024 * 1024;
  let state: State = State.BeforeArray;
  let line = 1;
  let element = ''; // text of the element being scanned, from earlier chunks
  let elementLine = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;

  const fail = (message: string): never => {
    throw malformed(source, line, message);
  };
  const finishElement = (text: string): void => {
    batcher.add(asRow(parseJson(text, source, elementLine), source, elementLine), elementLine);
  };

  const scan = (text: string): void => {
    let start = 0; // where the current element starts in `text`, when in an element
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) line++;
      if (state === State.BeforeArray) {
        if (isSpace(c) || c === 0xfeff) continue;
        if (c !== 91 /* [ */) fail('expected a JSON array of objects ("[" first)');
        state = State.BeforeElement;
        continue;
      }
      if (state === State.Done) {
        if (!isSpace(c)) fail('unexpected text after the closing "]"');
        continue;
      }
      if (state === State.BeforeElement) {
        if (isSpace(c)) continue;
        if (c === 93 /* ] */ && batcher.count === 0) {
          state = State.Done;
          continue;
        }
        state = State.InElement;
        start = i;
        elementLine = line;
        depth = 0;
        inString = false;
        escaped = false;
      }
      // inside an element
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 92 /* \ */) escaped = true;
        else if (c === 34) inString = false;
        continue;
      }
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) {
        if (depth > 0) {
          depth--;
          continue;
        }
        if (c === 125) fail('unbalanced "}"');
        finishElement(element + text.slice(start, i)); // the "]" that closes the array
        element = '';
        state = State.Done;
      } else if (c === 44 /* , */ && depth === 0) {
        finishElement(element + text.slice(start, i));
        element = '';
        state = State.BeforeElement;
      }
    }
    if (state === State.InElement) {
      element += text.slice(start);
      if (element.length > maxRowChars) throw malformed(source, elementLine, `an array element longer than ${maxRowChars} characters`);
    }
  };

  for await (const piece of textPieces(stream)) {
    scan(piece);
    if (batcher.full) yield batcher.take();
  }
  const last = state as State;
  if (last !== State.Done) {
    throw malformed(
      source,
      last === State.InElement ? elementLine : line,
      last === State.BeforeArray ? 'the file is empty: expected a JSON array' : 'the JSON array is not closed (file truncated?)',
    );
  }
  if (!batcher.empty) yield batcher.take();
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}
