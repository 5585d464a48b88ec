import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import YAML from 'yaml';
import { startPrometheus } from '../dev/dev-server';
import { PROMETHEUS_VERSION } from '../dev/tools';

/**
 * docker-compose.yml and the Dockerfile, checked without Docker: the compose file is valid against the Compose
 * Specification's JSON schema (vendored in tests/compose/), uses current Temporal images, and every variable it
 * interpolates, like every variable the code reads, is documented in README.md's configuration table.
 */

const root = path.join(__dirname, '..');
const README = path.join(root, 'README.md');
type Compose = {
  services: Record<
    string,
    {
      image?: string;
      build?: unknown;
      healthcheck?: unknown;
      depends_on?: Record<string, { condition: string }> | string[];
      environment?: Record<string, string>;
      volumes?: string[];
      ports?: string[];
    }
  >;
  configs: Record<string, { content: string }>;
  [key: string]: unknown;
};
const compose = YAML.parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as Compose;

/** Every key and string of a parsed document (Compose interpolates values, not comments). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  return [];
}

/** A copy of a parsed document with every string mapped. */
function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === 'string') return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  return value;
}

/** The variables a Compose file interpolates: `${VAR}`, `${VAR:-default}`, `${VAR-x}`, `${VAR:?err}`, `$VAR`; `$$` is a literal `$`. */
function interpolatedVariables(text: string): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') continue;
    if (text[i + 1] === '$') {
      i++; // escaped dollar
      continue;
    }
    const m = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
    if (m) names.add(m[1]);
  }
  return names;
}

/** A string as Compose interpolates it with no variable set: each `${VAR...}` replaced by its default (or ''). */
function withDefaults(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    if (text[i] === '$' && text[i + 1] === '$') {
      out += '$';
      i += 2;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      // Find the matching brace (defaults may nest another ${...}).
      let depth = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === '{') depth++;
        else if (text[j] === '}' && --depth === 0) break;
      }
      const body = text.slice(i + 2, j);
      const m = /^[A-Za-z_][A-Za-z0-9_]*(:?[-?])?([\s\S]*)$/.exec(body)!;
      out += m[1]?.endsWith('-') ? withDefaults(m[2]) : '';
      i = j + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

