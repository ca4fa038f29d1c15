/** Activities of `artifactRoundTrip`: write seeded bytes as an artifact, read them back verified. */
import { Readable } from 'node:stream';
import type { ArtifactRef } from '../storage/refs';
import type { MlopsDependencies } from './dependencies';

/** Deterministic pseudo-random bytes (so a retry writes the same content, stored once). */
function* seededChunks(sizeBytes: number, seed: number): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  const chunk = 64 * 1024;
  for (let done = 0; done < sizeBytes; done += chunk) {
    const buf = Buffer.allocUnsafe(Math.min(chunk, sizeBytes - done));
    for (let i = 0; i < buf.length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      buf[i] = state & 0xff;
    }
    yield buf;
  }
}

/** Creates the round-trip activities. */
export function createCheckActivities({ store }: MlopsDependencies) {
  return {
    /** Writes `sizeBytes` seeded bytes to MinIO and returns their reference. */
    async writeProbeArtifact(input: { sizeBytes: number; seed: number }): Promise<ArtifactRef> {
      return store.putStream(Readable.from(seededChunks(input.sizeBytes, input.seed)), { contentType: 'application/octet-stream' });
    },
    /** Reads an artifact back, verifying its sha256 as it streams; returns what it read. */
    async verifyArtifact(ref: ArtifactRef): Promise<{ sha256: string; size: number }> {
      let size = 0;
      for await (const chunk of await store.get(ref)) size += (chunk as Buffer).length;
      return { sha256: ref.sha256, size };
    },
  };
}
