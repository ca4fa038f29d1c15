/**
 * The model registry: immutable, numbered versions per model and movable aliases, as JSON documents
 * in MinIO, kept consistent by S3 conditional writes (If-None-Match / If-Match) alone.
 *
 * Layout under `registry/models/<model>/`:
 *   versions/<n>.json              the version manifest; created once with If-None-Match, never changed
 *   runs/<sha256(workflowId/runId)>.json  which version slot a pipeline run claims (the idempotency key)
 *   aliases/<alias>.json           the alias's latest move; replaced only with If-Match (compare-and-swap)
 *   alias-history/<alias>/<seq>.json  every move, one immutable object each
 *   rollout.json                   the model's rollout as it stands; replaced only with If-Match (compare-and-swap)
 *   rollout-history/<seq>.json     every change of it, one immutable object each
 *
 * The pointer carries its move's sequence number and full record, so whoever next reads or moves the
 * alias can write a history entry that a crash left unwritten: the history never misses a move. The
 * rollout document works the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FailureType, MlopsError, isMlopsError } from '../errors';
import type { ArtifactStore, StoredDocument, WriteCondition } from './artifact-store';
import { sha256Hex } from './digest';
import { isPreconditionFailed } from './errors';
import { assertArtifactRef, assertName, assertRunKey, assertSha256, assertText, assertVersion } from './names';
import type {
  AliasMove,
  AliasPointer,
  ModelVersion,
  MoveAliasInput,
  MoveAliasResult,
  RegisterVersionInput,
  RegisterVersionResult,
  ResolvedAlias,
  RolloutChange,
  RolloutState,
  SetRolloutResult,
  VersionApproval,
} from './types';

const ROOT = 'registry/models/';

/** Tuning and test seams of the registry. */
export interface ModelRegistryOptions {
  /** Compare-and-swap rounds before a write gives up with `MlopsConflict` (default 100). */
  maxAttempts?: number;
  /** Recorded as `code.packageVersion` (default: this package's version). */
  packageVersion?: string;
  now?: () => Date;
  /** Concurrent reads when listing versions or history (default 8). */
  readConcurrency?: number;
}

/** Which version slot a pipeline run claims. */
interface RunClaim {
  workflowId: string;
  version: number;
}

const pad = (n: number) => String(n).padStart(12, '0');
const modelRoot = (model: string) => `${ROOT}${model}/`;
const versionKey = (model: string, version: number) => `${modelRoot(model)}versions/${pad(version)}.json`;
/** A pipeline run is one run of a workflow id: ids are reused (drift retraining reuses one per model), run ids are not. */
const runKey = (model: string, workflowId: string, runId: string) => `${modelRoot(model)}runs/${sha256Hex(`${workflowId}/${runId}`)}.json`;
const aliasKey = (model: string, alias: string) => `${modelRoot(model)}aliases/${alias}.json`;
const historyPrefix = (model: string, alias: string) => `${modelRoot(model)}alias-history/${alias}/`;
const historyKey = (model: string, alias: string, seq: number) => `${historyPrefix(model, alias)}${pad(seq)}.json`;
const rolloutKey = (model: string) => `${modelRoot(model)}rollout.json`;
const rolloutHistoryPrefix = (model: string) => `${modelRoot(model)}rollout-history/`;
const rolloutHistoryKey = (model: string, seq: number) => `${rolloutHistoryPrefix(model)}${pad(seq)}.json`;

/** The digest of a version manifest as read back (sha256 of its JSON): what the next version and alias moves record. */
export function manifestDigest(manifest: ModelVersion): string {
  return sha256Hex(JSON.stringify(manifest));
}

/** An MLflow-like model registry over an artifact store. */
export class ModelRegistry {
  private readonly maxAttempts: number;
  private readonly packageVersion: string;
  private readonly now: () => Date;
  private readonly readConcurrency: number;

