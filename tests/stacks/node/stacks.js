'use strict';
// Node ORMs and migration tools against the azsqlctl sandbox, driven by tests/stacks/test_node_stacks.py.
// Usage: node stacks.js <scenario>   (environment: what `azsqlctl sandbox serve` prints, plus SQL_TOKEN:
// an access token of the identity the scenario runs as). Prints one JSON line: {"ok": true, ...} or
// {"ok": false, "error": {...}} with the server's number and message.
// Or: node stacks.js --serve   reads one JSON request a line, {"scenario": "...", "env": {NAME: value}}, runs it
// with those variables set in process.env (restored after), and writes its JSON line: node and each tool load
// once per test module instead of once per scenario. Each scenario still builds its own Sequelize, DataSource
// or knex instance (its own pool, connections and schema state) with the token it is given.
const fs = require('fs');

const env = process.env;
const [host, port] = env.AZSQLCTL_SERVER.split(',');
const database = env.AZSQLCTL_DATABASE;
const ca = fs.readFileSync(env.AZSQLCTL_CA_BUNDLE);
// Verified TLS to the sandbox's CA, an Entra access token: what each tool's docs say for Azure SQL.
const tls = { encrypt: true, trustServerCertificate: false, cryptoCredentialsDetails: { ca } };
const tokenAuth = () => ({ type: 'azure-active-directory-access-token', options: { token: env.SQL_TOKEN } });

function describe(err) {
  if (!err) return null;
  const inner = err.original || err.parent || err.originalError || err.driverError || err;
  const base = inner.originalError || inner;
  return {
    name: err.name,
    number: base.number ?? (base.info && base.info.number),
    message: (base.info && base.info.message) || base.message || err.message,
    ...(env.STACK_LOG && err.query ? { query: err.query } : {}),
  };
}

// --- Sequelize --------------------------------------------------------------------------------

function sequelize() {
  const { Sequelize } = require('sequelize');
  return new Sequelize(database, null, null, {
    dialect: 'mssql', host, port: Number(port), logging: env.STACK_LOG ? (text) => console.error(text) : false,
    dialectOptions: { authentication: tokenAuth(), options: tls },
  });
}

function sequelizeModels(db, withIsbn) {
  const { DataTypes } = require('sequelize');
  // The unique name is a named unique index: with `unique: true` on the column, sync({ alter: true }) sends
  // ALTER COLUMN ... UNIQUE, which SQL Server rejects (156; sequelize/sequelize#9057).
  const Author = db.define('Author', {
    name: { type: DataTypes.STRING(80), allowNull: false },
  }, { tableName: 'sq_authors', indexes: [{ name: 'uq_sq_authors_name', unique: true, fields: ['name'] }] });
  const Book = db.define('Book', {
    title: { type: DataTypes.STRING(200), allowNull: false },
    pages: { type: DataTypes.INTEGER, allowNull: true, validate: { min: 1 } },
    ...(withIsbn ? { isbn: { type: DataTypes.STRING(20), allowNull: true } } : {}),
  }, { tableName: 'sq_books', indexes: [{ name: 'ix_sq_books_title', fields: ['title'] }] });
  Author.hasMany(Book, { foreignKey: { name: 'authorId', allowNull: false }, onDelete: 'CASCADE' });
  Book.belongsTo(Author, { foreignKey: { name: 'authorId', allowNull: false } });
  return { Author, Book };
}

const scenarios = {};

scenarios['sequelize-migrate'] = async () => {
  const db = sequelize();
  await db.authenticate();
  const version = await db.databaseVersion();
  sequelizeModels(db, false);
  await db.sync();
  const first = await db.getQueryInterface().describeTable('sq_books');
  await db.close();
  // The model changes: sync({ alter: true }) adds the column.
  const db2 = sequelize();
  sequelizeModels(db2, true);
  await db2.sync({ alter: true });
  const second = await db2.getQueryInterface().describeTable('sq_books');
  const indexes = await db2.getQueryInterface().showIndex('sq_books');
  const fks = await db2.getQueryInterface().getForeignKeyReferencesForTable('sq_books');
  await db2.close();
  return {
    version, before: Object.keys(first).sort(), after: Object.keys(second).sort(),
    indexes: indexes.map((i) => i.name).sort(), fks: fks.map((f) => [f.columnName, f.referencedTableName, f.referencedColumnName]),
  };
};

