// Validate KQL with Microsoft's Kusto language service (@kusto/language-service-next).
// Reads one JSON object per line on stdin: {"id": any, "query": "...", "strings": bool}; writes one line per query:
// {"id", "diagnostics": [{severity, code, message, start, length}], "strings": [decoded string literal values]}
// ("strings" is [] unless asked for: walking the syntax tree for them is ~3 % of a query's analysis).
// The schema is the AzureDiagnostics columns Microsoft documents (azure_diagnostics_schema.json).
// With `--listen <path>`, the same protocol on a Unix socket, for every connection at once (the pytest-xdist workers
// of one run share one process: tests/kusto/language_service.py): "ready" on stdout once listening; the process
// ends when its last connection closes.
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

function answer(line) {
  const { id, query, strings } = JSON.parse(line);
  try {
    return JSON.stringify({ id, ...analyse(query, strings === true) });
  } catch (e) {
    return JSON.stringify({ id, diagnostics: [{ severity: "Error", code: "VALIDATOR", message: String(e && e.message || e), start: 0, length: 0 }], strings: [] });
  }
}

function serve(input, output) {
  const rl = readline.createInterface({ input, terminal: false });
  rl.on("line", (line) => {
    if (line.trim()) output.write(answer(line) + "\n");
  });
}

if (process.argv[2] === "--listen") {
  const net = require("net");
  let open = 0;
  const server = net.createServer((socket) => {
    open += 1;
    serve(socket, socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      open -= 1;
      if (open === 0) server.close(() => process.exit(0)); // the last client is gone (clients retry a refused connect)
    });
  });
  server.listen(process.argv[3], () => process.stdout.write("ready\n"));
} else {
  serve(process.stdin, process.stdout);
}
