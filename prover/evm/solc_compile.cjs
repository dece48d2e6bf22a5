// Compile Solidity with the pinned npm `solc` (official wasm build) via standard JSON.
// Reads a standard-JSON input on stdin and writes {version, output, imported} on stdout,
// nothing else: `solcjs --standard-json` can print a non-JSON line, so we call the library.
//
// Usage: node solc_compile.cjs <node_modules dir> [<source root> ...]
//
// Imports the input does not carry are read from disk, offline and deterministically:
// solc first resolves a relative import against the importing unit's name (so
// "./Ownable.sol" inside "@openzeppelin/contracts/access/Ownable2Step.sol" arrives here as
// "@openzeppelin/contracts/access/Ownable.sol"), then asks for that path. It is looked up
// in the node_modules dir (package paths such as "@openzeppelin/...") and then in each
// source root in the order given (project paths such as "contracts/src/IHalo2Verifier.sol").
// Absolute paths and ".." are refused, so nothing outside those directories is read.
"use strict";
const fs = require("fs");
const path = require("path");

const [nodeModules, ...sourceRoots] = process.argv.slice(2);
if (!nodeModules) {
  process.stderr.write("usage: node solc_compile.cjs <node_modules dir> [<source root> ...]\n");
  process.exit(2);
}
const roots = [nodeModules, ...sourceRoots].map((dir) => path.resolve(dir));
const solc = require(path.join(roots[0], "solc"));
const imported = [];

function findImport(unit) {
  const normal = path.posix.normalize(unit);
  if (path.posix.isAbsolute(normal) || normal.split("/").includes("..") || normal.includes("\0")) {
    return { error: `import ${unit} is not a package or project path` };
  }
  for (const root of roots) {
    const candidate = path.join(root, ...normal.split("/"));
    if (!fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) continue;
    imported.push(normal);
    return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `import ${unit} not found in node_modules or the project (run npm ci?)` };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const output = solc.compile(input, { import: findImport });
  process.stdout.write(JSON.stringify({ version: solc.version(), output: JSON.parse(output), imported }));
});
