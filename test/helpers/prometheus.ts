/**
 * A real Prometheus (Debian's package, unpacked by ensurePrometheus) scraping loopback targets every second, and
 * promtool, for the observability tests.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultCacheDir } from '../../src/config';
import { freePort, httpOk, spawnServer, stopProcess, waitUntil, type ServerProcess } from '../../src/dev/servers';
import { ensurePrometheus, type PrometheusTools } from '../../src/dev/tools';

const say = (line: string) => process.stderr.write(`[tools] ${line}\n`);

/** One instant-query result series. */
export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/** A Prometheus server this test started. */
export class TestPrometheus {
  private constructor(
    readonly tools: PrometheusTools,
    readonly url: string,
    private readonly proc: ServerProcess,
    private readonly dir: string,
  ) {}

  /** Starts Prometheus scraping `jobs` (job name to host:port) every second. */
  static async start(jobs: Record<string, string>): Promise<TestPrometheus> {
    const tools = await ensurePrometheus(defaultCacheDir(), say);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-prometheus-'));
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      ...Object.entries(jobs).flatMap(([job, target]) => [`  - job_name: ${job}`, '    static_configs:', `      - targets: ['${target}']`]),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const proc = spawnServer(
      tools.prometheus,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      path.join(dir, 'prometheus.log'),
    );
    const url = `http://127.0.0.1:${port}`;
    await waitUntil('prometheus', () => httpOk(`${url}/-/ready`), { timeoutMs: 60_000, pid: proc.pid, logFile: proc.logFile });
    return new TestPrometheus(tools, url, proc, dir);
  }

  /** The health of each scrape target, by job ("up", "down", "unknown"). */
  async targets(): Promise<Record<string, string>> {
    const body = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as {
      data: { activeTargets: { labels: { job: string }; health: string }[] };
    };
    return Object.fromEntries(body.data.activeTargets.map((t) => [t.labels.job, t.health]));
  }

  /** An instant query at `time` (Unix seconds); throws with Prometheus's error when the expression is invalid. */
  async query(expr: string, time: number): Promise<PromSeries[]> {
    const params = new URLSearchParams({ query: expr, time: String(time) });
    const body = (await (await fetch(`${this.url}/api/v1/query?${params}`)).json()) as {
      status: string;
      error?: string;
      data?: { result: PromSeries[] };
    };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  }

  /** promtool's complaints about an exposition text ("" when it is clean). */
  promtoolCheck(text: string): Promise<string> {
    return this.promtool(['check', 'metrics'], text);
  }

  /** Runs promtool, feeding `input` on stdin; resolves with what it printed (stdout and stderr, trimmed). */
  promtool(args: string[], input = ''): Promise<string> {
    return new Promise((resolve) => {
      const child = execFile(this.tools.promtool, args, (err, stdout, stderr) => {
        const said = `${stdout}${stderr}`.trim();
        resolve(err && !said ? `promtool exited with ${err.code}` : said);
      });
      child.stdin!.end(input);
    });
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc.pid, 5000);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
