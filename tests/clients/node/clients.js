'use strict';
// npm SQL clients against the azsqlctl sandbox, driven by tests/clients/test_node.py.
// Usage: node clients.js <scenario>   (environment: what `azsqlctl sandbox serve` prints, plus SQL_TOKEN)
// Prints one JSON line: {"ok": true, ...} or {"ok": false, "error": {...}}.
// Or: node clients.js --serve   reads one JSON request a line, {"scenario": "...", "env": {NAME: value}}, runs it
// with those variables set in process.env (restored after), and writes its JSON line: one node start-up and one
// load of tedious, node-mssql and @azure/identity (~0.3 s of CPU) serve every scenario of a test module.
// Each scenario still opens its own connections and builds its own credentials, as a fresh process would.
const fs = require('fs');
const { Connection, Request, TYPES, ISOLATION_LEVEL } = require('tedious');
const sql = require('mssql');

const env = process.env;
const [host, port] = env.AZSQLCTL_SERVER.split(',');

function tlsOptions() {
  // Verified TLS: encrypt, do not trust blindly, trust the sandbox CA only (or the system roots when NO_SANDBOX_CA).
  const ca = env.NO_SANDBOX_CA ? undefined : fs.readFileSync(env.AZSQLCTL_CA_BUNDLE);
  return {
    port: Number(port), database: env.AZSQLCTL_DATABASE, encrypt: true, trustServerCertificate: false,
    ...(ca ? { cryptoCredentialsDetails: { ca } } : {}), connectTimeout: 10000, requestTimeout: 15000,
  };
}

function tokenAuth(token) {
  return { type: 'azure-active-directory-access-token', options: { token: token || env.SQL_TOKEN } };
}

function describe(err) {
  if (!err) return null;
  const out = { name: err.name, code: err.code, number: err.number, state: err.state, class: err.class, message: err.message };
  if (err.errors) out.errors = err.errors.map(describe);
  if (err.serverErrors) out.serverErrors = err.serverErrors;
  if (err.originalError) out.originalError = describe(err.originalError);
  if (err.precedingErrors && err.precedingErrors.length) out.precedingErrors = err.precedingErrors.map(describe);
  return out;
}

// --- tedious --------------------------------------------------------------------------------

function connect(authentication) {
  return new Promise((resolve, reject) => {
    const conn = new Connection({ server: host, authentication, options: tlsOptions() });
    // tedious's login error carries only the text; the server's ERROR token (number, state, class)
    // arrives as an 'errorMessage' event.
    const serverErrors = [];
    conn.on('errorMessage', (t) => serverErrors.push({ number: t.number, state: t.state, class: t.class, message: t.message }));
    conn.connect((err) => {
      if (err) { err.serverErrors = serverErrors; reject(err); } else resolve(conn);
    });
  });
}

function run(conn, text, params = [], batch = false) {
  return new Promise((resolve, reject) => {
    const rows = [];
    const req = new Request(text, (err) => (err ? reject(err) : resolve(rows)));
    for (const [name, type, value, options] of params) req.addParameter(name, TYPES[type], value, options);
    req.on('row', (columns) => rows.push(columns.map((c) => c.value)));
    if (batch) conn.execSqlBatch(req); else conn.execSql(req);
  });
}

const txCall = (conn, method, ...args) => new Promise((resolve, reject) => conn[method]((err) => (err ? reject(err) : resolve()), ...args));