/** Variable names in the first column of every `| Variable | Used by | Default | Meaning |` table of a markdown text. */
function documentedVariables(markdown: string): Set<string> {
  const names = new Set<string>();
  const cells = (line: string) => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
  const lines = markdown.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const header = cells(lines[i]).map((c) => c.toLowerCase());
    if (header.join('|') !== 'variable|used by|default|meaning') continue;
    for (i += 2; i < lines.length && lines[i].trim().startsWith('|'); i++) {
      for (const m of cells(lines[i])[0].matchAll(/`?([A-Z][A-Z0-9_]*)`?/g)) names.add(m[1]);
    }
  }
  return names;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFiles(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/**
 * The environment variables the code reads: `process.env.X`, `env.X`, `env['X']`, `const { X } = env`, a tool's `envVar: 'X'`,
 * a one-argument look-up like `value('X')` in a module that takes a `NodeJS.ProcessEnv`, and the keys of the
 * zod schema in client/config.ts.
 */
function variablesReadByCode(): Map<string, string[]> {
  const files = [...tsFiles(path.join(root, 'core')), ...tsFiles(path.join(root, 'activities')), ...tsFiles(path.join(root, 'client')), ...tsFiles(path.join(root, 'dev')), path.join(root, 'worker.ts'), path.join(root, 'client.ts')];
  const found = new Map<string, string[]>();
  const add = (name: string, file: string) => found.set(name, [...(found.get(name) ?? []), path.relative(root, file)]);
  for (const file of files) {
    const src = readFileSync(file, 'utf8');
    const patterns = [
      /\benv\??\.([A-Z][A-Z0-9_]*)\b/g,
      /\benv\??\.?\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\]/g,
      /\benvVar\s*:\s*['"`]([A-Z][A-Z0-9_]*)['"`]/g,
    ];
    // const { AWS_REGION: region, S3_ENDPOINT } = env
    for (const m of src.matchAll(/\{([^{}]*)\}\s*=\s*(?:process\.)?env\b/g)) {
      for (const key of m[1].matchAll(/(?:^|,)\s*([A-Z][A-Z0-9_]*)\s*(?=[:,=]|$)/g)) add(key[1], file);
    }
    if (/NodeJS\.ProcessEnv/.test(src)) patterns.push(/\b[A-Za-z_$][\w$]*\(\s*['"]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"]\s*\)/g);
    for (const re of patterns) for (const m of src.matchAll(re)) add(m[1], file);
  }
  const config = readFileSync(path.join(root, 'client', 'config.ts'), 'utf8');
  const schema = /z\.object\(\{([\s\S]*?)\n\}\)/.exec(config);
  expect(schema).not.toBeNull();
  for (const m of schema![1].matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*:/gm)) add(m[1], path.join(root, 'client', 'config.ts'));
  return found;
}

function readmeVariables(): Set<string> {
  if (!existsSync(README)) {
    throw new Error(`${path.relative(root, README)} does not exist: it needs the configuration table`);
  }
  return documentedVariables(readFileSync(README, 'utf8'));
}

describe('docker-compose.yml', () => {
  test('is valid against the Compose Specification schema, as written and with every default applied', () => {
    const schema = JSON.parse(readFileSync(path.join(__dirname, 'compose', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
    delete schema.$schema; // draft-07, which is Ajv's default; its https URI is not one Ajv knows by name
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    for (const doc of [compose, mapStrings(compose, withDefaults)]) {
      const ok = validate(doc);
      expect(ok ? [] : validate.errors).toEqual([]);
    }
  });

  test('runs Temporal from temporalio/server with admin-tools of the same version, never the deprecated auto-setup image', () => {
    const images = Object.values(compose.services).map((s) => s.image ?? '');
    expect(images.filter((image) => /temporalio\/auto-setup/.test(image))).toEqual([]);
    const tag = (repo: string) => images.filter((i) => i.startsWith(`${repo}:`)).map((i) => i.slice(repo.length + 1));
    expect(tag('temporalio/server')).toHaveLength(1);
    expect(new Set(tag('temporalio/admin-tools'))).toEqual(new Set(tag('temporalio/server')));
    expect(tag('temporalio/ui')).toHaveLength(1);
  });

  test('pins every pulled image to a tag and builds the rest from the Dockerfile', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build !== undefined) continue;
      expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/^[^:@\s]+:(?!latest$)[\w][\w.-]*$/) });
    }
  });

  test('waits on dependencies that exist, with healthchecks where it waits for health', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const deps = Array.isArray(service.depends_on) ? Object.fromEntries(service.depends_on.map((d) => [d, { condition: 'service_started' }])) : service.depends_on ?? {};
      for (const [dep, { condition }] of Object.entries(deps)) {
        expect({ name, dep, exists: dep in compose.services }).toEqual({ name, dep, exists: true });
        if (condition === 'service_healthy') expect({ name, dep, healthcheck: Boolean(compose.services[dep].healthcheck) }).toEqual({ name, dep, healthcheck: true });
      }
    }
  });

  test('documents every variable it interpolates in the README configuration table', () => {
    const documented = readmeVariables();
    const used = new Set(strings(compose).flatMap((s) => [...interpolatedVariables(s)]));
    expect(used.size).toBeGreaterThan(10); // the scan itself works
    const missing = [...used].filter((name) => !documented.has(name));
    expect(missing).toEqual([]);
  });
});

