#!/usr/bin/env node
// Thin entry point for `npm run stack:up|down|status|setup`; the logic lives in src/dev/ (built into dist/).
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { runDevCommand } = require('../dist/cli/dev.js');
process.exitCode = await runDevCommand(process.argv.slice(2));
