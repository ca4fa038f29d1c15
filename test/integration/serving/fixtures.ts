/**
 * What the serving tests share: a real MinIO with the real registry, tiny logistic-regression models
 * trained on generated rows and registered as versions, and a logger whose lines the tests can read.
 */
import { Writable } from 'node:stream';
import { isMlopsError } from '../../../src/errors';
import { createLogger, type Logger } from '../../../src/logger';
import { rowsToFrame, trainModel, type Model } from '../../../src/ml/trainers';
import type { DatasetSchema } from '../../../src/ml/types';
import { createStorage, type Storage } from '../../../src/storage';
import type { ArtifactRef } from '../../../src/storage/refs';
import { TestMinio } from '../../helpers/servers';

/** Two numeric features and a categorical one; three classes. */
export const schema: DatasetSchema = {
  columns: [
    { name: 'x', type: 'numeric' },
    { name: 'y', type: 'numeric' },
    { name: 'color', type: 'categorical' },
    { name: 'kind', type: 'categorical' },
  ],
  target: 'kind',
  features: ['x', 'y', 'color'],
  task: 'classification',
};

/** Deterministic training rows: the class follows x and y, with colour as a weak hint. */
export function trainingRows(n = 300, seed = 1): Record<string, unknown>[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => {
    const x = rand() * 10;
    const y = rand() * 10;
    const kind = x + y < 8 ? 'low' : x > y ? 'right' : 'up';
    const color = rand() < 0.7 ? (kind === 'low' ? 'red' : 'blue') : 'green';
    return { x, y, color, kind };
  });
}

/** Rows a client sends (no target). */
export const requestRows: Record<string, unknown>[] = [
  { x: 1, y: 2, color: 'red' },
  { x: 9, y: 1.5, color: 'blue' },
  { x: 2, y: 8, color: 'green' },
  { x: 5, y: 5, color: null },
];

/** A real MinIO, the storage over it, and helpers to put model versions in the registry. */
export class ServingFixture {
  private constructor(
    readonly minio: TestMinio,
    readonly storage: Storage,
  ) {}

  static async start(bucket = 'serving-test'): Promise<ServingFixture> {
    const minio = await TestMinio.start();
    const storage = createStorage(minio.config(bucket));
    // A MinIO that has just started can answer 503 for a moment on a busy machine.
    for (let attempt = 1; ; attempt++) {
      try {
        await storage.store.ensureBucket();
        break;
      } catch (err) {
        if (attempt >= 50 || !isMlopsError(err) || !err.retryable) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return new ServingFixture(minio, storage);
  }

  async stop(): Promise<void> {
    await this.minio.stop();
  }

  /** Trains a model (C varies it) and registers it as the next version of `name`. */
  async registerModel(
    name: string,
    C = 1,
    run = `run-${name}-${C}-${Date.now()}`,
  ): Promise<{ version: number; model: Model; artifact: ArtifactRef }> {
    // rowsToFrame keeps only features, so name the target as one to keep it in the training frame.
    const withTarget = rowsToFrame({ ...schema, features: [...schema.features, schema.target] }, trainingRows());
    const trained = await trainModel('logistic-regression', { train: withTarget, schema, params: { C }, seed: 7 });
    const artifact = await this.storage.store.putJson(trained);
    const { version } = await this.storage.registry.registerVersion({
      model: name,
      artifact,
      dataset: { sha256: 'a'.repeat(64), name: 'generated' },
      trainer: { name: 'logistic-regression', params: { C } },
      metrics: {},
      workflowId: run,
      runId: `${run}-1`,
    });
    return { version: version.version, model: trained, artifact };
  }

  /** Points `alias` of `name` at `version`. */
  async moveAlias(name: string, version: number, alias = 'production'): Promise<void> {
    await this.storage.registry.moveAlias({ model: name, alias, version, by: 'test', reason: 'serving test' });
  }

  /** Overwrites an artifact's bytes in place, as an attacker or a broken disk would. */
  async tamper(artifact: ArtifactRef, bytes: string): Promise<void> {
    const key = artifact.uri.split('/').slice(3).join('/');
    await this.storage.store.client.putObject(this.storage.store.bucket, key, Buffer.from(bytes));
  }
}

/** A logger that keeps its JSON lines in memory. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      out.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return {
    logger: createLogger({ level: 'info', format: 'json' }, sink),
    lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** POSTs JSON and returns the status and parsed body. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** GETs and returns the status and parsed body. */
export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}
