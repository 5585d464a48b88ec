/**
 * The transform and the reference files' stage on threads of their own (what the worker's activities run): the
 * same parts, counts and heartbeats as in this thread, a resume from a heartbeat, a stop asked for by a heartbeat,
 * and an error that keeps its class name as its failure type (Temporal's retry policy matches on it).
 */
import { createReadStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rawPrefix } from '../core/lake-layout';
import { LocalLake } from '../activities/lake/local-lake';
import { transformOrders, type TransformInput, type TransformProgress } from '../activities/transform/transform';
import { stageReference } from '../activities/stage/stage';
import { streamProductsCsv, streamUsersCsv } from '../activities/transform/reference';
import { stageReferenceInThread, transformInThread } from '../activities/threads';
import { tempDir, TEST_NOT_AFTER, writeRawPages } from './support/rules-pipeline';

const LOAD = 'L-thread';
const S3 = { endpoint: undefined, region: undefined, credentials: undefined };

/** Six orders over three pages of two; the fourth is invalid. */
const RECORDS: unknown[] = [1, 2, 3, 4, 5, 6].map((n) =>
  n === 4
    ? { order_id: `o${n}`, created_at: '2025-10-01T10:00:00Z' }
    : { order_id: `o${n}`, user_id: `u${n % 2}`, created_at: `2025-10-0${n}T10:00:00Z`, items: [{ sku: 'A', qty: n, price: 1.25 }] },
);

let dir: string;
let cleanup: () => void;
let lake: LocalLake;
let input: TransformInput;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir('transform-thread'));
  lake = new LocalLake(path.join(dir, 'lake'));
  const pages = await writeRawPages(lake, LOAD, RECORDS, 2);
  input = { loadId: LOAD, partition: 0, raw: { prefix: rawPrefix(LOAD), pages, verbatim: false, base: 0 }, rejectedAt: '2025-10-07T00:00:00.000Z', chunkRows: 2, notAfter: TEST_NOT_AFTER };
});
afterEach(() => cleanup());

describe('transform on a thread', () => {
  test('stages the same parts, counts and heartbeats as in this thread', async () => {
    const here: TransformProgress[] = [];
    const expected = await transformOrders(input, lake, (p) => here.push(structuredClone(p)));
    const beats: TransformProgress[] = [];
    const result = await transformInThread(input, { lake: lake.location, s3: S3, heartbeat: (p) => beats.push(p) });
    expect(result).toEqual(expected);
    expect(result.counts).toEqual({ extracted: 6, rejectedOrders: 1, versions: 5, versionLines: 5, itemRejections: 0 });
    expect(beats).toEqual(here);
    expect(beats.map((b) => b.nextPage)).toEqual([2, 4]); // page 2 holds one valid order: that chunk fills on page 3
  });

  test('resumes after the heartbeat it is given, with the same result', async () => {
    const beats: TransformProgress[] = [];
    const whole = await transformInThread(input, { lake: lake.location, s3: S3, heartbeat: (p) => beats.push(p) });
    const resumed = await transformInThread(input, { lake: lake.location, s3: S3, resumeFrom: beats[0], heartbeat: () => undefined });
    expect(resumed).toEqual(whole);
  });

  test("a heartbeat that throws (cancellation) stops it at its next chunk, failing with the heartbeat's error", async () => {
    const beats: TransformProgress[] = [];
    const cancelled = new Error('Activity cancelled');
    const run = transformInThread(input, {
      lake: lake.location,
      s3: S3,
      heartbeat: (p) => {
        beats.push(p);
        throw cancelled;
      },
    });
    await expect(run).rejects.toBe(cancelled);
    expect(beats.map((b) => b.nextPage)).toEqual([2]);
  });

  test('an error in the thread is a failure of its class name (the type the retry policy matches) and message', async () => {
    const run = transformInThread({ ...input, raw: { ...input.raw, prefix: 'raw/nowhere/' } }, { lake: lake.location, s3: S3, heartbeat: () => undefined });
    await expect(run).rejects.toMatchObject({ name: 'ApplicationFailure', type: 'LakeNotFoundError', message: expect.stringContaining('cannot read raw/nowhere/page-000001.jsonl') });
  });
});

describe('the reference files staged on a thread', () => {
  const USERS = 'user_id,email,country\nu1,a@example.com,DE\nu2,b@example.com,FR\nu1,c@example.com,DE\n';
  const PRODUCTS = 'sku,name,price\nA,Pen,1.25\n';

  test('stages the same parts, with the same heartbeats, as in this thread', async () => {
    const [users, products] = [path.join(dir, 'users.csv'), path.join(dir, 'products.csv')];
    writeFileSync(users, USERS);
    writeFileSync(products, PRODUCTS);
    const here: string[] = [];
    const expected = await stageReference(
      { loadId: 'L-here', users: streamUsersCsv(createReadStream(users), `users file ${users}`), products: streamProductsCsv(createReadStream(products), `products file ${products}`) },
      lake,
      (t) => here.push(t),
    );
    const beats: string[] = [];
    const parts = await stageReferenceInThread({ loadId: 'L-here', usersCsv: users, productsCsv: products }, { lake: lake.location, s3: S3, heartbeat: (t) => beats.push(t) });
    expect(parts).toEqual(expected);
    expect(parts.map((p) => [p.table, p.rows])).toEqual([['dim_user', 3], ['dim_product', 1]]);
    expect(beats).toEqual(['dim_user', 'dim_product']);
  });

  test('a bad file fails it with the InvalidInputError of the file, line and column', async () => {
    const users = path.join(dir, 'long-users.csv');
    writeFileSync(users, `user_id,email\nu1,${'e'.repeat(300)}\n`);
    const run = stageReferenceInThread({ loadId: 'L-bad', usersCsv: users }, { lake: lake.location, s3: S3, heartbeat: () => undefined });
    await expect(run).rejects.toMatchObject({ name: 'ApplicationFailure', type: 'InvalidInputError', message: `users file ${users}, line 2, column email: the value does not fit 256 bytes (UTF-8)` });
  });
});
