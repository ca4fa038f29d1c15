/**
 * Local dataset files are uploaded to MinIO before a run starts, so the run refers to them by an
 * s3:// URI and any worker, on any machine, can read them.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import type { MlopsConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { isLocalSource } from '../spec/load';
import { detectFormat } from '../ml/readers/source';
import type { PipelineSpec } from '../spec/pipeline';
import { ArtifactStore, createMinioClient } from '../storage/artifact-store';
import { recordSourceUpload } from '../storage/gc';

/** Refuses derived columns or a row filter whose SQL does not parse or bind; run before connecting or uploading anything. */
export async function checkDatasetSql(dataset: PipelineSpec['dataset']): Promise<void> {
  if (dataset.columns || dataset.where) await (await import('../data/expressions')).checkDatasetExpressions(dataset);
}

/**
 * Returns the dataset unchanged when its source is a URL or s3:// URI; otherwise uploads the file and
 * returns the dataset pointing at its s3:// URI, with the format fixed from the file name.
 */
export async function stageDataset(
  config: MlopsConfig,
  dataset: PipelineSpec['dataset'],
  say: (line: string) => void = () => {},
): Promise<PipelineSpec['dataset']> {
  const source = dataset.source;
  if (!isLocalSource(source)) return dataset;
  const { format, delimiter } = detectFormat(source, dataset);
  let size: number;
  try {
    size = statSync(source).size;
  } catch {
    throw new MlopsError(FailureType.InvalidInput, `dataset.source: the file ${source} does not exist`);
  }
  say(`Uploading ${source} (${(size / 2 ** 20).toFixed(1)} MiB) to MinIO...`);
  const store = new ArtifactStore(createMinioClient(config.minio), config.minio.bucket);
  const ref = await store.putFile(source, { contentType: source.endsWith('.csv') ? 'text/csv' : 'application/octet-stream' });
  // Recorded so `mlops gc` can remove it if its ingest fails and nothing ever refers to it.
  await recordSourceUpload(store, ref, basename(source));
  return { ...dataset, source: ref.uri, format, delimiter: format === 'csv' ? delimiter : undefined };
}