scenarios['sequelize-write'] = async () => {
  const db = sequelize();
  const { Author, Book } = sequelizeModels(db, true);
  const ann = await Author.create({ name: 'Ann' });
  const bob = await Author.create({ name: 'Bob' });
  const books = await Book.bulkCreate([{ title: 'One', authorId: ann.id, pages: 10 }, { title: 'Two', authorId: ann.id }, { title: 'Three', authorId: bob.id }]);
  const [updated] = await Book.update({ isbn: '978-1' }, { where: { title: 'One' } });
  await bob.destroy(); // ON DELETE CASCADE takes Bob's book
  let duplicate = null;
  try { await Author.create({ name: 'ANN' }); } catch (err) { duplicate = describe(err); }
  await db.close();
  return { ids: [ann.id, bob.id], bookIds: books.map((b) => b.id), updated, duplicate };
};

scenarios['sequelize-read'] = async () => {
  const db = sequelize();
  const { Author, Book } = sequelizeModels(db, true);
  const rows = await Book.findAll({ include: Author, order: [['id', 'ASC']] });
  let denied = null;
  try { await Author.create({ name: 'Reader' }); } catch (err) { denied = describe(err); }
  await db.close();
  return { rows: rows.map((b) => [b.title, b.isbn, b.Author.name]), denied };
};

scenarios['sequelize-writer-sync'] = async () => {
  const db = sequelize();
  db.define('Nope', { x: require('sequelize').DataTypes.INTEGER }, { tableName: 'sq_nope' });
  try { await db.sync(); return { denied: null }; } catch (err) { return { denied: describe(err) }; } finally { await db.close(); }
};

// --- TypeORM ----------------------------------------------------------------------------------

function typeormSource(extra = {}) {
  require('reflect-metadata');
  const { DataSource, EntitySchema } = require('typeorm');
  const Customer = new EntitySchema({
    name: 'Customer', tableName: 'to_customers',
    columns: {
      id: { type: Number, primary: true, generated: 'increment' },
      email: { type: 'nvarchar', length: 120, unique: true },
      name: { type: 'nvarchar', length: 80 },
      vip: { type: 'bit', default: false },
    },
    relations: { orders: { type: 'one-to-many', target: 'Order', inverseSide: 'customer' } },
  });
  const Order = new EntitySchema({
    name: 'Order', tableName: 'to_orders',
    columns: {
      id: { type: 'uniqueidentifier', primary: true, generated: 'uuid' },
      total: { type: 'decimal', precision: 10, scale: 2 },
      placed: { type: 'datetime2', createDate: true },
    },
    indices: [{ name: 'ix_to_orders_total', columns: ['total'] }],
    relations: { customer: { type: 'many-to-one', target: 'Customer', joinColumn: { name: 'customerId' }, onDelete: 'CASCADE', nullable: false } },
  });
  return new DataSource({
    type: 'mssql', host, port: Number(port), database, authentication: tokenAuth(), options: tls, logging: false,
    entities: [Customer, Order], ...extra, ...(env.STACK_LOG ? { logging: 'all', logger: 'simple-console' } : {}),
  });
}

class AddNotes1700000000000 {
  constructor() { this.name = 'AddNotes1700000000000'; }
  async up(queryRunner) {
    await queryRunner.query('CREATE TABLE to_notes (id INT IDENTITY PRIMARY KEY, body NVARCHAR(200) NOT NULL, customerId INT NOT NULL)');
    await queryRunner.query('ALTER TABLE to_notes ADD CONSTRAINT fk_to_notes_customer FOREIGN KEY (customerId) REFERENCES to_customers (id)');
    await queryRunner.query('CREATE UNIQUE INDEX ix_to_notes_body ON to_notes (body)');
  }
  async down(queryRunner) {
    await queryRunner.query('DROP INDEX ix_to_notes_body ON to_notes');
    await queryRunner.query('ALTER TABLE to_notes DROP CONSTRAINT fk_to_notes_customer');
    await queryRunner.query('DROP TABLE to_notes');
  }
}

