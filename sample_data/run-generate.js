#!/usr/bin/env node
// Runs sample_data/generate.ts without a build step: @swc/core (a devDependency) strips the types in
// memory, then main() writes orders.json, users.csv and products.csv next to this file.
// Usage: node sample_data/run-generate.js [--out DIR] [--count N] [--seed S]
'use strict';
const Module = require('node:module');
const path = require('node:path');
const { transformFileSync } = require('@swc/core');

const file = path.join(__dirname, 'generate.ts');
const { code } = transformFileSync(file, {
  swcrc: false,
  jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  module: { type: 'commonjs' },
});
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(__dirname);
mod._compile(code, file);
mod.exports.main(process.argv.slice(2));
