/**
 * The servability check stage (after TFX's InfraValidator): between validate and approval, the
 * candidate is loaded exactly as the model server loads it (loadPredictor from the stored manifest),
 * asked to predict a sample of holdout rows (one answer per row, finite, probabilities summing to 1),
 * and, when its program predicted the check rows itself, compared with those predictions. A model that
 * does not load or disagrees fails the run before anyone is asked to approve; the stored report lists
 * the disagreeing rows.
 */
import { join } from 'node:path';
import { loadSide } from '../ml/dataset';
import type { OnnxModel } from '../ml/onnx';
import { loadPredictor, MODEL_FILE_MAX_BYTES, modelFlavor, predictRows, type FetchBytes, type Predictor } from '../ml/predictor';
import { compareWithCheck, parseCheckPredictions, predictionProblems, type Disagreement } from '../ml/servability';
import { FailureType, isMlopsError } from '../errors';
import type { MlopsDependencies } from './dependencies';
import { withHeartbeat } from './heartbeat';
import type { ServabilityInput, ServabilityResult } from '../contracts';
import { withWorkdir } from './workdir';

/** Holdout rows the candidate predicts in the check, spread evenly through the holdout. */
export const SERVABILITY_SAMPLE_ROWS = 200;

/** Disagreeing rows kept in the report (all are counted). */
const MAX_REPORTED_ROWS = 100;

/** Creates the servability check activity. */
export function createServabilityActivities({ store }: MlopsDependencies) {
  const fetchBytes: FetchBytes = (ref) => store.getBuffer(ref, MODEL_FILE_MAX_BYTES);

  /** Loads the candidate as the server does; a model that cannot be loaded is the check's answer, not an error. */
  async function load(document: unknown): Promise<Predictor | string> {
    try {
      return await loadPredictor(document, fetchBytes);
    } catch (err) {
      if (isMlopsError(err) && err.type !== FailureType.Unavailable)
        return `the model does not load as the server loads it: ${err.message}`;
      throw err;
    }
  }

  return {
    /** Loads the candidate as the server does, predicts a holdout sample and the program's check rows, and stores the report. */
    async checkServability(input: ServabilityInput): Promise<ServabilityResult> {
      return withHeartbeat({ step: 'loading the candidate as the server does' }, (beat) =>
        withWorkdir(async (dir) => {
          const document = await store.getJson(input.candidate);
          const flavor = modelFlavor(document);
          const problems: string[] = [];
          const notes: string[] = [];
          let sampleRows = 0;
          let check: { rows: number; disagreeing: number; disagreements: Disagreement[] } | undefined;
          const predictor = await load(document);
          if (typeof predictor === 'string') problems.push(predictor);
          else {
            try {
              beat.update({ step: 'predicting a sample of holdout rows' });
              const file = join(dir, 'snapshot');
              await store.getFile(input.snapshot, file);
              // Only the sampled rows are read from the snapshot, not the whole holdout.
              const sample = await loadSide(file, input.schema, input.split, 'test', {
                sample: input.sampleRows ?? SERVABILITY_SAMPLE_ROWS,
              });
              sampleRows = sample.rowCount;
              problems.push(...(await answer(() => predictor.predict(sample), predictor, sampleRows, 'holdout sample')));
              const manifest = flavor === 'onnx' ? (document as OnnxModel) : undefined;
              if (manifest?.check) {
                beat.update({ step: "comparing with the program's own predictions" });
                check = await compareCheck(manifest, predictor, problems);
              } else if (flavor === 'onnx') {
                notes.push(
                  'the program wrote no check_predictions.jsonl, so its ONNX model could not be compared with its own predictions; ' +
                    'only the shape of the answers was checked',
                );
              }
            } finally {
              await predictor.release().catch(() => undefined);
            }
          }
          const passed = problems.length === 0;
          const report = await store.putJson(
            {
              kind: 'temporal-mlops/servability@1',
              model: input.model,
              candidate: input.candidate,
              flavor,
              passed,
              problems,
              notes,
              holdoutSample: { rows: sampleRows },
              check: check && {
                rows: check.rows,
                disagreeing: check.disagreeing,
                disagreements: check.disagreements.slice(0, MAX_REPORTED_ROWS),
              },
            },
            { contentType: 'application/json' },
          );
          return {
            passed,
            problems,
            notes,
            flavor: flavor ?? 'unknown',
            sampleRows,
            checkRows: check?.rows,
            disagreeing: check?.disagreeing,
            report,
          };
        }),
      );

      /** The program's check rows, predicted by us and compared with its own predictions. */
      async function compareCheck(manifest: OnnxModel, predictor: Predictor, problems: string[]) {
        const [rowsText, predictionsText] = await Promise.all([
          store.getBuffer(manifest.check!.rows),
          store.getBuffer(manifest.check!.predictions),
        ]);
        const rows = rowsText
          .toString('utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        let theirs;
        try {
          theirs = parseCheckPredictions(predictionsText.toString('utf8'), predictor.task, predictor.classes);
        } catch (err) {
          if (!isMlopsError(err)) throw err;
          problems.push(err.message);
          return undefined;
        }
        let ours;
        try {
          ours = await predictRows(predictor, rows);
        } catch (err) {
          if (!isMlopsError(err) || err.type === FailureType.Unavailable) throw err;
          problems.push(`the model cannot predict the program's check rows: ${err.message}`);
          return undefined;
        }
        problems.push(...predictionProblems(predictor.task, predictor.classes, ours, rows.length).map((p) => `check rows: ${p}`));
        const compared = compareWithCheck(predictor.task, predictor.classes, ours, theirs);
        problems.push(...compared.problems);
        const d = compared.disagreements;
        if (d.length > 0) {
          const first = d[0]!;
          problems.push(
            `the model, run as the server runs it, disagrees with the program that trained it on ${d.length} of ${rows.length} check rows ` +
              `(e.g. row ${first.row}: ${first.why}); the rows are listed in the servability report`,
          );
        }
        return { rows: rows.length, disagreeing: d.length, disagreements: d };
      }
    },
  };
}

/** Predicts and checks the answers' shape; a prediction that throws is a problem of the model, not of the stage. */
async function answer(run: () => ReturnType<Predictor['predict']>, predictor: Predictor, rows: number, what: string): Promise<string[]> {
  try {
    return predictionProblems(predictor.task, predictor.classes, await run(), rows).map((p) => `${what}: ${p}`);
  } catch (err) {
    if (!isMlopsError(err) || err.type === FailureType.Unavailable) throw err;
    return [`${what}: the model cannot predict these rows: ${err.message}`];
  }
}
