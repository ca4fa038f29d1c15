/**
 * Dataset snapshots: one JSON manifest per distinct dataset content, at
 * `datasets/<name>/snapshots/<sha256>.json`. The content digest is the identity, so ingesting the
 * same data again finds the snapshot already there and stores nothing new.
 */
import { FailureType, MlopsError } from '../errors';
import type { ArtifactStore } from './artifact-store';
import { isPreconditionFailed } from './errors';
import { assertArtifactRef, assertName, assertSha256, assertText } from './names';
import type { ArtifactRef } from './refs';
import type { DatasetSnapshot, RegisterSnapshotInput, RegisterSnapshotResult } from './types';

const ROOT = 'datasets/';

/** Key of a snapshot's manifest. */
export function snapshotKey(name: string, sha256: string): string {
  return `${ROOT}${name}/snapshots/${sha256}.json`;
}

/** Registers and reads dataset snapshots in an artifact store's bucket. */
export class DatasetSnapshots {
  constructor(
    private readonly store: ArtifactStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Registers a snapshot, or returns the one already registered for the same content (`created: false`;
   * the first registration's source, schema and time are kept).
   */
  async register(input: RegisterSnapshotInput): Promise<RegisterSnapshotResult> {
    const snapshot = this.validate(input);
    const key = snapshotKey(snapshot.name, snapshot.sha256);
    const existing = await this.store.readDocument<DatasetSnapshot>(key);
    if (existing) return { snapshot: existing.value, ref: existing.ref, created: false };
    try {
      const written = await this.store.writeDocument(key, snapshot, { ifNoneMatch: true });
      return { snapshot, ref: written.ref, created: true };
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      // A concurrent ingest of the same data registered it first.
      const winner = await this.store.readDocument<DatasetSnapshot>(key);
      if (!winner) throw err;
      return { snapshot: winner.value, ref: winner.ref, created: false };
    }
  }

  /** A snapshot by dataset name and content digest; `MlopsNotFound` when there is none. */
  async get(name: string, sha256: string): Promise<{ snapshot: DatasetSnapshot; ref: ArtifactRef }> {
    assertName('dataset', name);
    assertSha256('snapshot sha256', sha256);
    const doc = await this.store.readDocument<DatasetSnapshot>(snapshotKey(name, sha256));
    if (doc) return { snapshot: doc.value, ref: doc.ref };
    const known = await this.store.listPrefixes(ROOT);
    throw new MlopsError(
      FailureType.NotFound,
      known.includes(name)
        ? `Dataset "${name}" has no snapshot ${sha256}.`
        : `No dataset named "${name}" has been ingested${known.length ? ` (known: ${known.join(', ')})` : ''}.`,
      { dataset: name, sha256 },
    );
  }

  /** A snapshot by the reference `register` returned, checked against its digest. */
  async getByRef(ref: ArtifactRef): Promise<DatasetSnapshot> {
    assertArtifactRef('snapshot reference', ref);
    return this.store.getJson<DatasetSnapshot>(ref);
  }

  /** The snapshots of a dataset, oldest first; empty when it has none. */
  async list(name: string): Promise<DatasetSnapshot[]> {
    assertName('dataset', name);
    const items = await this.store.list(`${ROOT}${name}/snapshots/`);
    const docs = await Promise.all(items.map((item) => this.store.readDocument<DatasetSnapshot>(item.key)));
    return docs
      .filter((d): d is NonNullable<typeof d> => d !== undefined)
      .map((d) => d.value)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** The names of all datasets with at least one snapshot. */
  async listDatasets(): Promise<string[]> {
    return this.store.listPrefixes(ROOT);
  }

  private validate(input: RegisterSnapshotInput): DatasetSnapshot {
    if (typeof input !== 'object' || input === null) throw new MlopsError(FailureType.InvalidInput, 'Expected a snapshot to register.');
    assertName('dataset', input.name);
    assertSha256('dataset sha256', input.sha256);
    assertText('dataset sourceUri', input.sourceUri);
    if (!Number.isSafeInteger(input.rowCount) || input.rowCount < 0) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Invalid dataset rowCount: expected a whole number from 0 up, got ${JSON.stringify(input.rowCount)}.`,
      );
    }
    if (input.profile !== undefined) assertArtifactRef('dataset profile', input.profile);
    if (input.data !== undefined) assertArtifactRef('dataset data', input.data);
    const snapshot: DatasetSnapshot = {
      name: input.name,
      sha256: input.sha256,
      sourceUri: input.sourceUri,
      schema: input.schema ?? null,
      rowCount: input.rowCount,
      createdAt: this.now().toISOString(),
    };
    if (input.profile) snapshot.profile = input.profile;
    if (input.data) snapshot.data = input.data;
    if (input.lineage !== undefined) snapshot.lineage = input.lineage;
    return snapshot;
  }
}
