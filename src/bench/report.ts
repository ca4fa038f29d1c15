/**
 * Benchmark results: every suite writes `bench-results/<suite>.json` (flat keys) and its section of
 * `docs/benchmarks.md`, stamped with the machine and the date.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A suite's figures: flat keys, numbers or short strings. */
export type BenchFigures = Record<string, number | string | boolean>;

/** A goal on one figure, for the table's verdict column. */
export interface Goal {
  key: string;
  op: '<=' | '>=' | '<';
  value: number;
}

/** The machine, in one line. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return `${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.platform()} ${os.release()}, Node ${process.version}`;
}

function meets(goal: Goal, v: unknown): boolean | undefined {
  if (typeof v !== 'number') return undefined;
  return goal.op === '<=' ? v <= goal.value : goal.op === '>=' ? v >= goal.value : v < goal.value;
}

/** Writes the suite's JSON and replaces its section in docs/benchmarks.md. */
export function writeResults(root: string, suite: string, figures: BenchFigures, goals: Goal[], notes: string[] = []): void {
  const date = new Date().toISOString();
  const flat = { suite, date, machine: machine(), ...figures };
  fs.mkdirSync(path.join(root, 'bench-results'), { recursive: true });
  fs.writeFileSync(path.join(root, 'bench-results', `${suite}.json`), `${JSON.stringify(flat, null, 2)}\n`);

  const rows = Object.entries(figures).map(([k, v]) => {
    const goal = goals.find((g) => g.key === k);
    const ok = goal ? meets(goal, v) : undefined;
    const shown = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v);
    return `| \`${k}\` | ${shown} | ${goal ? `${goal.op} ${goal.value}` : ''} | ${ok === undefined ? '' : ok ? 'met' : '**not met**'} |`;
  });
  const section = [
    `<!-- suite:${suite}:start -->`,
    `## ${suite}`,
    '',
    `Measured ${date.slice(0, 10)} on ${machine()} with \`npm run bench -- ${suite}\`.`,
    '',
    '| figure | value | goal | |',
    '|---|---|---|---|',
    ...rows,
    ...(notes.length ? ['', ...notes] : []),
    `<!-- suite:${suite}:end -->`,
  ].join('\n');

  const doc = path.join(root, 'docs', 'benchmarks.md');
  let text = fs.existsSync(doc)
    ? fs.readFileSync(doc, 'utf8')
    : '# Benchmarks\n\nEach suite is measured by `npm run bench -- <suite>` as ratios against a reference measured in the same run. ' +
      'Raw figures are in `bench-results/<suite>.json`.\n';
  const re = new RegExp(`<!-- suite:${suite}:start -->[\\s\\S]*?<!-- suite:${suite}:end -->`);
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  fs.mkdirSync(path.dirname(doc), { recursive: true });
  fs.writeFileSync(doc, text);
}

/** Samples this process's RSS every `everyMs` and reports the peak in MB. */
export function rssSampler(everyMs = 20): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return peak / 2 ** 20;
    },
  };
}
