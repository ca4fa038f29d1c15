#!/usr/bin/env node
// Thin entry point for `npm run stack:up|down|status|setup`; the logic lives in src/dev/ (built into dist/).
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
// `npm run stack:up` is `mlops dev up`.
const { main } = require('../dist/cli/index.js');
process.exitCode = await main(['dev', ...process.argv.slice(2)]);
