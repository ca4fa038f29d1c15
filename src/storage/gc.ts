/**
 * Garbage collection of dataset uploads. `mlops run` uploads a local dataset file to MinIO before the run
 * starts (so any worker can read it) and records the upload under `uploads/sources/`. An upload whose
 * ingest failed is referenced by nothing: no snapshot was made from it, and no registry document names
 * it. `collectOrphanedUploads` removes such uploads once they are older than a grace period, unless the
 * caller says they are still in use (by a running workflow or a schedule, which only Temporal knows).
 */
import { FailureType, MlopsError, isMlopsError } from '../errors';
import type { ArtifactStore } from './artifact-store';
import type { ArtifactRef } from './refs';

/** Where uploads of dataset sources are recorded, one document per blob. */
export const SOURCE_UPLOAD_PREFIX = 'uploads/sources/';

/** The record of one uploaded dataset source. */
export interface SourceUpload {
  uri: string;
  sha256: string;
  size: number;
  /** The local file it came from (its base name). */
  file: string;
  uploadedAt: string;
}

/** Records that `ref` was uploaded from `file` as a dataset source (an upload again refreshes the time). */
export async function recordSourceUpload(store: ArtifactStore, ref: ArtifactRef, file: string, now = new Date()): Promise<void> {
  const record: SourceUpload = { uri: ref.uri, sha256: ref.sha256, size: ref.size ?? 0, file, uploadedAt: now.toISOString() };
  await store.writeDocument(`${SOURCE_UPLOAD_PREFIX}${ref.sha256}.json`, record);
}

/** Options of `collectOrphanedUploads`. */
export interface CollectOptions {
  /** Uploads younger than this are kept: their run may not have ingested them yet. */
  olderThanMs: number;
  /** Text that names sources still in use (inputs of running workflows, schedule actions); an upload whose uri or sha256 appears in it is kept. */
  inUse: string;
  /** Only report what would be removed. */
  dryRun?: boolean;
  now?: Date;
}

/** What a collection found. */
export interface CollectResult {
  removed: (SourceUpload & { bytes: number })[];
  kept: { upload: SourceUpload; why: string }[];
  /** Bytes freed (or that would be, on a dry run). */
  freedBytes: number;
}

/** Removes uploaded dataset sources that no snapshot, registry document, running workflow or schedule refers to. */
export async function collectOrphanedUploads(store: ArtifactStore, options: CollectOptions): Promise<CollectResult> {
  const now = (options.now ?? new Date()).getTime();
  const uploads = await store.list(SOURCE_UPLOAD_PREFIX);
  const result: CollectResult = { removed: [], kept: [], freedBytes: 0 };
  if (uploads.length === 0) return result;
  const referenced = await referencedText(store);
  for (const item of uploads) {
    const upload = (await store.readDocument<SourceUpload>(item.key))?.value;
    if (!upload) continue;
    const why =
      now - Date.parse(upload.uploadedAt) < options.olderThanMs
        ? `uploaded at ${upload.uploadedAt}, within the grace period`
        : referenced.includes(upload.sha256)
          ? 'a dataset snapshot or a model version refers to it'
          : options.inUse.includes(upload.uri) || options.inUse.includes(upload.sha256)
            ? 'a running workflow or a schedule uses it'
            : undefined;
    if (why) {
      result.kept.push({ upload, why });
      continue;
    }
    const bytes = (await store.stat(upload.uri).catch(() => undefined))?.size ?? 0;
    if (!options.dryRun) {
      await deleteIfPresent(store, upload.uri);
      await deleteIfPresent(store, item.key);
    }
    result.removed.push({ ...upload, bytes });
    result.freedBytes += bytes;
  }
  return result;
}

/** Every snapshot manifest and registry document, as one text to search for digests. */
async function referencedText(store: ArtifactStore): Promise<string> {
  const parts: string[] = [];
  for (const prefix of ['datasets/', 'registry/']) {
    for (const item of await store.list(prefix)) {
      if (!item.key.endsWith('.json')) continue;
      const doc = await store.readDocument(item.key).catch((err: unknown) => {
        // A damaged document may still name the upload: keep everything rather than guess.
        throw new MlopsError(
          FailureType.Integrity,
          `Cannot read ${item.uri} (${(err as Error).message}); nothing was removed. Repair or remove it, then collect again.`,
        );
      });
      if (doc) parts.push(JSON.stringify(doc.value));
    }
  }
  return parts.join('\n');
}

async function deleteIfPresent(store: ArtifactStore, target: string): Promise<void> {
  try {
    await store.delete(target);
  } catch (err) {
    if (!(isMlopsError(err) && err.type === FailureType.NotFound)) throw err;
  }
}
