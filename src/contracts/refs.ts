/**
 * Typed references: an `ArtifactRef` (s3 URI + sha256) that says what kind of artifact it points at, so a model
 * cannot be passed where a snapshot is expected. The kind exists only for the compiler: on the wire (and in recorded
 * workflow histories) every reference is the same plain `ArtifactRef`.
 */
import type { ArtifactRef } from '../storage/refs';

export type { ArtifactRef };

declare const artifactKind: unique symbol;

/** The kinds of artifact the lifecycle stages pass to each other. */
export type ArtifactKind = 'snapshot' | 'profile' | 'model' | 'checkpoint' | 'report' | 'spec';

/**
 * A reference to one kind of artifact. A plain `ArtifactRef` (what the store returns) converts to any kind where it
 * is produced; a reference of one kind never converts to another.
 */
export type KindedRef<K extends ArtifactKind> = ArtifactRef & { readonly [artifactKind]?: K };

/** An immutable dataset snapshot (Parquet), as ingest froze it. */
export type SnapshotRef = KindedRef<'snapshot'>;
/** A dataset profile (temporal-mlops/profile@1): the reference the monitor measures drift against. */
export type ProfileRef = KindedRef<'profile'>;
/** A trained model document (built-in JSON or an ONNX manifest). */
export type ModelRef = KindedRef<'model'>;
/** A training checkpoint a retried train stage resumes from. */
export type CheckpointRef = KindedRef<'checkpoint'>;
/** Something people read: a data validation, evaluation or servability report, or the HTML model card. */
export type ReportRef = KindedRef<'report'>;
/** A pipeline spec as a run ran it (JSON, durations in milliseconds), stored with the version it deployed. */
export type SpecRef = KindedRef<'spec'>;
