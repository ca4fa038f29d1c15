/**
 * The audit of a model's registry, checkable offline with the stamp public keys alone: every version's manifest is
 * linked to the one before by its digest, every verified approval's proof is re-verified (the signature, and that it
 * names this approver, this run and this comment), every alias move points at a version whose manifest has the digest
 * the move recorded, and the moves follow each other without gaps. No Temporal imports.
 */
import { openStamp, type TrustedKeys } from '../identity/stamp';
import { isMlopsError, FailureType } from '../errors';
import type { ArtifactStore } from './artifact-store';
import { manifestDigest, type ModelRegistry } from './registry';
import type { AliasMove, ModelVersion, VersionApproval } from './types';

/** One approval as the audit found it. */
export interface AuditedApproval {
  approver: string;
  at: string;
  /** `verified`: a proof signed by a trusted key names this approver for this run; `declared`: a typed name only. */
  identity: 'verified' | 'declared';
  issuer?: string;
  subject?: string;
  tokenId?: string;
  keyId?: string;
  problem?: string;
}

/** One version as the audit found it. */
export interface AuditedVersion {
  version: number;
  workflowId: string;
  runId: string;
  createdAt: string;
  manifestSha256: string;
  /** `linked`: its manifest names the previous version's digest, which matches; `unlinked`: version 1, or registered before manifests were chained. */
  chain: 'linked' | 'unlinked' | 'broken';
  approvals: AuditedApproval[];
  problems: string[];
}

/** One alias's moves as the audit found them. */
export interface AuditedAlias {
  alias: string;
  moves: (Pick<AliasMove, 'seq' | 'from' | 'to' | 'by' | 'at' | 'reason'> & { problem?: string })[];
}

/** The audit of a model: ok when no problem was found anywhere. */
export interface ModelAudit {
  model: string;
  ok: boolean;
  versions: AuditedVersion[];
  aliases: AuditedAlias[];
  /** Every problem, each naming the version or alias it is about. */
  problems: string[];
  trustedKeys: string[];
}

/** Audits a model's versions, approvals and alias moves. */
export async function auditModel(registry: ModelRegistry, store: ArtifactStore, model: string, trusted: TrustedKeys): Promise<ModelAudit> {
  const versions = await registry.listVersions(model);
  const audited: AuditedVersion[] = [];
  const byNumber = new Map(versions.map((v) => [v.version, v]));
  const max = Math.max(...versions.map((v) => v.version));
  for (let n = 1; n <= max; n++) {
    const v = byNumber.get(n);
    if (!v) {
      audited.push({
        version: n,
        workflowId: '',
        runId: '',
        createdAt: '',
        manifestSha256: '',
        chain: 'broken',
        approvals: [],
        problems: [`version ${n}: its manifest is missing (versions run from 1 to ${max})`],
      });
      continue;
    }
    audited.push(await auditVersion(v, byNumber.get(n - 1), store, trusted));
  }
  const aliases: AuditedAlias[] = [];
  for (const pointer of await registry.listAliases(model)) {
    aliases.push(auditAlias(await registry.aliasHistory(model, pointer.alias), byNumber));
  }
  const problems = [
    ...audited.flatMap((v) => v.problems),
    ...aliases.flatMap((a) => a.moves.filter((m) => m.problem).map((m) => `alias ${a.alias} move ${m.seq}: ${m.problem}`)),
  ];
  return { model, ok: problems.length === 0, versions: audited, aliases, problems, trustedKeys: [...trusted.keys()] };
}

