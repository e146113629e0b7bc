#!/usr/bin/env node
// Entry point of the CLI: loads the TypeScript sources through tsx (no build step for local tooling).

require('tsx/cjs');
const { main } = require('../local/cli/main.ts');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`${error?.stack ? error.stack : error}\n`);
    process.exitCode = 1;
  },
);
