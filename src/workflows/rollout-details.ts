/** The markdown a person reads in the Temporal UI (the rollout workflow's current details): state, evidence, how to act. */
import { sharePercent, type RolloutRunStatus, type VersionEvidence } from '../contracts';

function pct(x: number | undefined): string {
  return x === undefined ? '-' : sharePercent(x);
}

function num(x: number | undefined, digits = 4): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function row(name: string, c: VersionEvidence, ch: VersionEvidence, pick: (v: VersionEvidence) => string): string {
  return `| ${name} | ${pick(c)} | ${pick(ch)} |`;
}

/** Builds the rollout's details: where it stands, the current step's evidence and verdict, recent decisions, and the controls. */
export function rolloutDetails(s: RolloutRunStatus): string {
  const id = s.rolloutId;
  const stepOf = `step ${s.step + 1} of ${s.steps.length}`;
  const where =
    s.strategy === 'shadow' && s.share === 0
      ? 'shadow: the candidate predicts a copy of every request and answers none'
      : `${stepOf}: the candidate answers ${pct(s.share)} of requests`;
  const lines = [
    `## ${s.model}: ${s.strategy} rollout of v${s.candidate} against v${s.champion}: **${s.state}**`,
    '',
    `${where} (steps ${s.steps.map((x) => pct(x)).join(', ')}; the last moves ${s.alias} to v${s.candidate}).`,
    s.stepStartedAt ? `Step started ${s.stepStartedAt}${s.nextCheckAt ? `; next check ${s.nextCheckAt}` : ''}.` : '',
  ];
  const e = s.evidence;
  if (e) {
    lines.push(
      '',
      `**Evidence of this step**${e.sameRequests ? ' (both versions on the same requests)' : ''}:`,
      '',
      `| | candidate v${e.candidate.version} | champion v${e.champion.version} |`,
      '|---|---|---|',
      row('requests', e.candidate, e.champion, (v) => String(v.requests)),
      row('error rate', e.candidate, e.champion, (v) => `${pct(v.errorRate)} (${v.errors})`),
      row('p99 latency', e.candidate, e.champion, (v) => (v.p99LatencyMs === undefined ? '-' : `${num(v.p99LatencyMs, 2)} ms`)),
      row('labelled rows', e.candidate, e.champion, (v) => String(v.labelled)),
      ...(e.metric ? [row(e.metric, e.candidate, e.champion, (v) => num(v.metric))] : []),
    );
  }
  if (s.verdict) lines.push('', `**Verdict**: ${s.verdict.decision}: ${s.verdict.reasons.join('; ')}`);
  if (s.state === 'awaiting-approval' && s.approval) {
    const a = s.approval;
    lines.push(
      '',
      `**Approval needed**: ${a.approvals.length} of ${a.quorum} from ${a.approvers.join(', ')}${a.deadline ? `; deadline ${a.deadline}` : ''}.`,
      `Send Signal → \`approve\` with \`{"approver": "<your name>"}\` or \`reject\` with \`{"approver": "<your name>", "reason": "..."}\`.`,
    );
  }
  const recent = s.decisions.slice(-8);
  if (recent.length) {
    lines.push('', '**Decisions**:');
    for (const d of recent) lines.push(`- ${d.at} step ${d.step + 1} (${pct(d.share)}): ${d.action} by ${d.by}: ${d.reason}`);
  }
  if (s.state !== 'promoted' && s.state !== 'rolled-back' && s.state !== 'failed') {
    lines.push(
      '',
      '**To act**: Send Signal → `pause`, `resume`, `promote` (skip the remaining steps) or `abort` (roll back), with `{"by": ' +
        '"<your name>", "reason": "..."}`.',
      `From a terminal: \`mlops rollout pause|resume|promote|abort ${s.model} --as <name>\`, or \`temporal workflow signal ` +
        `--workflow-id ${id} --name abort --input '{"by":"<name>"}'\`.`,
    );
  }
  return lines.filter((l, i, all) => !(l === '' && all[i - 1] === '')).join('\n');
}
