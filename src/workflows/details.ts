/** The markdown an approver reads in the Temporal UI (the workflow's current details) while the gate waits. */
import type { PipelineSpec } from '../spec/pipeline';
import type { Approval, ApprovalStatus, PipelineRunStatus } from '../contracts';

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '-' : Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}

/** Builds the approval summary: metrics vs production, data, validation, report link, and how to decide. */
export function approvalDetails(args: {
  spec: PipelineSpec;
  workflowId: string;
  status: PipelineRunStatus;
  gate: ApprovalStatus;
  /** Where the project serves model cards (`mlops codec`); without it the card is named by its s3 URI. */
  cardBaseUrl?: string;
}): string {
  const { spec, workflowId, status, gate, cardBaseUrl } = args;
  const candidate = status.candidate ?? {};
  const champion = status.champion?.metrics ?? {};
  const names = [...new Set([...Object.keys(candidate), ...Object.keys(champion)])].filter((n) => typeof candidate[n] === 'number');
  const production = `production${status.champion ? ` (v${status.champion.version})` : ' (none yet)'}`;
  const classes = status.data?.classCounts
    ? Object.entries(status.data.classCounts)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
    : '';
  const rule = spec.validation.champion;
  const lines = [
    `## ${spec.model}: approval ${gate.state === 'waiting' || gate.state === 'escalated' ? 'needed' : gate.state}`,
    '',
    `Requested by **${status.requestedBy}** (trigger: ${status.trigger})${status.reason ? `: ${status.reason}` : ''}.`,
    '',
    ...metricTable(
      ['metric', 'candidate', production],
      names.map((n) => [n, fmt(candidate[n]), fmt(champion[n])]),
    ),
    '',
    `**Data**: ${status.data?.rows ?? '?'} rows, snapshot \`${status.data?.snapshot.slice(0, 12) ?? '?'}\`${classes ? `; classes ${classes}` : ''}.`,
    `**Validation**: passed${rule ? ` (may not be worse than production on ${rule.metric} by more than ${rule.margin})` : ''}.`,
    ...(status.data?.droppedMissingTarget
      ? [`**Dropped**: ${status.data.droppedMissingTarget} rows whose target is missing (dataset.dropMissingTarget).`]
      : []),
    ...(status.data?.warnings ?? []).map((w) => `**Data warning**: ${w}`),
    ...(status.claimMismatches ?? []).map((m) => `**Claimed vs measured**: ${m}.`),
    ...(status.validationNotes ?? []).map((n) => `**Note**: ${n}`),
    servabilityLine(status.servability),
    status.card
      ? cardBaseUrl
        ? `**Model card**: [open the model card](${cardBaseUrl}/cards/${status.card.sha256}) (sha256 ${status.card.sha256.slice(0, 12)})`
        : `**Model card**: \`${status.card.uri}\` (a link to open it: \`mlops status ${workflowId}\`)`
      : '',
    status.report ? `**Evaluation report**: \`${status.report.uri}\`` : '',
    '',
    `**Approvals**: ${gate.approvals.length} of ${gate.quorum} from ${gate.approvers.join(', ')}${gate.deadline ? `; deadline ${gate.deadline}` : ''}.`,
    ...gate.approvals.map((a) => `- ${approvalLine(a)}`),
    ...gate.refused.slice(-5).map((r) => `- refused ${r.kind}${r.approver ? ` from ${r.approver}` : ''}: ${r.reason}`),
    '',
    ...(gate.identity === 'verified'
      ? [
          `**Identity: verified**. Only approvals stamped by the codec server count: ` +
            `send from the Temporal UI signed in, with "Pass the user access token" on, or \`mlops approve ${workflowId}\` with your ` +
            `token (MLOPS_TOKEN). The name your token proves counts, whatever you type. ` +
            `Requested by ${status.requestedBy} (${gate.requesterVerified ? 'verified' : 'declared, not verified'}).`,
          '',
        ]
      : []),
    `**To decide**: Send Signal → \`approve\` with \`{"approver": "<your name>", "comment": "...", "workflowId": ` +
      `"${workflowId}"}\`, or \`reject\` with \`{"approver": "<your name>", "reason": "...", "workflowId": "${workflowId}"}\`.`,
    `From a terminal: \`mlops approve ${workflowId} --as <name>\` or \`temporal workflow signal --workflow-id ${workflowId} --name ` +
      `approve --input '{"approver":"<name>","workflowId":"${workflowId}"}'\`.`,
  ];
  return lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n');
}

/** One approval as the details show it: who, proven or typed, when, and the comment. */
export function approvalLine(a: Approval): string {
  const how = a.verified
    ? ` (verified by ${a.verified.issuer}${a.verified.declared ? `; typed as "${a.verified.declared}"` : ''})`
    : ' (declared)';
  return `approved by ${a.approver}${how} at ${a.at}${a.comment ? `: ${a.comment}` : ''}`;
}

/** Who decided, for the details of a finished run: the approvals (and rejections) stay visible after the deploy. */
export function decisionDetails(gate: ApprovalStatus | undefined): string {
  if (!gate || (gate.approvals.length === 0 && gate.rejections.length === 0)) return '';
  const lines = [
    ...gate.approvals.map((a) => `- ${approvalLine(a)}`),
    ...gate.rejections.map(
      (r) => `- rejected by ${r.approver}${r.verified ? ' (verified)' : ' (declared)'} at ${r.at}${r.reason ? `: ${r.reason}` : ''}`,
    ),
  ];
  const refused = gate.refused.length + (gate.refusedNotKept ?? 0);
  return [
    `**Decided by**:`,
    ...lines,
    ...(refused ? [`(${refused} request(s) refused; \`mlops status\` lists them with their reasons)`] : []),
  ].join('\n');
}

/**
 * A table as a fenced block of aligned columns: the Temporal UI draws markdown tables without any cell
 * padding, so numbers ran into each other; monospace columns read the same in the UI, the CLI and the API.
 */
export function metricTable(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('   ')
      .trimEnd();
  return ['```', line(head), ...rows.map(line), '```'];
}

function servabilityLine(s: PipelineRunStatus['servability']): string {
  if (!s) return '';
  const agreed = s.checkRows ? `; it agrees with its training program on ${s.checkRows} check rows` : '';
  return `**Servability**: the ${s.flavor} model loads as the server loads it and answered ${s.sampleRows} holdout rows${agreed}.`;
}