const scenarios = {
  async 'tedious-login'() {
    const conn = await connect(tokenAuth());
    try {
      return { rows: await run(conn, 'SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()', [], true) };
    } finally { conn.close(); }
  },
  async 'tedious-params'() {
    const conn = await connect(tokenAuth());
    try {
      const rows = await run(conn, 'SELECT @n AS n, @s AS s, @missing AS missing',
        [['n', 'Int', 42], ['s', 'NVarChar', 'grüße 🙂'], ['missing', 'Int', null]]);
      const none = await run(conn, 'SELECT USER_NAME() WHERE @v = 1', [['v', 'Int', 2]]);
      return { rows, none };
    } finally { conn.close(); }
  },
  async 'tedious-transaction'() {
    const conn = await connect(tokenAuth());
    try {
      await run(conn, 'CREATE TABLE dbo.tedious_tx (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL)', [], true);
      await txCall(conn, 'beginTransaction', 'rollme', ISOLATION_LEVEL.READ_COMMITTED);
      await run(conn, 'INSERT INTO dbo.tedious_tx (id, name) VALUES (@id, @name)', [['id', 'Int', 1], ['name', 'NVarChar', 'rolled back']]);
      const inside = await run(conn, 'SELECT COUNT(*) FROM dbo.tedious_tx');
      await txCall(conn, 'rollbackTransaction');
      const afterRollback = await run(conn, 'SELECT COUNT(*) FROM dbo.tedious_tx');
      await txCall(conn, 'beginTransaction', 'keepme');
      await run(conn, 'INSERT INTO dbo.tedious_tx (id, name) VALUES (@id, @name)', [['id', 'Int', 2], ['name', 'NVarChar', 'kept']]);
      await txCall(conn, 'commitTransaction');
      const other = await connect(tokenAuth());
      try {
        return { inside, afterRollback, committed: await run(other, 'SELECT id, name FROM dbo.tedious_tx', [], true) };
      } finally { other.close(); }
    } finally { conn.close(); }
  },
  async 'tedious-types'() {
    // Every parameter type issue 7 lists, declared with tedious's own TYPES, echoed by SELECT and
    // stored in / read back from a user table; values compared here, mismatches reported.
    const big = 'ü😀'.repeat(200000); // 400,000 UTF-16 code units + 200,000 BMP chars: > 1 MB as UTF-16
    const blob = Buffer.alloc(1500000, 7); blob[0] = 0; blob[blob.length - 1] = 255;
    const cases = [
      ['TinyInt', 'TINYINT', 255], ['SmallInt', 'SMALLINT', -32768], ['Int', 'INT', -2147483648], ['BigInt', 'BIGINT', '9007199254740993'],
      ['Bit', 'BIT', true], ['Decimal', 'DECIMAL(18,4)', 12345678901234.5678, { precision: 18, scale: 4 }],
      ['Numeric', 'NUMERIC(10,2)', -12345678.9, { precision: 10, scale: 2 }],
      ['Float', 'FLOAT', 1.7976931348623157e308], ['Real', 'REAL', 3.5],
      ['NVarChar', 'NVARCHAR(100)', 'grüße 😀 𝄞', { length: 100 }], ['VarChar', 'VARCHAR(100)', 'plain ascii', { length: 100 }],
      ['VarBinary', 'VARBINARY(100)', Buffer.from([0, 1, 2, 255]), { length: 100 }],
      ['NVarChar', 'NVARCHAR(MAX)', big, { length: Infinity }], ['VarBinary', 'VARBINARY(MAX)', blob, { length: Infinity }],
      ['UniqueIdentifier', 'UNIQUEIDENTIFIER', '6F9619FF-8B86-D011-B42D-00C04FC964FF'],
      ['Date', 'DATE', new Date(Date.UTC(1, 0, 1))], ['Time', 'TIME', new Date(Date.UTC(1970, 0, 1, 23, 59, 59, 999)), { scale: 7 }],
      ['DateTime', 'DATETIME', new Date(Date.UTC(1753, 0, 1, 0, 0, 0, 0))], ['DateTime2', 'DATETIME2', new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), { scale: 7 }],
      ['DateTimeOffset', 'DATETIMEOFFSET', new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)), { scale: 7 }],
      ['Int', 'INT', null], ['NVarChar', 'NVARCHAR(100)', null, { length: 100 }], ['DateTimeOffset', 'DATETIMEOFFSET', null, { scale: 7 }],
    ];
    const norm = (v) => (v instanceof Date ? v.getTime() : Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'string' ? v.toUpperCase() : v === null ? null : String(v));
    const conn = await connect(tokenAuth());
    const mismatches = [];
    try {
      await run(conn, 'CREATE TABLE dbo.tedious_types (k INT NOT NULL PRIMARY KEY, ' + cases.map(([, sqlType], i) => `c${i} ${sqlType} NULL`).join(', ') + ')', [], true);
      for (const [i, [type, sqlType, value, options]] of cases.entries()) {
        const label = `${sqlType} ${value === null ? 'NULL' : ''}`.trim();
        try {
          const [[echoed]] = await run(conn, 'SELECT @v AS v', [['v', type, value, options]]);
          if (norm(echoed) !== norm(value)) mismatches.push({ label, via: 'echo', sent: String(norm(value)).slice(0, 80), got: String(norm(echoed)).slice(0, 80) });
          await run(conn, `INSERT INTO dbo.tedious_types (k, c${i}) VALUES (@k, @v)`, [['k', 'Int', i], ['v', type, value, options]]);
          const [[stored]] = await run(conn, `SELECT c${i} FROM dbo.tedious_types WHERE k = @k`, [['k', 'Int', i]]);
          if (norm(stored) !== norm(value)) mismatches.push({ label, via: 'table', sent: String(norm(value)).slice(0, 80), got: String(norm(stored)).slice(0, 80) });
        } catch (err) {
          mismatches.push({ label, error: describe(err) });
        }
      }
      return { cases: cases.length, mismatches };
    } finally { conn.close(); }
  },
  async 'tedious-login-only'() {
    // For refused logins and TLS failures: connect, report who we are.
    const conn = await connect(tokenAuth());
    try { return { rows: await run(conn, 'SELECT USER_NAME()', [], true) }; } finally { conn.close(); }
  },
  async 'tedious-msi'() {
    // tedious fetches its own token: LOGIN7 asks for the server's FEDAUTHINFO (STS URL, SPN), then
    // @azure/identity's ManagedIdentityCredential uses IDENTITY_ENDPOINT/IDENTITY_HEADER (App Service protocol).
    const options = env.MSI_CLIENT_ID ? { clientId: env.MSI_CLIENT_ID } : {};
    const conn = await connect({ type: env.TEDIOUS_AUTH || 'azure-active-directory-msi-app-service', options });
    try { return { rows: await run(conn, 'SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()', [], true) }; } finally { conn.close(); }
  },

  async 'tedious-sp'() {
    // A service principal through tedious. SP_KIND secret | certificate | assertion: tedious's
    // 'token-credential' with @azure/identity's credential aimed at the authority (authorityHost) and
    // disableInstanceDiscovery (MSAL otherwise asks login.microsoftonline.com to validate a host it does
    // not know). SP_KIND builtin: tedious's own 'azure-active-directory-service-principal-secret', which
    // builds ClientSecretCredential(tenantId, clientId, clientSecret) with no options (lib/connection.js).
    const { ClientSecretCredential, ClientCertificateCredential, ClientAssertionCredential } = require('@azure/identity');
    const options = { authorityHost: env.SP_AUTHORITY, disableInstanceDiscovery: true };
    const [tenant, client] = [env.SP_TENANT, env.SP_CLIENT_ID];
    let authentication;
    if (env.SP_KIND === 'builtin') {
      authentication = { type: 'azure-active-directory-service-principal-secret',
        options: { tenantId: tenant, clientId: client, clientSecret: env.SP_SECRET } };
    } else {
      const credential = env.SP_KIND === 'secret' ? new ClientSecretCredential(tenant, client, env.SP_SECRET, options)
        : env.SP_KIND === 'certificate' ? new ClientCertificateCredential(tenant, client, { certificatePath: env.SP_CERT_PEM }, options)
          : new ClientAssertionCredential(tenant, client, async () => env.SP_ASSERTION, options);
      authentication = { type: 'token-credential', options: { credential } };
    }
    const conn = await connect(authentication);
    try { return { rows: await run(conn, 'SELECT SUSER_SNAME(), USER_NAME()', [], true) }; } finally { conn.close(); }
  },

  // --- node-mssql ---------------------------------------------------------------------------

  async 'mssql-login'() {
    const pool = await new sql.ConnectionPool(mssqlConfig()).connect();
    try {
      const result = await pool.request().query('SELECT SUSER_SNAME() AS login, USER_NAME() AS usr, DB_NAME() AS db');
      return { rows: result.recordset.map((r) => [r.login, r.usr, r.db]) };
    } finally { await pool.close(); }
  },
  async 'mssql-params'() {
    const pool = await new sql.ConnectionPool(mssqlConfig()).connect();
    try {
      const r = await pool.request().input('n', sql.Int, 42).input('s', sql.NVarChar, 'grüße 🙂').input('missing', sql.Int, null)
        .query('SELECT @n AS n, @s AS s, @missing AS missing');
      const none = await pool.request().input('v', sql.Int, 2).query('SELECT USER_NAME() AS u WHERE @v = 1');
      return { rows: r.recordset.map((x) => [x.n, x.s, x.missing]), none: none.recordset };
    } finally { await pool.close(); }
  },
  async 'mssql-transaction'() {
    const pool = await new sql.ConnectionPool(mssqlConfig()).connect();
    try {
      await pool.request().batch('CREATE TABLE dbo.mssql_tx (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL)');
      let tx = new sql.Transaction(pool);
      await tx.begin();
      await new sql.Request(tx).input('id', sql.Int, 1).input('name', sql.NVarChar, 'rolled back')
        .query('INSERT INTO dbo.mssql_tx (id, name) VALUES (@id, @name)');
      const inside = (await new sql.Request(tx).query('SELECT COUNT(*) AS n FROM dbo.mssql_tx')).recordset[0].n;
      await tx.rollback();
      const afterRollback = (await pool.request().query('SELECT COUNT(*) AS n FROM dbo.mssql_tx')).recordset[0].n;
      tx = new sql.Transaction(pool);
      await tx.begin();
      await new sql.Request(tx).input('id', sql.Int, 2).input('name', sql.NVarChar, 'kept')
        .query('INSERT INTO dbo.mssql_tx (id, name) VALUES (@id, @name)');
      await tx.commit();
      const committed = (await pool.request().query('SELECT id, name FROM dbo.mssql_tx')).recordset.map((r) => [r.id, r.name]);
      return { inside, afterRollback, committed };
    } finally { await pool.close(); }
  },
  async 'mssql-pool'() {
    // node-mssql's default pool settings except max = 10; 100 parameterised queries at once.
    const pool = await new sql.ConnectionPool(mssqlConfig({ pool: { max: 10 } })).connect();
    try {
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
        pool.request().input('i', sql.Int, i).query('SELECT @i AS i, @@SPID AS spid')));
      const values = results.map((r) => r.recordset[0].i);
      const spids = [...new Set(results.map((r) => r.recordset[0].spid))];
      return { values, spids, size: pool.size };
    } finally { await pool.close(); }
  },
};

