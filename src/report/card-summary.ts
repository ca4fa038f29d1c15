/**
 * The parts of the model card a reader takes away: the headline metric (chosen for the data, with why), what the
 * model is for and where it stops being trustworthy, how a deployed version was approved and deployed, and the
 * training diagnostics in words.
 */
import { headlineMetric, type HeadlineMetric } from '../ml/metric-catalog';
import type { CategoricalColumnProfile, NumericColumnProfile } from '../ml/profile';
import { date, esc, metric, num, short } from './html';
import type { ModelCardInput } from './types';

/** Fewer holdout rows of a class than this and its ROC curve and recall are read with care. */
export const FEW_ROWS = 10;

/** Holdout rows below which the card says the metrics are uncertain. */
const SMALL_HOLDOUT = 200;

/** Most numeric feature ranges listed under limitations. */
const MAX_RANGES = 8;

function task(input: ModelCardInput): 'classification' | 'regression' {
  if (input.task) return input.task;
  return input.residuals || input.candidate.metrics.rmse !== undefined ? 'regression' : 'classification';
}

/** The class counts of the training data's target column, when it is categorical. */
export function classCounts(input: ModelCardInput): Record<string, number> | undefined {
  if (input.dataset?.classCounts) return input.dataset.classCounts;
  const col = input.dataset?.profile.columns.find((c) => c.name === input.dataset?.target);
  return col?.kind === 'categorical'
    ? Object.fromEntries((col as CategoricalColumnProfile).frequencies.map((f) => [f.value, f.count]))
    : undefined;
}

/** The card's headline metric: the one that suits the data, as `headlineMetric` decides. */
export function cardHeadline(input: ModelCardInput): HeadlineMetric {
  return headlineMetric(task(input), classCounts(input));
}

/** One paragraph: the headline metric for candidate (and production), and why it was chosen. */
export function headlineParagraph(input: ModelCardInput): string {
  const h = cardHeadline(input);
  const value = input.candidate.metrics[h.metric];
  if (value === undefined) return '';
  const champ = input.champion?.metrics[h.metric];
  const against = champ !== undefined ? ` (production v${input.champion!.version}: ${metric(champ)})` : '';
  const policy = input.policy.champion?.metric;
  const mismatch =
    policy && policy !== h.metric && policy === 'accuracy' && h.metric === 'balancedAccuracy'
      ? ` The spec compares versions on ${policy}, which on these classes mostly reflects the common ones; ` +
        `validation.champion.metric: ${h.metric} would weigh every class the same.`
      : '';
  return (
    `<p class="headline"><b>Headline: ${esc(words(h.metric))} ${metric(value)}</b>${esc(against)}. ` +
    `<span class="muted">${esc(h.why)}${esc(mismatch)}</span></p>`
  );
}

function words(name: string): string {
  return { balancedAccuracy: 'balanced accuracy', macroF1: 'macro-F1', rocAuc: 'ROC AUC', logLoss: 'log loss' }[name] ?? name;
}

/** Per-class recall from the candidate's confusion matrix (rows are true classes). */
function recalls(input: ModelCardInput): Map<string, { recall: number; rows: number }> {
  const out = new Map<string, { recall: number; rows: number }>();
  const cm = input.candidate.confusionMatrix;
  if (!cm) return out;
  cm.labels.forEach((label, i) => {
    const row = cm.matrix[i] ?? [];
    const rows = row.reduce((s, v) => s + v, 0);
    out.set(String(label), { recall: rows > 0 ? (row[i] ?? 0) / rows : NaN, rows });
  });
  return out;
}

/** What the data shows about where the model can be trusted, one sentence each. */
export function limitations(input: ModelCardInput): string[] {
  const out: string[] = [];
  const ds = input.dataset;
  if (ds) {
    const features = new Set(ds.features ?? []);
    const used = ds.profile.columns.filter((c) => features.size === 0 || features.has(c.name));
    const dates = used.filter((c) => c.kind === 'numeric' && c.type === 'datetime') as NumericColumnProfile[];
    for (const d of dates) {
      if (d.min === null || d.max === null) continue;
      out.push(
        `It learned from ${num(ds.profile.rowCount)} rows with ${d.name} from ${date(d.min, true)} to ${date(d.max, true)}; ` +
          'later data may differ (the monitor compares new data with this period).',
      );
    }
    const ranges = (used.filter((c) => c.kind === 'numeric' && c.type !== 'datetime') as NumericColumnProfile[])
      .filter((c) => c.min !== null && c.max !== null)
      .slice(0, MAX_RANGES)
      .map((c) => `${c.name} ${short(c.min!)} to ${short(c.max!)}`);
    if (ranges.length)
      out.push(`Numeric inputs were seen only in these ranges: ${ranges.join(', ')}; values outside them are extrapolation.`);
  }
  const counts = classCounts(input);
  if (counts && task(input) === 'classification') {
    const total = Object.values(counts).reduce((s, v) => s + v, 0);
    const k = Object.keys(counts).length;
    const rare = Object.entries(counts).filter(([, n]) => total > 0 && n / total < 0.5 / k);
    const recall = recalls(input);
    if (rare.length) {
      const described = rare.map(([c, n]) => {
        const r = recall.get(c);
        const held = r ? `; recall ${Number.isFinite(r.recall) ? metric(r.recall) : '–'} on ${num(r.rows)} holdout rows` : '';
        return `${c} (${num(n)} rows${held})`;
      });
      out.push(
        `Rare classes: ${described.join(', ')}. Its predictions of them are the least reliable, and accuracy hides how often they are missed.`,
      );
    }
  }
  if (input.holdoutRows !== undefined && input.holdoutRows < SMALL_HOLDOUT)
    out.push(
      `The metrics come from ${num(input.holdoutRows)} holdout rows: a difference of a few rows moves them by ` +
        `${metric(1 / Math.max(1, input.holdoutRows))} each, so small differences between versions are noise.`,
    );
  if (ds?.droppedMissingTarget)
    out.push(`${num(ds.droppedMissingTarget)} rows without a target were dropped at ingest; rows like them were never learned from.`);
  return out;
}

