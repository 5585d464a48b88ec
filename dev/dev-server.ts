/**
 * Local servers for development and tests: the Temporal dev server (`temporal server start-dev`), an
 * S3-compatible gateway (versitygw over a directory) and Prometheus. All bind 127.0.0.1 on free ports, so they
 * never disturb a server already running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { acquireFileLock, LockHeldError, type FileLock } from '../client/file-lock';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { ensurePrometheus, ensureS3Server, ensureTemporalCli } from './tools';

export interface DevServerOptions {
  /**
   * SQLite file that keeps workflows and schedules across restarts; in memory (lost on stop) when omitted.
   * One server at a time: `<dbFile>.lock` is held while it runs, and a second start throws DatabaseInUseError.
   */
  dbFile?: string;
  /** Frontend gRPC port (what `TEMPORAL_ADDRESS` points at); a free port when omitted. */
  port?: number;
  /** Web UI port; a free port when omitted. Ignored when `headless`. */
  uiPort?: number;
  /** Do not serve the Web UI (faster start; tests and `run` do not need it). */
  headless?: boolean;
  /** Receives each line the server prints; by default they are kept only to explain a failed start. */
  log?: (line: string) => void;
}

export interface DevServer {
  /** host:port of the frontend, for `Connection.connect({ address })` and `TEMPORAL_ADDRESS`. */
  address: string;
  /** Web UI URL, unless headless. */
  uiUrl?: string;
  namespace: 'default';
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  /** Directory holding the buckets (one sub-directory per bucket); created if missing. */
  dataDir: string;
  accessKey?: string;
  secretKey?: string;
  /** Receives each line the gateway prints. */
  log?: (line: string) => void;
}

export interface S3Server {
  /** http://127.0.0.1:PORT, for an S3 client with `forcePathStyle: true`. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: 'us-east-1';
  stop(): Promise<void>;
}

/** A server failed to start or to answer in time; the message ends with its last output lines. */
export class ServerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Another dev server (started by the process `pid`) keeps its history in the same SQLite file. */
export class DatabaseInUseError extends Error {
  constructor(readonly dbFile: string, readonly pid: number) {
    super(`${dbFile} is in use by another Temporal dev server of orders-etl (pid ${pid})`);
    this.name = new.target.name;
  }
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const START_ATTEMPTS = 3;

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const bin = await ensureTemporalCli();
  const dbFile = opts.dbFile && path.resolve(opts.dbFile);
  if (dbFile) fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  // Two servers on one SQLite file corrupt each other's transactions: the file is locked while its server lives.
  const lock = dbFile ? lockDatabase(dbFile) : undefined;
  try {
    const server = await launchDevServer(bin, dbFile, opts, lock);
    return {
      ...server,
      stop: async () => {
        await server.stop();
        lock?.release();
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

function lockDatabase(dbFile: string): FileLock {
  try {
    return acquireFileLock(`${dbFile}.lock`);
  } catch (err) {
    throw err instanceof LockHeldError ? new DatabaseInUseError(dbFile, err.pid) : err;
  }
}

async function launchDevServer(bin: string, dbFile: string | undefined, opts: DevServerOptions, lock: FileLock | undefined): Promise<DevServer> {
  return withPortRetries([opts.port, opts.uiPort], async () => {
    const [freeGrpc, freeUi, httpPort, metricsPort] = await freePorts(4);
    const port = opts.port ?? freeGrpc;
    const uiPort = opts.uiPort ?? freeUi;
    const address = `127.0.0.1:${port}`;
    const args = [
      'server', 'start-dev',
      '--ip', '127.0.0.1',
      '--port', String(port),
      '--http-port', String(httpPort),
      '--metrics-port', String(metricsPort),
      '--log-level', 'warn',
      '--namespace', 'default',
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
      '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
      ...(dbFile ? ['--db-filename', dbFile] : []),
      ...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort)]),
    ];
    const server = launch('Temporal dev server', bin, args, process.env, opts.log);
    // The server's process holds the file too: after a crash of this process it lives until its watchdog stops it.
    if (server.pid !== undefined) lock?.addHolder(server.pid);
    await server.waitUntil(() => temporalReady(address), address);
    if (dbFile) await keepClosedRuns(address).catch(async (err: unknown) => {
      await server.stop();
      throw err;
    });
    return { address, uiUrl: opts.headless ? undefined : `http://127.0.0.1:${uiPort}`, namespace: 'default', stop: server.stop };
  });
}

export async function startS3Server(opts: S3ServerOptions): Promise<S3Server> {
  const bin = await ensureS3Server();
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const accessKey = opts.accessKey ?? 'orders-etl';
  const secretKey = opts.secretKey ?? 'orders-etl-secret';
  return withPortRetries([], async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    // Credentials go through the environment so they do not show in `ps`.
    const env = { ...process.env, ROOT_ACCESS_KEY_ID: accessKey, ROOT_SECRET_ACCESS_KEY: secretKey };
    const server = launch('S3 gateway', bin, ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', dataDir], env, opts.log);
    // Any HTTP answer (an unsigned request gets 403) means the gateway is serving.
    await server.waitUntil(async () => Boolean(await (await fetch(endpoint)).arrayBuffer()), endpoint);
    return { endpoint, accessKey, secretKey, region: 'us-east-1', stop: server.stop };
  });
}

export interface PrometheusOptions {
  /** Directory for its TSDB (created if missing); the configuration file is written there too. */
  dataDir: string;
  /** The configuration, as YAML or JSON text (JSON is YAML), e.g. from prometheusConfig(). */
  config: string;
  /** Receives each line the server prints. */
  log?: (line: string) => void;
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT, the base of its HTTP API (/api/v1/...). */
  url: string;
  stop(): Promise<void>;
}

/** A configuration scraping each `host:port` target's /metrics every `scrapeInterval` (a Prometheus duration) as one job. */
export function prometheusConfig(job: string, targets: string[], scrapeInterval: string): string {
  return JSON.stringify({
    global: { scrape_interval: scrapeInterval, evaluation_interval: scrapeInterval },
    scrape_configs: [{ job_name: job, static_configs: [{ targets }] }],
  });
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const bin = await ensurePrometheus();
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(dataDir, 'prometheus.yml');
  fs.writeFileSync(configFile, opts.config);
  return withPortRetries([], async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dataDir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
    const server = launch('Prometheus', bin, args, process.env, opts.log);
    await server.waitUntil(async () => (await fetch(`${url}/-/ready`)).ok, url);
    return { url, stop: server.stop };
  });
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it), for servers that need a port number up front. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** n distinct free ports: every probe stays bound until all are picked, so the OS cannot hand out one twice. */
async function freePorts(n: number): Promise<number[]> {
  const probes = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const probe = net.createServer().on('error', reject);
        probe.listen(0, '127.0.0.1', () => resolve(probe));
      }),
    ),
  );
  const ports = probes.map((probe) => (probe.address() as net.AddressInfo).port);
  await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  return ports;
}

