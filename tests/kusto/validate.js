// Validate KQL with Microsoft's Kusto language service (@kusto/language-service-next).
// Reads one JSON object per line on stdin: {"id": any, "query": "...", "strings": bool}; writes one line per query:
// {"id", "diagnostics": [{severity, code, message, start, length}], "strings": [decoded string literal values]}
// ("strings" is [] unless asked for: walking the syntax tree for them is ~3 % of a query's analysis).
// The schema is the AzureDiagnostics columns Microsoft documents (azure_diagnostics_schema.json).
"use strict";
const path = require("path");
const readline = require("readline");
require("@kusto/language-service-next/bridge.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.js");

const K = Kusto.Language;
const schema = require(path.join(__dirname, "azure_diagnostics_schema.json"));
const columns = Object.entries(schema.columns).map(([name, type]) => `['${name}']:${type}`).join(", ");
const table = new K.Symbols.TableSymbol.$ctor7(schema.table, `(${columns})`, null);
const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.ctor("workspace", [table]));

function analyse(query, wantStrings) {
  const code = K.KustoCode.ParseAndAnalyze(query, globals);
  const diagnostics = Bridge.toArray(code.GetDiagnostics()).map((d) => ({
    severity: String(d.Severity), code: d.Code, message: d.Message, start: d.Start, length: d.Length,
  }));
  const strings = [];
  if (wantStrings) {
    K.Syntax.SyntaxElement.WalkNodes(code.Syntax, (n) => {
      if (n.Kind === K.Syntax.SyntaxKind.StringLiteralExpression) strings.push(n.LiteralValue);
    });
  }
  return { diagnostics, strings };
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const { id, query, strings } = JSON.parse(line);
  let out;
  try {
    out = { id, ...analyse(query, strings === true) };
  } catch (e) {
    out = { id, diagnostics: [{ severity: "Error", code: "VALIDATOR", message: String(e && e.message || e), start: 0, length: 0 }], strings: [] };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
