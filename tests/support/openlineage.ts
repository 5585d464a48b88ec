import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * Validation against the vendored OpenLineage schemas (tests/openlineage/, see its README), and a real HTTP
 * receiver standing in for Marquez.
 */

const DIR = path.join(__dirname, '..', 'openlineage');
const load = (file: string) => JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as { $id: string };

const core = load('OpenLineage.json');
/** The facets the events carry, by facet name. */
const facetSchemas: Record<string, { $id: string }> = {
  errorMessage: load('facets/ErrorMessageRunFacet.json'),
  outputStatistics: load('facets/OutputStatisticsOutputDatasetFacet.json'),
  dataQualityMetrics: load('facets/DataQualityMetricsInputDatasetFacet.json'),
  dataQualityAssertions: load('facets/DataQualityAssertionsDatasetFacet.json'),
};

function compile() {
  const ajv = new Ajv2020({ allErrors: true });
  addFormats(ajv);
  ajv.addKeyword('example'); // documentation in the spec's schemas, not a validation keyword
  ajv.addSchema(core);
  // Two facet schemas extend the base facets of core 1-0-2, which are the same as 2-0-2's (see the README).
  ajv.addSchema({ ...core, $id: 'https://openlineage.io/spec/1-0-2/OpenLineage.json' });
  for (const schema of Object.values(facetSchemas)) ajv.addSchema(schema);
  return ajv;
}

let ajv: ReturnType<typeof compile> | undefined;

type Facets = Record<string, { _schemaURL?: string }>;
interface EventShape {
  run?: { facets?: Facets };
  inputs?: { name: string; facets?: Facets; inputFacets?: Facets }[];
  outputs?: { name: string; facets?: Facets; outputFacets?: Facets }[];
}

/**
 * Every problem of an event, one line each (none: valid): the event against the core schema, and each facet
 * against its own schema, whose `$id` its `_schemaURL` must name. A facet without a vendored schema is a problem.
 */
export function lineageProblems(event: unknown): string[] {
  ajv ??= compile();
  const problems: string[] = [];
  const check = (schemaId: string, value: unknown, where: string) => {
    const validate = ajv!.getSchema(schemaId)!;
    if (!validate(value)) problems.push(...(validate.errors ?? []).map((e) => `${where}${e.instancePath} ${e.message} (${e.schemaPath})`));
  };
  check(core.$id, event, 'event');
  const shape = event as EventShape;
  const facetGroups: [string, Facets | undefined][] = [
    ['run.facets', shape.run?.facets],
    ...(shape.inputs ?? []).flatMap((d): [string, Facets | undefined][] => [[`input ${d.name} facets`, d.facets], [`input ${d.name} inputFacets`, d.inputFacets]]),
    ...(shape.outputs ?? []).flatMap((d): [string, Facets | undefined][] => [[`output ${d.name} facets`, d.facets], [`output ${d.name} outputFacets`, d.outputFacets]]),
  ];
  for (const [where, facets] of facetGroups) {
    for (const [name, facet] of Object.entries(facets ?? {})) {
      const schema = facetSchemas[name];
      if (!schema) {
        problems.push(`${where}.${name}: no vendored schema for this facet`);
        continue;
      }
      if (!facet._schemaURL?.startsWith(`${schema.$id}#`)) problems.push(`${where}.${name}: _schemaURL ${facet._schemaURL} is not ${schema.$id}#…`);
      check(schema.$id, { [name]: facet }, `${where}`);
    }
  }
  return problems;
}

export interface LineageReceiver {
  /** The base URL, as OPENLINEAGE_URL takes it. */
  url: string;
  /** What it answers; change it to make the endpoint fail. */
  status: number;
  requests: { method?: string; path?: string; headers: IncomingHttpHeaders; body: unknown }[];
  close(): Promise<void>;
}

/** A node:http server recording every request (its body parsed as JSON) and answering `status`. */
export async function startLineageReceiver(): Promise<LineageReceiver> {
  const receiver: LineageReceiver = { url: '', status: 201, requests: [], close: async () => undefined };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      receiver.requests.push({ method: req.method, path: req.url, headers: req.headers, body: JSON.parse(body) });
      res.writeHead(receiver.status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver;
}
