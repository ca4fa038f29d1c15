/**
 * Storage benchmark: one generated file put and read back through `ArtifactStore` and through plain
 * minio-js `putObject` / `getObject`, in the same run against the same server, so the ratio shows
 * what hashing, verification and content addressing cost. scripts/bench.mjs runs it.
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import { closeSync, createReadStream, openSync, promises as fsp, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as Minio from 'minio';
import type { MlopsConfig } from '../config';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import type { ArtifactRef } from '../storage/refs';

const MiB = 1024 * 1024;

/** Inputs of `runStorageBench`. */
export interface StorageBenchOptions {
  /** The MinIO to measure against; its bucket is created if missing. */
  minio: MlopsConfig['minio'];
  /** Size of the generated file (default 1 GiB). */
  sizeBytes?: number;
  /** Where the generated file is written (and removed afterwards). */
  tmpDir: string;
  /**
   * Timed rounds (default 2): both sides put, then both read back, the side going first alternating
   * by round; the best round of each side counts, so write-back and caches favour neither side.
   */
  rounds?: number;
  /** How often resident memory is sampled, in ms (default 10). */
  sampleMs?: number;
  /** Progress lines, if wanted. */
  log?: (line: string) => void;
}

/** One timed transfer. */
export interface TransferTiming {
  seconds: number;
  mibPerSecond: number;
}

/** What `runStorageBench` measured. ratio = ArtifactStore throughput / raw minio-js throughput (best rounds). */
export interface StorageBenchResult {
  sizeBytes: number;
  rounds: number;
  putRatio: number;
  getRatio: number;
  /** Peak resident memory while ArtifactStore put and read the file, measured before the raw client ran. */
  peakRssMb: number;
  /** The same during ArtifactStore's put alone and its get alone. */
  peakRssPutMb: number;
  peakRssGetMb: number;
  /** Peak resident memory while raw minio-js put or read the file. */
  rawPeakRssMb: number;
  /** Resident memory before any transfer. */
  baselineRssMb: number;
  /** Best round of each side. */
  ours: { put: TransferTiming; get: TransferTiming };
  raw: { put: TransferTiming; get: TransferTiming };
  /** Every round, in order. */
  samples: { ours: { put: TransferTiming; get: TransferTiming }[]; raw: { put: TransferTiming; get: TransferTiming }[] };
  goals: { minRatio: number; maxPeakRssMb: number };
  /** Whether both ratios reach `goals.minRatio` and the peak stays under `goals.maxPeakRssMb`. */
  met: boolean;
}

