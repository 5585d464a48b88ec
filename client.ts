#!/usr/bin/env node
import path from 'node:path';
import { Command } from 'commander';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { InvalidInputError } from './core/errors';
import { startOrdersApi } from './dev/orders-api-server';
import { fileStore } from './activities/extract/orders-store';
import { ConfigurationError, decimal, integer, loadEnvConfig, loadWorkerConfig, packageVersion, parseFlag, type EnvConfig } from './client/config';
import { startDevServer } from './dev/dev-server';
import { Interrupted, Interrupts } from './client/interrupts';
import { formatTable, progressLine } from './client/output';
import { localLakeWarning, pipelineInput, type PipelineFlags } from './client/pipeline-options';
import { preflight } from './client/preflight';
import { runReport } from './client/report';
import { formatRunSummary, runAndWait } from './client/run';
import { registerScheduleCommands } from './client/schedule';
import { pipelineStatus } from './client/status';
import { openTemporal } from './client/temporal';
import { logToFile } from './core/logger';
import { redactUrls } from './core/redact';
import { DEFAULT_WORKER_CONCURRENCY } from './workflows/types';
import { QUALITY_CHECK_NAMES } from './core/quality';

/** The `orders-etl` command line. User errors are one line on stderr and a non-zero exit, never a stack. */

