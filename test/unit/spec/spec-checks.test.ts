/** A spec is checked whole before anything is uploaded: metric names, bounds, filter dates, trainer parameters. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { loadSpecFile } from '../../../src/spec/load';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spec-checks-'));
let n = 0;

function specWith(patch: Record<string, unknown>): string {
  const base = { model: 'm', dataset: { source: 'data.csv', target: 'y' }, trainer: { name: 'logistic-regression' } };
  const file = path.join(dir, `spec-${++n}.yaml`);
  fs.writeFileSync(file, stringify({ ...base, ...patch }));
  return file;
}

function problemsOf(file: string): string {
  try {
    loadSpecFile(file);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('a pipeline spec is checked whole', () => {
  it('deploy.onChampionChanged re-validates by default, can stop, and refuses anything else naming the field', () => {
    expect(loadSpecFile(specWith({})).deploy.onChampionChanged).toBe('revalidate');
    expect(loadSpecFile(specWith({ deploy: { onChampionChanged: 'stop' } })).deploy.onChampionChanged).toBe('stop');
    expect(problemsOf(specWith({ deploy: { onChampionChanged: 'overwrite' } }))).toMatch(/deploy\.onChampionChanged/);
  });

  it('thresholds no value can pass are refused: outside the metric, or a minimum above the maximum', () => {
    const msg = problemsOf(specWith({ validation: { thresholds: { accuracy: { min: -0.5 }, macroF1: { min: 0.9, max: 0.8 } } } }));
    expect(msg).toMatch(/validation\.thresholds\.accuracy\.min: min -0\.5 is outside the values accuracy can take \(0 to 1\)/);
    expect(msg).toMatch(/validation\.thresholds\.macroF1: min 0\.9 is above max 0\.8: no value can pass/);
  });

  it('filter dates must be real ISO dates, from no later than to', () => {
    expect(problemsOf(specWith({ dataset: { source: 'd.csv', target: 'y', filter: { column: 'date', from: '31/01/2024' } } }))).toMatch(
      /dataset\.filter\.from: expected an ISO date/,
    );
    expect(problemsOf(specWith({ dataset: { source: 'd.csv', target: 'y', filter: { column: 'date', from: '2024-02-30' } } }))).toMatch(
      /dataset\.filter\.from: expected an ISO date/,
    );
    expect(
      problemsOf(specWith({ dataset: { source: 'd.csv', target: 'y', filter: { column: 'date', from: '2024-03-01', to: '2024-01-01' } } })),
    ).toMatch(/dataset\.filter\.to: from must not be later than to/);
    expect(
      problemsOf(
        specWith({ dataset: { source: 'd.csv', target: 'y', filter: { column: 'date', from: '2024-01-01', to: '2024-03-01T12:00:00Z' } } }),
      ),
    ).toBe('');
  });

  it("a built-in trainer's parameters are checked by the trainer's own rules, every one named", () => {
    const msg = problemsOf(specWith({ trainer: { name: 'gbdt', params: { learningRate: -1, maxBins: 999 } } }));
    expect(msg).toMatch(/trainer\.params\.learningRate: /);
    expect(msg).toMatch(/trainer\.params\.maxBins: /);
    expect(problemsOf(specWith({ trainer: { name: 'logistic-regression', params: { c: 1 } } }))).toMatch(
      /unknown parameter "c" for logistic-regression; known parameters: C, maxIter/,
    );
    expect(
      problemsOf(
        specWith({
          trainer: { name: 'gbdt', params: { learningRate: 0.05, maxIter: 50 } },
          validation: { thresholds: { accuracy: { min: 0.7 }, r2: { min: -2 } } },
        }),
      ),
    ).toBe('');
  });
});

describe('the approval section', () => {
  const approvalOf = (patch: Record<string, unknown>) => loadSpecFile(specWith(patch)).approval;

  it('an omitted section and an empty one mean the same: no approval', () => {
    expect(approvalOf({}).required).toBe(false);
    expect(approvalOf({ approval: {} }).required).toBe(false);
    expect(approvalOf({ approval: {} })).toEqual(approvalOf({}));
  });

  it('listing approvers means they must approve, unless required: false says otherwise', () => {
    expect(approvalOf({ approval: { approvers: ['alice'] } })).toMatchObject({ required: true, approvers: ['alice'], quorum: 1 });
    expect(approvalOf({ approval: { approvers: ['alice'], required: false } }).required).toBe(false);
  });

  it('required: true without approvers is refused, naming the field', () => {
    expect(problemsOf(specWith({ approval: { required: true } }))).toMatch(
      /approval\.approvers: list who may approve, or set required: false/,
    );
  });
});
