/** The markdown an approver reads in the Temporal UI (the workflow's current details) while the gate waits. */
import type { PipelineSpec } from '../spec/pipeline';
import type { ApprovalStatus, PipelineRunStatus } from '../contracts';

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '-' : Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}

/** Builds the approval summary: metrics vs production, data, validation, report link, and how to decide. */
export function approvalDetails(args: { spec: PipelineSpec; workflowId: string; status: PipelineRunStatus; gate: ApprovalStatus }): string {
  const { spec, workflowId, status, gate } = args;
  const candidate = status.candidate ?? {};
  const champion = status.champion?.metrics ?? {};
  const names = [...new Set([...Object.keys(candidate), ...Object.keys(champion)])].filter((n) => typeof candidate[n] === 'number');
  const rows = names.map((n) => `| ${n} | ${fmt(candidate[n])} | ${fmt(champion[n])} |`);
  const classes = status.data?.classCounts
    ? Object.entries(status.data.classCounts)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
    : '';
  const lines = [
    `## ${spec.model}: approval ${gate.state === 'waiting' || gate.state === 'escalated' ? 'needed' : gate.state}`,
    '',
    `Requested by **${status.requestedBy}** (trigger: ${status.trigger})${status.reason ? `: ${status.reason}` : ''}.`,
    '',
    `| metric | candidate | production${status.champion ? ` (v${status.champion.version})` : ' (none yet)'} |`,
    '|---|---|---|',
    ...rows,
    '',
    `**Data**: ${status.data?.rows ?? '?'} rows, snapshot \`${status.data?.snapshot.slice(0, 12) ?? '?'}\`${classes ? `; classes ${classes}` : ''}.`,
    `**Validation**: passed${spec.validation.champion ? ` (may not be worse than production on ${spec.validation.champion.metric} by more than ${spec.validation.champion.margin})` : ''}.`,
    ...(status.data?.droppedMissingTarget
      ? [`**Dropped**: ${status.data.droppedMissingTarget} rows whose target is missing (dataset.dropMissingTarget).`]
      : []),
    ...(status.data?.warnings ?? []).map((w) => `**Data warning**: ${w}`),
    ...(status.claimMismatches ?? []).map((m) => `**Claimed vs measured**: ${m}.`),
    ...(status.validationNotes ?? []).map((n) => `**Note**: ${n}`),
    servabilityLine(status.servability),
    status.card ? `**Model card**: \`${status.card.uri}\` (a link to open it: \`mlops status ${workflowId}\`)` : '',
    status.report ? `**Evaluation report**: \`${status.report.uri}\`` : '',
    '',
    `**Approvals**: ${gate.approvals.length} of ${gate.quorum} from ${gate.approvers.join(', ')}${gate.deadline ? `; deadline ${gate.deadline}` : ''}.`,
    ...gate.approvals.map((a) => `- approved by ${a.approver} at ${a.at}${a.comment ? `: ${a.comment}` : ''}`),
    ...gate.refused.slice(-5).map((r) => `- refused ${r.kind}${r.approver ? ` from ${r.approver}` : ''}: ${r.reason}`),
    '',
    '**To decide**: Send Signal → `approve` with `{"approver": "<your name>", "comment": "..."}`, or `reject` with `{"approver": "<your name>", "reason": "..."}`.',
    `From a terminal: \`mlops approve ${workflowId} --as <name>\` or \`temporal workflow signal --workflow-id ${workflowId} --name approve --input '{"approver":"<name>"}'\`.`,
  ];
  return lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n');
}

function servabilityLine(s: PipelineRunStatus['servability']): string {
  if (!s) return '';
  const agreed = s.checkRows ? `; it agrees with its training program on ${s.checkRows} check rows` : '';
  return `**Servability**: the ${s.flavor} model loads as the server loads it and answered ${s.sampleRows} holdout rows${agreed}.`;
}
