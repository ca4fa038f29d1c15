/**
 * Typed references: a reference to one kind of artifact does not compile where another kind is expected, checked by
 * running the TypeScript compiler on small programs against src/contracts.
 */
import * as path from 'node:path';
import ts from 'typescript';

const CONTRACTS = path.resolve(__dirname, '../../../src/contracts').split(path.sep).join('/');

/** The compiler's error messages for one program that imports the contracts. */
function compileErrors(body: string): string[] {
  const file = path.join(__dirname, '__typed-refs-probe.ts');
  const source = `import type { ArtifactRef, IngestResult, ModelRef, ServabilityInput, SnapshotRef, TrainResult } from '${CONTRACTS}';\n${body}\n`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('typed artifact references', () => {
  it('a trained model passed where the servability check expects the snapshot does not compile', () => {
    const errors = compileErrors(
      'declare const trained: TrainResult; declare const data: IngestResult;\n' +
        "const input: ServabilityInput = { model: 'm', candidate: trained.model, snapshot: trained.model, schema: " +
        "data.schema, split: { kind: 'hash' } as never };",
    );
    expect(errors.join('\n')).toMatch(/snapshot/);
    expect(errors).toHaveLength(1);
  });

  it('the right kinds compile, and a plain reference (what the store returns) takes any kind', () => {
    const errors = compileErrors(
      'declare const trained: TrainResult; declare const data: IngestResult; declare const stored: ArtifactRef;\n' +
        "const input: ServabilityInput = { model: 'm', candidate: trained.model, snapshot: data.snapshot, schema: data.schema, split: {} as never };\n" +
        'const model: ModelRef = stored; const snapshot: SnapshotRef = stored; const plain: ArtifactRef = model;\n' +
        'export { input, snapshot, plain };',
    );
    expect(errors).toEqual([]);
  });

  it('a snapshot reference does not convert to a model reference', () => {
    const errors = compileErrors('declare const data: IngestResult;\nexport const model: ModelRef = data.snapshot;');
    expect(errors).toHaveLength(1);
  });
});
