/**
 * PGlite (PostgreSQL in WASM) in a process of its own, driven over IPC by tests/support/redshift-on-postgres.ts:
 * its CommonJS build imports Node's modules dynamically, which jest's module VM refuses.
 * A message is `{ id, method: 'query' | 'exec' | 'close', args }`; the answer `{ id, result }` or `{ id, error }`.
 */
const { PGlite } = require('@electric-sql/pglite');

const ready = PGlite.create();
process.on('disconnect', () => process.exit(0)); // the test process is gone: so is its database
process.on('message', async ({ id, method, args }) => {
  try {
    const db = await ready;
    if (method === 'close') {
      await db.close();
      process.send({ id, result: null }, () => process.exit(0));
      return;
    }
    const result = method === 'query' ? await db.query(...args) : await db.exec(...args);
    process.send({ id, result: method === 'query' ? { rows: result.rows, fields: result.fields.map((f) => ({ name: f.name })) } : null });
  } catch (err) {
    process.send({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