scenarios['typeorm-migrate'] = async () => {
  const source = typeormSource({ synchronize: true, migrations: [AddNotes1700000000000] });
  await source.initialize(); // synchronize: creates the entities' tables
  const ran = await source.runMigrations();
  const tables = await source.query("SELECT name FROM sys.tables WHERE name LIKE 'to[_]%' ORDER BY name");
  await source.undoLastMigration();
  const after = await source.query("SELECT name FROM sys.tables WHERE name LIKE 'to[_]%' ORDER BY name");
  await source.runMigrations();
  await source.destroy();
  // A second synchronize finds nothing to change.
  const again = typeormSource();
  await again.initialize();
  const pending = await again.driver.createSchemaBuilder().log();
  await again.destroy();
  return { ran: ran.map((m) => m.name), tables: tables.map((r) => r.name), after: after.map((r) => r.name), pending: pending.upQueries.map((q) => q.query) };
};

scenarios['typeorm-write'] = async () => {
  const source = typeormSource();
  await source.initialize();
  const customers = source.getRepository('Customer');
  const orders = source.getRepository('Order');
  const ann = await customers.save({ email: 'ann@example.com', name: 'Ann' });
  const bob = await customers.save({ email: 'bob@example.com', name: 'Bob', vip: true });
  const order = await orders.save({ total: '12.50', customer: ann });
  const second = await orders.save({ total: '99.99', customer: bob });
  ann.name = 'Ann B.';
  await customers.save(ann);
  await customers.delete({ id: bob.id }); // cascades to Bob's order
  let duplicate = null;
  try { await customers.save({ email: 'ANN@example.com', name: 'dup' }); } catch (err) { duplicate = describe(err); }
  await source.destroy();
  return { ids: [ann.id, bob.id], orderId: order.id, secondId: second.id, placed: Boolean(order.placed), vip: ann.vip, duplicate };
};

scenarios['typeorm-read'] = async () => {
  const source = typeormSource();
  await source.initialize();
  const orders = await source.getRepository('Order').find({ relations: { customer: true } });
  let denied = null;
  try { await source.getRepository('Customer').save({ email: 'r@example.com', name: 'reader' }); } catch (err) { denied = describe(err); }
  await source.destroy();
  return { orders: orders.map((o) => [o.total, o.customer.name, o.customer.vip]), denied };
};

scenarios['typeorm-writer-sync'] = async () => {
  const source = typeormSource({ synchronize: true, entities: [new (require('typeorm').EntitySchema)({ name: 'Nope', tableName: 'to_nope', columns: { id: { type: Number, primary: true } } })] });
  try { await source.initialize(); return { denied: null }; } catch (err) { return { denied: describe(err) }; } finally { if (source.isInitialized) await source.destroy(); }
};

// --- knex -------------------------------------------------------------------------------------

function knex() {
  return require('knex')({
    client: 'mssql',
    connection: { server: host, port: Number(port), database, type: tokenAuth().type, token: env.SQL_TOKEN, encrypt: true, options: { trustServerCertificate: false, cryptoCredentialsDetails: { ca } } },
    pool: { min: 0, max: 2 },
  });
}

const knexMigrations = {
  async getMigrations() { return ['001_tags', '002_links']; },
  getMigrationName(name) { return name; },
  async getMigration(name) {
    if (name === '001_tags') {
      return {
        up: (k) => k.schema.createTable('kx_tags', (t) => {
          t.increments('id');
          t.string('slug', 40).notNullable().unique({ indexName: 'uq_kx_tags_slug' });
          t.string('label', 80).notNullable().index('ix_kx_tags_label');
          t.integer('weight').defaultTo(1);
        }),
        down: (k) => k.schema.dropTable('kx_tags'),
      };
    }
    return {
      up: (k) => k.schema.createTable('kx_links', (t) => {
        t.increments('id');
        t.integer('tag_id').unsigned().notNullable().references('id').inTable('kx_tags').onDelete('CASCADE');
        t.string('url', 200).notNullable();
        t.unique(['tag_id', 'url'], { indexName: 'uq_kx_links_tag_url' });
      }).then(() => k.schema.alterTable('kx_tags', (t) => { t.string('color', 10).nullable(); })),
      down: (k) => k.schema.dropTable('kx_links').then(() => k.schema.alterTable('kx_tags', (t) => { t.dropColumn('color'); })),
    };
  },
};

