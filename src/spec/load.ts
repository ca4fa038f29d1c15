/** Reading a pipeline spec file (YAML or JSON): syntax errors name the line, schema errors the field path. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { FailureType, MlopsError } from '../errors';
import { trainerParamProblems } from './check';
import { parsePipelineSpec, type PipelineSpec } from './pipeline';

/** Whether a dataset source is a local file path (not a URL or s3:// URI). */
export function isLocalSource(source: string): boolean {
  return !/^(s3|https?):\/\//.test(source);
}

/** Reads, parses and validates a spec file; a relative local dataset source and trainer working directory are resolved against the file. */
export function loadSpecFile(file: string): PipelineSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MlopsError(
      FailureType.InvalidInput,
      `Cannot read the pipeline spec ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos ? `${file}:${first.linePos[0].line}:${first.linePos[0].col}` : file;
    throw new MlopsError(FailureType.InvalidInput, `The pipeline spec ${where} is not valid YAML/JSON: ${first.message.split('\n')[0]}`);
  }
  const spec = parsePipelineSpec(doc.toJS(), path.basename(file));
  const problems = trainerParamProblems(spec, path.basename(file));
  if (problems.length > 0) {
    throw new MlopsError(FailureType.InvalidInput, `Invalid pipeline spec:\n${problems.map((l) => `  - ${l}`).join('\n')}`, { problems });
  }
  const dir = path.dirname(path.resolve(file));
  if (isLocalSource(spec.dataset.source)) {
    spec.dataset.source = path.resolve(dir, spec.dataset.source);
  }
  // An external program runs next to its spec unless told otherwise, so `train.py` means the one beside it.
  if (spec.trainer.name === 'command') spec.trainer.workingDirectory = path.resolve(dir, spec.trainer.workingDirectory ?? '.');
  return spec;
}
