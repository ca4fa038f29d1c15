/**
 * The validate stage against a real MinIO: ingest and train seattle-weather, evaluate, and read back
 * the model card it stored — first with no production version, then against one.
 */
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDependencies, type MlopsDependencies } from '../../../src/activities/dependencies';
import { createDeployActivities } from '../../../src/activities/deploy';
import { createValidateActivities } from '../../../src/activities/validate';
import { createIngestActivities } from '../../../src/activities/ingest';
import { createTrainActivities } from '../../../src/activities/train';
import type { EvaluateResult, IngestResult, RegisterCandidateResult, TrainResult } from '../../../src/contracts';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { loadSpecFile } from '../../../src/spec/load';
import type { PipelineSpec } from '../../../src/spec/pipeline';
import { TestMinio } from '../../helpers/servers';

const EXAMPLE = path.resolve(__dirname, '../../../examples/seattle-weather/pipeline.yaml');

let minio: TestMinio;
let deps: MlopsDependencies;
let spec: PipelineSpec;
let data: IngestResult;

function activities() {
  return { ...createIngestActivities(deps), ...createTrainActivities(deps), ...createValidateActivities(deps) };
}

async function trainAndEvaluate(
  trainer: PipelineSpec['trainer'],
  runId: string,
): Promise<{ trained: TrainResult; evaluated: EvaluateResult }> {
  const acts = activities();
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'seattle-weather-card', runId } });
  const trained = (await env.run(acts.trainModel, {
    model: spec.model,
    snapshot: data.snapshot,
    schema: data.schema,
    split: spec.dataset.split,
    trainer,
  })) as TrainResult;
  const evaluated = (await env.run(acts.evaluateCandidate, {
    model: spec.model,
    candidate: trained.model,
    snapshot: data.snapshot,
    schema: data.schema,
    split: spec.dataset.split,
    policy: spec.validation,
    alias: spec.deploy.alias,
    profile: data.profile,
    description: spec.description,
  })) as EvaluateResult;
  return { trained, evaluated };
}

beforeAll(async () => {
  minio = await TestMinio.start();
  const base = loadConfig({ env: { MINIO_ACCESS_KEY: minio.accessKey, MINIO_SECRET_KEY: minio.secretKey, HOME: process.env.HOME } });
  deps = createDependencies({ ...base, minio: minio.config('mlops-card') }, createLogger({ level: 'warn', format: 'json' }));
  spec = loadSpecFile(EXAMPLE);
  data = (await new MockActivityEnvironment().run(activities().ingestDataset, {
    model: spec.model,
    dataset: spec.dataset,
  })) as IngestResult;
}, 10 * 60_000);

afterAll(async () => {
  await minio?.stop();
});

describe('the model card of a seattle-weather run', () => {
  it('is stored as HTML next to the evaluation report, which links it', async () => {
    const { evaluated } = await trainAndEvaluate(spec.trainer, 'run-1');
    expect(evaluated.card).toBeDefined();
    const card = evaluated.card!;
    expect(card.contentType).toBe('text/html; charset=utf-8');
    expect((await deps.store.stat(card)).contentType).toBe('text/html; charset=utf-8');
    expect((await deps.store.getJson<{ card?: unknown }>(evaluated.report)).card).toEqual(card);

    const html = (await deps.store.getBuffer(card)).toString('utf8');
    expect(html).toContain('<h1>seattle-weather');
    expect(html).toContain('run <code>seattle-weather-card</code>');
    expect(html).toContain(`>${evaluated.metrics.accuracy!.toFixed(4)}<`);
    expect(html).toContain('There is no production version yet');
    // A heatmap, the ROC curves of five classes, and the five features and the target against the snapshot.
    expect(html.match(/<svg\b/g)).toHaveLength(1 + 1 + 6);
    expect(html).toContain('Distributions: snapshot against holdout');
  });

  it('compares a later candidate with the production version on the same holdout', async () => {
    const first = await trainAndEvaluate(spec.trainer, 'run-1');
    const { version } = await deps.registry.registerVersion({
      model: spec.model,
      artifact: first.trained.model,
      dataset: { sha256: data.snapshot.sha256, snapshot: data.snapshot, profile: data.profile },
      trainer: { name: first.trained.trainer, params: first.trained.params },
      metrics: first.evaluated.metrics,
      workflowId: 'seattle-weather-card',
      runId: 'run-1',
    });
    await deps.registry.moveAlias({
      model: spec.model,
      alias: spec.deploy.alias,
      version: version.version,
      by: 'test',
      reason: 'first version',
    });

    const { evaluated } = await trainAndEvaluate({ name: 'logistic-regression', params: {} }, 'run-2');
    const html = (await deps.store.getBuffer(evaluated.card!)).toString('utf8');
    expect(html).toContain(`production v${version.version}`);
    expect(html).toContain(`Production v${version.version}: confusion matrix`);
    expect(html).toMatch(
      new RegExp(`<b>Champion comparison:</b> <span class="(pass|fail)">${evaluated.passed ? 'passes' : 'fails'}</span>`),
    );
    expect(html).toContain(`>${evaluated.champion!.metrics.accuracy!.toFixed(4)}<`);
  });

  it('is drawn again when the version is registered: who approved it, how it is deployed, and balanced accuracy first', async () => {
    const { trained, evaluated } = await trainAndEvaluate(spec.trainer, 'run-3');
    expect(evaluated.cardInput).toBeDefined();
    const production = (await deps.registry.findAlias(spec.model, spec.deploy.alias))?.to;
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'seattle-weather-deploy', runId: 'run-3' } });
    const approvals = [{ approver: 'alice', at: '2026-11-29T10:00:00.000Z', comment: 'fine for the demo' }];
    const registered = (await env.run(createDeployActivities(deps).registerCandidate, {
      ...{ model: spec.model, alias: spec.deploy.alias, candidate: trained.model, snapshot: data.snapshot, schema: data.schema },
      ...{ profile: data.profile, trainer: trained.trainer, params: trained.params, metrics: evaluated.metrics, approvals },
      ...{ requestedBy: 'dave', trigger: 'manual', workflowId: 'seattle-weather-deploy', runId: 'run-3', spec },
      ...{ report: evaluated.card, cardInput: evaluated.cardInput },
    })) as RegisterCandidateResult;
    const version = await deps.registry.getVersion(spec.model, registered.version);
    expect(version.report!.sha256).not.toBe(evaluated.card!.sha256);
    const html = (await deps.store.getBuffer(version.report!)).toString('utf8');
    expect(html).not.toContain('may go on to approval');
    expect(html).toContain(`<span class="badge pass">version ${registered.version}</span>`);
    expect(html).toMatch(new RegExp(`Registered as version <b>${registered.version}</b> at .* by a manual run requested by dave\\.`));
    expect(html).toContain(
      production === undefined
        ? 'The production alias had no version: it moves to this one.'
        : `Deployed directly: the production alias moves from version ${production} to this one at once, by compare-and-swap`,
    );
    expect(html).toContain('<td>alice</td><td>2026-11-29T10:00:00.000Z</td><td>fine for the demo</td>');
    // Rain and sun are most of the days, fog and snow rare: the headline is balanced accuracy, with why.
    expect(html).toContain(`Headline: balanced accuracy ${evaluated.metrics.balancedAccuracy!.toFixed(4)}`);
    expect(html).toMatch(/The classes are imbalanced \(rain is \d+ % of rows, fog [\d.]+ %\)/);
    expect(html).toContain(`<b>Intended use:</b> ${spec.description}`);
    expect(html).toMatch(/fog {2}AUC \d\.\d{3} {2}n=\d+/);
  });
});
