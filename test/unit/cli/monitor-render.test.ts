/**
 * `mlops monitor status` says, per check, how many rows of other versions (a canary's candidate) were left out of
 * the version it judged, and says nothing of the kind for a check that left none out.
 */
import { renderMonitor } from '../../../src/cli/monitor';
import type { MonitorCheck } from '../../../src/contracts';

function check(extra: Partial<MonitorCheck>): MonitorCheck {
  return {
    at: '2026-11-29T10:00:00.000Z',
    version: 2,
    rows: 119,
    window: { to: '2026-11-29T10:00:00.000Z' },
    drift: { x: { psi: 0.01, breached: false } },
    breachedFeatures: [],
    performance: { metric: 'accuracy', value: 0.9, labelled: 119, breached: false },
    action: 'none',
    ...extra,
  };
}

function render(checks: MonitorCheck[]): string[] {
  return renderMonitor({
    model: 'm',
    workflowId: 'monitor-m',
    execution: 'RUNNING',
    status: { model: 'm', alias: 'production', version: 2, paused: false, intervalMs: 60_000, retrainCount: 0, failingChecks: 0, checks },
  })
    .split('\n')
    .filter((l) => l.includes('rows'));
}

describe('mlops monitor status, during a rollout', () => {
  test("a check that left out a canary candidate's rows says how many, of which version", () => {
    const [line] = render([check({ otherVersions: { '3': 121 } })]);
    expect(line).toContain('v2  119 rows (left out: 121 of v3)');
  });

  test('a check outside a rollout reads as before', () => {
    const [line] = render([check({})]);
    expect(line).toContain('v2  119 rows  PSI x 0.01');
    expect(line).not.toContain('left out');
  });
});
