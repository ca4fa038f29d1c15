#!/usr/bin/env node
// The `mlops` command; the implementation is compiled from src/cli/ into dist/ on install (npm's prepare).
'use strict';
require('../dist/cli/index.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
