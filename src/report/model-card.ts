/**
 * The model card: one self-contained HTML page per pipeline run that says what the candidate is,
 * what data it learned from, how it scored against the policy and the production version, and
 * whether the holdout looks like the training data. No scripts, no external fonts, styles or
 * images: it opens offline from a presigned link, and a content security policy forbids any fetch
 * should a user's text ever slip through escaping.
 */
import { higherIsBetter } from '../ml/evaluate';
import type { CategoricalColumnProfile, ColumnProfile, NumericColumnProfile } from '../ml/profile';
import type { ValidationIssue } from '../ml/data-validation';
import {
  FEW_ROWS,
  cardHeadline,
  classCounts,
  deploymentSection,
  explainTraining,
  headlineParagraph,
  intendedUseSection,
} from './card-summary';
import { confusionHeatmap, histogramChart, residualChart, rocChart } from './charts';
import { date, esc, metric, num, pct } from './html';
import type { ModelCardInput } from './types';

/** PSI above which a column is flagged, the monitor's default threshold. */
const PSI_FLAG = 0.2;

/** Most histograms drawn; beyond that the columns with the highest PSI are drawn and the rest only listed. */
const MAX_HISTOGRAMS = 24;

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#23783a;font-weight:600}.fail{color:#b3261e;font-weight:600}.muted{color:#666}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600;font-size:13px}
.badge.pass{background:#23783a;color:#fff}.badge.fail{background:#b3261e;color:#fff}
.charts{display:flex;flex-wrap:wrap;gap:18px}.charts figure{margin:0;overflow-x:auto;max-width:100%}
.headline{font-size:15px}svg{max-width:none}code{font-size:12px;background:#f3f3f3;padding:1px 4px;border-radius:3px;word-break:break-all}
`;

/** Renders a model card as one HTML document. Deterministic: the same input gives the same bytes. */
export function buildModelCard(input: ModelCardInput): string {
  const sections = [
    header(input),
    deploymentSection(input),
    intendedUseSection(input),
    metricsSection(input),
    claimsSection(input),
    dataSection(input),
    validationSection(input),
    diagnosticsSection(input),
    driftSection(input),
    trainingSection(input),
    artifactsSection(input),
  ];
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(`Model card: ${input.model}`)}</title>`,
    `<style>${STYLE}</style></head>`,
    `<body><main>${sections.filter(Boolean).join('\n')}`,
    `<p class="muted">Written by temporal-mlops at the validate stage${input.deployment ? ' and drawn again when the version was registered' : ''}. ` +
      'This page is self-contained: it loads nothing and runs no script.</p>',
    '</main></body></html>',
    '',
  ].join('\n');
}

function lines(parts: string[]): string {
  return parts.filter(Boolean).join('\n');
}

