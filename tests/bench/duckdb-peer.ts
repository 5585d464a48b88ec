import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

/**
 * Child process of the bench: runs tests/bench/duckdb-contract.sql on one input with 2 DuckDB threads, in the
 * working directory it writes the Parquet files to. Its own process, so its peak RSS is DuckDB's alone.
 * Usage: node duckdb-peer.js SQL ORDERS.jsonl USERS.csv PRODUCTS.csv   → one JSON line {seconds, counts}
 */
async function main(argv: string[]): Promise<void> {
  const [sqlFile, ordersFile, usersFile, productsFile] = argv;
  const start = performance.now();
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const connection = await instance.connect();
  for (const [name, value] of Object.entries({ orders_file: ordersFile, users_file: usersFile, products_file: productsFile, load_id: 'bench-duckdb' })) {
    await connection.run(`SET VARIABLE ${name} = '${value.replaceAll("'", "''")}'`);
  }
  const reader = await connection.runAndReadAll(readFileSync(sqlFile, 'utf8'));
  const counts = reader.getRowObjectsJson()[0];
  connection.closeSync();
  instance.closeSync();
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - start) / 1000, counts })}\n`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`duckdb peer failed: ${err.message}\n`);
  process.exit(1);
});
