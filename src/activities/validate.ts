/**
 * The validate stage (the evaluator): the candidate and the current production version are loaded
 * through the model seam (built-in or ONNX, either way round) and scored on the same sealed holdout
 * rows, judged against the spec's thresholds and champion margin; what the training program claimed
 * about itself is held against our measurement. The report and the run's model card are stored.
 */
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { loadSide } from '../ml/dataset';
import {
  compareClaims,
  DEFAULT_CLAIMS_POLICY,
  evaluatePredictions,
  judgeCandidate,
  type ClaimCheck,
  type Evaluation,
} from '../ml/evaluate';
import type { DatasetProfile } from '../ml/profile';
import { loadPredictor, MODEL_FILE_MAX_BYTES, modelFlavor, predictInBatches, type FetchBytes, type Predictor } from '../ml/predictor';
import type { OnnxModel } from '../ml/onnx';
import type { Model } from '../ml/trainers';
import type { Frame } from '../ml/types';
import type { ValidationReport } from '../ml/data-validation';
import { profileSource, validateSource } from '../data/read';
import { FailureType, isMlopsError, isProgrammingError } from '../errors';
import { buildModelCard, compareWithProfile, holdoutDiagnostics, MODEL_CARD_CONTENT_TYPE, type ModelCardInput } from '../report';
import type { MlopsDependencies } from './dependencies';
import { withHeartbeat } from './heartbeat';
import type { ArtifactRef, EvaluateInput, EvaluateResult } from '../contracts';
import { withWorkdir } from './workdir';

/** Heartbeat details of the validate stage: which step it is on. */
export interface EvaluateHeartbeat {
  step: string;
}

/** The production version, loaded; or why it could not be, which leaves the run judged on its thresholds. */
type Champion = { version: number; predictor: Predictor } | { version: number; note: string } | undefined;

