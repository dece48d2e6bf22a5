#!/usr/bin/env node
// A `solc` for forge, offline: the pinned npm `solc` (solc-js, the official wasm build).
//
// foundry.toml names this script as its compiler (`solc = "contracts/solc-forge.cjs"`), so
// forge never downloads one. Forge calls it twice, as it calls a native solc:
//   solc-forge.cjs --version       prints "Version: 0.8.26+commit.8a97fa7a.Emscripten.clang"
//   solc-forge.cjs [--base-path B] [--include-path I]... [--allow-paths A,...] --standard-json
//                                  reads standard JSON on stdin, prints solc's reply on stdout
// Forge sends every source's content in the input, so imports are rarely asked for; when
// solc does ask, the unit is read from the base path, then each include path, then the
// node_modules folders above the working directory and above this script (so
// "@openzeppelin/contracts/..." resolves from the npm install). Only files inside those
// folders or an allowed path are read; nothing touches the network.
"use strict";
const fs = require("fs");
const path = require("path");

/** The nearest node_modules folders above `start`, nearest first. */
function nodeModulesAbove(start) {
  const found = [];
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules");
    if (fs.statSync(candidate, { throwIfNoEntry: false })?.isDirectory()) found.push(candidate);
    if (path.dirname(dir) === dir) return found;
  }
}

const packageDirs = [...new Set([...nodeModulesAbove(process.cwd()), ...nodeModulesAbove(__dirname)])];

/** The npm `solc` package: from the working directory's node_modules, else this script's. */
function loadSolc() {
  for (const dir of packageDirs) {
    const entry = path.join(dir, "solc", "index.js");
    if (fs.existsSync(entry)) return require(entry);
  }
  process.stderr.write("solc-forge: npm package `solc` not found in any node_modules (run npm ci)\n");
  process.exit(1);
}

/** Forge's path flags; every other flag (--standard-json, -) is accepted and ignored. */
function parseArgs(argv) {
  const options = { version: false, basePath: process.cwd(), includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === "--version") options.version = true;
    else if (flag === "--base-path") options.basePath = path.resolve(value());
    else if (flag === "--include-path") options.includePaths.push(path.resolve(value()));
    else if (flag === "--allow-paths") options.allowPaths.push(...value().split(",").filter(Boolean).map((p) => path.resolve(p)));
  }
  return options;
}

function inside(file, dir) {
  const relative = path.relative(dir, file);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/** solc's import callback: the unit's text from the first root that holds it. */
function importReader(options) {
  const roots = [options.basePath, ...options.includePaths, ...packageDirs];
  const allowed = [...roots, ...options.allowPaths];
  return (unit) => {
    if (unit.includes("\0")) return { error: `import ${unit}: not a path` };
    const candidates = path.isAbsolute(unit) ? [unit] : roots.map((root) => path.join(root, unit));
    for (const file of candidates.map((c) => path.resolve(c))) {
      if (!allowed.some((dir) => inside(file, dir))) continue;
      if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
      return { contents: fs.readFileSync(file, "utf8") };
    }
    return { error: `import ${unit} not found under ${roots.join(", ")}` };
  };
}

const options = parseArgs(process.argv.slice(2));
const solc = loadSolc();
if (options.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (input += chunk));
  process.stdin.on("end", () => process.stdout.write(solc.compile(input, { import: importReader(options) })));
}