function table(head: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

function header(input: ModelCardInput): string {
  const { verdict, candidate } = input;
  const mismatches = (input.claims ?? []).filter((c) => c.mismatch);
  const who = [
    candidate.trainer ? `trainer <b>${esc(candidate.trainer)}</b>` : '',
    input.run ? `run <code>${esc(input.run.workflowId)}</code>` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const d = input.deployment;
  const badge = d
    ? `<span class="badge pass">version ${d.version}</span>`
    : `<span class="badge ${verdict.passed ? 'pass' : 'fail'}">${verdict.passed ? 'passed validation' : 'failed validation'}</span>`;
  const checks = `every threshold of the validation policy${input.champion && input.policy.champion ? ' and the champion comparison' : ''}`;
  const failures = verdict.failures.map((f) => `<li class="fail">${esc(f)}</li>`).join('');
  return lines([
    `<h1>${esc(input.model)} ${badge}</h1>`,
    input.description ? `<p>${esc(input.description)}</p>` : '',
    `<p class="muted">${d ? `Version ${d.version}` : 'Candidate model'}${who ? `: ${who}` : ''}.</p>`,
    d
      ? `<p>It met ${checks}, ${d.approvals.length ? 'was approved' : 'needed no approval'} and was registered for the ${esc(d.alias)} alias.</p>`
      : verdict.passed
        ? `<p>The candidate meets ${checks}; it may go on to approval.</p>`
        : `<p>The candidate was stopped at validation:</p><ul>${failures}</ul>`,
    headlineParagraph(input),
    mismatches.length
      ? `<p class="fail">The training program's own claims do not match what we measured:</p>${list(
          mismatches.map((c) => c.message),
          'fail',
        )}`
      : '',
    input.notes?.length ? `<p><b>Notes:</b></p>${list(input.notes)}` : '',
  ]);
}

/** Sentences as a list, each starting with a capital; escaped. */
function list(items: string[], cls?: string): string {
  return `<ul>${items.map((t) => `<li${cls ? ` class="${cls}"` : ''}>${esc(capital(t))}</li>`).join('')}</ul>`;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The program's claims (its metrics.json) beside our measurement: information, never what gates the run. */
function claimsSection(input: ModelCardInput): string {
  if (!input.claims?.length) return '';
  const holdout = input.holdoutRows !== undefined ? `${num(input.holdoutRows)} sealed holdout rows` : 'the sealed holdout';
  const verdict = (c: { mismatch: boolean }) =>
    c.mismatch ? '<span class="fail">does not match</span>' : '<span class="pass">matches</span>';
  const rows = input.claims.map((c) => [esc(c.metric), metric(c.claimed), metric(c.measured), verdict(c)]);
  return lines([
    '<h2>What the training program claimed</h2>',
    `<p class="muted">The program's metrics.json, measured on data it held out itself, beside our measurement on ${holdout}, ` +
      'which the program never saw. Only our measurement gates the run.</p>',
    table(['metric', 'claimed', 'measured by us', ''], rows, [false, true, true, false]),
  ]);
}

/** One sentence on the candidate against the production version, decided as the evaluator decides it. */
export function championVerdict(input: ModelCardInput): { text: string; passed?: boolean } {
  const rule = input.policy.champion;
  const champ = input.champion;
  if (!champ) {
    if (input.championNote) return { text: input.championNote };
    return { text: 'There is no production version yet, so the candidate is judged on the thresholds alone.' };
  }
  const against = `production (version ${champ.version})`;
  if (!rule) return { text: `The policy sets no champion comparison; ${against} is shown for reference only.` };
  const c = input.candidate.metrics[rule.metric];
  const p = champ.metrics[rule.metric];
  if (c === undefined || p === undefined)
    return { text: `${rule.metric} is missing for the ${c === undefined ? 'candidate' : 'production version'}.`, passed: false };
  const worseBy = higherIsBetter(rule.metric) ? p - c : c - p;
  const values = `${rule.metric} ${metric(c)} against ${metric(p)}`;
  if (worseBy < 0) return { text: `the candidate is better than ${against}: ${values}, by ${metric(-worseBy)}.`, passed: true };
  if (worseBy === 0) return { text: `the candidate equals ${against}: ${values}.`, passed: true };
  const by = `${values}, worse by ${metric(worseBy)}`;
  if (worseBy <= rule.margin)
    return { text: `the candidate is worse than ${against} within the allowed margin of ${rule.margin}: ${by}.`, passed: true };
  return { text: `the candidate is worse than ${against} by more than the allowed margin of ${rule.margin}: ${by}.`, passed: false };
}

function thresholdText(t: { min?: number; max?: number } | undefined, v: number | undefined): string {
  if (!t) return '';
  const parts = [t.min !== undefined ? `≥ ${t.min}` : '', t.max !== undefined ? `≤ ${t.max}` : ''].filter(Boolean).join(' and ');
  const ok = v !== undefined && (t.min === undefined || v >= t.min) && (t.max === undefined || v <= t.max);
  return `${esc(parts)} <span class="${ok ? 'pass' : 'fail'}">${ok ? 'met' : 'not met'}</span>`;
}

function metricsSection(input: ModelCardInput): string {
  const cand = input.candidate.metrics;
  const champ = input.champion?.metrics;
  const headline = cardHeadline(input).metric;
  const names = [...new Set([...Object.keys(cand), ...Object.keys(input.policy.thresholds), ...Object.keys(champ ?? {})])];
  const rows = names.map((n) => {
    const c = cand[n];
    const p = champ?.[n];
    let diff = '';
    if (c !== undefined && p !== undefined) {
      const better = higherIsBetter(n) ? c - p : p - c;
      diff = `<span class="${better >= 0 ? 'pass' : 'fail'}">${c - p >= 0 ? '+' : '−'}${metric(Math.abs(c - p))}</span>`;
    }
    const marks = [headline === n ? 'headline' : '', input.policy.champion?.metric === n ? 'champion metric' : ''].filter(Boolean);
    const mark = marks.length ? ` <span class="muted">(${marks.join(', ')})</span>` : '';
    const name = `${esc(n)}${mark} <span class="muted">${higherIsBetter(n) ? '↑' : '↓'}</span>`;
    return [name, metric(c), ...(champ ? [metric(p), diff] : []), thresholdText(input.policy.thresholds[n], c)];
  });
  const head = ['metric', 'candidate', ...(input.champion ? [`production v${input.champion.version}`, 'difference'] : []), 'threshold'];
  const verdict = championVerdict(input);
  const rowsUsed = input.holdoutRows !== undefined ? `${num(input.holdoutRows)} holdout rows` : 'the holdout';
  const outcome =
    verdict.passed === undefined ? '' : `<span class="${verdict.passed ? 'pass' : 'fail'}">${verdict.passed ? 'passes' : 'fails'}</span>: `;
  return lines([
    '<h2>Metrics</h2>',
    `<p class="muted">On ${rowsUsed}${input.champion ? ', the same rows for both models' : ''}. ` +
      '↑ higher is better, ↓ lower is better.</p>',
    table(head, rows, [false, true, ...(champ ? [true, true] : []), false]),
    `<p><b>Champion comparison:</b> ${outcome}${esc(verdict.text)}</p>`,
  ]);
}

function columnRole(input: ModelCardInput, name: string): string {
  if (input.dataset?.target === name) return 'target';
  if (input.dataset?.features?.includes(name)) return 'feature';
  return input.dataset?.features ? '<span class="muted">unused</span>' : '';
}

function profileRow(input: ModelCardInput, col: ColumnProfile): string[] {
  const common = [`<b>${esc(col.name)}</b>`, esc(col.type), columnRole(input, col.name), num(col.count), num(col.nulls), num(col.invalid)];
  if (col.kind === 'categorical') {
    const c = col as CategoricalColumnProfile;
    const top = c.frequencies
      .slice(0, 3)
      .map((f) => `${esc(f.value)} ${pct(c.count > 0 ? f.count / c.count : NaN)}`)
      .join(', ');
    return [...common, '', '', '', '', '', `${num(c.distinct)} distinct${top ? `: ${top}` : ''}${c.frequencies.length > 3 ? ', …' : ''}`];
  }
  const n = col as NumericColumnProfile;
  const median = n.quantiles.p50 ?? null;
  if (n.type === 'datetime') {
    const days = n.max !== null && n.min !== null && n.max - n.min > 3 * 86_400_000;
    const d = (v: number | null) => (v === null ? '–' : date(v, days));
    return [...common, d(n.mean), n.std === null ? '–' : `${num(n.std / 86_400_000)} days`, d(n.min), d(median), d(n.max), ''];
  }
  return [...common, num(n.mean), num(n.std), num(n.min), num(median), num(n.max), ''];
}

function dataSection(input: ModelCardInput): string {
  const ds = input.dataset;
  if (!ds) return '';
  const { profile } = ds;
  const counts = classCounts(input);
  const total = counts ? Object.values(counts).reduce((s, v) => s + v, 0) : 0;
  const parts = [
    '<h2>Data</h2>',
    `<p>${num(profile.rowCount)} rows and ${num(profile.columns.length)} columns` +
      `${ds.target ? `; target <b>${esc(ds.target)}</b>` : ''}${ds.features ? `, ${num(ds.features.length)} features` : ''}` +
      `${input.holdoutRows !== undefined ? `; ${num(input.holdoutRows)} rows held out for evaluation` : ''}.</p>`,
  ];
  if (ds.droppedMissingTarget)
    parts.push(
      `<p class="dropped">${num(ds.droppedMissingTarget)} rows whose target is missing were dropped at ingest ` +
        `(dataset.dropMissingTarget); they are not in these counts.</p>`,
    );
  if (counts) {
    parts.push('<h3>Classes</h3>');
    parts.push(
      table(
        ['class', 'rows', 'share'],
        Object.entries(counts)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [esc(k), num(v), pct(total > 0 ? v / total : NaN)]),
        [false, true, true],
      ),
    );
  }
  parts.push('<h3>Columns</h3>');
  parts.push(
    table(
      ['column', 'type', 'role', 'values', 'missing', 'invalid', 'mean', 'std', 'min', 'median', 'max', 'categories'],
      profile.columns.map((c) => profileRow(input, c)),
      [false, false, false, true, true, true, true, true, true, true, true, false],
    ),
  );
  return lines(parts);
}

function issueRow(issue: ValidationIssue): string[] {
  const rows = issue.sampleRows.length ? `${issue.sampleRows.slice(0, 5).join(', ')}${issue.sampleRows.length > 5 ? ', …' : ''}` : '';
  return [
    `<span class="${issue.severity === 'blocking' ? 'fail' : 'muted'}">${esc(issue.severity)}</span>`,
    esc(issue.column ?? '(dataset)'),
    esc(issue.rule),
    esc(issue.message),
    esc(rows),
  ];
}

function validationSection(input: ModelCardInput): string {
  const report = input.validation;
  if (!report) return '';
  const summary =
    report.issues.length === 0
      ? `<p class="pass">No issues in ${num(report.rowCount)} rows.</p>`
      : `<p>${num(report.issues.length)} issue(s) in ${num(report.rowCount)} rows; ` +
        `${report.ok ? 'none blocks the pipeline' : '<span class="fail">blocking issues present</span>'}.</p>`;
  return lines([
    '<h2>Data validation</h2>',
    summary,
    report.issues.length ? table(['severity', 'column', 'rule', 'finding', 'sample rows'], report.issues.map(issueRow)) : '',
  ]);
}

function diagnosticsSection(input: ModelCardInput): string {
  const figures: string[] = [];
  if (input.candidate.confusionMatrix) figures.push(confusionHeatmap(input.candidate.confusionMatrix, 'Candidate: confusion matrix'));
  if (input.champion?.confusionMatrix)
    figures.push(confusionHeatmap(input.champion.confusionMatrix, `Production v${input.champion.version}: confusion matrix`));
  if (input.roc?.length)
    figures.push(
      rocChart(
        input.roc,
        input.roc.length === 1 ? `Candidate: ROC curve of ${input.roc[0]!.label}` : 'Candidate: ROC curves, one class against the rest',
      ),
    );
  if (input.residuals) figures.push(residualChart(input.residuals, 'Candidate: residuals on the holdout'));
  if (figures.length === 0) return '';
  const thin = (input.roc ?? []).filter((c) => c.positives !== undefined && c.positives < FEW_ROWS);
  const notes = [
    input.candidate.confusionMatrix ? 'Rows are true classes, columns predicted ones; shading is the share of the true class.' : '',
    input.roc?.some((c) => c.positives !== undefined) ? 'n is the holdout rows of each class, the positives its curve is drawn from.' : '',
    thin.length
      ? `${thin.map((c) => `${c.label}'s curve rests on ${c.positives} row${c.positives === 1 ? '' : 's'}`).join(', ')}: ` +
        `read ${thin.length === 1 ? 'it' : 'them'} with care.`
      : '',
    input.residuals && input.residuals.predicted.length < input.residuals.rows
      ? `Residuals of ${num(input.residuals.predicted.length)} of ${num(input.residuals.rows)} holdout rows, evenly spaced.`
      : '',
  ].filter(Boolean);
  return lines([
    '<h2>Holdout diagnostics</h2>',
    notes.length ? `<p class="muted">${esc(notes.join(' '))}</p>` : '',
    `<div class="charts">${figures.map((f) => `<figure>${f}</figure>`).join('')}</div>`,
  ]);
}

function driftSection(input: ModelCardInput): string {
  const drift = input.drift;
  if (!drift || (drift.columns.length === 0 && !drift.skipped?.length)) return '';
  const byPsi = [...drift.columns].sort((a, b) => b.psi - a.psi);
  const drawn = new Set(byPsi.slice(0, MAX_HISTOGRAMS).map((c) => c.column));
  const names = { reference: drift.reference, current: drift.current };
  const rows = byPsi.map((c) => [esc(c.column), c.psi.toFixed(4), c.psi > PSI_FLAG ? '<span class="fail">shifted</span>' : 'stable']);
  return lines([
    `<h2>Distributions: ${esc(drift.reference)} against ${esc(drift.current)}</h2>`,
    `<p class="muted">Each column's share of rows per bin of the ${esc(drift.reference)} profile. ` +
      `PSI above ${PSI_FLAG} is flagged, as the drift monitor flags it by default.${drift.note ? ` ${esc(drift.note)}` : ''}</p>`,
    table(['column', 'PSI', ''], rows, [false, true, false]),
    drift.skipped?.length
      ? `<p class="muted">Not compared: ${drift.skipped.map((s) => `${esc(s.column)} (${esc(s.reason)})`).join('; ')}.</p>`
      : '',
    drawn.size < byPsi.length ? `<p class="muted">Histograms of the ${drawn.size} columns with the highest PSI.</p>` : '',
    `<div class="charts">${drift.columns
      .filter((c) => drawn.has(c.column))
      .map((c) => `<figure>${histogramChart(c, names)}</figure>`)
      .join('')}</div>`,
  ]);
}

function value(v: unknown): string {
  return esc(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));
}

function trainingSection(input: ModelCardInput): string {
  const { params, training, trainer } = input.candidate;
  if (!params && !training && !trainer) return '';
  const rows = [
    ...Object.entries(params ?? {}).map(([k, v]) => [esc(k), value(v), '']),
    ...Object.entries(training ?? {}).map(([k, v]) => [
      `<span class="muted">training</span> ${esc(k)}`,
      value(v),
      esc(explainTraining(k, v, input)),
    ]),
  ];
  return lines([
    '<h2>Training</h2>',
    trainer ? `<p>Trainer <b>${esc(trainer)}</b>.</p>` : '',
    rows.length ? table(['setting', 'value', 'what it means'], rows) : '',
  ]);
}

function artifactsSection(input: ModelCardInput): string {
  if (!input.artifacts?.length) return '';
  const rows = input.artifacts.map((a) => [
    esc(a.name),
    `<code>${esc(a.uri)}</code>`,
    a.sha256 ? `<code>${esc(a.sha256.slice(0, 16))}…</code>` : '',
  ]);
  return lines([
    '<h2>Artifacts</h2>',
    table(['artifact', 'location', 'sha256'], rows),
    input.run?.runId ? `<p class="muted">Workflow run <code>${esc(input.run.runId)}</code>.</p>` : '',
  ]);
}
