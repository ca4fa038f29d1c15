/**
 * Verified approvals through the real Temporal Web UI: a Chromium (Debian's, driven by playwright-core) opens the run
 * in the dev server's UI, whose codec endpoint is our codec server, and sends `approve` from the "Send a Signal"
 * dialog. The dev UI has no sign-in, so the test gives the codec request the bearer token itself, as the UI does when
 * it passes a signed-in user's access token (Authorization on the /encode call). Under `identity: verified`:
 * without a token the approval is refused and recorded; with a token that does not verify the UI sends nothing;
 * a payload typed as alice with bob's token counts as bob, and the deployed version keeps bob's proof.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startCodecServer, type CodecServer } from '../../../src/codec/server';
import { StampVerifyingCodec } from '../../../src/codec/payloads';
import { namespacedActivities } from '../../../src/contracts/activity-names';
import { pipelineStatusQuery, type Approval, type PipelineRunResult, type PipelineRunStatus } from '../../../src/contracts';
import { defaultCacheDir } from '../../../src/config';
import { freePort, startTemporalServer, stopProcess, type ServerProcess } from '../../../src/dev/servers';
import { ensureChromium, ensureTemporalCli } from '../../../src/dev/tools';
import { generateStampKeys, readSigningKey, readTrustedKeys } from '../../../src/identity/stamp';
import { createLogger } from '../../../src/logger';
import { fakeStages, testSpec } from '../../helpers/fake-stages';
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc-issuer';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chromium } = require('playwright-core') as typeof import('playwright-core');

const say = (line: string) => process.stderr.write(`[tools] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let temporal: ServerProcess;
let address: string;
let uiUrl: string;
let issuer: TestIssuer;
let codec: CodecServer;
let trusted: ReturnType<typeof readTrustedKeys>;
let client: Client;
let browser: Browser;
let context: BrowserContext;
/** The bearer token the "signed-in user" passes with the next /encode call; none when undefined. */
let token: string | undefined;

beforeAll(async () => {
  const chromiumPath = await ensureChromium(say);
  const cli = await ensureTemporalCli(defaultCacheDir(), say);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-ui-approval-'));
  issuer = await startTestIssuer();
  const [port, uiPort, codecPort] = [await freePort(), await freePort(), await freePort()];
  uiUrl = `http://127.0.0.1:${uiPort}`;
  const keys = generateStampKeys();
  codec = await startCodecServer({
    port: codecPort,
    identity: {
      issuer: issuer.issuer,
      audience: issuer.audience,
      identityClaim: 'email',
      groupsClaim: 'groups',
      clockSkewSeconds: 30,
      corsOrigins: [uiUrl],
    },
    signingKey: readSigningKey(keys.privateKeyPem, 'test stamp key'),
    trusted: (trusted = readTrustedKeys(keys.publicKeyPem, 'test stamp key')),
    logger: createLogger({ level: 'warn', format: 'json' }),
  });
  temporal = await startTemporalServer({
    cli,
    port,
    uiPort,
    dbFile: path.join(dir, 'temporal.db'),
    logFile: path.join(dir, 'temporal.log'),
    uiCodecEndpoint: codec.url,
  });
  address = `127.0.0.1:${port}`;
  client = new Client({ connection: await Connection.connect({ address }) });
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  // What the UI does when "pass the user access token" is on: the signed-in user's token on the codec request.
  await context.route(`${codec.url}/encode**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), ...(token ? { authorization: `Bearer ${token}` } : {}) } }),
  );
}, 10 * 60_000);

afterAll(async () => {
  await browser?.close();
  await client?.connection.close();
  if (temporal) await stopProcess(temporal.pid, 5000);
  await codec?.close();
  await issuer?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Sends `approve` with this input from the run's page, through the "Send a Signal" dialog; returns the toast's text. */
async function sendSignalFromUi(page: Page, workflowId: string, input: unknown): Promise<string> {
  await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`, { waitUntil: 'domcontentloaded' });
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: /Send a Signal/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
  // The UI lists the signals the workflow defines (from its running worker) in a select.
  await dialog.getByTestId('signal-select-button').click();
  await dialog.getByRole('option').filter({ hasText: 'Approve the candidate model' }).click();
  await dialog.locator('.cm-content[aria-label="Data"]').click();
  await page.keyboard.insertText(JSON.stringify(input));
  await dialog.getByRole('button', { name: 'Submit' }).click();
  const toast = page.getByText(/Workflow signaled|encoding failed/i).first();
  await toast.waitFor({ timeout: 30_000 });
  return toast.innerText();
}

async function statusOf(workflowId: string): Promise<PipelineRunStatus> {
  return client.workflow.getHandle(workflowId).query(pipelineStatusQuery);
}

async function waitFor<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await sleep(300);
  }
}