function mssqlConfig(extra = {}) {
  const { port: p, database, ...options } = tlsOptions();
  // node-mssql's default pool; only the acquire timeout is bounded, so a pool that can never
  // hand out a connection fails the test in 10 s instead of 30.
  const pool = { acquireTimeoutMillis: 10000, ...(extra.pool || {}) };
  return { server: host, port: p, database, authentication: tokenAuth(), options, ...extra, pool };
}

async function runScenario(name) {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  try {
    return { ok: true, ...(await scenario()) };
  } catch (err) {
    return { ok: false, error: describe(err) };
  }
}

async function withEnv(overrides, fn) {
  const saved = Object.fromEntries(Object.keys(overrides).map((k) => [k, env[k]]));
  Object.assign(env, overrides);
  try { return await fn(); } finally {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete env[k]; else env[k] = v; }
  }
}

async function serve() {
  // One request at a time, in order: a scenario never overlaps another's environment.
  const lines = require('readline').createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    const result = await withEnv(request.env || {}, () => runScenario(request.scenario));
    process.stdout.write(JSON.stringify(result) + '\n');
  }
}

async function main() {
  if (process.argv[2] === '--serve') return serve();
  process.stdout.write(JSON.stringify(await runScenario(process.argv[2])) + '\n');
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(2); });
