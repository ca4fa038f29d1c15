/**
 * docs/spec.md is the reference of every pipeline spec field: each field the spec accepts must be
 * documented there, and the reference must not describe fields the spec no longer accepts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipelineSpecSchema } from '../../../src/spec/pipeline';

interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  options?: { _zod: { def: Def } }[];
  valueType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
}

/** Every field path of a zod schema: `a.b`, `a.<name>.c` under a record, `a[].c` under an array. */
function fieldPaths(def: Def, prefix: string, out: Set<string>): Set<string> {
  switch (def.type) {
    case 'object':
      for (const [key, child] of Object.entries(def.shape ?? {})) {
        const p = prefix ? `${prefix}.${key}` : key;
        out.add(p);
        fieldPaths(child._zod.def, p, out);
      }
      break;
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
    case 'readonly':
      fieldPaths(def.innerType!._zod.def, prefix, out);
      break;
    case 'pipe':
      fieldPaths(def.in!._zod.def, prefix, out);
      break;
    case 'union':
      for (const option of def.options ?? []) fieldPaths(option._zod.def, prefix, out);
      break;
    case 'record':
      fieldPaths(def.valueType!._zod.def, `${prefix}.<name>`, out);
      break;
    case 'array':
      fieldPaths(def.element!._zod.def, `${prefix}[]`, out);
      break;
    default:
      break;
  }
  return out;
}

const reference = fs.readFileSync(path.resolve(__dirname, '../../../docs/spec.md'), 'utf8');
const documented = new Set([...reference.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!));
const accepted = fieldPaths((pipelineSpecSchema as unknown as { _zod: { def: Def } })._zod.def, '', new Set());

test('every field the pipeline spec accepts is documented in docs/spec.md', () => {
  expect([...accepted].filter((p) => !documented.has(p))).toEqual([]);
});

test('docs/spec.md documents no field the pipeline spec does not accept', () => {
  expect([...documented].filter((p) => !accepted.has(p))).toEqual([]);
});
