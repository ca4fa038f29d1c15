/**
 * The spec's reference, generated from the zod schema in ./pipeline.ts so it cannot drift from what is accepted:
 * `specJsonSchema()` is `schema/spec.schema.json` (editors complete and check specs against it) and
 * `specReference()` is `docs/spec.md`. `npm run spec:docs` (scripts/spec-docs.mjs) writes both; a unit test fails
 * when the checked-in files differ. Pure: no Node APIs.
 */
import { z } from 'zod';
import { pipelineSpecSchema } from './pipeline';

/** A JSON Schema node as zod emits it (draft-07), with our docs-only keys. */
interface Node {
  type?: string;
  title?: string;
  description?: string;
  docType?: string;
  docIntro?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: Node | boolean;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  [key: string]: unknown;
}

/** Keys of our own in the schema's metadata: they feed docs/spec.md and are left out of the published JSON Schema. */
const DOCS_ONLY_KEYS = ['docType', 'docIntro'];

/** Where the published schema lives, relative to the package root; examples point at it. */
export const SPEC_SCHEMA_PATH = 'schema/spec.schema.json';

function jsonSchema(docsOnly: boolean): Node {
  return z.toJSONSchema(pipelineSpecSchema, {
    io: 'input',
    target: 'draft-7',
    unrepresentable: 'any',
    override: ({ jsonSchema: node }) => {
      const n = node as Node;
      // zod bounds every integer by Number.MAX_SAFE_INTEGER: noise for a reader.
      if (n.maximum === Number.MAX_SAFE_INTEGER) delete n.maximum;
      if (n.minimum === Number.MIN_SAFE_INTEGER) delete n.minimum;
      if (!docsOnly) for (const key of DOCS_ONLY_KEYS) delete n[key];
    },
  }) as Node;
}

/** The pipeline spec as a JSON Schema (draft-07): what `schema/spec.schema.json` holds. */
export function specJsonSchema(): Record<string, unknown> {
  return {
    title: 'temporal-mlops pipeline spec',
    description: "One model's lifecycle: data, trainer, validation, approval, deploy, monitor and schedule (docs/spec.md).",
    ...jsonSchema(false),
  };
}

/** One documented field: its path (`a.b`, `a.<name>.c`, `a[].c`) and its row. */
interface Row {
  path: string;
  type: string;
  meaning: string;
}

/** The object options a field may take: itself, or each object of a union (the trainer's variants). */
function options(node: Node): Node[] {
  const alternatives = node.oneOf ?? node.anyOf;
  return alternatives && alternatives.every((o) => o.properties) ? alternatives : [node];
}

function code(value: unknown): string {
  return '`' + (typeof value === 'string' ? value : JSON.stringify(value)) + '`';
}

function numberBounds(node: Node): string {
  const low =
    node.exclusiveMinimum !== undefined ? ['(', node.exclusiveMinimum] : node.minimum !== undefined ? ['[', node.minimum] : undefined;
  const high =
    node.exclusiveMaximum !== undefined ? [')', node.exclusiveMaximum] : node.maximum !== undefined ? [']', node.maximum] : undefined;
  if (low && high) return ` in ${low[0]}${low[1]}, ${high[1]}${high[0]}`;
  if (low) return ` ${low[0] === '(' ? '>' : '>='} ${low[1]}`;
  if (high) return ` ${high[0] === ')' ? '<' : '<='} ${high[1]}`;
  return '';
}

/** What a value of this node is, in words ("duration", "integer >= 1", "`warn`, `fail`", "list of names"). */
function kind(node: Node): string {
  if (node.title) return node.title;
  if (node.const !== undefined) return code(node.const);
  if (node.enum) return node.enum.map(code).join(', ');
  const alternatives = node.oneOf ?? node.anyOf;
  if (alternatives) {
    if (alternatives.every((o) => o.properties)) return 'section';
    return alternatives.map(kind).join(' or ');
  }
  switch (node.type) {
    case 'boolean':
      return 'boolean';
    case 'integer':
    case 'number':
      return node.type + numberBounds(node);
    case 'string':
      return 'text';
    case 'array':
      return node.items && !node.items.properties ? `list of ${plural(kind(node.items))}` : 'list';
    case 'object':
      if (node.properties) return 'section';
      if (typeof node.additionalProperties === 'object' && Object.keys(node.additionalProperties).length > 0) {
        return node.additionalProperties.properties ? 'map of name to section' : `map of ${plural(kind(node.additionalProperties))}`;
      }
      return 'map';
    default:
      return 'any value';
  }
}

function plural(word: string): string {
  return word === 'text' || word.startsWith('`') || word.includes(' or ') ? word : `${word}s`;
}

