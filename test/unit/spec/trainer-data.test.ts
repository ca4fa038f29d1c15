/** `trainer.data` of a `command` trainer: how the program gets its training rows, and the URLs' lifetime. */
import { parsePipelineSpec } from '../../../src/spec/pipeline';
import { DEFAULT_URL_EXPIRY_SECONDS, MAX_URL_EXPIRY_SECONDS, partCount, urlExpirySeconds } from '../../../src/ml/external/remote-data';

const dataset = { source: 's3://data/toy.csv', target: 'y' };
const spec = (trainer: Record<string, unknown>) => ({ model: 'toy', dataset, trainer: { name: 'command', ...trainer } });

it('a program gets the rows both locally and as remote parts unless the spec says otherwise', () => {
  expect(parsePipelineSpec(spec({ command: ['train'] })).trainer).toMatchObject({ data: 'both' });
  expect(parsePipelineSpec(spec({ command: ['train', '{uris}'], data: 'remote' })).trainer).toMatchObject({ data: 'remote' });
});

it('{train} with data: remote, or {uris} with data: local, is refused when the spec is parsed, naming the fix', () => {
  expect(() => parsePipelineSpec(spec({ command: ['train', '{train}'], data: 'remote' }))).toThrow(
    /trainer\.command.*data: remote.*read \{uris\}/,
  );
  expect(() => parsePipelineSpec(spec({ command: ['train', '{uris}'], data: 'local' }))).toThrow(
    /trainer\.command.*data: local.*use \{train\}/,
  );
  expect(() => parsePipelineSpec(spec({ command: ['train'], data: 'cluster' }))).toThrow(/trainer\.data/);
});

it('the URLs live as long as the trainer may run, an hour without a timeout, at least a minute and at most seven days', () => {
  expect(urlExpirySeconds(30 * 60_000)).toBe(1800);
  expect(urlExpirySeconds(undefined)).toBe(DEFAULT_URL_EXPIRY_SECONDS);
  expect(DEFAULT_URL_EXPIRY_SECONDS).toBe(3600);
  expect(urlExpirySeconds(500)).toBe(60);
  expect(urlExpirySeconds(30 * 24 * 3_600_000)).toBe(MAX_URL_EXPIRY_SECONDS);
});

it('the rows are split into four parts, or one per row when fewer, and more parts past a million rows each', () => {
  expect(partCount(1168)).toBe(4);
  expect(partCount(3)).toBe(3);
  expect(partCount(3_000_000)).toBe(4);
  expect(partCount(10_000_000)).toBe(10);
});
