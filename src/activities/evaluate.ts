/**
 * The validate stage (the evaluator): holdout metrics of the candidate and of the current production
 * version on the same rows, judged against the spec's thresholds and champion margin; the report is stored.
 */
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { loadSplit } from '../ml/dataset';
import { evaluateModel, judgeCandidate, type Evaluation } from '../ml/evaluate';
import { parseModel } from '../ml/trainers';
import { holdoutMetrics, isExternalModel } from '../ml/external/model';
import { FailureType, isMlopsError } from '../errors';
import type { MlopsDependencies } from './dependencies';
import type { EvaluateInput, EvaluateResult } from './types';
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

  return {
    /** Evaluates the candidate on the holdout, compares it with production, and stores the report. */
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluateResult> {
      const ctx = Context.current();
      return withWorkdir(async (dir) => {
        const file = join(dir, 'snapshot.jsonl');
        const [document, current] = await Promise.all([store.getJson(input.candidate), champion(input.model, input.alias), store.getFile(input.snapshot, file)]);
        const { test } = await loadSplit(file, input.schema, input.split);
        // An external program scored the holdout itself (it was its validation data).
        const evaluation: Evaluation = isExternalModel(document) ? { metrics: holdoutMetrics(document), rows: test.rowCount } : evaluateModel(parseModel(document), test);
        let championEval: Evaluation | undefined;
        let championNote: string | undefined;
        if (current) {
          try {
            championEval = evaluateModel(current.model, test);
          } catch (err) {
            // A production model whose features no longer exist in the data cannot be compared on it.
            championNote = `production version ${current.version} could not be evaluated on this holdout: ${(err as Error).message}`;
          }
        }
        const failures = judgeCandidate(evaluation.metrics, championEval?.metrics, input.policy);
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
        };
      });
    },
  };
}