/** The Type column: the field's kind, its default and whether it is required (`for` names the variants needing it). */
function typeColumn(node: Node, required: string | undefined): string {
  let text = node.docType ?? kind(node);
  const section = options(node).some((o) => o.properties);
  if (node.default !== undefined && !section) {
    const plain = typeof node.default === 'number' || node.title === 'duration';
    text += ` (${plain ? String(node.default) : code(node.default)})`;
  }
  return text + (required ?? '');
}

/**
 * Every field under `node`, depth first, in the schema's order. `within` names an optional section the fields
 * belong to, so a field required in it reads "required in `filter`" rather than plain "required".
 */
function rows(node: Node, prefix: string, out: Row[], within?: string): Row[] {
  const variants = options(node);
  const seen = new Map<string, { node: Node; requiredIn: string[]; presentIn: number }>();
  for (const variant of variants) {
    const label = variant.properties?.name?.const;
    for (const [key, child] of Object.entries(variant.properties ?? {})) {
      const entry = seen.get(key) ?? { node: child, requiredIn: [], presentIn: 0 };
      if (!entry.node.description && child.description) entry.node = { ...child, ...entry.node, description: child.description };
      if (child.const !== undefined && entry.node !== child && (entry.node.const !== undefined || entry.node.enum)) {
        const consts = entry.node.enum ?? [entry.node.const];
        entry.node = { ...entry.node, const: undefined, enum: [...consts, child.const] };
      }
      entry.presentIn += 1;
      if (variant.required?.includes(key)) entry.requiredIn.push(String(label));
      seen.set(key, entry);
    }
  }
  for (const [key, { node: child, requiredIn }] of seen) {
    const path = prefix ? `${prefix}.${key}` : key;
    const required =
      requiredIn.length === 0
        ? undefined
        : requiredIn.length < variants.length
          ? `, required for ${requiredIn.map((l) => code(l)).join(', ')}`
          : within
            ? `, required in ${code(within)}`
            : ', required';
    out.push({ path, type: typeColumn(child, required), meaning: child.description ?? '' });
    descend(child, path, out, requiredIn.length === variants.length ? within : key);
  }
  return out;
}

function descend(node: Node, path: string, out: Row[], within: string | undefined): void {
  if (options(node).some((o) => o.properties)) rows(node, path, out, within);
  else if (node.type === 'array' && node.items?.properties) rows(node.items, `${path}[]`, out);
  else if (typeof node.additionalProperties === 'object' && node.additionalProperties.properties) {
    rows(node.additionalProperties, `${path}.<name>`, out);
  }
}

function table(list: Row[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| Field | Type (default) | Meaning |',
    '|---|---|---|',
    ...list.map((r) => `| \`${r.path}\` | ${cell(r.type)} | ${cell(r.meaning)} |`),
  ].join('\n');
}

const HEADER = `<!-- Generated from src/spec/pipeline.ts by \`npm run spec:docs\`; edit the schema's descriptions there, not this file. -->

# The pipeline spec: every field

A pipeline spec is one YAML (or JSON) file describing one model's lifecycle. \`mlops run <spec>\` checks the
whole file before anything is uploaded or started, and every error names the field by its path
(\`spec.validation.thresholds.accuracy.min: ...\`). Durations are written \`30s\`, \`15m\`, \`24h\`, \`7d\`, \`2w\`.
Relative paths are resolved against the spec file's folder. Runnable specs are in \`examples/\`.

This page and the JSON Schema \`${SPEC_SCHEMA_PATH}\` (shipped in the package) are generated from the zod schema
in \`src/spec/pipeline.ts\`; a unit test fails when either differs from it. Editors that speak the YAML language
server complete and check a spec whose first line is
\`# yaml-language-server: $schema=<path to>/${SPEC_SCHEMA_PATH}\` (in a project that installed the package:
\`node_modules/temporal-mlops/${SPEC_SCHEMA_PATH}\`), as the examples do.
\`<name>\` stands for a key you choose (a metric, a column, a variable); \`[]\` for each item of a list.`;

/** docs/spec.md: the intro, the top-level fields, then one table per section. */
export function specReference(): string {
  const root = jsonSchema(true);
  const all = rows(root, '', []);
  const top = all.filter((r) => !r.path.includes('.'));
  const parts = [HEADER, '## Top level', table(top)];
  for (const [name, node] of Object.entries(root.properties ?? {})) {
    const fields = all.filter((r) => r.path.startsWith(`${name}.`));
    if (fields.length === 0) continue;
    parts.push(`## ${name}`);
    if (node.docIntro) parts.push(wrap(node.docIntro));
    parts.push(table(fields));
  }
  return parts.join('\n\n') + '\n';
}

/** Wraps prose at about 110 characters, as the rest of the docs are. */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > 110) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}
