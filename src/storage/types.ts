/**
 * The shapes of what the model registry and the dataset snapshot store keep: version manifests,
 * alias pointers and their history, dataset snapshots. Types only, no Node APIs: workflows import them.
 */
import type { VerifiedIdentityRecord } from '../identity/types';
import type { ArtifactRef } from './refs';

/** An approval recorded with a model version. */
export interface VersionApproval {
  approver: string;
  /** ISO time of the approval. */
  at: string;
  comment?: string;
  /** The approver's verified identity and its signed proof (`mlops models audit` checks it again), when it was proven by a token. */
  verified?: VerifiedIdentityRecord;
}

/** The code that produced a model version. */
export interface CodeVersion {
  /** Version of temporal-mlops (from its package.json). */
  packageVersion: string;
  /** Git commit of the pipeline's code, when known. */
  gitCommit?: string;
}

/** What a caller gives to register a model version. */
export interface RegisterVersionInput {
  model: string;
  /** The trained model's bytes. */
  artifact: ArtifactRef;
  /** The dataset snapshot the model was trained on. */
  dataset: { sha256: string; name?: string; snapshot?: ArtifactRef; profile?: ArtifactRef };
  trainer: { name: string; params: Record<string, unknown> };
  metrics: Record<string, number>;
  /** The pipeline run: `workflowId` with `runId` is the idempotency key (registering again from the same run returns the same version). */
  workflowId: string;
  runId: string;
  /** Git commit of the pipeline's code; the package version is filled in by the registry. */
  gitCommit?: string;
  approvals?: VersionApproval[];
  /** The dataset schema the model expects (opaque to the registry). */
  schema?: unknown;
  /** The evaluation report. */
  report?: ArtifactRef;
  /** The pipeline spec the run ran by (JSON): what the monitor judges this version by once it is deployed. */
  spec?: ArtifactRef;
  /**
   * Draws the version's report once its number is known (the version's model card names it), in place of `report`;
   * called again with a later number if another run took the slot first.
   */
  reportFor?: (version: number) => Promise<ArtifactRef | undefined>;
  /** Who asked for the run, and what triggered it. */
  requestedBy?: string;
  trigger?: string;
  description?: string;
}

/** An immutable model version, as stored in the registry. */
export interface ModelVersion {
  model: string;
  version: number;
  artifact: ArtifactRef;
  dataset: RegisterVersionInput['dataset'];
  trainer: RegisterVersionInput['trainer'];
  metrics: Record<string, number>;
  code: CodeVersion;
  workflowId: string;
  runId: string;
  approvals: VersionApproval[];
  schema?: unknown;
  report?: ArtifactRef;
  spec?: ArtifactRef;
  requestedBy?: string;
  trigger?: string;
  description?: string;
  /** ISO time of registration. */
  createdAt: string;
  /**
   * The version before this one and the digest of its manifest (`manifestDigest`), so an edit to a manifest shows as a
   * broken link in `mlops models audit`. Absent on version 1 and on versions registered before manifests were chained.
   */
  previous?: { version: number; sha256: string };
}

/** The result of registering: the version, and whether this call created it (false when the run had already registered it). */
export interface RegisterVersionResult {
  version: ModelVersion;
  created: boolean;
}

/** One move of an alias, as kept in its immutable history. */
export interface AliasMove {
  model: string;
  alias: string;
  /** 1 for the first move of the alias, then 2, 3, ... with no gaps. */
  seq: number;
  /** The version the alias pointed at before, or null for its first move. */
  from: number | null;
  to: number;
  /** Who moved it. */
  by: string;
  /** ISO time of the move. */
  at: string;
  /** Why it was moved (shown in audits). */
  reason: string;
  /** The pipeline run or rollback that moved it, when there is one. */
  workflowId?: string;
  /** The digest of the target version's manifest when the alias moved (`manifestDigest`), checked by `mlops models audit`. */
  manifestSha256?: string;
}