  constructor(
    private readonly store: ArtifactStore,
    options: ModelRegistryOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 100;
    this.packageVersion = options.packageVersion ?? ownPackageVersion();
    this.now = options.now ?? (() => new Date());
    this.readConcurrency = options.readConcurrency ?? 8;
  }

  // ---- versions ----

  /**
   * Registers a model version under the next free number. Idempotent per pipeline run: registering
   * again with the same `workflowId` and `runId` returns the version that run already has (`created: false`),
   * even when attempts race each other.
   */
  async registerVersion(input: RegisterVersionInput): Promise<RegisterVersionResult> {
    const model = assertName('model', input?.model);
    this.validateRegistration(input);
    await this.checkArtifact(input);
    const claimKey = runKey(model, input.workflowId, input.runId);

    let claim = await this.store.readDocument<RunClaim>(claimKey);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (!claim) {
        // Claim the slot after the highest written version; a race for it is settled when the slot is written.
        claim = await this.writeClaim(
          claimKey,
          { workflowId: input.workflowId, version: (await this.maxVersion(model)) + 1 },
          { ifNoneMatch: true },
        );
        continue;
      }
      const manifest = this.manifest(input, claim.value.version);
      const previous =
        manifest.version > 1 ? await this.store.readDocument<ModelVersion>(versionKey(model, manifest.version - 1)) : undefined;
      if (previous) manifest.previous = { version: previous.value.version, sha256: manifestDigest(previous.value) };
      const drawn = input.reportFor && (await input.reportFor(manifest.version));
      if (drawn) manifest.report = drawn;
      if (await this.conditional(() => this.store.writeDocument(versionKey(model, manifest.version), manifest, { ifNoneMatch: true }))) {
        return { version: manifest, created: true };
      }
      const slot = await this.store.readDocument<ModelVersion>(versionKey(model, claim.value.version));
      if (slot?.value.workflowId === input.workflowId && slot.value.runId === input.runId) return { version: slot.value, created: false };
      // Another run filled the slot first: claim a later one. A claim only leaves a slot another run
      // holds, and slots never change, so one run can never own two versions.
      const next = Math.max(claim.value.version, await this.maxVersion(model)) + 1;
      claim = await this.writeClaim(claimKey, { workflowId: input.workflowId, version: next }, { ifMatch: claim.etag });
    }
    throw new MlopsError(
      FailureType.Conflict,
      `Could not allocate a version of model "${model}" after ${this.maxAttempts} attempts: too many concurrent registrations; retrying may succeed.`,
      { model },
    );
  }

  /** A model version; `MlopsNotFound` naming what exists when the model or version does not. */
  async getVersion(model: string, version: number): Promise<ModelVersion> {
    assertName('model', model);
    assertVersion(version);
    const doc = await this.store.readDocument<ModelVersion>(versionKey(model, version));
    if (doc) return doc.value;
    const max = await this.maxVersion(model);
    if (max === 0) throw await this.noSuchModel(model);
    throw new MlopsError(FailureType.NotFound, `Model "${model}" has no version ${version}; its versions are 1 to ${max}.`, {
      model,
      version,
      latest: max,
    });
  }

  /** The newest version of a model, or undefined when it has none. */
  async latestVersion(model: string): Promise<ModelVersion | undefined> {
    assertName('model', model);
    const max = await this.maxVersion(model);
    return max === 0 ? undefined : this.getVersion(model, max);
  }

  /** All versions of a model, oldest first; `MlopsNotFound` for an unknown model. */
  async listVersions(model: string): Promise<ModelVersion[]> {
    assertName('model', model);
    const numbers = await this.versionNumbers(model);
    if (numbers.length === 0) throw await this.noSuchModel(model);
    const docs = await mapLimit(numbers, this.readConcurrency, (n) => this.store.readDocument<ModelVersion>(versionKey(model, n)));
    return docs.filter((d): d is StoredDocument<ModelVersion> => d !== undefined).map((d) => d.value);
  }

  /** The names of all registered models. */
  async listModels(): Promise<string[]> {
    return this.store.listPrefixes(ROOT);
  }

  // ---- aliases ----

  /**
   * Points an alias at a version by compare-and-swap, and records the move in the alias's history.
   * A lost race is retried after re-reading (bounded); with `expectedVersion`, a race lost to a move
   * elsewhere fails with `MlopsConflict` instead. Moving an alias to where it already points changes
   * nothing (`changed: false`), so a retried move is harmless.
   */
  async moveAlias(input: MoveAliasInput): Promise<MoveAliasResult> {
    const model = assertName('model', input?.model);
    const alias = assertName('alias', input.alias);
    const version = assertVersion(input.version);
    const by = assertText('alias move "by"', input.by, 1000);
    const reason = assertText('alias move reason', input.reason);
    if (input.expectedVersion !== undefined && input.expectedVersion !== null) assertVersion(input.expectedVersion);
    if (input.workflowId !== undefined) assertRunKey(input.workflowId);
    const target = await this.getVersion(model, version);

    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const current = await this.store.readDocument<AliasPointer>(aliasKey(model, alias));
      if (current) await this.recordMove(current.value);
      const from = current?.value.to ?? null;
      if (from === version) return { move: current!.value, changed: false };
      if (input.expectedVersion !== undefined && input.expectedVersion !== from) {
        throw new MlopsError(
          FailureType.Conflict,
          `Alias "${alias}" of model "${model}" points at ${from === null ? 'nothing' : `version ${from}`}, not the expected ` +
            `${input.expectedVersion === null ? 'nothing' : `version ${input.expectedVersion}`}: it was moved meanwhile; ` +
            `re-read it and decide again.`,
          { model, alias, current: from, expected: input.expectedVersion },
        );
      }
      const move: AliasMove = {
        model,
        alias,
        seq: (current?.value.seq ?? 0) + 1,
        from,
        to: version,
        by,
        at: this.now().toISOString(),
        reason,
      };
      if (input.workflowId !== undefined) move.workflowId = input.workflowId;
      move.manifestSha256 = manifestDigest(target);
      const moved = await this.conditional(() =>
        this.store.writeDocument(aliasKey(model, alias), move, current ? { ifMatch: current.etag } : { ifNoneMatch: true }),
      );
      if (moved) {
        await this.recordMove(move);
        return { move, changed: true };
      }
      await backoff(attempt);
    }
    throw new MlopsError(
      FailureType.Conflict,
      `Could not move alias "${alias}" of model "${model}" after ${this.maxAttempts} attempts: it is being moved concurrently; retrying may succeed.`,
      { model, alias },
    );
  }

  /**
   * Moves an alias back to the version it pointed at before its latest move. Fails with
   * `MlopsConflict` if the alias moves meanwhile, and `MlopsNotFound` if there is nothing to go back to.
   */
  async rollbackAlias(input: { model: string; alias: string; by: string; reason: string; workflowId?: string }): Promise<MoveAliasResult> {
    const { pointer } = await this.resolveAlias(input.model, input.alias);
    if (pointer.from === null) {
      throw new MlopsError(
        FailureType.NotFound,
        `Alias "${input.alias}" of model "${input.model}" has never pointed at another version, so there is nothing to roll back to.`,
        { model: input.model, alias: input.alias },
      );
    }
    return this.moveAlias({ ...input, version: pointer.from, expectedVersion: pointer.to });
  }

  /** Where an alias points, and that version; `MlopsNotFound` when the model or alias does not exist. */
  async resolveAlias(model: string, alias: string): Promise<ResolvedAlias> {
    assertName('model', model);
    assertName('alias', alias);
    const pointer = await this.store.readDocument<AliasPointer>(aliasKey(model, alias));
    if (!pointer) throw await this.noSuchAlias(model, alias);
    return { pointer: pointer.value, version: await this.getVersion(model, pointer.value.to) };
  }

  /** Where an alias points, or undefined when it is not set (validates names; no error for a missing alias). */
  async findAlias(model: string, alias: string): Promise<AliasPointer | undefined> {
    assertName('model', model);
    assertName('alias', alias);
    return (await this.store.readDocument<AliasPointer>(aliasKey(model, alias)))?.value;
  }

  /** Every alias of a model with where it points. */
  async listAliases(model: string): Promise<AliasPointer[]> {
    assertName('model', model);
    const items = await this.store.list(`${modelRoot(model)}aliases/`);
    const docs = await mapLimit(items, this.readConcurrency, (item) => this.store.readDocument<AliasPointer>(item.key));
    return docs.filter((d): d is StoredDocument<AliasPointer> => d !== undefined).map((d) => d.value);
  }

  /** Every move of an alias, oldest first (seq 1, 2, ...); `MlopsNotFound` when the alias was never set. */
  async aliasHistory(model: string, alias: string): Promise<AliasMove[]> {
    assertName('model', model);
    assertName('alias', alias);
    // Read the pointer first: any move it shows has had its predecessors recorded.
    const pointer = await this.store.readDocument<AliasPointer>(aliasKey(model, alias));
    const items = await this.store.list(historyPrefix(model, alias));
    const docs = await mapLimit(items, this.readConcurrency, (item) => this.store.readDocument<AliasMove>(item.key));
    const moves = docs.filter((d): d is StoredDocument<AliasMove> => d !== undefined).map((d) => d.value);
    // The latest move may not have reached the history yet (a crash right after the pointer moved).
    if (pointer && !moves.some((m) => m.seq === pointer.value.seq)) moves.push(pointer.value);
    if (moves.length === 0) throw await this.noSuchAlias(model, alias);
    return moves.sort((a, b) => a.seq - b.seq);
  }

  // ---- rollouts ----

  /**
   * Changes a model's rollout by compare-and-swap: `expectedSeq` is the `seq` of the rollout the caller
   * read (0 when the model had none), and a change made meanwhile fails with `MlopsConflict`. The registry
   * stamps `seq` and `updatedAt` and records the change in the rollout's history. A change retried after it
   * took effect (the rollout is already `change`, one seq past `expectedSeq`) returns it with `changed: false`.
   * Both versions must exist; a shadow's share is 0.
   */
  async setRollout(change: RolloutChange, expectedSeq: number): Promise<SetRolloutResult> {
    const model = assertName('model', change?.model);
    validateRollout(change);
    if (!Number.isSafeInteger(expectedSeq) || expectedSeq < 0) {
      throw new MlopsError(
        FailureType.InvalidInput,
        `Invalid expectedSeq ${JSON.stringify(expectedSeq)}: expected the seq of the rollout last read (0 when there was none).`,
      );
    }
    await this.getVersion(model, change.champion);
    await this.getVersion(model, change.candidate);

    const current = await this.store.readDocument<RolloutState>(rolloutKey(model));
    if (current) await this.recordRollout(current.value);
    const seq = current?.value.seq ?? 0;
    if (current && seq === expectedSeq + 1 && sameRollout(current.value, change)) return { state: current.value, changed: false };
    if (seq !== expectedSeq) throw rolloutConflict(model, seq, expectedSeq, current?.value);
    const state: RolloutState = { ...rolloutFields(change), seq: seq + 1, updatedAt: this.now().toISOString() };
    const written = await this.conditional(() =>
      this.store.writeDocument(rolloutKey(model), state, current ? { ifMatch: current.etag } : { ifNoneMatch: true }),
    );
    if (!written) {
      const now = await this.store.readDocument<RolloutState>(rolloutKey(model));
      throw rolloutConflict(model, now?.value.seq ?? 0, expectedSeq, now?.value);
    }
    await this.recordRollout(state);
    return { state, changed: true };
  }

  /** A model's rollout as it stands (finished ones included), or undefined when the model never had one. */
  async getRollout(model: string): Promise<RolloutState | undefined> {
    assertName('model', model);
    return (await this.store.readDocument<RolloutState>(rolloutKey(model)))?.value;
  }

  /** Every change of a model's rollouts, oldest first (seq 1, 2, ...); empty when it never had one. */
  async rolloutHistory(model: string): Promise<RolloutState[]> {
    assertName('model', model);
    const current = await this.store.readDocument<RolloutState>(rolloutKey(model));
    const items = await this.store.list(rolloutHistoryPrefix(model));
    const docs = await mapLimit(items, this.readConcurrency, (item) => this.store.readDocument<RolloutState>(item.key));
    const changes = docs.filter((d): d is StoredDocument<RolloutState> => d !== undefined).map((d) => d.value);
    // The latest change may not have reached the history yet (a crash right after the document was written).
    if (current && !changes.some((c) => c.seq === current.value.seq)) changes.push(current.value);
    return changes.sort((a, b) => a.seq - b.seq);
  }

  // ---- internals ----

  /** Writes a rollout change into the history once; a second write of the same change is a no-op. */
  private async recordRollout(state: RolloutState): Promise<void> {
    await this.conditional(() => this.store.writeDocument(rolloutHistoryKey(state.model, state.seq), state, { ifNoneMatch: true }));
  }

  /** Writes a run's claim conditionally; when the condition fails, returns the claim as it now stands. */
  private async writeClaim(key: string, claim: RunClaim, condition: WriteCondition): Promise<StoredDocument<RunClaim> | undefined> {
    try {
      const written = await this.store.writeDocument(key, claim, condition);
      return { value: claim, etag: written.etag, ref: written.ref };
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      return this.store.readDocument<RunClaim>(key);
    }
  }

  /** Writes a move into the history once; a second write of the same move is a no-op. */
  private async recordMove(move: AliasMove): Promise<void> {
    await this.conditional(() => this.store.writeDocument(historyKey(move.model, move.alias, move.seq), move, { ifNoneMatch: true }));
  }

  /** Runs a conditional write: true if it took effect, false if its precondition failed. */
  private async conditional(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (isPreconditionFailed(err)) return false;
      throw err;
    }
  }

  private async versionNumbers(model: string): Promise<number[]> {
    const prefix = `${modelRoot(model)}versions/`;
    const numbers: number[] = [];
    for (const item of await this.store.list(prefix)) {
      const m = /^(\d{12})\.json$/.exec(item.key.slice(prefix.length));
      if (m) numbers.push(Number(m[1]));
    }
    return numbers.sort((a, b) => a - b);
  }

  private async maxVersion(model: string): Promise<number> {
    const numbers = await this.versionNumbers(model);
    return numbers.length ? numbers[numbers.length - 1]! : 0;
  }

  private async noSuchModel(model: string): Promise<MlopsError> {
    const known = await this.listModels();
    return new MlopsError(
      FailureType.NotFound,
      `No model named "${model}" is registered${known.length ? ` (registered: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''})` : ''}.`,
      { model },
    );
  }

  private async noSuchAlias(model: string, alias: string): Promise<MlopsError> {
    if ((await this.maxVersion(model)) === 0) return this.noSuchModel(model);
    const aliases = (await this.store.list(`${modelRoot(model)}aliases/`)).map((i) => path.posix.basename(i.key, '.json'));
    return new MlopsError(
      FailureType.NotFound,
      `Model "${model}" has no alias "${alias}"${aliases.length ? ` (its aliases: ${aliases.join(', ')})` : ' (it has no aliases yet)'}.`,
      { model, alias },
    );
  }

  private validateRegistration(input: RegisterVersionInput): void {
    assertArtifactRef('artifact', input.artifact);
    if (typeof input.dataset !== 'object' || input.dataset === null)
      throw new MlopsError(FailureType.InvalidInput, 'Invalid dataset: expected { sha256, ... } of the dataset snapshot.');
    assertSha256('dataset.sha256', input.dataset.sha256);
    if (input.dataset.name !== undefined) assertName('dataset', input.dataset.name);
    if (input.dataset.snapshot !== undefined) assertArtifactRef('dataset.snapshot', input.dataset.snapshot);
    if (input.dataset.profile !== undefined) assertArtifactRef('dataset.profile', input.dataset.profile);
    if (input.report !== undefined) assertArtifactRef('report', input.report);
    if (input.spec !== undefined) assertArtifactRef('spec', input.spec);
    if (typeof input.trainer !== 'object' || input.trainer === null)
      throw new MlopsError(FailureType.InvalidInput, 'Invalid trainer: expected { name, params }.');
    assertText('trainer.name', input.trainer.name, 200);
    if (typeof input.trainer.params !== 'object' || input.trainer.params === null || Array.isArray(input.trainer.params)) {
      throw new MlopsError(FailureType.InvalidInput, 'Invalid trainer.params: expected an object of parameter names to values.');
    }
    if (typeof input.metrics !== 'object' || input.metrics === null)
      throw new MlopsError(FailureType.InvalidInput, 'Invalid metrics: expected an object of metric names to numbers.');
    for (const [name, value] of Object.entries(input.metrics)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new MlopsError(FailureType.InvalidInput, `Invalid metric "${name}": expected a finite number, got ${String(value)}.`, {
          metric: name,
        });
      }
    }
    assertRunKey(input.workflowId);
    assertText('runId', input.runId, 1000);
    if (input.gitCommit !== undefined && !/^[0-9a-f]{7,64}$/.test(input.gitCommit)) {
      throw new MlopsError(FailureType.InvalidInput, `Invalid gitCommit ${JSON.stringify(input.gitCommit)}: expected a hex commit hash.`);
    }
    for (const a of input.approvals ?? []) {
      assertText('approval.approver', a?.approver, 1000);
      assertText('approval.at', a?.at, 100);
    }
  }

  /** The artifact must exist with the recorded size before a version may point at it. */
  private async checkArtifact(input: RegisterVersionInput): Promise<void> {
    const info = await this.store.stat(input.artifact.uri).catch((err) => {
      if (isMlopsError(err) && err.type === FailureType.NotFound) {
        throw new MlopsError(
          FailureType.NotFound,
          `Cannot register model "${input.model}": its artifact ${input.artifact.uri} does not exist.`,
          { uri: input.artifact.uri },
        );
      }
      throw err;
    });
    if (info.size !== input.artifact.size) {
      throw new MlopsError(
        FailureType.Integrity,
        `Cannot register model "${input.model}": its artifact ${input.artifact.uri} has ${info.size} bytes, not the recorded ${input.artifact.size}.`,
        { uri: input.artifact.uri },
      );
    }
  }

  private manifest(input: RegisterVersionInput, version: number): ModelVersion {
    const m: ModelVersion = {
      model: input.model,
      version,
      artifact: input.artifact,
      dataset: input.dataset,
      trainer: { name: input.trainer.name, params: input.trainer.params },
      metrics: input.metrics,
      code: input.gitCommit ? { packageVersion: this.packageVersion, gitCommit: input.gitCommit } : { packageVersion: this.packageVersion },
      workflowId: input.workflowId,
      runId: input.runId,
      approvals: (input.approvals ?? []).map((a): VersionApproval => ({
        approver: a.approver,
        at: a.at,
        ...(a.comment === undefined ? {} : { comment: a.comment }),
        ...(a.verified === undefined ? {} : { verified: a.verified }),
      })),
      createdAt: this.now().toISOString(),
    };
    if (input.schema !== undefined) m.schema = input.schema;
    if (input.report !== undefined) m.report = input.report;
    if (input.spec !== undefined) m.spec = input.spec;
    if (input.requestedBy !== undefined) m.requestedBy = input.requestedBy;
    if (input.trigger !== undefined) m.trigger = input.trigger;
    if (input.description !== undefined) m.description = input.description;
    return m;
  }
}

