/**
 * Parquet rows via hyparquet (pure JavaScript), one row group at a time, so memory is bounded by the
 * largest row group rather than the file. Parquet needs random access: a local file is read in place;
 * an http(s) or S3 source is first spooled to a temporary file, which is removed afterwards.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { malformed, type Row, type RowBatch } from './batch';
import { openSource, parseLocation, type SourceOptions } from './source';

type Hyparquet = typeof import('hyparquet');
let hyparquet: Promise<Hyparquet> | undefined;
/** hyparquet is an ES module; Node 20 loads it through require(esm), jest through its transform. */
function loadHyparquet(): Promise<Hyparquet> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a dynamic import() would stay an import under jest's CommonJS runtime
  hyparquet ??= Promise.resolve().then(() => require('hyparquet') as Hyparquet);
  return hyparquet;
}

/** Random access to a local file through one open descriptor. */
async function fileBuffer(path: string): Promise<{ buffer: AsyncBuffer; close: () => Promise<void> }> {
  const handle = await fs.open(path, 'r');
  const { size } = await handle.stat();
  const buffer: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const out = new Uint8Array(Math.max(0, stop - start));
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.buffer;
    },
  };
  return { buffer, close: () => handle.close() };
}

/** The local path of a source, spooling remote sources to a temporary file. */
async function localCopy(source: string, options: SourceOptions): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const location = parseLocation(source);
  if (location.kind === 'file') {
    await fs.stat(location.path).catch(async () => {
      await openSource(source, options); // raises the reader's usual NotFound error
    });
    return { path: location.path, cleanup: async () => undefined };
  }
  const path = join(tmpdir(), `mlops-${randomUUID()}.parquet`);
  await pipeline(await openSource(source, options), createWriteStream(path));
  return { path, cleanup: () => fs.rm(path, { force: true }) };
}

function plainValue(value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}

/** Streams rows from a Parquet file, one batch per row group. */
export async function* readParquetBatches(source: string, options: SourceOptions & { columns?: string[] }): AsyncGenerator<RowBatch> {
  const { parquetMetadataAsync, parquetReadObjects, parquetSchema } = await loadHyparquet();
  const copy = await localCopy(source, options);
  const { buffer, close } = await fileBuffer(copy.path);
  try {
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (err) {
      throw malformed(
        source,
        undefined,
        `not a readable Parquet file (${(err as Error).message})`,
        'The file may be truncated or not Parquet at all',
      );
    }
    const all = parquetSchema(metadata).children.map((c) => c.element.name);
    const columns = options.columns ? all.filter((c) => options.columns!.includes(c)) : all;
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let objects: Record<string, unknown>[];
      try {
        objects = await parquetReadObjects({ file: buffer, metadata, columns, rowStart, rowEnd });
      } catch (err) {
        throw malformed(
          source,
          undefined,
          `rows ${rowStart + 1}-${rowEnd} cannot be decoded (${(err as Error).message})`,
          'The file may be truncated or corrupt',
        );
      }
      const rows: Row[] = objects.map((o) => {
        const row: Row = {};
        for (const c of columns) row[c] = plainValue(o[c]);
        return row;
      });
      const lines = rows.map((_, i) => rowStart + i + 1);
      yield { columns, rows, firstRow: rowStart + 1, lines };
      rowStart = rowEnd;
    }
  } finally {
    await close();
    await copy.cleanup();
  }
}
