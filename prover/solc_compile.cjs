// Compile Solidity with the pinned npm `solc` (official wasm build) via standard JSON.
// Reads a standard-JSON input on stdin and writes solc's JSON output on stdout, nothing
// else: `solcjs --standard-json` can print a non-JSON line, so we call the library.
// Usage: node solc_compile.cjs <node_modules dir>  (no network: imports are inlined).
"use strict";
const path = require("path");
const solc = require(path.join(process.argv[2], "solc"));

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const noImports = () => ({ error: "imports must be passed in the input" });
  const output = solc.compile(input, { import: noImports });
  process.stdout.write(JSON.stringify({ version: solc.version(), output: JSON.parse(output) }));
});
