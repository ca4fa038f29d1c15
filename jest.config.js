/** Unit tests need no servers; integration tests start their own Temporal and MinIO on free loopback ports. */
module.exports = {
  // ONNX Runtime's native outputs are typed arrays of Node's main realm; this environment shares them with the test realm.
  testEnvironment: '<rootDir>/test/helpers/onnx-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }],
    // hyparquet and jose ship only ES modules; jest's CommonJS runtime needs them compiled.
    '^.+/node_modules/(hyparquet[^/]*|jose)/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!hyparquet|jose/)'],
  setupFiles: ['<rootDir>/test/setup.ts'],
  testTimeout: 120_000,
  // Two cores: integration suites each start real servers, so run files one or two at a time.
  maxWorkers: 2,
};
