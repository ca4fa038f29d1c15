/** `mlops models list|show|history`, `mlops promote`, `mlops rollback`: the model registry in MinIO. */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { createStorage } from '../storage';
import type { AliasPointer, ModelVersion } from '../storage/types';
import { emit, UsageError } from './output';
import { auditModel, type ModelAudit } from '../storage/audit';
import { loadTrustedKeys } from '../codec/keys';
import { FailureType, MlopsError } from '../errors';

type Runner = (fn: (json: boolean, ...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>;

/** The registry view of one model, as `models show --json` prints it. */
export interface ModelView {
  model: string;
  aliases: Record<string, { version: number; by: string; at: string; reason: string }>;
  versions: Pick<
    ModelVersion,
    'version' | 'createdAt' | 'metrics' | 'approvals' | 'trainer' | 'workflowId' | 'trigger' | 'requestedBy' | 'artifact' | 'report'
  >[];
}

function aliasMap(pointers: AliasPointer[]): ModelView['aliases'] {
  return Object.fromEntries(pointers.map((p) => [p.alias, { version: p.to, by: p.by, at: p.at, reason: p.reason }]));
}

function renderModel(view: ModelView): string {
  const aliases = Object.entries(view.aliases).map(([a, p]) => `${a} → v${p.version} (by ${p.by}, ${p.at})`);
  const lines = [`${view.model}`, `  aliases: ${aliases.join('; ') || 'none'}`, '  versions:'];
  for (const v of view.versions) {
    const metrics = Object.entries(v.metrics)
      .slice(0, 4)
      .map(([k, x]) => `${k} ${x.toFixed(4)}`)
      .join(', ');
    const approvals = v.approvals.map((a) => a.approver).join(', ') || 'none';
    lines.push(
      `    v${v.version}  ${v.createdAt}  ${v.trainer.name}  ${metrics}  approvals: ${approvals}  (${v.trigger ?? 'manual'}, ${v.workflowId})`,
    );
  }
  return lines.join('\n');
}

function renderAudit(a: ModelAudit): string {
  const lines = [
    `${a.model}: ${a.ok ? 'the chain holds' : `${a.problems.length} problem(s)`} (trusted stamp keys: ${a.trustedKeys.join(', ') || 'none'})`,
  ];
  for (const v of a.versions) {
    lines.push(`  v${v.version}  ${v.createdAt}  manifest ${v.manifestSha256.slice(0, 12)}  ${v.chain}  run ${v.workflowId}`);
    for (const ap of v.approvals)
      lines.push(
        `      approved by ${ap.approver} at ${ap.at}: ${ap.identity}` +
          (ap.issuer ? ` (${ap.issuer}, subject ${ap.subject}${ap.tokenId ? `, token ${ap.tokenId}` : ''}, key ${ap.keyId})` : '') +
          (ap.problem ? `  PROBLEM: ${ap.problem}` : ''),
      );
  }
  for (const al of a.aliases) {
    lines.push(`  alias ${al.alias}:`);
    for (const m of al.moves)
      lines.push(
        `      ${m.seq}. ${m.from === null ? '-' : `v${m.from}`} → v${m.to} by ${m.by} at ${m.at}: ${m.reason}${m.problem ? `  PROBLEM: ${m.problem}` : ''}`,
      );
  }
  if (!a.ok) lines.push('Problems:', ...a.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}

/** Registers the registry commands. */
export function registerModels(program: Command, run: Runner): void {
  const models = program.command('models').description('Read the model registry: models, versions, aliases and their history');
  models
    .command('list')
    .description('List the registered models with their aliases')
    .option('--json', 'print as JSON')
    .action(
      run(async (json) => {
        const { registry } = createStorage(loadConfig().minio);
        const names = await registry.listModels();
        const out = await Promise.all(names.map(async (model) => ({ model, aliases: aliasMap(await registry.listAliases(model)) })));
        emit(
          json,
          out,
          out.length
            ? out
                .map(
                  (m) =>
                    `${m.model}  ${Object.entries(m.aliases)
                      .map(([a, p]) => `${a}=v${p.version}`)
                      .join(' ')}`,
                )
                .join('\n')
            : 'No models registered yet.',
        );
      }),
    );
  models
    .command('audit <model>')
    .description(
      "Verify a model's chain offline: each version's manifest against the next one's link, every verified approval's signed proof " +
        '(MLOPS_STAMP_TRUSTED_KEYS_FILE), and every alias move; exits 1 on any problem',
    )
    .option('--json', 'print the audit as JSON')
    .action(
      run(async (json, model: string) => {
        const config = loadConfig();
        const { registry, store } = createStorage(config.minio);
        const audit = await auditModel(registry, store, model, loadTrustedKeys(config.identity));
        // A failed audit is one document with --json: the error, carrying the whole audit in its details.
        if (!json || audit.ok) emit(json, audit, renderAudit(audit));
        if (!audit.ok)
          throw new MlopsError(
            FailureType.Integrity,
            `the audit of ${model} found ${audit.problems.length} problem(s): ${audit.problems[0]}`,
            { audit },
          );
      }),
    );

  models
    .command('show <model>')
    .description("Show a model's aliases and versions (metrics, approvals, lineage)")
    .option('--json', 'print as JSON (aliases.production.version, versions[].approvals, ...)')
    .action(
      run(async (json, model: string) => {
        const { registry } = createStorage(loadConfig().minio);
        const [aliases, versions] = await Promise.all([registry.listAliases(model), registry.listVersions(model)]);
        const view: ModelView = {
          model,
          aliases: aliasMap(aliases),
          versions: versions.map((v) => ({
            version: v.version,
            createdAt: v.createdAt,
            metrics: v.metrics,
            approvals: v.approvals,
            trainer: v.trainer,
            workflowId: v.workflowId,
            trigger: v.trigger,
            requestedBy: v.requestedBy,
            artifact: v.artifact,
            report: v.report,
          })),
        };
        emit(json, view, renderModel(view));
      }),
    );
  models
    .command('history <model>')
    .description('Show every move of an alias: who, when, from, to, why')
    .option('--alias <name>', 'the alias', 'production')
    .option('--json', 'print as JSON')
    .action(
      run(async (json, model: string, opts: { alias: string }) => {
        const { registry } = createStorage(loadConfig().minio);
        const moves = await registry.aliasHistory(model, opts.alias);
        emit(
          json,
          moves,
          moves
            .map((m) => `#${m.seq} ${m.at}  ${m.from === null ? '(none)' : `v${m.from}`} → v${m.to}  by ${m.by}: ${m.reason}`)
            .join('\n'),
        );
      }),
    );

  program
    .command('promote <model> <version>')
    .description('Point an alias (default production) at a version, recorded in its history')
    .option('--alias <name>', 'the alias to move', 'production')
    .option('--as <name>', 'who promotes', process.env.USER ?? 'cli')
    .option('--reason <text>', 'why', 'promoted by hand')
    .option('--json', 'print the move as JSON')
    .action(
      run(async (json, model: string, versionText: string, opts: { alias: string; as: string; reason: string }) => {
        const version = Number(versionText);
        if (!Number.isInteger(version) || version < 1)
          throw new UsageError(`<version> must be a positive whole number, got "${versionText}"`);
        const { registry } = createStorage(loadConfig().minio);
        const { move, changed } = await registry.moveAlias({ model, alias: opts.alias, version, by: opts.as, reason: opts.reason });
        emit(
          json,
          { ...move, changed },
          changed
            ? `${opts.alias} of ${model}: ${move.from === null ? '(none)' : `v${move.from}`} → v${move.to}`
            : `${opts.alias} of ${model} already points at v${version}`,
        );
      }),
    );

  program
    .command('rollback <model>')
    .description('Move an alias (default production) back to the version it pointed at before its latest move')
    .option('--alias <name>', 'the alias to roll back', 'production')
    .option('--as <name>', 'who rolls back', process.env.USER ?? 'cli')
    .option('--reason <text>', 'why', 'rolled back by hand')
    .option('--json', 'print the move as JSON')
    .action(
      run(async (json, model: string, opts: { alias: string; as: string; reason: string }) => {
        const { registry } = createStorage(loadConfig().minio);
        const { move } = await registry.rollbackAlias({ model, alias: opts.alias, by: opts.as, reason: opts.reason });
        emit(json, move, `${opts.alias} of ${model} rolled back: v${move.from} → v${move.to}`);
      }),
    );
}
