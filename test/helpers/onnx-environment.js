/**
 * A jest environment for tests that run ONNX Runtime. onnxruntime-node's native code creates its
 * output typed arrays in Node's main realm, while jest runs a test in a realm of its own, so
 * onnxruntime-common's `data instanceof Float32Array` check fails on every output ("A float32 tensor's
 * data must be type of function Float32Array()"). Giving the test realm the main realm's typed array
 * and buffer constructors makes both sides agree. Opt in with a docblock at the top of a test file:
 *   /** @jest-environment ./test/helpers/onnx-environment.js *\/
 */
'use strict';
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) if (globalThis[name]) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxEnvironment;
