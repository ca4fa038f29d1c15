// ESLint: type-aware checks on the sources (promises must be awaited or handled), and the workflow sandbox's rule:
// nothing in src/workflows/ may import Node built-ins or the core's heavy modules (types alone are fine).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_')).flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'bench-results/**',
      '.data/**',
      'test/**',
      'scripts/**',
      'examples/**',
      'deploy/**',
      'bin/**',
      '*.js',
      '*.mjs',
    ],
  },
  {
    files: ['src/**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-require-imports': 'error',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflows run in a deterministic sandbox: no Node APIs (move the work into an activity).',
          })),
          patterns: [
            {
              group: [
                '../ml',
                '../ml/*',
                '../data',
                '../data/*',
                '../storage',
                '../storage/*',
                '../serving',
                '../serving/*',
                '../report',
                '../report/*',
                '../activities',
                '../activities/*',
                '../cli',
                '../cli/*',
                '../dev',
                '../dev/*',
                '../bench',
                '../bench/*',
                '../config',
                '../logger',
                '../client',
                '../worker',
                '../plugin',
                '../threads',
                '../spec/load',
                '@temporalio/worker',
                '@temporalio/client',
                '@temporalio/activity',
                'minio',
                'onnxruntime-node',
                '@duckdb/*',
                'fastify',
                'pino',
                'pino-pretty',
                'prom-client',
                'hyparquet',
                'yaml',
              ],
              allowTypeImports: true,
              message:
                'Workflows import only @temporalio/workflow, @temporalio/common, ./ and ../errors; types from the core are fine (import type).',
            },
          ],
        },
      ],
    },
  },
);
