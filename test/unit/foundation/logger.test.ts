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