/** The fields of a rollout change, in a fixed order and nothing else (a caller's extra keys are not stored). */
function rolloutFields(c: RolloutChange): RolloutChange {
  return {
    model: c.model,
    rolloutId: c.rolloutId,
    strategy: c.strategy,
    champion: c.champion,
    candidate: c.candidate,
    candidateShare: c.candidateShare,
    routing: c.routing.key === 'field' ? { key: 'field', field: c.routing.field } : { key: 'request-id' },
    status: c.status,
    step: c.step,
    by: c.by,
    reason: c.reason,
  };
}

/** Whether a stored rollout is this change (a retry of it). */
function sameRollout(state: RolloutState, change: RolloutChange): boolean {
  const { seq: _seq, updatedAt: _at, ...stored } = state;
  return JSON.stringify(stored) === JSON.stringify(rolloutFields(change));
}

function rolloutConflict(model: string, seq: number, expected: number, current: RolloutState | undefined): MlopsError {
  const now = current ? `change ${seq} (rollout ${current.rolloutId}, ${current.status}, by ${current.by})` : 'no rollout';
  return new MlopsError(
    FailureType.Conflict,
    `The rollout of model "${model}" is at ${now}, not the expected ${expected === 0 ? 'no rollout' : `change ${expected}`}: ` +
      `it was changed meanwhile; re-read it and decide again.`,
    { model, current: seq, expected },
  );
}