/** Creates the validate stage's activity (registered as `evaluateCandidate`, the name recorded in run histories). */
export function createValidateActivities({ store, registry }: MlopsDependencies) {
  const fetchBytes: FetchBytes = (ref) => store.getBuffer(ref, MODEL_FILE_MAX_BYTES);

  /**
   * The production version, loaded through the seam. One that cannot be loaded (an old external format,
   * a missing file) is a note, not a failure: the candidate is then judged on its thresholds alone.
   * Storage outages and our own bugs still fail the stage, so they are retried or reported.
   */
  async function champion(model: string, alias: string): Promise<Champion> {
    const pointer = await registry.findAlias(model, alias);
    if (!pointer) return undefined;
    try {
      const version = await registry.getVersion(model, pointer.to);
      return { version: pointer.to, predictor: await loadPredictor(await store.getJson(version.artifact), fetchBytes) };
    } catch (err) {
      if (!canBeNoted(err)) throw err;
      return { version: pointer.to, note: cannotCompare(pointer.to, alias, 'could not be loaded', err) };
    }
  }

  /**
   * Draws the run's model card and stores it; undefined when drawing fails, because a report must not
   * stop a candidate that passed. The profile and the validation report are the ones ingest stored; runs
   * started before the workflow passed them recompute them from the snapshot (same bytes, same schema).
   */
  async function storeModelCard(c: {
    input: EvaluateInput;
    file: string;
    test: Frame;
    document: unknown;
    candidate: Predictor;
    diagnostics: ReturnType<typeof holdoutDiagnostics>;
    evaluation: Evaluation;
    champion?: { version: number; evaluation: Evaluation };
    notes: string[];
    claims: ClaimCheck[];
    failures: string[];
  }): Promise<{ card?: ArtifactRef; cardInput?: ArtifactRef }> {
    const { input, test } = c;
    let card: ModelCardInput;
    try {
      const [profile, validation] = await Promise.all([
        // A Parquet snapshot is recognised by its content; older snapshots are JSON lines.
        input.profile ? store.getJson<DatasetProfile>(input.profile) : profileSource(c.file, input.schema, { format: 'jsonl' }),
        input.validationReport
          ? store.getJson<ValidationReport>(input.validationReport)
          : validateSource(c.file, input.schema, { format: 'jsonl' }),
      ]);
      const builtin = modelFlavor(c.document) === 'builtin' ? (c.document as Model) : undefined;
      const onnx = modelFlavor(c.document) === 'onnx' ? (c.document as OnnxModel) : undefined;
      const run = Context.current().info.workflowExecution;
      card = {
        model: input.model,
        description: input.description,
        task: input.schema.task,
        run: run && { workflowId: run.workflowId, runId: run.runId },
        candidate: {
          ...c.evaluation,
          trainer: c.candidate.description,
          params: builtin?.params ?? onnx?.trainer.params,
          training: builtin ? { ...builtin.training } : undefined,
        },
        champion: c.champion && { version: c.champion.version, alias: input.alias, ...c.champion.evaluation },
        championNote: c.notes[0],
        notes: c.notes,
        claims: c.claims,
        policy: input.policy,
        verdict: { passed: c.failures.length === 0, failures: c.failures },
        holdoutRows: c.evaluation.rows,
        dataset: {
          profile,
          target: input.schema.target,
          features: input.schema.features,
          droppedMissingTarget: input.droppedMissingTarget,
        },
        validation,
        ...c.diagnostics,
        drift: {
          ...compareWithProfile(profile, test, [...input.schema.features, input.schema.target], {
            reference: 'snapshot',
            current: 'holdout',
          }),
          note: "The snapshot's profile is the drift reference the monitor will hold this version to; the holdout is part of the snapshot.",
        },
        artifacts: [
          { name: 'candidate model', uri: input.candidate.uri, sha256: input.candidate.sha256 },
          ...(onnx ? [{ name: 'candidate model.onnx', uri: onnx.onnx.uri, sha256: onnx.onnx.sha256 }] : []),
          { name: 'dataset snapshot', uri: input.snapshot.uri, sha256: input.snapshot.sha256 },
        ],
      };
      const html = buildModelCard(card);
      return {
        card: await store.putBuffer(Buffer.from(html, 'utf8'), { contentType: MODEL_CARD_CONTENT_TYPE }),
        cardInput: await store.putJson(card, { contentType: 'application/json' }),
      };
    } catch (err) {
      // Storing it is retried like any storage call; drawing it must not stop a candidate that passed.
      if (isMlopsError(err) && err.type === FailureType.Unavailable) throw err;
      Context.current().log.warn('model card not drawn', { model: input.model, error: (err as Error).message });
      return {};
    }
  }

  return {
    /** Evaluates the candidate on the holdout, compares it with production, and stores the report and the model card. */
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluateResult> {
      const ctx = Context.current();
      return withHeartbeat<EvaluateHeartbeat, EvaluateResult>(
        { step: 'loading the candidate, the production version and the snapshot' },
        (beat) =>
          withWorkdir(async (dir) => {
            const file = join(dir, 'snapshot');
            const [document] = await Promise.all([store.getJson(input.candidate), store.getFile(input.snapshot, file)]);
            // Loaded after the downloads, so that a failed download never leaves the champion's session open.
            const current = await champion(input.model, input.alias);
            const loaded: Predictor[] = current && 'predictor' in current ? [current.predictor] : [];
            try {
              const candidate = await loadPredictor(document, fetchBytes);
              loaded.push(candidate);
              beat.update({ step: 'reading the holdout' });
              // Only the holdout side is read, and it is scored in slices (predictInBatches).
              const test = await loadSide(file, input.schema, input.split, 'test');
              beat.update({ step: `scoring the candidate on ${test.rowCount} holdout rows` });
              const predictions = await predictInBatches(candidate, test);
              await turn();
              const evaluation = evaluatePredictions(candidate, test, predictions);
              await turn();
              const notes: string[] = [];
              let championEval: { version: number; evaluation: Evaluation } | undefined;
              if (current && 'note' in current) notes.push(current.note);
              if (current && 'predictor' in current) {
                beat.update({ step: `scoring production version ${current.version} on the same rows` });
                try {
                  championEval = {
                    version: current.version,
                    evaluation: evaluatePredictions(current.predictor, test, await predictInBatches(current.predictor, test)),
                  };
                } catch (err) {
                  // A production model whose features no longer exist in the data cannot be compared on it.
                  if (!canBeNoted(err)) throw err;
                  notes.push(cannotCompare(current.version, input.alias, 'could not be evaluated on this holdout', err));
                }
              }
              const claimsPolicy = input.policy.claims ?? DEFAULT_CLAIMS_POLICY;
              const claimed = modelFlavor(document) === 'onnx' ? ((document as OnnxModel).claimedMetrics ?? {}) : {};
              const claims = compareClaims(claimed, evaluation.metrics, evaluation.rows, claimsPolicy.tolerance);
              const failures = judgeCandidate(evaluation.metrics, championEval?.evaluation.metrics, input.policy);
              const mismatches = claims.filter((c) => c.mismatch).map((c) => c.message);
              if (claimsPolicy.onMismatch === 'fail')
                failures.push(...mismatches.map((m) => `${m} (validation.claims.onMismatch is fail)`));
              beat.update({ step: 'drawing the model card' });
              const diagnostics = holdoutDiagnostics(candidate, test, predictions);
              await turn();
              const { card, cardInput } = await storeModelCard({
                ...{ input, file, test, document, candidate, diagnostics, evaluation },
                ...{ champion: championEval, notes, claims, failures },
              });
              const report = await store.putJson(
                {
                  kind: 'temporal-mlops/evaluation@1',
                  model: input.model,
                  holdoutRows: evaluation.rows,
                  candidate: {
                    ...{ flavor: candidate.flavor, description: candidate.description, artifact: input.candidate },
                    ...{ metrics: evaluation.metrics, confusionMatrix: evaluation.confusionMatrix },
                  },
                  champion: championEval && {
                    version: championEval.version,
                    metrics: championEval.evaluation.metrics,
                    confusionMatrix: championEval.evaluation.confusionMatrix,
                  },
                  notes,
                  claims: { policy: claimsPolicy, checks: claims, mismatches },
                  policy: input.policy,
                  passed: failures.length === 0,
                  failures,
                  card,
                },
                { contentType: 'application/json' },
              );
              const passed = failures.length === 0;
              ctx.log.info('candidate evaluated', {
                model: input.model,
                passed,
                metrics: evaluation.metrics,
                claimMismatches: mismatches.length,
              });
              return {
                passed,
                metrics: evaluation.metrics,
                holdoutRows: evaluation.rows,
                champion: championEval && { version: championEval.version, metrics: championEval.evaluation.metrics },
                comparedWith: current?.version ?? null,
                failures,
                notes,
                claims: claims.map(({ metric, claimed: c, measured, mismatch, message }) => ({
                  metric,
                  claimed: c,
                  measured,
                  mismatch,
                  message,
                })),
                claimMismatches: mismatches,
                report,
                card,
                cardInput,
              };
            } finally {
              await Promise.all(loaded.map((p) => p.release().catch(() => undefined)));
            }
          }),
      );
    },
  };
}

/** A turn of the event loop between steps that each take seconds on millions of holdout rows, so the heartbeat timer fires. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether a failure to load or score the production version is noted (not fatal): anything but an outage or a bug of ours. */
function canBeNoted(err: unknown): boolean {
  if (isMlopsError(err)) return err.type !== FailureType.Unavailable;
  return !isProgrammingError(err);
}

function cannotCompare(version: number, alias: string, what: string, err: unknown): string {
  return `${alias} version ${version} ${what} (${(err as Error).message}); this run is judged on its thresholds alone.`;
}