describe('an approval sent from the Temporal Web UI under identity: verified', () => {
  it('counts the identity from the token, whatever name was typed, and refuses and records one without a valid token', async () => {
    const stages = fakeStages();
    const taskQueue = `ui-approval-${Math.random().toString(36).slice(2)}`;
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address }),
      taskQueue,
      workflowsPath: require.resolve('../../../src/workflows'),
      activities: namespacedActivities(stages.activities),
      dataConverter: { payloadCodecs: [new StampVerifyingCodec(trusted)] },
    });
    const spec = testSpec({
      approval: { approvers: ['bob@example.com', 'carol@example.com'], identity: 'verified', quorum: 1, timeout: '1h' },
    });
    const workflowId = `ui-approval-${Date.now()}`;
    const { result, status } = await worker.runUntil(async () => {
      const handle = await client.workflow.start('pipelineRun', {
        taskQueue,
        workflowId,
        args: [{ spec, requestedBy: 'dave@example.com', trigger: 'manual', trainingTaskQueue: taskQueue }],
      });
      await waitFor(
        'the approval gate',
        () => statusOf(workflowId),
        (s) => s.approval?.state === 'waiting',
      );
      const page = await context.newPage();

      // No token (the dev UI has no sign-in): the codec passes the payload unstamped and the gate refuses it, saying why.
      token = undefined;
      expect(await sendSignalFromUi(page, workflowId, { approver: 'alice@example.com', workflowId })).toMatch(/Workflow signaled/);
      const refused = await waitFor(
        'the refusal',
        () => statusOf(workflowId),
        (s) => (s.approval?.refused.length ?? 0) >= 1,
      );
      expect(refused.approval!.refused[0]).toMatchObject({ kind: 'approve', approver: 'alice@example.com' });
      expect(refused.approval!.refused[0]!.reason).toMatch(/^declared-only approve: "alice@example.com" was typed, not proven/);

      // A token that does not verify (expired): the codec refuses, the UI says encoding failed and sends nothing.
      token = await issuer.mint({ email: 'bob@example.com', expiresIn: -600 });
      expect(await sendSignalFromUi(page, workflowId, { approver: 'bob@example.com', workflowId })).toMatch(/encoding failed/i);
      await sleep(1000);
      expect((await statusOf(workflowId)).approval!.refused).toHaveLength(1);
      expect((await statusOf(workflowId)).approval!.approvals).toHaveLength(0);

      // Typed as alice, sent with bob's token: it counts as bob, verified, and decides the gate.
      token = await issuer.mint({ email: 'bob@example.com' });
      expect(await sendSignalFromUi(page, workflowId, { approver: 'alice@example.com', comment: 'looks right', workflowId })).toMatch(
        /Workflow signaled/,
      );
      await page.close();
      return { result: (await handle.result()) as PipelineRunResult, status: await statusOf(workflowId) };
    });
    token = undefined;

    expect(result.status).toBe('deployed');
    expect(status.approval!.approvals).toHaveLength(1);
    const approval = status.approval!.approvals[0]!;
    expect(approval).toMatchObject({
      approver: 'bob@example.com',
      comment: 'looks right',
      verified: { issuer: issuer.issuer, subject: 'sub-bob@example.com', claim: 'email', declared: 'alice@example.com' },
    });
    // The version's manifest gets the same approval with its signed proof.
    const deployed = stages.deployed[0] as { approvals: Approval[] };
    expect(deployed.approvals[0]!.verified!.proof.signed).toContain('"identity":"bob@example.com"');
    // The history holds exactly what /encode returned: the stamped envelope, not the typed payload.
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const encodings = (history.events ?? [])
      .filter((e) => e.workflowExecutionSignaledEventAttributes)
      .map((e) => Buffer.from(e.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!.metadata!.encoding!).toString());
    expect(encodings).toEqual(['json/plain', 'binary/mlops-stamped']);
  });
});
