#!/usr/bin/env node
// The build's step after tsc: bundles the compiled workflows (dist/workflows) with webpack into
// dist/workflow-bundle.js and its manifest, so workers start without bundling (src/prebundle.ts).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { writeWorkflowBundle, WORKFLOW_BUNDLE_PATH } = require(join(root, 'dist', 'prebundle.js'));
const { createLogger, temporalLoggerFrom } = require(join(root, 'dist', 'logger.js'));

const logger = temporalLoggerFrom(createLogger({ level: process.env.MLOPS_LOG_LEVEL ?? 'warn', format: 'pretty' }));
const started = Date.now();
const manifest = await writeWorkflowBundle({ logger });
const mib = (manifest.bytes / 1024 / 1024).toFixed(1);
console.log(`[build] workflow code bundled into ${WORKFLOW_BUNDLE_PATH} (${mib} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