/** Where an alias points now: its latest move. */
export type AliasPointer = AliasMove;

/** What a caller gives to move an alias. */
export interface MoveAliasInput {
  model: string;
  alias: string;
  version: number;
  by: string;
  reason: string;
  workflowId?: string;
  /**
   * Compare-and-swap precondition: the version the alias must point at now (null: the alias must not
   * exist yet). When another writer got there first, the move fails with `MlopsConflict`.
   */
  expectedVersion?: number | null;
}

/** The result of a move: the alias's latest move, and whether this call made it (false when the alias already pointed there). */
export interface MoveAliasResult {
  move: AliasMove;
  changed: boolean;
}

/** A resolved alias: where it points, and the version it points at. */
export interface ResolvedAlias {
  pointer: AliasPointer;
  version: ModelVersion;
}

/** What a caller gives to register a dataset snapshot. */
export interface RegisterSnapshotInput {
  /** The dataset's name (same rules as model names). */
  name: string;
  /** sha256 of the dataset's content: the snapshot's identity. */
  sha256: string;
  /** Where the data came from (file path, URL or s3:// URI). */
  sourceUri: string;
  /** The frozen schema (opaque to the store). */
  schema: unknown;
  rowCount: number;
  /** The data profile. */
  profile?: ArtifactRef;
  /** The stored data itself. */
  data?: ArtifactRef;
  /** How the data was made: sources, filters, derived columns, engine (opaque to the store). */
  lineage?: unknown;
}

/** A dataset snapshot, as stored. */
export interface DatasetSnapshot extends RegisterSnapshotInput {
  /** ISO time of the first registration of this content. */
  createdAt: string;
}

/** The result of registering a snapshot: the snapshot, the reference to its manifest, and whether this call created it. */
export interface RegisterSnapshotResult {
  snapshot: DatasetSnapshot;
  ref: ArtifactRef;
  created: boolean;
}

/** How a rollout exposes the candidate: `shadow` (it predicts a mirrored copy, never answers) or `canary` (it answers a share). */
export type RolloutStrategy = 'shadow' | 'canary';

/**
 * What a canary routes on: the request id (the default), or a field of the request's row (an entity such
 * as a customer id), so the same entity always sees the same version at a given share.
 */
export type RolloutRouting = { key: 'request-id' } | { key: 'field'; field: string };

/** `running` and `paused` serve both versions (a paused rollout keeps its share); `finished` serves the alias only. */
export type RolloutStatus = 'running' | 'paused' | 'finished';

/**
 * A model's rollout as the model server reads it: which two versions it serves and how it splits the
 * traffic between them. The rollout workflow writes it (`ModelRegistry.setRollout`); every change is kept.
 */
export interface RolloutState {
  model: string;
  /** The rollout workflow's id. */
  rolloutId: string;
  strategy: RolloutStrategy;
  /** The version that answers the traffic the candidate does not (the alias's version when the rollout began). */
  champion: number;
  candidate: number;
  /** The fraction of requests the candidate answers, 0 to 1; always 0 for a shadow. */
  candidateShare: number;
  routing: RolloutRouting;
  status: RolloutStatus;
  /** The rollout's step (0 for the first), as its workflow counts them. */
  step: number;
  /** 1 for the model's first rollout change, then 2, 3, ... with no gaps, across all its rollouts. */
  seq: number;
  /** ISO time of this change. */
  updatedAt: string;
  /** Who made the change (a person, or the rollout workflow). */
  by: string;
  /** Why (shown in audits). */
  reason: string;
}

/** What a caller gives to change a rollout: the state without what the registry stamps (`seq`, `updatedAt`). */
export type RolloutChange = Omit<RolloutState, 'seq' | 'updatedAt'>;

/** The result of `setRollout`: the rollout as it now stands, and whether this call changed it (false for a retried change). */
export interface SetRolloutResult {
  state: RolloutState;
  changed: boolean;
}
