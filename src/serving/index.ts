/** The model server, its model sources, the prediction log and its reader, and the serving metrics. */
export { startModelServer, PLATFORM, type ModelServer, type ModelServerOptions, type ServerReadiness } from './server';
export { registrySource, fixedSource, type AliasResolver, type ModelSource, type ServedVersion } from './model-source';
export {
  RecordLog,
  listWindowObjects,
  logPrefix,
  readPredictionWindow,
  readRecords,
  type FeedbackRecord,
  type LogKind,
  type PredictionError,
  type PredictionOutput,
  type PredictionRecord,
  type PredictionRole,
  type PredictionWindow,
  type PredictionWindowOptions,
  type RecordLogOptions,
  type RecordLogStats,
  type WindowPrediction,
} from './prediction-log';
export { createServingMetrics, registerDriftGauge, DRIFT_GAUGE_NAME, type ServingErrorKind, type ServingMetrics } from './metrics';
export { instanceFor } from './protocol';
export { PredictionLog, type PredictionLogOptions, type PredictionLogStats } from './prediction-writer';
export {
  ServedModel,
  type ActiveRollout,
  type Assignment,
  type LoadedModel,
  type ModelReadiness,
  type ModelState,
  type RefreshResult,
  type RolloutReadiness,
  type ServingRole,
} from './served-model';
export { pointFrom, routePoint, routeSeed, routesToCandidate, routingKey } from './routing';
