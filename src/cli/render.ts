/** The human view of a run: stages with timings, a progress bar while training, metrics and the approval state. */
import type { RunView } from '../client';

const ICON: Record<string, string> = { pending: '·', running: '▶', done: '✔', failed: '✘', skipped: '–' };

/** A text progress bar like `[#######-------------]  35%`. */
export function progressBar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(f * 100)).padStart(3)}%`;
}

function seconds(ms?: number): string {
  return ms === undefined ? '' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function num(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(4);
}

/** The header's word for a run: running, or how it ended. */
function outcomeOf(view: RunView): string {
  const outcome = view.outcome ?? view.execution.toLowerCase();
  return outcome === 'running' ? 'RUNNING' : outcome.toUpperCase();
}

/** `attempt 3 of 20, last error: ... (next attempt in 4 s)` for an activity being retried. */
function retryLine(r: NonNullable<RunView['retrying']>[number]): string {
  const of = r.maximumAttempts > 0 ? ` of ${r.maximumAttempts}` : '';
  const wait = r.nextAttemptAt ? Math.max(0, Math.round((Date.parse(r.nextAttemptAt) - Date.now()) / 1000)) : undefined;
  return (
    `↻ ${r.activity}: attempt ` +
    `${r.attempt}${of}${r.lastError ? `, last error: ${r.lastError}` : ''}${wait !== undefined ? ` (next attempt in ${wait} s)` : ''}`
  );
}

/** Renders a run for the terminal. */
export function renderRun(view: RunView): string {
  const s = view.status;
  // The header says how the run ended (deployed, rejected, failed, terminated...), not Temporal's execution status alone.
  const lines = [
    `${view.workflowId}  ${outcomeOf(view)}${s ? `  model ${s.model}, trigger ${s.trigger}, requested by ${s.requestedBy}` : ''}`,
  ];
  for (const w of view.workerWarnings ?? []) lines.push(`  ! ${w}`);
  if (s) {
    for (const stage of s.stages) {
      let line = `  ${ICON[stage.state] ?? '?'} ${stage.name.padEnd(11)} ${stage.state.padEnd(8)} ${seconds(stage.durationMs).padStart(9)}`;
      if (stage.name === 'train' && stage.state === 'running' && view.trainingProgress !== undefined)
        line += `  ${progressBar(view.trainingProgress)}`;
      if (stage.note) line += `  ${stage.note}`;
      lines.push(line);
      if (stage.state === 'running') for (const r of view.retrying ?? []) lines.push(`      ${retryLine(r)}`);
    }
    if (s.data) {
      const dropped = s.data.droppedMissingTarget ? `, ${s.data.droppedMissingTarget} rows dropped (target missing)` : '';
      lines.push(`  data: ${s.data.rows} rows, snapshot ${s.data.snapshot.slice(0, 12)}${dropped}`);
      for (const w of s.data.warnings ?? []) lines.push(`  ! data warning: ${w}`);
    }
    if (s.candidate) {
      const champ = s.champion?.metrics ?? {};
      lines.push(`  metrics (candidate vs production${s.champion ? ` v${s.champion.version}` : ', none yet'}):`);
      for (const [k, v] of Object.entries(s.candidate))
        lines.push(`    ${k.padEnd(18)} ${num(v).padStart(8)}  ${num(champ[k]).padStart(8)}`);
    }
    if (s.validationFailures?.length) lines.push(`  validation failed: ${s.validationFailures.join('; ')}`);
    for (const m of s.claimMismatches ?? []) lines.push(`  ! claimed vs measured: ${m}`);
    for (const n of s.validationNotes ?? []) lines.push(`  note: ${n}`);
    if (s.servability && !s.servability.passed) lines.push(`  servability check failed: ${s.servability.problems.join('; ')}`);
    for (const n of s.servability?.notes ?? []) lines.push(`  note (servability): ${n}`);
    if (s.servability) lines.push(`  servability report: ${s.servability.report.uri}`);
    if (s.approval) {
      const a = s.approval;
      lines.push(
        `  approval: ${a.state}, ${a.approvals.length} of ${a.quorum} from ` +
          `${a.approvers.join(', ')}${a.deadline && (a.state === 'waiting' || a.state === 'escalated') ? `, deadline ${a.deadline}` : ''}`,
      );
      const how = (x: { verified?: { issuer: string } }) =>
        a.identity ? (x.verified ? ` (verified by ${x.verified.issuer})` : ' (declared)') : '';
      for (const x of a.approvals) lines.push(`    ✔ ${x.approver}${how(x)} at ${x.at}${x.comment ? `: ${x.comment}` : ''}`);
      for (const x of a.rejections) lines.push(`    ✘ ${x.approver} at ${x.at}${x.reason ? `: ${x.reason}` : ''}`);
      for (const x of a.refused) lines.push(`    ! refused ${x.kind}${x.approver ? ` from ${x.approver}` : ''}: ${x.reason}`);
      if (a.refusedNotKept) lines.push(`    ! ${a.refusedNotKept} more refused requests were counted but not kept`);
      if (a.state === 'waiting' || a.state === 'escalated')
        lines.push(
          `  decide: mlops approve ${view.workflowId} --as <name>   |   mlops reject ${view.workflowId} --as <name> --reason <text>`,
        );
    }
    if (s.rollout) {
      const r = s.rollout;
      lines.push(
        `  rollout: ${r.strategy} of v${r.candidate} against v${r.champion}, ` +
          `${r.outcome ? `${r.outcome}${r.reason ? `: ${r.reason}` : ''}` : 'under way'} (${r.workflowId})`,
      );
      if (!r.outcome)
        lines.push(`    see and steer it: mlops rollout status ${s.model}   |   mlops rollout pause|resume|promote|abort ${s.model}`);
    }
    if (s.card) lines.push(`  model card: ${view.cardUrl ?? s.card.uri}`);
    if (s.report) lines.push(`  evaluation report: ${s.report.uri}`);
  }
  if (!s) for (const r of view.retrying ?? []) lines.push(`  ${retryLine(r)}`);
  if (view.result)
    lines.push(
      `result: ${view.result.status}${view.result.version ? `, version ${view.result.version}` : ''}${view.result.reason ? ` (${view.result.reason})` : ''}`,
    );
  if (view.failure) lines.push(`failed: ${view.failure}`);
  return lines.join('\n');
}
