/**
 * The validate stage (the evaluator): holdout metrics of the candidate and of the current production
 * version on the same rows, judged against the spec's thresholds and champion margin; the report and
 * the run's model card (src/report) are stored.
 */
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { loadSplit } from '../ml/dataset';
import { evaluateModel, judgeCandidate, type Evaluation } from '../ml/evaluate';
import { profileSource } from '../ml/profile';
import { builtinPredictor, loadPredictor, MODEL_FILE_MAX_BYTES, type Predictor } from '../ml/predictor';
import { parseModel } from '../ml/trainers';
import type { Frame } from '../ml/types';
import { validateSource } from '../ml/validate';
import { holdoutMetrics, isExternalModel, type ExternalModel } from '../ml/external/model';
import { FailureType, isMlopsError } from '../errors';
import { buildModelCard, compareWithProfile, holdoutDiagnostics, MODEL_CARD_CONTENT_TYPE } from '../report';
import type { MlopsDependencies } from './dependencies';
import type { ArtifactRef, EvaluateInput, EvaluateResult } from './types';
import { withWorkdir } from './workdir';

/** Creates the evaluate activity. */
export function createEvaluateActivities({ store, registry }: MlopsDependencies) {
  /** The production version and its model, or undefined when the alias does not exist yet. */
  async function champion(model: string, alias: string) {
    try {
      const { version } = await registry.resolveAlias(model, alias);
      return { version: version.version, model: parseModel(await store.getJson(version.artifact)) };
    } catch (err) {
      if (isMlopsError(err) && err.type === FailureType.NotFound) return undefined;
      throw err;
    }
  }

  /**
   * Draws the run's model card and stores it; undefined when drawing fails, because a report must not
   * stop a candidate that passed. Profile and validation are recomputed from the snapshot file: ingest
   * computed them from the same bytes with the same schema, so they come out the same.
   */
  async function storeModelCard(c: { input: EvaluateInput; file: string; test: Frame; document: unknown; evaluation: Evaluation; champion?: { version: number; evaluation: Evaluation }; championNote?: string; failures: string[] }): Promise<ArtifactRef | undefined> {
    const { input, test } = c;
    let html: string;
    try {
      const [profile, validation] = await Promise.all([profileSource(c.file, input.schema, { format: 'jsonl' }), validateSource(c.file, input.schema, { format: 'jsonl' })]);
      const external = isExternalModel(c.document) ? c.document : undefined;
      const model = external ? undefined : parseModel(c.document);
      const run = Context.current().info.workflowExecution;
      html = buildModelCard({
        model: input.model,
        run: run && { workflowId: run.workflowId, runId: run.runId },
        candidate: { ...c.evaluation, trainer: model?.kind ?? `external program: ${external!.command.join(' ')}`, params: model?.params, training: model ? { ...model.training } : undefined },
        champion: c.champion && { version: c.champion.version, alias: input.alias, ...c.champion.evaluation },
        championNote: c.championNote,
        policy: input.policy,
        verdict: { passed: c.failures.length === 0, failures: c.failures },
        holdoutRows: c.evaluation.rows,
        dataset: { profile, target: input.schema.target, features: input.schema.features },
        validation,
        ...(model ? holdoutDiagnostics(builtinPredictor(model), test, await builtinPredictor(model).predict(test)) : {}),
        drift: {
          ...compareWithProfile(profile, test, [...input.schema.features, input.schema.target], { reference: 'snapshot', current: 'holdout' }),
          note: "The snapshot's profile is the drift reference the monitor will hold this version to; the holdout is part of the snapshot.",
        },
        artifacts: [
          { name: 'candidate model', uri: input.candidate.uri, sha256: input.candidate.sha256 },
          { name: 'dataset snapshot', uri: input.snapshot.uri, sha256: input.snapshot.sha256 },
        ],
      });
    } catch (err) {
      Context.current().log.warn('model card not drawn', { model: input.model, error: (err as Error).message });
      return undefined;
    }
    return store.putBuffer(Buffer.from(html, 'utf8'), { contentType: MODEL_CARD_CONTENT_TYPE });
  }

  return {
    /** Evaluates the candidate on the holdout, compares it with production, and stores the report and the model card. */
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluateResult> {
      const ctx = Context.current();
      return withWorkdir(async (dir) => {
        const file = join(dir, 'snapshot.jsonl');
        const [document, current] = await Promise.all([store.getJson(input.candidate), champion(input.model, input.alias), store.getFile(input.snapshot, file)]);
        const { test } = await loadSplit(file, input.schema, input.split);
        // An external program scored the holdout itself (it was its validation data).
        const predictor = isExternalModel(document) ? undefined : await loadPredictor(document, (ref) => store.getBuffer(ref, MODEL_FILE_MAX_BYTES));
        const evaluation: Evaluation = predictor
          ? await evaluateModel(predictor, test).finally(() => predictor.release())
          : { metrics: holdoutMetrics(document as ExternalModel), rows: test.rowCount };
        let championEval: Evaluation | undefined;
        let championNote: string | undefined;
        if (current) {
          try {
            championEval = await evaluateModel(builtinPredictor(current.model), test);
          } catch (err) {
            // A production model whose features no longer exist in the data cannot be compared on it.
            championNote = `production version ${current.version} could not be evaluated on this holdout: ${(err as Error).message}`;
          }
        }
        const failures = judgeCandidate(evaluation.metrics, championEval?.metrics, input.policy);
        const champ = current && championEval ? { version: current.version, evaluation: championEval } : undefined;
        const card = await storeModelCard({ input, file, test, document, evaluation, champion: champ, championNote, failures });
        const report = await store.putJson(
          {
            kind: 'temporal-mlops/evaluation@1',
            model: input.model,
            holdoutRows: evaluation.rows,
            candidate: { metrics: evaluation.metrics, confusionMatrix: evaluation.confusionMatrix, artifact: input.candidate },
            champion: current && championEval ? { version: current.version, metrics: championEval.metrics, confusionMatrix: championEval.confusionMatrix } : undefined,
            championNote,
            policy: input.policy,
            passed: failures.length === 0,
            failures,
            card,
          },
          { contentType: 'application/json' },
        );
        ctx.log.info('candidate evaluated', { model: input.model, passed: failures.length === 0, metrics: evaluation.metrics });
        return {
          passed: failures.length === 0,
          metrics: evaluation.metrics,
          champion: current && championEval ? { version: current.version, metrics: championEval.metrics } : undefined,
          failures,
          report,
          card,
        };
      });
    },
  };
}