scenarios['knex-migrate'] = async () => {
  const k = knex();
  try {
    const [, applied] = await k.migrate.latest({ migrationSource: knexMigrations });
    const columns = Object.keys(await k('kx_tags').columnInfo()).sort();
    const hasLinks = await k.schema.hasTable('kx_links');
    const [, rolledBack] = await k.migrate.rollback({ migrationSource: knexMigrations });
    const afterRollback = { links: await k.schema.hasTable('kx_links'), color: await k.schema.hasColumn('kx_tags', 'color') };
    await k.migrate.latest({ migrationSource: knexMigrations });
    return { applied, columns, hasLinks, rolledBack, afterRollback };
  } finally { await k.destroy(); }
};

scenarios['knex-write'] = async () => {
  const k = knex();
  try {
    const [tag] = await k('kx_tags').insert({ slug: 'db', label: 'Databases' }, ['id']);
    const [other] = await k('kx_tags').insert({ slug: 'web', label: 'Web', weight: 5 }, ['id']);
    await k('kx_links').insert([{ tag_id: tag.id, url: 'https://a' }, { tag_id: other.id, url: 'https://b' }]);
    const updated = await k('kx_tags').where({ slug: 'db' }).update({ color: 'blue' });
    const deleted = await k('kx_tags').where({ slug: 'web' }).del();
    let duplicate = null;
    try { await k('kx_tags').insert({ slug: 'DB', label: 'again' }); } catch (err) { duplicate = describe(err); }
    let orphan = null;
    try { await k('kx_links').insert({ tag_id: 999, url: 'https://c' }); } catch (err) { orphan = describe(err); }
    return { ids: [tag.id, other.id], updated, deleted, duplicate, orphan };
  } finally { await k.destroy(); }
};

scenarios['knex-read'] = async () => {
  const k = knex();
  try {
    const rows = await k('kx_tags').leftJoin('kx_links', 'kx_tags.id', 'kx_links.tag_id').select('kx_tags.slug', 'kx_tags.weight', 'kx_tags.color', 'kx_links.url').orderBy('kx_tags.id');
    let denied = null;
    try { await k('kx_tags').insert({ slug: 'r', label: 'reader' }); } catch (err) { denied = describe(err); }
    let ddl = null;
    try { await k.schema.createTable('kx_nope', (t) => { t.increments('id'); }); } catch (err) { ddl = describe(err); }
    return { rows: rows.map((r) => [r.slug, r.weight, r.color, r.url]), denied, ddl };
  } finally { await k.destroy(); }
};

scenarios['knex-writer-ddl'] = async () => {
  const k = knex();
  try {
    try { await k.schema.createTable('kx_nope', (t) => { t.increments('id'); }); return { denied: null }; } catch (err) { return { denied: describe(err) }; }
  } finally { await k.destroy(); }
};

async function runScenario(name) {
  if (!scenarios[name]) return { ok: false, error: { message: `unknown scenario ${name}` } };
  try {
    return { ok: true, ...(await scenarios[name]()) };
  } catch (err) {
    return { ok: false, error: describe(err), stack: String(err && err.stack) };
  }
}

async function serve() {
  // One request at a time, in order: a scenario never overlaps another's environment.
  const lines = require('readline').createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { scenario, env: overrides = {} } = JSON.parse(line);
    const saved = Object.fromEntries(Object.keys(overrides).map((k) => [k, env[k]]));
    Object.assign(env, overrides);
    let result;
    try { result = await runScenario(scenario); } finally {
      for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete env[k]; else env[k] = v; }
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  }
}

if (process.argv[2] === '--serve') {
  serve().then(() => process.exit(0), (err) => { console.error(err); process.exit(2); });
} else {
  runScenario(process.argv[2]).then((result) => { console.log(JSON.stringify(result)); process.exit(0); });
}
