#!/usr/bin/env node
// Writes schema/spec.schema.json and docs/spec.md from the zod schema (src/spec/pipeline.ts, through the build in
// dist/). Run by `npm run spec:docs`, which builds first; test/unit/spec/spec-reference.test.ts fails until they match.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { specJsonSchema, specReference, SPEC_SCHEMA_PATH } = createRequire(import.meta.url)(join(root, 'dist/spec/reference.js'));
writeFileSync(join(root, SPEC_SCHEMA_PATH), JSON.stringify(specJsonSchema(), null, 2) + '\n');
writeFileSync(join(root, 'docs/spec.md'), specReference());
console.log(`wrote ${SPEC_SCHEMA_PATH} and docs/spec.md`);