/** Measures ArtifactStore against raw minio-js on one generated file. */
export async function runStorageBench(options: StorageBenchOptions): Promise<StorageBenchResult> {
  const sizeBytes = options.sizeBytes ?? 1024 * MiB;
  const rounds = Math.max(1, options.rounds ?? 2);
  const log = options.log ?? (() => undefined);
  const cfg = options.minio;
  const store = new ArtifactStore(createMinioClient(cfg), cfg.bucket);
  const raw = new Minio.Client({
    endPoint: cfg.endPoint,
    port: cfg.port,
    useSSL: cfg.useSSL,
    accessKey: cfg.accessKey,
    secretKey: cfg.secretKey,
    region: cfg.region,
  });
  await store.ensureBucket();

  await fsp.mkdir(options.tmpDir, { recursive: true });
  const file = path.join(options.tmpDir, `storage-bench-${randomUUID()}.bin`);
  const rawKey = `bench/raw-${randomUUID()}`;
  const memory = {
    oursPut: new RssSampler(options.sampleMs ?? 10),
    oursGet: new RssSampler(options.sampleMs ?? 10),
    raw: new RssSampler(options.sampleMs ?? 10),
  };
  const samples: StorageBenchResult['samples'] = { ours: [], raw: [] };
  const mib = (t: TransferTiming) => `${t.mibPerSecond.toFixed(0)} MiB/s`;
  let ourRef: ArtifactRef | undefined;

  // Each side's put and get, timed and memory-sampled. Our blob is removed after each round, or the
  // next put would find it stored and skip the upload.
  const sides = {
    ours: {
      put: () => memory.oursPut.during(() => timed(sizeBytes, async () => (ourRef = await store.putFile(file)))),
      get: () => memory.oursGet.during(() => timed(sizeBytes, async () => drain(await store.get(ourRef!)))),
      clean: async () => {
        if (ourRef) await store.delete(ourRef);
        ourRef = undefined;
      },
    },
    raw: {
      put: () => memory.raw.during(() => timed(sizeBytes, () => raw.putObject(cfg.bucket, rawKey, createReadStream(file), sizeBytes))),
      get: () => memory.raw.during(() => timed(sizeBytes, async () => drain(await raw.getObject(cfg.bucket, rawKey)))),
      clean: () => raw.removeObject(cfg.bucket, rawKey),
    },
  };

  try {
    log(`generating ${Math.round(sizeBytes / MiB)} MiB of random bytes in ${file}`);
    writeRandomFile(file, sizeBytes);
    settle();
    const baselineRssMb = toMb(process.memoryUsage().rss);

    // Memory: ArtifactStore alone, before the raw client has allocated anything.
    await sides.ours.put();
    await sides.ours.get();
    await sides.ours.clean();
    const peakRssMb = toMb(Math.max(memory.oursPut.peak, memory.oursGet.peak));
    const peakRss = { putMb: toMb(memory.oursPut.peak), getMb: toMb(memory.oursGet.peak) };
    log(`ArtifactStore peak RSS ${peakRssMb} MB (put ${peakRss.putMb} MB, get ${peakRss.getMb} MB; baseline ${baselineRssMb} MB)`);

    // Throughput: both puts, then both gets, the side going first alternating by round.
    for (let round = 0; round < rounds; round++) {
      const order: Array<'ours' | 'raw'> = round % 2 === 0 ? ['ours', 'raw'] : ['raw', 'ours'];
      const puts: Record<string, TransferTiming> = {};
      const gets: Record<string, TransferTiming> = {};
      for (const side of order) {
        settle();
        puts[side] = (await sides[side].put()).timing;
      }
      for (const side of order) {
        settle();
        gets[side] = (await sides[side].get()).timing;
      }
      for (const side of order) {
        await sides[side].clean();
        samples[side].push({ put: puts[side]!, get: gets[side]! });
      }
      log(
        `round ${round + 1}: ArtifactStore put ${mib(puts.ours!)}, get ${mib(gets.ours!)}; minio-js put ${mib(puts.raw!)}, get ${mib(gets.raw!)}`,
      );
    }

    const best = (list: TransferTiming[]) => list.reduce((a, b) => (b.mibPerSecond > a.mibPerSecond ? b : a));
    const ours = { put: best(samples.ours.map((s) => s.put)), get: best(samples.ours.map((s) => s.get)) };
    const rawBest = { put: best(samples.raw.map((s) => s.put)), get: best(samples.raw.map((s) => s.get)) };
    const putRatio = ours.put.mibPerSecond / rawBest.put.mibPerSecond;
    const getRatio = ours.get.mibPerSecond / rawBest.get.mibPerSecond;
    const goals = { minRatio: 0.9, maxPeakRssMb: 150 };
    return {
      sizeBytes,
      rounds,
      putRatio,
      getRatio,
      peakRssMb,
      peakRssPutMb: peakRss.putMb,
      peakRssGetMb: peakRss.getMb,
      rawPeakRssMb: toMb(memory.raw.peak),
      baselineRssMb,
      ours,
      raw: rawBest,
      samples,
      goals,
      met: putRatio >= goals.minRatio && getRatio >= goals.minRatio && peakRssMb < goals.maxPeakRssMb,
    };
  } finally {
    await fsp.rm(file, { force: true });
    if (ourRef) await store.delete(ourRef).catch(() => undefined);
    await raw.removeObject(cfg.bucket, rawKey).catch(() => undefined);
  }
}

/** Writes incompressible bytes 1 MiB at a time, so generating the file costs no memory. */
function writeRandomFile(file: string, size: number): void {
  const chunk = Buffer.allocUnsafe(Math.min(MiB, Math.max(size, 1)));
  const fd = openSync(file, 'w');
  try {
    for (let written = 0; written < size;) {
      const n = Math.min(chunk.length, size - written);
      randomFillSync(chunk, 0, n);
      writeSync(fd, chunk, 0, n);
      written += n;
    }
  } finally {
    closeSync(fd);
  }
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream) {
    // consume
  }
}

async function timed<T>(bytes: number, fn: () => Promise<T>): Promise<{ value: T; timing: TransferTiming }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { value, timing: { seconds, mibPerSecond: bytes / MiB / seconds } };
}

/** Collects garbage between phases when node runs with --expose-gc, so one phase's garbage is not charged to the next. */
function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function toMb(bytes: number): number {
  return Math.round((bytes / MiB) * 10) / 10;
}

/** Samples `process.memoryUsage().rss` on a timer while a phase runs, and keeps the peak over all its phases. */
class RssSampler {
  peak = 0;

  constructor(private readonly everyMs: number) {}

  async during<T>(phase: () => Promise<T>): Promise<T> {
    const sample = () => {
      this.peak = Math.max(this.peak, process.memoryUsage().rss);
    };
    sample();
    const timer = setInterval(sample, this.everyMs);
    try {
      return await phase();
    } finally {
      clearInterval(timer);
      sample();
    }
  }
}