async function auditVersion(v: ModelVersion, before: ModelVersion | undefined, store: ArtifactStore, trusted: TrustedKeys) {
  const problems: string[] = [];
  const where = `version ${v.version}`;
  let chain: AuditedVersion['chain'] = 'unlinked';
  if (v.previous) {
    if (!before || v.previous.version !== before.version) {
      chain = 'broken';
      problems.push(`${where}: it links to version ${v.previous.version}, which is not the version before it`);
    } else if (v.previous.sha256 !== manifestDigest(before)) {
      chain = 'broken';
      problems.push(
        `${where}: version ${before.version}'s manifest has changed since ${where} was registered (digest ` +
          `${manifestDigest(before).slice(0, 12)}, recorded ${v.previous.sha256.slice(0, 12)})`,
      );
    } else chain = 'linked';
  }
  try {
    const info = await store.stat(v.artifact.uri);
    if (info.size !== v.artifact.size) problems.push(`${where}: its artifact has ${info.size} bytes, not the recorded ${v.artifact.size}`);
  } catch (err) {
    if (isMlopsError(err) && err.type === FailureType.NotFound) problems.push(`${where}: its artifact ${v.artifact.uri} is gone`);
    else throw err;
  }
  const approvals = v.approvals.map((a) => auditApproval(a, v, trusted));
  for (const a of approvals) if (a.problem) problems.push(`${where}: the approval by ${a.approver}: ${a.problem}`);
  return {
    version: v.version,
    workflowId: v.workflowId,
    runId: v.runId,
    createdAt: v.createdAt,
    manifestSha256: manifestDigest(v),
    chain,
    approvals,
    problems,
  };
}

/** Re-verifies an approval's proof: a trusted key signed it, for this approver, this run and this comment. */
function auditApproval(a: VersionApproval, v: ModelVersion, trusted: TrustedKeys): AuditedApproval {
  const base = { approver: a.approver, at: a.at };
  if (!a.verified) return { ...base, identity: 'declared' };
  const { issuer, subject, tokenId, proof } = a.verified;
  const found: AuditedApproval = { ...base, identity: 'verified', issuer, subject, ...(tokenId ? { tokenId } : {}), keyId: proof?.keyId };
  const opened = openStamp(proof, trusted);
  if (!opened.ok) return { ...found, problem: opened.problem };
  const { stamp, value } = opened.content;
  const mismatch =
    stamp.kind !== 'approval'
      ? `the proof is a ${stamp.kind} stamp`
      : stamp.identity !== a.approver
        ? `the proof names ${stamp.identity}, not ${a.approver}`
        : stamp.workflowId !== v.workflowId
          ? `the proof is for run ${stamp.workflowId ?? '(none)'}, not this version's run ${v.workflowId}`
          : stamp.issuer !== issuer || stamp.subject !== subject || (stamp.tokenId ?? undefined) !== (tokenId ?? undefined)
            ? 'the recorded issuer, subject or token id differ from the proof'
            : (value.comment ?? undefined) !== (a.comment ?? undefined)
              ? 'the recorded comment differs from the signed one'
              : undefined;
  return mismatch ? { ...found, problem: mismatch } : found;
}

function auditAlias(moves: AliasMove[], versions: Map<number, ModelVersion>): AuditedAlias {
  const out: AuditedAlias['moves'] = [];
  let previous: AliasMove | undefined;
  for (const m of moves) {
    const target = versions.get(m.to);
    const problem =
      m.seq !== (previous?.seq ?? 0) + 1
        ? `move ${(previous?.seq ?? 0) + 1} is missing before it`
        : m.from !== (previous?.to ?? null)
          ? `it says the alias came from ${m.from === null ? 'nothing' : `version ${m.from}`}, but the move before left it at ` +
            `${previous ? `version ${previous.to}` : 'nothing'}`
          : !target
            ? `it points at version ${m.to}, which does not exist`
            : m.manifestSha256 !== undefined && m.manifestSha256 !== manifestDigest(target)
              ? `version ${m.to}'s manifest has changed since the alias moved to it`
              : undefined;
    out.push({ seq: m.seq, from: m.from, to: m.to, by: m.by, at: m.at, reason: m.reason, ...(problem ? { problem } : {}) });
    previous = m;
  }
  return { alias: moves[0]?.alias ?? '', moves: out };
}