/**
 * A persistent server keeps closed runs for ten years instead of the dev server's one day: the pipelines'
 * watermarks are read from their completed runs.
 */
async function keepClosedRuns(address: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await connection.workflowService.updateNamespace({ namespace: 'default', config: { workflowExecutionRetentionTtl: msToTs(10 * 365 * 86_400_000) } });
  } finally {
    await connection.close();
  }
}

/** Ready once the default namespace exists and our search attributes are registered (both happen after the frontend opens). */
async function temporalReady(address: string): Promise<boolean> {
  // lazy + close in finally: a failed Connection.connect would leave its gRPC channel open, and jest hanging.
  const connection = Connection.lazy({ address, connectTimeout: '2s' });
  try {
    await connection.ensureConnected();
    await connection.workflowService.describeNamespace({ namespace: 'default' });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    return Object.keys(SEARCH_ATTRIBUTES).every((name) => customAttributes?.[name] !== undefined);
  } finally {
    await connection.close();
  }
}

/** A port picked by freePort can be taken by another process before the server binds it: pick again, unless the port was the caller's. */
async function withPortRetries<T>(fixedPorts: Array<number | undefined>, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const clash = /:(\d+): bind: address already in use/.exec((err as Error).message);
      if (attempt >= START_ATTEMPTS || !clash || fixedPorts.includes(Number(clash[1]))) throw err;
    }
  }
}

/**
 * Runs the server under a small sh supervisor in its own process group. fd 3 is a pipe from this process
 * that is never written: when this process dies, however it dies (even SIGKILL), the pipe reaches EOF and the
 * supervisor stops the server, so a crashed CLI or jest worker does not leave a server running.
 */
const SUPERVISOR = `
"$@" 3<&- & pid=$!
{ cat >/dev/null; kill -TERM $pid; } <&3 >/dev/null 2>&1 &
trap 'kill -TERM $pid; wait $pid; exit 143' TERM INT
wait $pid`;

function launch(name: string, bin: string, args: string[], env: NodeJS.ProcessEnv, log?: (line: string) => void) {
  const child: ChildProcess = spawn('sh', ['-c', SUPERVISOR, 'sh', bin, ...args], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  let spawnError: Error | undefined;
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter((l) => l.trim())) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        log?.(line);
      }
    });
  }
  child.on('error', (err) => (spawnError = err));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      (child.stdio[3] as Duplex | null)?.destroy(); // ends the supervisor's watchdog if it outlived the server
      resolve();
    }),
  );

  const failure = (what: string) =>
    new ServerStartError(`${name} ${what}${tail.length ? `; last output:\n${tail.slice(-10).join('\n')}` : ''}`);

  let stopping: Promise<void> | undefined;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
      signal('SIGKILL'); // stragglers in the group, e.g. a watchdog still reading
    })());

  const waitUntil = async (ready: () => Promise<boolean>, where: string): Promise<void> => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw failure(`could not be started: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw failure(`exited with ${child.exitCode ?? child.signalCode} before answering on ${where}`);
      }
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        await stop();
        throw failure(`did not answer on ${where} within ${START_TIMEOUT_MS / 1000}s`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { pid: child.pid, waitUntil, stop };
}
