/**
 * Stand-in stage activities for workflow-logic tests on Temporal's time-skipping test server: they
 * return well-formed references instantly so the tests can focus on deadlines, escalation and the
 * monitor's timing. Whole runs with the real activities are tested on the dev server with MinIO.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactRef } from '../../src/storage/refs';
import type { PipelineSpec } from '../../src/spec/pipeline';
import { parsePipelineSpec } from '../../src/spec/pipeline';

export const ref = (name: string): ArtifactRef => ({
  uri: `s3://test/${name}`,
  sha256: name
    .padEnd(64, '0')
    .slice(0, 64)
    .replace(/[^0-9a-f]/g, 'a'),
  size: 1,
});

/** A small valid spec; override any section. */
export function testSpec(overrides: Record<string, unknown> = {}): PipelineSpec {
  return parsePipelineSpec({
    model: 'toy',
    dataset: { source: 's3://test/toy.csv', target: 'y' },
    trainer: { name: 'logistic-regression' },
    approval: { required: true, approvers: ['alice', 'bob'], quorum: 1, timeout: '1h', onTimeout: 'reject' },
    ...overrides,
  });
}

/** Records what deploy received, and counts calls. */
export function fakeStages(opts: { passed?: boolean } = {}) {
  const calls: Record<string, number> = {};
  const deployed: unknown[] = [];
  const specs = new Map<string, PipelineSpec>();
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const schema = {
    columns: [
      { name: 'x', type: 'numeric' },
      { name: 'y', type: 'categorical' },
    ],
    target: 'y',
    features: ['x'],
    task: 'classification',
  };
  return {
    calls,
    deployed,
    specs,
    activities: {
      async ingestDataset() {
        count('ingest');
        return {
          snapshot: ref('snap'),
          schema,
          rowCount: 10,
          profile: ref('profile'),
          validation: { ok: true, report: ref('report'), blocking: [], warnings: 0 },
          summary: { rows: 10, columns: 2 },
        };
      },
      async trainModel() {
        count('train');
        return { model: ref('model'), trainer: 'logistic-regression', params: {}, trainRows: 8, durationMs: 1 };
      },
      async evaluateCandidate() {
        count('validate');
        return {
          passed: opts.passed ?? true,
          metrics: { accuracy: 0.9 },
          failures: opts.passed === false ? ['accuracy 0.5000 is below the minimum 0.8'] : [],
          report: ref('eval'),
        };
      },
      async checkServability() {
        count('servability');
        return { passed: true, problems: [], notes: [], flavor: 'builtin', sampleRows: 2, report: ref('servability') };
      },
      async deployCandidate(input: unknown) {
        count('deploy');
        deployed.push(input);
        return { version: 1 };
      },
      async registerCandidate(input: { spec?: unknown }) {
        count('deploy');
        deployed.push(input);
        return { version: 1, spec: ref('spec') };
      },
      async promoteVersion(input: { version: number }) {
        return { moved: true, version: input.version, changed: true };
      },
      async ensureMonitor() {
        count('monitor');
      },
      /** The specs "stored" by uri; any other reference is missing, as a deleted blob would be. */
      async readDeployedSpec(input: { ref: ArtifactRef }) {
        const spec = specs.get(input.ref.uri);
        if (!spec) throw ApplicationFailure.nonRetryable(`${input.ref.uri} does not exist`, 'MlopsNotFound');
        return spec;
      },
    },
  };
}
