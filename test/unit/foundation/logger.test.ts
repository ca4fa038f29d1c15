import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { commandLogFormat, createLogger, temporalLoggerFrom } from '../../../src/logger';

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

  it("keeps the training worker's no-workflows notice (how the plugin sets that worker up) out of a person's log", () => {
    const { lines, logger } = capture();
    const temporal = temporalLoggerFrom(logger);
    temporal.warn('No workflows registered, not polling for workflow tasks', { sdkComponent: 'worker', taskQueue: 'mlops-training' });
    temporal.warn('Activity heartbeat timed out', { sdkComponent: 'worker' });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [20, 'No workflows registered, not polling for workflow tasks'],
      [40, 'Activity heartbeat timed out'],
    ]);
  });
});

describe('what a person reads', () => {
  it('a command that prints for a person logs readable lines, on a terminal or not; --json or MLOPS_LOG_FORMAT choose JSON', () => {
    expect(commandLogFormat(false, {})).toBe('pretty');
    expect(commandLogFormat(true, {})).toBe('json');
    expect(commandLogFormat(false, { MLOPS_LOG_FORMAT: 'json' })).toBe('json');
    expect(commandLogFormat(true, { MLOPS_LOG_FORMAT: 'pretty' })).toBe('pretty');
  });

  it('the readable format is one concise line per event on stderr, without colour codes off a terminal', () => {
    const logger = path.resolve(__dirname, '../../../dist/logger.js');
    const script =
      `const l = require(${JSON.stringify(logger)}).createLogger({ level: 'info', format: 'pretty' });` +
      `l.info({ model: 'seattle-weather', version: 3, sdkComponent: 'activity', runId: 'r-1', namespace: 'default' }, 'version deployed');` +
      `l.warn({ model: 'seattle-weather', reason: 'Not servable: retrain it' }, 'monitor check failed');`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: version deployed {2}model=seattle-weather {2}version=3$/);
    expect(lines[1]).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: monitor check failed {2}model=seattle-weather {2}reason="Not servable: retrain it"$/,
    );
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
