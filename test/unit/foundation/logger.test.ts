import { Writable } from 'node:stream';
import { createLogger, temporalLoggerFrom } from '../../../src/logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', format: 'json' }, stream) };
}

describe('logging', () => {
  it('never writes secret values, at the top level or nested', () => {
    const { lines, logger } = capture();
    logger.info({ minio: { accessKey: 'AK', secretKey: 'very-secret' }, apiKey: 'temporal-key', password: 'pw' }, 'connecting');
    const text = JSON.stringify(lines);
    expect(text).not.toContain('very-secret');
    expect(text).not.toContain('temporal-key');
    expect(text).not.toMatch(/"pw"/);
    expect(lines[0]!.msg).toBe('connecting');
  });

  it("carries Temporal's workflow and activity context into JSON log lines", () => {
    const { lines, logger } = capture();
    temporalLoggerFrom(logger).info('activity started', { workflowId: 'wf-1', runId: 'run-1', activityType: 'ingest', attempt: 2 });
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'activity started',
      workflowId: 'wf-1',
      runId: 'run-1',
      activityType: 'ingest',
      attempt: 2,
    });
  });
});

describe("webpack's report on a workflow bundle", () => {
  const report = [
    'asset workflow-bundle-0a1b.js 1.74 MiB [emitted] [immutable] (name: main)',
    'modules by path ./src/ 120 KiB',
    '  modules by path ./src/workflows/*.ts 60 KiB 10 modules',
    '',
    "ERROR in ./src/workflows/pipeline-run.ts 3:0-25\nModule not found: Error: Can't resolve 'node:fs'",
    'webpack 5.105.0 compiled with 1 error in 812 ms',
  ].join('\n');

  it('is one summary line with the bundle size when it succeeds', () => {
    const { lines, logger } = capture();
    temporalLoggerFrom(logger).info(report.replace(/ERROR[^]*'node:fs'\n/, '').replace('with 1 error', 'successfully'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'workflow bundle: webpack 5.105.0 compiled successfully in 812 ms',
      asset: expect.stringContaining('1.74 MiB'),
    });
    expect(lines[0]!.report).toBeUndefined();
  });

  it('keeps its lines, the error among them, when the bundle failed', () => {
    const { lines, logger } = capture();
    temporalLoggerFrom(logger).error(report);
    expect(lines[0]!.msg).toBe('workflow bundle: webpack 5.105.0 compiled with 1 error in 812 ms');
    expect(lines[0]!.report).toContain("Module not found: Error: Can't resolve 'node:fs'");
  });
});