function pipelineOptions(command: Command, withWindow = true): Command {
  command
    .option('--source <url|file>', 'Orders API base URL, or a JSON/JSONL file of orders (default: the bundled sample_data)')
    .option('--users <csv>', 'users reference file')
    .option('--products <csv>', 'products reference file')
    .option('--warehouse <spec>', 'duckdb:PATH or redshift (default: duckdb:./data/warehouse.duckdb)')
    .option('--lake <dir|s3://bucket/prefix>', 'where raw, transformed and staged files go (default: ./data/lake)')
    .option('--lookback <duration>', 'start incremental runs this long before the watermark, for late arrivals (e.g. 1h)')
    .option('--page-size <n>', 'records per API page (1-1000, default 500)')
    .option('--partitions <n>', 'split each run into N partitions that any worker may take (default: a file one per 32 MiB, an API 1)')
    .option('--parallelism <n>', 'how many partitions of a run are extracted and transformed at once (default 4)')
    .option('--future-tolerance <duration>', 'how far past the run start a created_at may be before it is quarantined as future_created_at (default 5m)')
    .option(
      '--quality <check:limits>',
      `a quality gate, e.g. rejection_rate:warn=0.05,fail=0.2 or volume_low:off; repeatable (checks: ${QUALITY_CHECK_NAMES.join(', ')})`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--volume-window <n>', 'how many earlier loads the volume checks take the median of (default 7)');
  if (withWindow) {
    command
      .option('--since <iso>', 'extract records created at or after this instant (default: the pipeline watermark)')
      .option('--until <iso>', 'extract records created before this instant');
  }
  return command;
}

async function main(argv: string[]): Promise<void> {
  // The AWS SDK prints a nine-line notice about Node 20's end of support into every command's stderr, which would
  // break one-line errors: the README says it once instead. Set the variable to false to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const program = new Command('orders-etl')
    .description('Orders API → Kimball star schema (DuckDB or Redshift), orchestrated by Temporal')
    // Usage errors (unknown command or option, missing value) are one line too, like every other error.
    .configureOutput({ outputError: (text, write) => write(`orders-etl: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (run with --help for usage)\n`) });
  program.exitOverride();
  program.version(packageVersion(), '-V, --version');
  const config = (): EnvConfig => loadEnvConfig();

  pipelineOptions(program.command('run').description('run the pipeline once through Temporal and wait for it'))
    .option('--json', 'print one JSON object on stdout')
    .option('--dry-run', 'print the statements a Redshift load would execute, then stop')
    .action(async (flags: PipelineFlags & { json?: boolean; dryRun?: boolean }) => {
      const cfg = config();
      const input = pipelineInput(flags, cfg);
      if (flags.dryRun) {
        const { printDryRun } = await import('./client/dry-run');
        return printDryRun(input);
      }
      for (const warning of [...(await preflight(input)), ...localLakeWarning(input, cfg)]) progressLine(`warning: ${warning}`);
      // The in-process worker's logs (its retries, stacks, task tokens) would bury the progress and the one-line
      // outcome: they go to a file of the data dir instead.
      if (!cfg.TEMPORAL_ADDRESS) logToFile((workerLog = path.resolve(cfg.ORDERS_ETL_DATA_DIR, 'orders-etl.log')));
      // From here on a signal is handled, not fatal: the run is cancelled and the embedded server stopped.
      const interrupts = new Interrupts();
      try {
        const session = await openTemporal(cfg, { embeddedWorker: true });
        try {
          const result = await session.run(() => runAndWait(session, input, interrupts));
          process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : formatRunSummary(result));
        } finally {
          await session.close();
        }
      } finally {
        interrupts.dispose();
      }
    });

  program
    .command('server')
    .description('start the local Temporal dev server with its Web UI')
    .option('--db <file>', 'SQLite file that keeps history', './data/temporal.db')
    .option('--port <n>', 'frontend port', '7233')
    .option('--ui-port <n>', 'Web UI port', '8233')
    .action(async (flags: { db: string; port: string; uiPort: string }) => {
      const server = await startDevServer({ dbFile: flags.db, port: parseFlag('--port', flags.port, integer(1, 65535)), uiPort: parseFlag('--ui-port', flags.uiPort, integer(1, 65535)) });
      progressLine(`Temporal dev server on ${server.address}; Web UI at ${server.uiUrl}; history in ${path.resolve(flags.db)}`);
      progressLine('press Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.stop();
    });

  program
    .command('tools')
    .description('install (or find) the pinned Temporal CLI and S3 gateway into the cache, and print their paths')
    .option('--s3', 'also the S3-compatible gateway the tests use (built with go install: a few minutes)')
    .option('--sqlglot', "also the venv with sqlglot, the Redshift-dialect parser the tests check Redshift's SQL with")
    .option('--prometheus', "also Prometheus, which the tests evaluate the dashboard's queries on (built with go install: a few minutes)")
    .action(async (flags: { s3?: boolean; sqlglot?: boolean; prometheus?: boolean }) => {
      const { ensurePrometheus, ensureS3Server, ensureSqlglot, ensureTemporalCli } = await import('./dev/tools');
      process.stdout.write(`temporal   ${await ensureTemporalCli()}\n`);
      if (flags.s3) process.stdout.write(`versitygw  ${await ensureS3Server()}\n`);
      if (flags.sqlglot) process.stdout.write(`sqlglot    ${await ensureSqlglot()}\n`);
      if (flags.prometheus) process.stdout.write(`prometheus ${await ensurePrometheus()}\n`);
    });

  program
    .command('worker')
    .description('run a worker on the task queue against TEMPORAL_ADDRESS (default localhost:7233)')
    .option('--concurrency <n>', 'activities (partitions\' extracts and transforms, loads) this worker runs at once', String(DEFAULT_WORKER_CONCURRENCY))
    .action(async (flags: { concurrency: string }) => {
      const concurrency = parseFlag('--concurrency', flags.concurrency, integer(1, 256));
      const { runWorkerProcess } = await import('./client/worker-process');
      await runWorkerProcess(loadWorkerConfig(), concurrency);
    });

  program
    .command('api')
    .description('serve a file of orders as the Orders API, with fault injection')
    .requiredOption('--orders <file>', 'JSON array or JSONL file of orders')
    .option('--port <n>', 'port', '8080')
    .option('--host <address>', 'address to listen on (0.0.0.0 in a container)', '127.0.0.1')
    .option('--fail-rate <r>', 'share of /orders requests that fail (0..1)', '0')
    .option('--fail-status <code>', 'HTTP status of injected failures', '503')
    .option('--latency-ms <n>', 'delay before every answer', '0')
    .action(async (flags: { orders: string; port: string; host: string; failRate: string; failStatus: string; latencyMs: string }) => {
      const failRate = parseFlag('--fail-rate', flags.failRate, decimal(0, 1));
      const failStatus = parseFlag('--fail-status', flags.failStatus, integer(400, 599));
      const server = await startOrdersApi({
        orders: fileStore(path.resolve(flags.orders)),
        port: parseFlag('--port', flags.port, integer(0, 65535)),
        host: flags.host,
        failRate,
        failStatus,
        latencyMs: parseFlag('--latency-ms', flags.latencyMs, integer(0, 600_000)),
      });
      progressLine(`Orders API on ${server.url}/orders (health: ${server.url}/health)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });

  registerScheduleCommands(pipelineOptions(program.command('schedule').description('manage the Temporal Schedule that runs the pipeline'), false), config);

  for (const [verb, done] of [['cancel', 'cancelled'], ['terminate', 'terminated']] as const) {
    const command = program
      .command(`${verb} <workflowId>`)
      .description(verb === 'cancel' ? 'cancel a run: its activities stop at their next heartbeat, nothing is alerted' : 'end a run at once, without cleanup')
      .action(async (workflowId: string, flags: { reason?: string }) => {
        const session = await openTemporal(config(), { embeddedWorker: false });
        try {
          const handle = session.client.workflow.getHandle(workflowId);
          await (verb === 'cancel' ? handle.cancel() : handle.terminate(flags.reason ?? 'terminated from the orders-etl CLI'));
          progressLine(`${done} ${workflowId}`);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new InvalidInputError(`no running workflow ${workflowId}`);
          throw err;
        } finally {
          await session.close();
        }
      });
    if (verb === 'terminate') command.option('--reason <text>', 'why, recorded in the run\'s history');
  }

  program
    .command('status')
    .description("each pipeline's watermark and lag, its last runs with their quality, and its last failure")
    .option('--source <url|file>', 'only pipelines of this source')
    .option('--warehouse <spec>', 'only pipelines into this warehouse')
    .option('--lake <dir|s3://bucket/prefix>', 'only runs into this lake')
    .option('--limit <n>', 'runs to show', '10')
    .option('--json', 'print one JSON object on stdout')
    .action(async (flags: { source?: string; warehouse?: string; lake?: string; limit: string; json?: boolean }) => {
      const status = await pipelineStatus(config(), flags);
      process.stdout.write(flags.json ? `${JSON.stringify({ pipelines: status.pipelines })}\n` : status.text);
    });

  program
    .command('report')
    .description('run the analytics queries of sql/queries/ and print their results')
    .option('--warehouse <spec>', 'duckdb:PATH or redshift')
    .option('--json', 'print one JSON object on stdout')
    .action(async (flags: { warehouse?: string; json?: boolean }) => {
      const results = await runReport(config(), flags.warehouse);
      if (flags.json) process.stdout.write(`${JSON.stringify(results)}\n`);
      else for (const r of results) process.stdout.write(`\n${r.title}\n${formatTable(r.rows)}`);
    });

  await program.parseAsync(argv);
}


/** Where the embedded worker of this `run` logs, once it does. */
let workerLog: string | undefined;

/** One line for people: the cause of a failed run, not its wrapper, and where its details are. */
function describe(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  if (err instanceof WorkflowFailedError) {
    let cause: Error | undefined = err.cause;
    while (cause?.cause instanceof Error) cause = cause.cause;
    message = `the run failed: ${cause?.message ?? err.message}${workerLog ? ` (details in ${workerLog})` : ''}`;
  }
  return redactUrls(message.replace(/\s*\n\s*/g, ' ')); // a server's error body may span lines
}

if (require.main === module) {
  main(process.argv).then(
    () => process.exit(0),
    (err: unknown) => {
      const code = (err as { code?: string; exitCode?: number }).code;
      if (typeof code === 'string' && code.startsWith('commander.')) process.exit((err as { exitCode: number }).exitCode);
      // A configuration with several bad values: one line for each.
      const lines = err instanceof ConfigurationError ? err.problems : [describe(err)];
      for (const line of lines) process.stderr.write(`orders-etl: ${line}\n`);
      if (process.env.ORDERS_ETL_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(err instanceof Interrupted ? err.exitCode : 1);
    },
  );
}

export { main };
