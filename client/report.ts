import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { openWarehouse } from '../activities/warehouse';
import { packageRoot, type EnvConfig } from './config';
import { warehouseSpec } from './pipeline-options';

export interface QueryResult {
  name: string;
  title: string;
  rows: Record<string, unknown>[];
}

/** The analytics queries of sql/queries/, in file order; each file's first comment line is its title. */
export async function readQueries(): Promise<{ name: string; title: string; sql: string }[]> {
  const dir = path.join(packageRoot(), 'sql', 'queries');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(path.join(dir, file), 'utf8');
      const title = /^--\s*(.+)$/m.exec(sql)?.[1] ?? file;
      return { name: file.replace(/\.sql$/, ''), title, sql: sql.trim().replace(/;$/, '') };
    }),
  );
}

export async function runReport(config: EnvConfig, warehouseFlag?: string): Promise<QueryResult[]> {
  const warehouse = openWarehouse(warehouseSpec(warehouseFlag, config));
  const results: QueryResult[] = [];
  for (const q of await readQueries()) results.push({ name: q.name, title: q.title, rows: await warehouse.query(q.sql) });
  return results;
}