/** The "Intended use and limitations" section. */
export function intendedUseSection(input: ModelCardInput): string {
  const use = input.description
    ? `<p><b>Intended use:</b> ${esc(input.description)}</p>`
    : '<p><b>Intended use:</b> <span class="muted">not stated: say what the model is for in the spec\'s <code>description</code>.</span></p>';
  const items = limitations(input);
  return [
    '<h2>Intended use and limitations</h2>',
    use,
    items.length ? `<p><b>Limitations</b> (from the data):</p><ul>${items.map((t) => `<li>${esc(t)}</li>`).join('')}</ul>` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** How the alias reaches the version, in one sentence. */
function howDeployed(d: NonNullable<ModelCardInput['deployment']>): string {
  const alias = d.alias;
  if (d.previousVersion === undefined) return `The ${alias} alias had no version: it moves to this one.`;
  const champion = `version ${d.previousVersion}`;
  if (d.strategy === 'direct')
    return `Deployed directly: the ${alias} alias moves from ${champion} to this one at once, by compare-and-swap, if it still points at ${champion}.`;
  const kind = d.strategy === 'rollout' ? 'a rollout' : `a ${d.strategy} rollout`;
  return `Deployed by ${kind}: ${champion} keeps the ${alias} alias until live evidence says this one does as well (docs/rollout.md).`;
}

/** The "Approval and deploy" section of a registered version's card. */
export function deploymentSection(input: ModelCardInput): string {
  const d = input.deployment;
  if (!d) return '';
  const started = [d.trigger ? `a ${d.trigger} run` : 'a run', d.requestedBy ? `requested by ${d.requestedBy}` : '']
    .filter(Boolean)
    .join(' ');
  const approvals = d.approvals.length
    ? `<table><thead><tr><th>approved by</th><th>at</th><th>comment</th></tr></thead><tbody>${d.approvals
        .map((a) => `<tr><td>${esc(a.approver)}</td><td>${esc(a.at)}</td><td>${esc(a.comment ?? '')}</td></tr>`)
        .join('')}</tbody></table>`
    : "<p>No approval was asked for: the spec's <code>approval</code> section lists no approvers.</p>";
  return [
    '<h2>Approval and deploy</h2>',
    `<p>Registered as version <b>${d.version}</b> at ${esc(d.at)} by ${esc(started)}${d.reason ? ` (${esc(d.reason)})` : ''}. ` +
      `${esc(howDeployed(d))} The alias history (<code>mlops models show ${esc(input.model)}</code>) says when it moved.</p>`,
    approvals,
  ].join('\n');
}

/** A training diagnostic in words, or '' when it needs none. */
export function explainTraining(key: string, value: unknown, input: ModelCardInput): string {
  const training = input.candidate.training ?? {};
  const params = input.candidate.params ?? {};
  const iterations = typeof training.iterations === 'number' ? training.iterations : undefined;
  const earlyStopping = typeof training.validationRows === 'number' && training.validationRows > 0;
  switch (key) {
    case 'converged':
      if (value === true)
        return earlyStopping
          ? 'Stopped early: the loss on its early-stopping rows no longer improved.'
          : 'Stopped on its own criterion (tolerance) before the iteration cap.';
      if (value === false) {
        const cap = params.maxIter !== undefined ? ` (maxIter ${String(params.maxIter)})` : '';
        const ran = `Ran all its ${iterations !== undefined ? `${iterations} ` : ''}iterations${cap}`;
        return earlyStopping
          ? `${ran} without stopping early: it was still improving on its early-stopping rows. Not an error; a larger maxIter may fit better.`
          : `${ran}, as asked: early stopping was off, so there was nothing to stop it. Not an error.`;
      }
      return '';
    case 'iterations':
      return 'Boosting rounds or optimizer steps run.';
    case 'rows':
      return 'Training rows (the sealed holdout excluded).';
    case 'validationRows':
      return earlyStopping ? 'Training rows set aside to decide when to stop; not the sealed holdout.' : 'None: no early stopping.';
    case 'seed':
      return 'Seeds the trainer: the same data, parameters and seed train the same model.';
    default:
      return '';
  }
}
