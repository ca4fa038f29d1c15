/** The model card: a self-contained HTML report per pipeline run, and the data it is built from. */
export { buildModelCard, championVerdict } from './model-card';
export { compareWithProfile, holdoutDiagnostics, residualSample } from './card-data';
export type {
  CardArtifact,
  CardDeployment,
  CardEvaluation,
  DriftComparison,
  HistogramComparison,
  ModelCardInput,
  ResidualSample,
  RocSeries,
} from './types';

/** The MIME type a stored card is recorded with, so a presigned link opens it as a page. */
export const MODEL_CARD_CONTENT_TYPE = 'text/html; charset=utf-8';
