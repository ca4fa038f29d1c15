/**
 * The layer order, checked on the source: every relative import under src/ is read, and an import against the order
 * (or an import cycle) fails here before it can reach review.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '../../../src');

/** Relative imports of every module under src/, as module paths relative to src/ without the extension. */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) graph.set(moduleOf(full), importsOf(full));
    }
  };
  walk(SRC);
  return graph;
}

function moduleOf(file: string): string {
  return path.relative(SRC, file).replace(/\.ts$/, '').split(path.sep).join('/');
}

function importsOf(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8');
  const targets = new Set<string>();
  for (const m of text.matchAll(/(?:from|import|require)\s*\(?\s*'(\.{1,2}\/[^']*)'/g)) {
    const target = path.resolve(path.dirname(file), m[1]!);
    if (fs.existsSync(`${target}.ts`)) targets.add(moduleOf(`${target}.ts`));
    else if (fs.existsSync(path.join(target, 'index.ts'))) targets.add(moduleOf(path.join(target, 'index.ts')));
  }
  return targets;
}

/** The layer of a module: its directory under src/, or its own name for the files at the top. */
function layerOf(module: string): string {
  return module.split('/')[0]!;
}

/** Imports from a module in one of `from` layers to a module in one of `to` layers, as "a -> b". */
function importsBetween(graph: Map<string, Set<string>>, from: string[], to: string[]): string[] {
  const found: string[] = [];
  for (const [module, targets] of graph) {
    if (!from.includes(layerOf(module))) continue;
    for (const target of targets) if (to.includes(layerOf(target))) found.push(`${module} -> ${target}`);
  }
  return found;
}

/** Every import cycle (strongly connected group of more than one module), each sorted, as one string. */
function cycles(graph: Map<string, Set<string>>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      group.push(w);
      if (w === v) break;
    }
    if (group.length > 1) found.push(group.sort().join(' <-> '));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found.sort();
}

describe('the layer order of src/', () => {
  const graph = importGraph();

  it('activities never import the workflows (what both need lives in src/contracts)', () => {
    expect(importsBetween(graph, ['activities'], ['workflows'])).toEqual([]);
  });

  it('the core (ml, data, storage, spec, report, serving, identity) imports neither workflows, activities nor contracts', () => {
    expect(
      importsBetween(graph, ['ml', 'data', 'storage', 'spec', 'report', 'serving', 'identity'], ['workflows', 'activities', 'contracts']),
    ).toEqual([]);
  });

  it("the contracts import only each other, the spec, the core types, storage references, the registry's and the identity stamp's types", () => {
    const allowed = new Set(['spec/pipeline', 'ml/types', 'storage/refs', 'storage/types', 'identity/types']);
    const outside = [...graph]
      .filter(([module]) => layerOf(module) === 'contracts')
      .flatMap(([module, targets]) =>
        [...targets].filter((t) => layerOf(t) !== 'contracts' && !allowed.has(t)).map((t) => `${module} -> ${t}`),
      );
    expect(outside).toEqual([]);
  });

  it("the workflows import only contracts, their own modules, errors, the spec type and the activities' types", () => {
    const allowedOutside = new Set(['errors', 'spec/pipeline', 'storage/refs', 'activities/index']);
    const outside = [...graph]
      .filter(([module]) => layerOf(module) === 'workflows')
      .flatMap(([module, targets]) =>
        [...targets].filter((t) => !['workflows', 'contracts'].includes(layerOf(t)) && !allowedOutside.has(t)),
      );
    expect(outside).toEqual([]);
    const valueImports = fs
      .readdirSync(path.join(SRC, 'workflows'))
      .filter((f) =>
        /^import (?!type )[^;]*from '\.\.\/(activities|spec|storage)[^']*';/m.test(fs.readFileSync(path.join(SRC, 'workflows', f), 'utf8')),
      );
    expect(valueImports).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });
});
