/** The ingest stage: snapshot the data (Parquet, through the engine), validate it, profile it; store all three and return references. */
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { prepareSnapshot } from '../ml/dataset';
import type { ValidationIssue } from '../ml/data-validation';
import type { MlopsDependencies } from './dependencies';
import { withHeartbeat } from './heartbeat';
import type { IngestInput, IngestResult } from '../contracts';
import { withWorkdir } from './workdir';

/** Content type of Parquet snapshots. */
const PARQUET = 'application/vnd.apache.parquet';

/** An issue's message with the source rows it was found in (up to five), unless it names them already. */
function withRows(issue: ValidationIssue): string {
  if (issue.sampleRows.length === 0 || /\(rows? \d/.test(issue.message)) return issue.message;
  return `${issue.message} (source row${issue.sampleRows.length > 1 ? 's' : ''} ${issue.sampleRows.join(', ')})`;
}

/** Creates the ingest activity. */
export function createIngestActivities({ store, snapshots, config }: MlopsDependencies) {
  return {
    /** Reads the spec's dataset (plus any new data window) into a content-addressed snapshot with its profile and validation report. */
    async ingestDataset(input: IngestInput): Promise<IngestResult> {
      const ctx = Context.current();
      const { dataset } = input;
      const sources = [dataset.source, ...(input.window?.sources ?? [])];
      return withWorkdir(async (dir) =>
        withHeartbeat({ stage: 'reading' }, async (beat) => {
          const outFile = join(dir, 'snapshot.parquet');
          const prepared = await prepareSnapshot({
            sources,
            format: dataset.format,
            delimiter: dataset.delimiter,
            schema: dataset.schema,
            target: dataset.target,
            filter: dataset.filter,
            columns: dataset.columns,
            where: dataset.where,
            encoding: dataset.encoding,
            dropMissingTarget: dataset.dropMissingTarget,
            hashSeed: dataset.split.seed,
            windowFormat: input.window?.format,
            openS3: (bucket, key) => store.openObject(bucket, key),
            outFile,
            scratchDir: join(dir, 'scratch'),
            scratchBudget: config.ingest.scratchBudget,
            memoryLimit: config.ingest.memoryLimit,
          });
          beat.update({ stage: 'storing' });
          const snapshot = await store.putFile(outFile, { contentType: PARQUET });
          const [profile, report] = await Promise.all([
            store.putJson(prepared.profile, { contentType: 'application/json' }),
            store.putJson(prepared.validation, { contentType: 'application/json' }),
          ]);
          await snapshots.register({
            name: dataset.name ?? input.model,
            sha256: snapshot.sha256,
            sourceUri: sources.join(' + '),
            schema: prepared.schema,
            rowCount: prepared.rowCount,
            profile,
            data: snapshot,
            lineage: { ...prepared.lineage, validation: report },
          });
          const blocking = prepared.validation.issues.filter((i) => i.severity === 'blocking').map(withRows);
          const warningMessages = prepared.validation.issues.filter((i) => i.severity !== 'blocking').map(withRows);
          const dropped = prepared.lineage.droppedMissingTarget;
          ctx.log.info('dataset ingested', {
            model: input.model,
            rows: prepared.rowCount,
            snapshot: snapshot.sha256,
            blocking: blocking.length,
          });
          return {
            snapshot,
            schema: prepared.schema,
            rowCount: prepared.rowCount,
            profile,
            validation: { ok: prepared.validation.ok, report, blocking, warnings: warningMessages.length, warningMessages },
            summary: {
              ...{ rows: prepared.rowCount, columns: prepared.schema.columns.length, classCounts: prepared.classCounts },
              ...(dropped !== undefined ? { droppedMissingTarget: dropped } : {}),
            },
          };
        }),
      );
    },
  };
}
