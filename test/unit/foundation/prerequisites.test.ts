import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureMinio, ensureTemporalCli } from '../../../src/dev/tools';
import { FailureType } from '../../../src/errors';

const emptyDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-prereq-'));

describe('missing prerequisites', () => {
  it('without go, building MinIO fails with what to install and the alternative', async () => {
    const err = await ensureMinio(emptyDir(), () => {}, { PATH: emptyDir() }).catch((e) => e);
    expect(err.type).toBe(FailureType.Configuration);
    expect(err.message).toMatch(/Go >= 1\.24/);
    expect(err.message).toMatch(/MINIO_ENDPOINT/);
  });

  it('with a go older than 1.24, building MinIO says which version it found', async () => {
    const bin = emptyDir();
    fs.writeFileSync(path.join(bin, 'go'), '#!/bin/sh\necho go1.21.0\n', { mode: 0o755 });
    const err = await ensureMinio(emptyDir(), () => {}, { PATH: bin }).catch((e) => e);
    expect(err.message).toMatch(/reports 1\.21/);
  });

  it('without python3, installing the Temporal CLI fails with what to install and the alternative', async () => {
    const err = await ensureTemporalCli(emptyDir(), () => {}, { PATH: emptyDir() }).catch((e) => e);
    expect(err.type).toBe(FailureType.Configuration);
    expect(err.message).toMatch(/python3/);
    expect(err.message).toMatch(/TEMPORAL_ADDRESS/);
  });

  it('a user-provided MINIO_BINARY that does not exist is named in the error', async () => {
    const err = await ensureMinio(emptyDir(), () => {}, { PATH: '', MINIO_BINARY: '/no/such/minio' }).catch((e) => e);
    expect(err.message).toMatch(/MINIO_BINARY: \/no\/such\/minio does not exist/);
  });

  it('"mlops dev up" on a machine without go prints the message and exits non-zero', () => {
    const cache = emptyDir();
    const data = emptyDir();
    const res = spawnSync(process.execPath, [path.resolve(__dirname, '../../../bin/mlops.js'), 'dev', 'up'], {
      encoding: 'utf8',
      // Temporal is "external" here so only the MinIO prerequisite is exercised; PATH has neither go nor minio.
      env: {
        PATH: emptyDir(),
        HOME: os.homedir(),
        MLOPS_CACHE_DIR: cache,
        MLOPS_DATA_DIR: data,
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        MLOPS_MINIO_PORT: '1',
        MLOPS_MINIO_CONSOLE_PORT: '2',
      },
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/needs Go >= 1\.24/);
    expect(res.stderr).toMatch(/Install: Go >= 1\.24/);
  });
});
