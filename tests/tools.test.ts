import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { freePort, startDevServer, startS3Server } from '../dev/dev-server';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { ToolInstallError, ensureS3Server, ensureTemporalCli } from '../dev/tools';

const { IndexedValueType } = temporal.api.enums.v1;
const INDEXED_TYPE = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
};
// On a machine without the cache, versitygw is built from source (minutes), so setup gets its own budget.
const INSTALL_TIMEOUT_MS = 20 * 60_000;

let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'orders-etl-tools-test-'));
  await ensureTemporalCli();
  await ensureS3Server();
}, INSTALL_TIMEOUT_MS);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function portOf(hostPort: string): number {
  return Number(new URL(hostPort.includes('://') ? hostPort : `tcp://${hostPort}`).port);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

test('freePort returns a port that can be bound on 127.0.0.1', async () => {
  const port = await freePort();
  expect(port).toBeGreaterThan(0);
  expect(await canListen(port)).toBe(true);
});

test('a tool path from the environment must exist', async () => {
  const saved = process.env.TEMPORAL_CLI_PATH;
  process.env.TEMPORAL_CLI_PATH = path.join(tmp, 'no-such-temporal');
  try {
    const error = await ensureTemporalCli().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolInstallError);
    expect((error as Error).name).toBe('ToolInstallError');
    expect((error as Error).message).toBe(`TEMPORAL_CLI_PATH=${path.join(tmp, 'no-such-temporal')} is not an executable file`);
  } finally {
    if (saved === undefined) delete process.env.TEMPORAL_CLI_PATH;
    else process.env.TEMPORAL_CLI_PATH = saved;
  }
});

test('Temporal dev server: serves the default namespace and the custom search attributes, then releases its ports', async () => {
  const dbFile = path.join(tmp, 'nested', 'temporal.db');
  const server = await startDevServer({ dbFile });
  const port = portOf(server.address);
  try {
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.namespace).toBe('default');
    expect(server.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ui = await fetch(server.uiUrl!);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('<html');

    const connection = await Connection.connect({ address: server.address });
    try {
      const { namespaceInfo } = await connection.workflowService.describeNamespace({ namespace: 'default' });
      expect(namespaceInfo?.name).toBe('default');
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(customAttributes?.PipelineId).toBe(IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
      expect(customAttributes).toMatchObject(
        Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, INDEXED_TYPE[type]])),
      );
    } finally {
      await connection.close();
    }
  } finally {
    await server.stop();
  }
  expect(await canListen(port)).toBe(true);
  expect(fs.statSync(dbFile).size).toBeGreaterThan(0);

  // A persistent server restarts on its file, where the search attributes already exist.
  const restarted = await startDevServer({ dbFile, headless: true });
  try {
    expect(restarted.uiUrl).toBeUndefined();
    const connection = await Connection.connect({ address: restarted.address });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(customAttributes?.PipelineStage).toBe(IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
    await connection.close();
  } finally {
    await restarted.stop();
  }
  expect(await canListen(portOf(restarted.address))).toBe(true);
});

test('Temporal dev server on a port already taken fails with the server output', async () => {
  // Refuses the readiness probe's connections, which would otherwise keep the blocker (and jest) alive.
  const blocker = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as net.AddressInfo;
  try {
    const error = await startDevServer({ port, headless: true }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('ServerStartError');
    expect((error as Error).message).toMatch(/^Temporal dev server exited with \d+ before answering on 127\.0\.0\.1:\d+; last output:\n/);
    expect((error as Error).message).toContain('address already in use');
  } finally {
    blocker.close();
  }
});

test('S3 gateway: creates a bucket, stores an object in the data directory and returns it', async () => {
  const dataDir = path.join(tmp, 's3');
  const server = await startS3Server({ dataDir });
  const port = portOf(server.endpoint);
  try {
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.region).toBe('us-east-1');
    const s3 = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    try {
      const body = '{"order_id":"o-1","amount":"12.50"}\n';
      await s3.send(new CreateBucketCommand({ Bucket: 'lake' }));
      await s3.send(new PutObjectCommand({ Bucket: 'lake', Key: 'raw/orders.jsonl', Body: body, ContentType: 'application/x-ndjson' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'lake', Key: 'raw/orders.jsonl' }));
      expect(got.ContentType).toBe('application/x-ndjson');
      expect(got.ContentLength).toBe(Buffer.byteLength(body));
      expect(await got.Body!.transformToString()).toBe(body);
      expect(fs.readFileSync(path.join(dataDir, 'lake', 'raw', 'orders.jsonl'), 'utf8')).toBe(body);

      const wrongKey = new S3Client({
        endpoint: server.endpoint,
        region: server.region,
        credentials: { accessKeyId: server.accessKey, secretAccessKey: 'wrong' },
        forcePathStyle: true,
      });
      await expect(wrongKey.send(new GetObjectCommand({ Bucket: 'lake', Key: 'raw/orders.jsonl' }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
      wrongKey.destroy();
    } finally {
      s3.destroy();
    }
  } finally {
    await server.stop();
  }
  expect(await canListen(port)).toBe(true);
});
