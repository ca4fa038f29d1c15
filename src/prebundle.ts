/**
 * The workflow code prebundled at build time (`npm run build` writes dist/workflow-bundle.js and its manifest), so a
 * worker starts without running webpack. The manifest records a digest of the compiled workflow modules the bundle was
 * made from and the @temporalio/workflow version inside it; a worker uses the bundle only when both match what is
 * installed next to it, and otherwise bundles at start, saying why.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode, type Logger as TemporalLogger } from '@temporalio/worker';

/** Where the build writes the bundle: next to this module (dist/workflow-bundle.js). */
export const WORKFLOW_BUNDLE_PATH = path.join(__dirname, 'workflow-bundle.js');

/** What the build records beside the bundle. */
export interface WorkflowBundleManifest {
  /** sha256 over the compiled workflow modules (workflows/ and what they require), with their relative paths. */
  digest: string;
  /** The @temporalio/workflow version bundled in. */
  workflowSdkVersion: string;
  builtAt: string;
  bytes: number;
}

/** Whether a worker can use the prebundle, and if not, why. */
export type WorkflowBundleStatus = { usable: true; codePath: string; manifest: WorkflowBundleManifest } | { usable: false; reason: string };

function manifestPath(bundlePath: string): string {
  return bundlePath.replace(/\.js$/, '.json');
}

/** The compiled entry of our workflows (dist/workflows/index.js when running from dist). */
function workflowsEntry(): string {
  return require.resolve('./workflows');
}

/** The version of @temporalio/workflow this process resolves (what a bundle made now would contain). */
export function installedWorkflowSdkVersion(): string {
  const pkg = require.resolve('@temporalio/workflow/package.json');
  return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/**
 * A digest of the workflow modules webpack bundles from `entry`: the entry and every relative module it requires,
 * transitively (compiled CommonJS `require("./x")`, or TypeScript imports other than `import type`), each hashed with
 * its path relative to the entry's package root.
 */
export function workflowSourceDigest(entry = workflowsEntry()): string {
  const root = path.dirname(path.dirname(entry));
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const spec of relativeImports(text)) pending.push(resolveRelative(path.dirname(file), spec));
  }
  const hash = createHash('sha256');
  for (const file of [...seen].sort()) {
    hash.update(path.relative(root, file).split(path.sep).join('/'));
    hash.update('\0');
    hash.update(fs.readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** The relative modules a file loads at run time (type-only imports are erased by the compiler, so left out). */
function relativeImports(text: string): string[] {
  const required = [...text.matchAll(/require\("(\.{1,2}\/[^"]*)"\)/g)].map((m) => m[1]!);
  const imported = [...text.matchAll(/\b(?:import|export)\s+(type\s+)?[^;]*?\bfrom\s+'(\.{1,2}\/[^']*)'/g)]
    .filter((m) => m[1] === undefined)
    .map((m) => m[2]!);
  return [...required, ...imported];
}

function resolveRelative(dir: string, spec: string): string {
  const base = path.resolve(dir, spec);
  for (const candidate of [base, `${base}.js`, `${base}.ts`, path.join(base, 'index.js'), path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`workflow module ${spec} required from ${dir} is missing`);
}

/** Checks the prebundle against the workflow code and SDK installed beside it. */
export function workflowBundleStatus(bundlePath = WORKFLOW_BUNDLE_PATH): WorkflowBundleStatus {
  if (!fs.existsSync(bundlePath))
    return { usable: false, reason: `no prebundled workflow code at ${bundlePath} (npm run build writes it)` };
  let manifest: WorkflowBundleManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath(bundlePath), 'utf8')) as WorkflowBundleManifest;
  } catch {
    return { usable: false, reason: `${manifestPath(bundlePath)} is missing or unreadable (npm run build writes it)` };
  }
  const sdk = installedWorkflowSdkVersion();
  if (manifest.workflowSdkVersion !== sdk) {
    return {
      usable: false,
      reason: `the prebundle holds @temporalio/workflow ${manifest.workflowSdkVersion}, but ${sdk} is installed`,
    };
  }
  let digest: string;
  try {
    digest = workflowSourceDigest();
  } catch (err) {
    return { usable: false, reason: `the workflow modules cannot be read: ${(err as Error).message}` };
  }
  if (digest !== manifest.digest) {
    return { usable: false, reason: `the workflow code changed since ${bundlePath} was built (run npm run build)` };
  }
  return { usable: true, codePath: bundlePath, manifest };
}

let cached: WorkflowBundleStatus | undefined;

/** `workflowBundleStatus()` of the default bundle, checked once per process. */
export function defaultWorkflowBundleStatus(): WorkflowBundleStatus {
  cached ??= workflowBundleStatus();
  return cached;
}

/**
 * Bundles our workflows with webpack and writes the bundle and its manifest (the build's step after tsc). Returns the
 * manifest.
 */
export async function writeWorkflowBundle(options: { bundlePath?: string; logger?: TemporalLogger } = {}): Promise<WorkflowBundleManifest> {
  const bundlePath = options.bundlePath ?? WORKFLOW_BUNDLE_PATH;
  const entry = workflowsEntry();
  const digest = workflowSourceDigest(entry);
  const { code } = await bundleWorkflowCode({ workflowsPath: entry, ...(options.logger ? { logger: options.logger } : {}) });
  const manifest: WorkflowBundleManifest = {
    digest,
    workflowSdkVersion: installedWorkflowSdkVersion(),
    builtAt: new Date().toISOString(),
    bytes: Buffer.byteLength(code),
  };
  // The manifest goes last: a bundle without a manifest is never used.
  fs.rmSync(manifestPath(bundlePath), { force: true });
  fs.writeFileSync(bundlePath, code);
  fs.writeFileSync(manifestPath(bundlePath), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
