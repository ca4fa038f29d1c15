/**
 * The prediction spool through the real `mlops serve` process (bin/mlops.js, built into dist/), against
 * a real MinIO: a server killed with SIGKILL under load loses no answered prediction, and the next
 * server on the same spool ships them exactly once; SIGTERM under load resets no client's connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listWindowObjects, readPredictionWindow } from '../../../src/serving';
import { requestRows, ServingFixture } from './fixtures';

const ROOT = path.resolve(__dirname, '../../..');
const BUCKET = 'serving-spool';
const FAR_FUTURE = '2999-01-01T00:00:00.000Z';

let fx: ServingFixture;
const dirs: string[] = [];

beforeAll(async () => {
  fx = await ServingFixture.start(BUCKET);
  for (const name of ['killed', 'stopped', 'reshipped']) {
    const { version } = await fx.registerModel(name);
    await fx.moveAlias(name, version);
  }
}, 10 * 60_000);

afterAll(async () => {
  await fx?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Starts `mlops serve` as its own process and waits until it says where it listens. */
async function serve(model: string, spool: string): Promise<Served> {
  const cfg = fx.minio.config(BUCKET);
  const env = {
    ...process.env,
    MINIO_ENDPOINT: `http://127.0.0.1:${cfg.port}`,
    MINIO_ACCESS_KEY: cfg.accessKey,
    MINIO_SECRET_KEY: cfg.secretKey,
    MINIO_BUCKET: BUCKET,
    MLOPS_LOG_LEVEL: 'warn',
  };
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/mlops.js'), 'serve', '--model', model, '--port', '0', '--poll', '0', '--spool', spool, '--json'],
    { env },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (c) => (err += String(c)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += String(c);
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        // Not all of it yet.
      }
    });
    void exited.then((code) => reject(new Error(`mlops serve exited with ${code} before listening: ${err}`)));
  });
  return { child, url, exited, stderr: () => err };
}

/** Keeps `clients` keep-alive clients predicting (single rows and three-row requests) until `stop()`; records every answered id and every failure's cause. */
function load(url: string, model: string, clients = 12) {
  const answered: string[] = [];
  const failures: string[] = [];
  let stopped = false;
  const client = async (c: number) => {
    for (let i = 0; !stopped; i++) {
      const id = `c${c}-${i}`;
      const rows = i % 5 === 0 ? requestRows.slice(0, 3) : [requestRows[i % requestRows.length]];
      try {
        const res = await fetch(`${url}/v1/models/${model}:predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id, instances: rows }),
        });
        const body = (await res.json()) as { id: string };
        if (res.status !== 200) throw new Error(`answered ${res.status}: ${JSON.stringify(body)}`);
        if (rows.length === 1) answered.push(body.id);
        else rows.forEach((_, k) => answered.push(`${body.id}:${k}`));
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        failures.push(cause?.code ?? cause?.message ?? (err as Error).message);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const running = Array.from({ length: clients }, (_, c) => client(c));
  return {
    answered,
    failures,
    stop: async () => {
      stopped = true;
      await Promise.all(running);
    },
  };
}

async function loggedIds(model: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const p of readPredictionWindow(fx.storage.store, model, { until: FAR_FUTURE })) ids.push(p.id);
  return ids;
}

const spoolDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-test-'));
  dirs.push(d);
  return d;
};

describe('the prediction spool of mlops serve', () => {
  it(
    'after SIGKILL under load, the next server on the same spool ships every answered prediction, none twice',
    async () => {
      const spool = spoolDir();
      const first = await serve('killed', spool);
      const traffic = load(first.url, 'killed');
      while (traffic.answered.length < 1500) await new Promise((r) => setTimeout(r, 10));
      first.child.kill('SIGKILL');
      expect(await first.exited).toBeNull();
      await traffic.stop();
      const answered = [...traffic.answered];
      // Some of what was answered had not reached MinIO when the process died: that is what this is about.
      const before = new Set(await loggedIds('killed'));
      expect(answered.filter((id) => !before.has(id)).length).toBeGreaterThan(0);

      const second = await serve('killed', spool);
      const deadline = Date.now() + 60_000;
      let logged = await loggedIds('killed');
      while (answered.some((id) => !logged.includes(id)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        logged = await loggedIds('killed');
      }
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      logged = await loggedIds('killed');
      const counts = new Map<string, number>();
      for (const id of logged) counts.set(id, (counts.get(id) ?? 0) + 1);
      expect(answered.filter((id) => !counts.has(id))).toEqual([]);
      expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
      // Shipped and removed: the spool keeps nothing once a server has closed cleanly.
      expect(fs.readdirSync(spool)).toEqual([]);
    },
    5 * 60_000,
  );

  it(
    'a batch shipped again because its offset was never saved replaces its object: still no prediction twice',
    async () => {
      const spool = spoolDir();
      const first = await serve('reshipped', spool);
      const traffic = load(first.url, 'reshipped', 4);
      while (traffic.answered.length < 300) await new Promise((r) => setTimeout(r, 10));
      await traffic.stop();
      const answered = [...traffic.answered];
      let logged = await loggedIds('reshipped');
      const deadline = Date.now() + 30_000;
      while (logged.length < answered.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        logged = await loggedIds('reshipped');
      }
      expect(logged.sort()).toEqual([...answered].sort());
      first.child.kill('SIGKILL');
      await first.exited;
      // As if the process had died between storing its last batch and saving how far it had shipped: the
      // saved offset goes back to where that batch starts (the offset in its objects' keys).
      const keys = (await listWindowObjects(fx.storage.store, 'reshipped', { until: FAR_FUTURE })).map((o) => o.key);
      const lastStart = Math.max(...keys.map((k) => Number(/-(\d+)\.jsonl\.gz$/.exec(k)![1])));
      const saved = fs.readdirSync(spool).filter((f) => f.endsWith('.shipped'));
      expect(saved).toHaveLength(1);
      expect(Number(fs.readFileSync(path.join(spool, saved[0]!), 'utf8'))).toBeGreaterThan(lastStart);
      fs.writeFileSync(path.join(spool, saved[0]!), String(lastStart));

      const second = await serve('reshipped', spool);
      const until = Date.now() + 30_000;
      while (fs.readdirSync(spool).some((f) => !f.includes(`-${second.child.pid}-`)) && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100));
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect((await loggedIds('reshipped')).sort()).toEqual([...answered].sort());
    },
    5 * 60_000,
  );

  it(
    'SIGTERM under load: requests in flight are answered, no connection is reset, and every answer is logged',
    async () => {
      const spool = spoolDir();
      const server = await serve('stopped', spool);
      const traffic = load(server.url, 'stopped');
      while (traffic.answered.length < 1000) await new Promise((r) => setTimeout(r, 10));
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      await traffic.stop();

      // Once it stopped, clients' new connections are refused; none was reset or cut under a request.
      expect(traffic.failures.filter((code) => code !== 'ECONNREFUSED')).toEqual([]);
      const logged = await loggedIds('stopped');
      expect(logged.sort()).toEqual([...traffic.answered].sort());
      expect(fs.readdirSync(spool)).toEqual([]);
    },
    5 * 60_000,
  );
});