/** Checks a rollout change before any request; `MlopsInvalidInput` naming the field otherwise. */
function validateRollout(c: RolloutChange): void {
  const invalid = (message: string, field: string) => new MlopsError(FailureType.InvalidInput, `Invalid rollout: ${message}.`, { field });
  assertText('rolloutId', c.rolloutId, 1000);
  if (c.strategy !== 'shadow' && c.strategy !== 'canary')
    throw invalid(`strategy must be "shadow" or "canary", got ${JSON.stringify(c.strategy)}`, 'strategy');
  assertVersion(c.champion);
  assertVersion(c.candidate);
  if (c.champion === c.candidate) throw invalid(`champion and candidate are both version ${c.candidate}`, 'candidate');
  if (typeof c.candidateShare !== 'number' || !(c.candidateShare >= 0 && c.candidateShare <= 1))
    throw invalid(`candidateShare must be a number from 0 to 1, got ${JSON.stringify(c.candidateShare)}`, 'candidateShare');
  if (c.strategy === 'shadow' && c.candidateShare !== 0)
    throw invalid(`a shadow candidate answers no request, so its candidateShare must be 0, got ${c.candidateShare}`, 'candidateShare');
  const r = c.routing as { key?: unknown; field?: unknown } | undefined;
  if (!r || (r.key !== 'request-id' && r.key !== 'field'))
    throw invalid(`routing must be {"key": "request-id"} or {"key": "field", "field": "<name>"}, got ${JSON.stringify(r)}`, 'routing');
  if (r.key === 'field') assertText('routing field', r.field, 200);
  if (c.status !== 'running' && c.status !== 'paused' && c.status !== 'finished')
    throw invalid(`status must be "running", "paused" or "finished", got ${JSON.stringify(c.status)}`, 'status');
  if (!Number.isSafeInteger(c.step) || c.step < 0)
    throw invalid(`step must be a whole number from 0 up, got ${JSON.stringify(c.step)}`, 'step');
  assertText('rollout "by"', c.by, 1000);
  assertText('rollout reason', c.reason);
}

/** Waits a little, more after each lost race, with jitter so racing writers spread out. */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(5 * 2 ** Math.min(attempt, 6), 250);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

/** Maps with at most `limit` calls in flight, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

let cachedVersion: string | undefined;

/** This package's version, from the package.json two levels above src/storage or dist/storage. */
function ownPackageVersion(): string {
  if (cachedVersion) return cachedVersion;
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    cachedVersion = pkg.version ?? 'unknown';
  } catch {
    cachedVersion = 'unknown';
  }
  return cachedVersion;
}
