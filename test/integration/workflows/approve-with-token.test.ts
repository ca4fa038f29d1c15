/**
 * `mlops approve` with a token, through the codec server, on a real Temporal dev server: the run started through
 * the codec records its requester's verified identity, the requester's own token cannot approve (whatever name is
 * typed), and another approver's token counts as that person, verified, under `identity: verified`.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { RemoteCodec } from '../../../src/codec/remote';
import { StampVerifyingCodec } from '../../../src/codec/payloads';
import { startCodecServer, type CodecServer } from '../../../src/codec/server';
import { namespacedActivities } from '../../../src/contracts/activity-names';
import { pipelineStatusQuery, type PipelineRunResult } from '../../../src/contracts';
import { generateStampKeys, readSigningKey, readTrustedKeys } from '../../../src/identity/stamp';
import { createLogger } from '../../../src/logger';
import { fakeStages, testSpec } from '../../helpers/fake-stages';
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc-issuer';
import { startTemporal } from '../../helpers/servers';

const ROOT = path.resolve(__dirname, '../../..');
let env: TestWorkflowEnvironment;
let issuer: TestIssuer;
let codec: CodecServer;
const keys = generateStampKeys();
const trusted = readTrustedKeys(keys.publicKeyPem, 'test');

beforeAll(async () => {
  env = await startTemporal();
  issuer = await startTestIssuer();
  codec = await startCodecServer({
    port: 0,
    identity: {
      issuer: issuer.issuer,
      audience: issuer.audience,
      identityClaim: 'email',
      groupsClaim: 'groups',
      clockSkewSeconds: 30,
      corsOrigins: [],
    },
    signingKey: readSigningKey(keys.privateKeyPem, 'test'),
    trusted,
    logger: createLogger({ level: 'silent', format: 'json' }),
  });
}, 10 * 60_000);
afterAll(async () => {
  await codec?.close();
  await issuer?.close();
  await env?.teardown();
});

function approve(workflowId: string, token: string, as?: string): Promise<{ code: number; out: { accepted?: boolean; reason?: string } }> {
  const args = [
    path.join(ROOT, 'bin/mlops.js'),
    'approve',
    workflowId,
    '--codec-endpoint',
    codec.url,
    '--json',
    ...(as ? ['--as', as] : []),
  ];
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      args,
      {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.address,
          MINIO_ENDPOINT: 'http://127.0.0.1:1',
          MINIO_ACCESS_KEY: 'unused',
          MINIO_SECRET_KEY: 'unused',
          MLOPS_TOKEN: token,
        },
      },
      (err, stdout) => {
        // A refused decision is one error document carrying the gate's answer; an accepted one is the answer itself.
        const doc = JSON.parse(stdout) as { error?: { details?: { answer?: object } } };
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: doc.error?.details?.answer ?? doc });
      },
    ),
  );
}

describe('mlops approve with a token, through the codec server', () => {
  it('the requester cannot approve with their own token; another approver counts under the identity their token proves', async () => {
    const stages = fakeStages();
    const taskQueue = `approve-token-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../../src/workflows'),
      activities: namespacedActivities(stages.activities),
      dataConverter: { payloadCodecs: [new StampVerifyingCodec(trusted)] },
    });
    const spec = testSpec({
      approval: { approvers: ['dave@example.com', 'carol@example.com'], identity: 'verified', quorum: 1, timeout: '1h' },
    });
    const daveToken = await issuer.mint({ email: 'dave@example.com' });
    // Started through the codec with dave's token: the requester is verified, whatever name the input types.
    const starter = new Client({
      connection: env.client.connection,
      dataConverter: { payloadCodecs: [new RemoteCodec(codec.url, { namespace: 'default', token: daveToken })] },
    });
    const workflowId = `approve-token-${Date.now()}`;
    const { result, status } = await worker.runUntil(async () => {
      const handle = await starter.workflow.start('pipelineRun', {
        taskQueue,
        workflowId,
        args: [{ spec, requestedBy: 'someone-else', trigger: 'manual', trainingTaskQueue: taskQueue }],
      });
      for (let i = 0; i < 200 && (await handle.query(pipelineStatusQuery)).approval?.state !== 'waiting'; i++)
        await new Promise((r) => setTimeout(r, 300));

      const own = await approve(workflowId, daveToken, 'carol@example.com');
      expect(own.code).toBe(1);
      expect(own.out).toMatchObject({
        accepted: false,
        reason: 'dave@example.com requested this run and cannot approve it (no self-approval) (both identities verified)',
      });
      const carol = await approve(workflowId, await issuer.mint({ email: 'carol@example.com' }));
      expect(carol.code).toBe(0);
      expect(carol.out).toMatchObject({ accepted: true });
      return { result: (await handle.result()) as PipelineRunResult, status: await handle.query(pipelineStatusQuery) };
    });
    expect(result.status).toBe('deployed');
    expect(status.approval).toMatchObject({ requestedBy: 'dave@example.com', requesterVerified: true, identity: 'verified' });
    expect(status.approval!.approvals).toEqual([
      expect.objectContaining({ approver: 'carol@example.com', verified: expect.objectContaining({ subject: 'sub-carol@example.com' }) }),
    ]);
  });
});