describe('docker-compose.yml monitoring', () => {
  const withDefaultsApplied = mapStrings(compose, withDefaults) as Compose;
  const { prometheus, grafana, worker } = withDefaultsApplied.services;
  const prometheusConfig = YAML.parse(withDefaultsApplied.configs['prometheus-config'].content) as {
    global: { scrape_interval: string };
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  /** The container side of a `host:container` port mapping, or of a `host:container[:ro]` volume. */
  const containerSide = (mapping: string) => mapping.split(':')[1];
  /** The repository directory a service mounts at a path inside its container. */
  const mountedAt = (service: { volumes?: string[] }, target: string) => {
    const volume = service.volumes?.find((v) => containerSide(v) === target);
    expect({ target, mounted: volume !== undefined }).toEqual({ target, mounted: true });
    return path.join(root, volume!.split(':')[0]);
  };

  test('runs the Prometheus release the dashboard queries are tested on', () => {
    expect(prometheus.image).toBe(`prom/prometheus:v${PROMETHEUS_VERSION}`);
    expect(grafana.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
  });

  test("Prometheus, started on the stack's configuration, scrapes the worker's metrics port", async () => {
    expect(prometheusConfig.scrape_configs.flatMap((c) => c.static_configs.flatMap((t) => t.targets))).toEqual([`worker:${worker.environment!.METRICS_PORT}`]);
    const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-compose-prometheus-'));
    const server = await startPrometheus({ dataDir: dir, config: withDefaultsApplied.configs['prometheus-config'].content });
    try {
      // Targets show once the first service discovery round has run (within seconds of the start).
      type Targets = { data: { activeTargets: Array<{ labels: Record<string, string>; scrapeUrl: string }> } };
      let targets: Targets['data']['activeTargets'] = [];
      for (const deadline = Date.now() + 30_000; targets.length === 0 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
        targets = ((await (await fetch(`${server.url}/api/v1/targets`)).json()) as Targets).data.activeTargets;
      }
      expect(targets.map((t) => [t.labels.job, t.scrapeUrl])).toEqual([['orders-etl', 'http://worker:9464/metrics']]);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('Grafana shows the repository\'s dashboards over the Prometheus service, to anyone as a viewer', () => {
    const provisioning = mountedAt(grafana, '/etc/grafana/provisioning');
    const dashboardsTarget = '/etc/grafana/dashboards';
    const dashboardsDir = mountedAt(grafana, dashboardsTarget);

    const [datasource, ...more] = YAML.parse(readFileSync(path.join(provisioning, 'datasources', 'prometheus.yml'), 'utf8')).datasources;
    expect(more).toEqual([]);
    const prometheusPort = containerSide(prometheus.ports![0]);
    expect(datasource).toMatchObject({ type: 'prometheus', url: `http://prometheus:${prometheusPort}`, jsonData: { timeInterval: prometheusConfig.global.scrape_interval } });

    const [provider] = YAML.parse(readFileSync(path.join(provisioning, 'dashboards', 'orders-etl.yml'), 'utf8')).providers;
    expect(provider).toMatchObject({ type: 'file', options: { path: dashboardsTarget } });

    const files = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json'));
    expect(files).toEqual(['orders-etl.json']);
    const dashboard = JSON.parse(readFileSync(path.join(dashboardsDir, files[0]), 'utf8'));
    // Every datasource reference of the dashboard (panels, their queries, the variable) is the provisioned one.
    const uids: unknown[] = [];
    const collect = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(collect);
      if (!node || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) key === 'datasource' ? uids.push((value as { uid?: unknown }).uid) : collect(value);
    };
    collect(dashboard);
    expect(new Set(uids)).toEqual(new Set([datasource.uid]));
    expect(uids.length).toBeGreaterThan(dashboard.panels.length);

    const env = grafana.environment!;
    expect(env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${dashboardsTarget}/orders-etl.json`);
    expect({ enabled: env.GF_AUTH_ANONYMOUS_ENABLED, role: env.GF_AUTH_ANONYMOUS_ORG_ROLE }).toEqual({ enabled: 'true', role: 'Viewer' });
  });
});

describe('README configuration table', () => {
  test('documents every environment variable the code reads', () => {
    const documented = readmeVariables();
    const read = variablesReadByCode();
    expect(read.size).toBeGreaterThan(10); // the scan itself works
    const missing = [...read].filter(([name]) => !documented.has(name)).map(([name, files]) => `${name} (${[...new Set(files)].join(', ')})`);
    expect(missing).toEqual([]);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  test('builds on node:20-slim with npm install and npm run build', () => {
    expect(instructions.filter((l) => /^FROM\s/i.test(l)).every((l) => /^FROM\s+node:20-slim\b/i.test(l))).toBe(true);
    expect(instructions.some((l) => /^RUN\s.*\bnpm install\b/i.test(l))).toBe(true);
    expect(instructions.some((l) => /^RUN\s.*\bnpm run build\b/i.test(l))).toBe(true);
  });

  test('runs the worker by default', () => {
    const cmds = instructions.filter((l) => /^CMD\s/i.test(l));
    expect(cmds.length).toBeGreaterThan(0);
    expect(JSON.parse(cmds[cmds.length - 1].replace(/^CMD\s+/i, ''))).toEqual(['node', 'dist/client.js', 'worker']);
  });
});
