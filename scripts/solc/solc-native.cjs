#!/usr/bin/env node
'use strict';
// A native-solc command line in front of solc-js (npm `solc`), so that
// py-solc-x, ape-solidity and crytic-compile can compile with no download.
// It answers only what those tools ask: `--version` and `--standard-json`
// (JSON on stdin, JSON on stdout) with `--base-path`, `--include-path` and
// `--allow-paths`. Imports are read from disk the way native solc does:
// relative to the base path, then each include path, and only inside the
// allowed paths.

const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  const options = { basePath: null, includePaths: [], allowPaths: [], mode: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const takeValue = () => {
      if (arg.includes('=')) return arg.slice(arg.indexOf('=') + 1);
      i += 1;
      if (i >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[i];
    };
    if (arg === '--version' || arg === '-v') options.mode = 'version';
    else if (arg === '--standard-json') options.mode = 'standard-json';
    else if (arg.startsWith('--base-path')) options.basePath = takeValue();
    else if (arg.startsWith('--include-path')) options.includePaths.push(takeValue());
    else if (arg.startsWith('--allow-paths')) options.allowPaths.push(...takeValue().split(','));
    else if (arg === '-' ) continue;
    else throw new Error(`unsupported option: ${arg} (this wrapper speaks --version and --standard-json only)`);
  }
  return options;
}

function nativeVersion() {
  // solc-js reports "0.8.28+commit.7893614a.Emscripten.clang"; native solc
  // prints two lines, and version parsers match the second one.
  return `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`;
}

function isInside(child, parent) {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function makeImportReader(options) {
  const roots = [options.basePath || process.cwd(), ...options.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...options.allowPaths.filter(Boolean).map((p) => path.resolve(p))];
  return function readImport(sourceUnitName) {
    const candidates = path.isAbsolute(sourceUnitName)
      ? [sourceUnitName]
      : roots.map((root) => path.join(root, sourceUnitName));
    for (const candidate of candidates) {
      const resolved = path.resolve(candidate);
      if (!allowed.some((dir) => isInside(resolved, dir))) continue;
      if (fs.existsSync(resolved) && fs.statSync(resolved).isFile()) {
        return { contents: fs.readFileSync(resolved, 'utf8') };
      }
    }
    return { error: `File not found inside the base path or any of the include paths: ${sourceUnitName}` };
  };
}

function readStdin() {
  return fs.readFileSync(0, 'utf8');
}

function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  if (options.mode === 'version') {
    process.stdout.write(nativeVersion());
    return;
  }
  if (options.mode !== 'standard-json') {
    process.stderr.write('usage: solc --version | solc --standard-json [--base-path P] [--include-path P] [--allow-paths A,B]\n');
    process.exitCode = 1;
    return;
  }
  const input = readStdin();
  if (process.env.VATIO_SOLC_DEBUG) {
    fs.writeFileSync(process.env.VATIO_SOLC_DEBUG, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), input: JSON.parse(input) }, null, 1));
  }
  const output = solc.compile(input, { import: makeImportReader(options) });
  // Never process.exit() here: it can cut a large stdout short on a pipe.
  process.stdout.write(output);
  process.stdout.write('\n');
}

main();
