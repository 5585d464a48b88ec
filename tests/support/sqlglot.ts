/**
 * Redshift's SQL through sqlglot's `redshift` dialect (a Python parser, from the venv `orders-etl tools --sqlglot`
 * caches): what a statement list would look like to a Redshift-dialect parser, without a cluster.
 */
import { spawn } from 'node:child_process';
import { ensureSqlglot } from '../../dev/tools';

const PARSE_EACH = `
import json, sys
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
problems = []
for i, sql in enumerate(json.load(sys.stdin)):
    try:
        parsed = sqlglot.parse(sql, read="redshift", error_level=ErrorLevel.RAISE)
    except Exception as e:
        problems.append({"statement": i + 1, "error": str(e).splitlines()[0], "sql": sql})
        continue
    # What sqlglot does not understand it keeps as an opaque Command: not a parse, so a problem too.
    opaque = [e for e in parsed if isinstance(e, exp.Command)]
    if opaque:
        problems.append({"statement": i + 1, "error": "not understood, only kept as a command: " + opaque[0].sql()[:80], "sql": sql})
print(json.dumps(problems))
`;

export interface ParseProblem {
  statement: number;
  error: string;
  sql: string;
}

/**
 * The statements sqlglot cannot parse as Redshift SQL (`parse(sql, read='redshift', error_level='raise')`), or
 * parses only as an opaque command (its fallback for syntax it does not know). A statement may hold several.
 */
export async function redshiftParseProblems(statements: string[]): Promise<ParseProblem[]> {
  const python = await ensureSqlglot();
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', PARSE_EACH], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as ParseProblem[]) : reject(new Error(`sqlglot exited with ${code}: ${err.trim()}`))));
    child.stdin.end(JSON.stringify(statements));
  });
}
