/**
 * Deterministic generator of the bundled sample data (orders.json, users.csv, products.csv).
 *
 * Run it (no build step, no extra dependency):   node sample_data/run-generate.js
 * The runner strips the types with @swc/core in memory and calls main(). Options:
 *   --out DIR   (default: this folder)   --count N (default 1000)   --seed S (default SEED)
 *
 * Library use (tests, benchmarks): generateOrders(count, seed) returns the order records in stream order;
 * generateDataset(count, seed) also returns the users/products reference rows and the messiness counts.
 * Same (count, seed) → same output, byte for byte: own PRNG (mulberry32), no Math.random, no clock.
 *
 * About 85% of the records are clean; the rest carry exactly one kind of mess each (see MESS_PER_1000),
 * counted and printed at the end. Expected pipeline counts are derived independently by
 * tests/fixtures/independent-counts.py into sample_data/expected.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SEED = 20250901;
export const DEFAULT_COUNT = 1000;

const START_MS = Date.UTC(2025, 8, 1, 0, 0, 0); // 2025-09-01T00:00:00Z
const END_MS = Date.UTC(2025, 11, 31, 23, 59, 59); // 2025-12-31T23:59:59Z
const DAY_S = 86400;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Rec = { [key: string]: Json };

export interface UserRow {
  user_id: string;
  email: string;
  country: string;
  created_at: string;
}
export interface ProductRow {
  sku: string;
  name: string;
  category: string;
  price: string;
}
export interface Dataset {
  orders: Json[];
  users: UserRow[];
  products: ProductRow[];
  /** records per kind of mess (each messy record has exactly one) */
  messiness: Record<string, number>;
  /** valid but varied values among the records that carry no mess */
  variety: Record<string, number>;
  /** user_ids / skus that orders may use but the reference files leave out on purpose */
  absentUsers: string[];
  absentSkus: string[];
}

/** Number of records per kind of mess for 1000 records; scaled linearly with count. */
export const MESS_PER_1000: Record<string, number> = {
  // duplicates: extra records that reuse the order_id of a clean order
  dup_later_created_at: 24, // later in stream, later created_at, different content → it wins
  dup_earlier_created_at: 8, // later in stream, earlier created_at, different content → original wins
  dup_tie_same_string: 6, // identical created_at string, different content → later in stream wins
  dup_tie_same_instant: 2, // same instant written differently (+02:00 / .000Z), different content
  dup_replay: 4, // byte-identical re-delivery
  dup_triple_extra: 4, // two extra versions per order: newest in the middle of the stream wins
  dup_later_but_rejected: 2, // later version that is itself rejected (invalid created_at / no user_id)
  // record-level
  non_object_record: 1,
  order_id_missing: 2,
  order_id_null: 1,
  order_id_empty: 1,
  created_at_null: 3,
  created_at_missing: 3,
  created_at_empty: 2,
  created_at_invalid: 7,
  created_at_no_offset: 5, // valid: no offset means UTC
  user_id_missing: 2,
  user_id_null: 1,
  user_id_empty: 1,
  items_missing: 3,
  items_null: 2,
  items_empty_array: 3,
  metadata_missing: 10,
  metadata_null: 3,
  metadata_source_empty: 1,
  metadata_promo_empty: 1,
  amount_numeric_string: 5,
  amount_missing: 3,
  amount_null: 1,
  // item-level (one item of the record)
  item_price_missing: 6,
  item_price_null: 6,
  item_price_numeric_string: 6,
  item_qty_digit_string: 6,
  item_price_3_decimals: 8,
  invalid_item_qty_zero: 2,
  invalid_item_qty_negative: 2,
  invalid_item_qty_fraction: 2,
  invalid_item_sku_missing: 2,
  invalid_item_sku_empty: 2,
  invalid_item_not_object: 1,
  invalid_item_price_not_numeric: 1,
  invalid_item_price_boolean: 1,
  invalid_item_qty_missing: 1,
};

const INVALID_CREATED_AT: Json[] = [
  '2025-02-30T10:00:00Z',
  'not-a-date',
  '2025-13-01T00:00:00Z',
  '2025-10-01', // date only: not a date-time
  '2025-11-31T08:15:00Z',
  '2025/10/01 10:00:00',
  1759312800, // epoch seconds as a number
];
// x.xx5 prices: half away from zero gives +1 cent; Math.round(x * 100) gets some of them wrong.
const THREE_DECIMAL_PRICES = [10.005, 1.005, 2.675, 4.015, 0.285, 8.075, 1.255, 19.995];
const OFFSETS_MIN = [120, -300, 330, -180, 540, 60, -420];
const SOURCES = ['web', 'web', 'web', 'mobile', 'mobile', 'mobile', 'api', 'api', 'partner'];
const CATEGORIES: Record<string, string[][]> = {
  electronics: [['Wireless', 'USB-C', 'Bluetooth', 'Smart', 'Portable'], ['Mouse', 'Charger', 'Speaker', 'Headphones', 'Keyboard', 'Webcam']],
  books: [['Paperback', 'Illustrated', 'Pocket', 'Collector'], ['Novel', 'Cookbook', 'Atlas', 'Guide', 'Anthology']],
  home: [['Ceramic', 'Bamboo', 'Linen', 'Steel', 'Glass'], ['Mug', 'Cutting Board', 'Towel Set', 'Lamp', 'Vase', 'Skillet']],
  toys: [['Wooden', 'Plush', 'Magnetic', 'Remote'], ['Puzzle', 'Bear', 'Blocks', 'Car', 'Kite']],
  sports: [['Yoga', 'Trail', 'Pro', 'Training'], ['Mat', 'Bottle', 'Socks', 'Ball', 'Gloves']],
  beauty: [['Organic', 'Daily', 'Herbal', 'Travel'], ['Shampoo', 'Face Cream', 'Soap', 'Lip Balm']],
};
const COUNTRIES = ['US', 'US', 'US', 'CA', 'MX', 'BR', 'AR', 'PE', 'CO', 'CL', 'ES', 'DE', 'FR', 'GB', 'JP', 'KR'];
const FIRST = ['ana', 'luis', 'maria', 'john', 'wei', 'sofia', 'omar', 'lena', 'raj', 'emma', 'diego', 'yuki', 'paul', 'nina'];
const LAST = ['gomez', 'smith', 'chen', 'silva', 'kim', 'muller', 'rossi', 'khan', 'lopez', 'brown', 'sato', 'novak'];
const DOMAINS = ['example.com', 'mail.example.org', 'test.example.net'];

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Rng {
  next: () => number;
  int: (lo: number, hi: number) => number; // inclusive
  pick: <T>(xs: readonly T[]) => T;
  chance: (p: number) => boolean;
}

function makeRng(seed: number): Rng {
  const next = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)],
    chance: (p: number): boolean => next() < p,
  };
}

function shuffled(n: number, rng: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
const centsToNumber = (c: number): number => c / 100;
const centsToString = (c: number): string => `${Math.floor(c / 100)}.${pad(c % 100)}`;
/** Half away from zero, on the decimal value (prices here are positive). */
const priceToCents = (p: number): number => Number(String(p).includes('.') ? roundDecimalString(String(p)) : p * 100);

function roundDecimalString(s: string): number {
  const [int, frac = ''] = s.split('.');
  const f = (frac + '000').slice(0, 3);
  const cents = Number(int) * 100 + Number(f.slice(0, 2));
  return Number(f[2]) >= 5 ? cents + 1 : cents;
}

type TsStyle = 'Z' | 'offset' | 'frac3' | 'frac1' | 'frac6' | 'none' | 'frac000';

/** Formats an instant (ms since epoch, whole seconds unless a fraction style) as ISO 8601. */
function formatTs(ms: number, style: TsStyle, offsetMin = 0, micros = 0): string {
  const base = (t: number) => new Date(t).toISOString().slice(0, 19);
  const msPart = ((ms % 1000) + 1000) % 1000;
  switch (style) {
    case 'Z':
      return `${base(ms)}Z`;
    case 'none':
      return base(ms);
    case 'frac000':
      return `${base(ms)}.000Z`;
    case 'frac3':
      return `${base(ms)}.${pad(msPart, 3)}Z`;
    case 'frac1':
      return `${base(ms)}.${Math.floor(msPart / 100)}Z`;
    case 'frac6':
      return `${base(ms)}.${pad(msPart, 3)}${pad(micros, 3)}Z`;
    case 'offset': {
      const sign = offsetMin < 0 ? '-' : '+';
      const abs = Math.abs(offsetMin);
      return `${base(ms + offsetMin * 60000)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    }
  }
}

interface BaseOrder {
  rec: Rec;
  ms: number; // instant of created_at
  plainZ: boolean; // created_at written as whole seconds with Z
  messy: boolean;
  discounted: boolean; // amount deliberately below the sum of the items
}

const scale = (per1000: number, count: number): number => Math.round((per1000 * count) / 1000);

export function generateDataset(count: number = DEFAULT_COUNT, seed: number = SEED): Dataset {
  if (!Number.isInteger(count) || count < 0) throw new Error(`count must be a non-negative integer, got ${count}`);
  const rng = makeRng(seed);
  const messiness: Record<string, number> = {};
  for (const k of Object.keys(MESS_PER_1000)) messiness[k] = 0;
  const variety: Record<string, number> = {
    created_at_offset: 0,
    created_at_fraction: 0,
    currency_eur: 0,
    amount_differs_from_items: 0,
  };

  // ---- reference data -------------------------------------------------------------------------
  const nUsers = Math.max(300, Math.round(count * 0.3));
  const nAbsentUsers = Math.max(1, scale(5, count));
  const userPool = nUsers + nAbsentUsers;
  const absentUserIdx = new Set<number>();
  while (absentUserIdx.size < nAbsentUsers) absentUserIdx.add(rng.int(1, userPool));
  const users: UserRow[] = [];
  const presentUsers: number[] = [];
  for (let i = 1; i <= userPool; i++) if (!absentUserIdx.has(i)) presentUsers.push(i);
  const koreaUser = presentUsers[Math.floor(presentUsers.length / 3)];
  const noEmailUser = presentUsers[Math.floor((presentUsers.length * 2) / 3)];
  for (const i of presentUsers) {
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    const signup = Date.UTC(2023, 0, 1) + rng.int(0, 970 * DAY_S) * 1000;
    users.push({
      user_id: `u_${i}`,
      email: i === noEmailUser ? '' : `${first}.${last}${i}@${rng.pick(DOMAINS)}`,
      country: i === koreaUser ? 'Korea, Republic of' : rng.pick(COUNTRIES),
      created_at: formatTs(signup, 'Z'),
    });
  }

  const nProducts = 80;
  const nAbsentSkus = 4;
  const skuPool = nProducts + nAbsentSkus;
  const absentSkuIdx = new Set<number>();
  while (absentSkuIdx.size < nAbsentSkus) absentSkuIdx.add(rng.int(1, skuPool));
  const catalogCents: number[] = [0];
  const products: ProductRow[] = [];
  const catNames = Object.keys(CATEGORIES);
  for (let i = 1; i <= skuPool; i++) {
    const cents = rng.int(199, 24999);
    catalogCents.push(cents);
    if (absentSkuIdx.has(i)) continue;
    let category = catNames[i % catNames.length];
    const [adjs, nouns] = CATEGORIES[category];
    let name = `${rng.pick(adjs)} ${rng.pick(nouns)}`;
    // two names that need CSV quoting
    if (products.length === 10) [name, category] = ['Gel Pens, Pack of 12', 'books'];
    if (products.length === 20) [name, category] = ['Cast Iron Skillet 12"', 'home'];
    products.push({ sku: `p_${i}`, name, category, price: centsToString(cents) });
  }

  // ---- base orders ----------------------------------------------------------------------------
  const extras = ['dup_later_created_at', 'dup_earlier_created_at', 'dup_tie_same_string', 'dup_tie_same_instant', 'dup_replay', 'dup_triple_extra', 'dup_later_but_rejected'];
  const want: Record<string, number> = {};
  for (const [k, v] of Object.entries(MESS_PER_1000)) want[k] = scale(v, count);
  want.dup_triple_extra -= want.dup_triple_extra % 2;
  const nExtra = extras.reduce((s, k) => s + want[k], 0);
  const nBase = Math.max(0, count - nExtra);

  const makeItems = (): { items: Rec[]; cents: number } => {
    const n = rng.pick([1, 1, 2, 2, 2, 3, 3, 4, 5]);
    const used = new Set<number>();
    const items: Rec[] = [];
    let cents = 0;
    while (items.length < n) {
      const p = rng.int(1, skuPool);
      if (used.has(p)) continue;
      used.add(p);
      const qty = rng.pick([1, 1, 1, 2, 2, 3, 4, 5]);
      const unit = rng.chance(0.1) ? Math.round(catalogCents[p] * rng.pick([0.8, 0.9, 1.1])) : catalogCents[p];
      items.push({ sku: `p_${p}`, qty, price: centsToNumber(unit) });
      cents += qty * unit;
    }
    return { items, cents };
  };
  const itemsCents = (items: Json): number => {
    let c = 0;
    if (Array.isArray(items)) for (const it of items) {
      if (it && typeof it === 'object' && !Array.isArray(it) && typeof it.price === 'number' && typeof it.qty === 'number') c += it.qty * priceToCents(it.price);
    }
    return c;
  };
  const promoFor = (ms: number): Json => {
    const month = new Date(ms).getUTCMonth();
    const seasonal = month === 8 ? 'BACK2SCHOOL' : month === 10 ? 'BF' : month === 11 ? 'XMAS' : 'FALL10';
    return rng.pick<Json>([null, null, null, null, null, 'WELCOME', seasonal, seasonal]);
  };

  const base: BaseOrder[] = [];
  for (let i = 0; i < nBase; i++) {
    let ms = START_MS + rng.int(0, Math.floor((END_MS - START_MS) / 1000)) * 1000;
    const r = rng.next();
    let style: TsStyle = 'Z';
    let offset = 0;
    let micros = 0;
    if (r < 0.04) {
      style = 'offset';
      offset = rng.pick(OFFSETS_MIN);
    } else if (r < 0.08) {
      style = r < 0.07 ? 'frac3' : r < 0.075 ? 'frac1' : 'frac6';
      ms += style === 'frac1' ? rng.int(1, 9) * 100 : rng.int(1, 999);
      micros = rng.int(0, 999);
    }
    const { items, cents } = makeItems();
    let amountCents = cents;
    const discounted = rng.chance(0.03);
    if (discounted) amountCents = Math.round(cents * 0.9); // order-level discount not reflected in item prices
    const currency = rng.chance(0.02) ? 'EUR' : 'USD';
    const rec: Rec = {
      order_id: `o_${10001 + i}`,
      user_id: `u_${rng.int(1, userPool)}`,
      currency,
      created_at: formatTs(ms, style, offset, micros),
      items,
      amount: centsToNumber(amountCents),
      metadata: { source: rng.pick(SOURCES), promo: promoFor(ms) },
    };
    base.push({ rec, ms, plainZ: style === 'Z', messy: false, discounted });
  }

  // Pick distinct base records, in a seeded random order, that satisfy a predicate.
  const order = shuffled(nBase, rng);
  let cursor = 0;
  const take = (pred: (b: BaseOrder) => boolean): BaseOrder | undefined => {
    for (let tries = 0; tries < nBase; tries++) {
      const b = base[order[cursor]];
      cursor = (cursor + 1) % Math.max(1, nBase);
      if (!b.messy && pred(b)) {
        b.messy = true;
        return b;
      }
    }
    return undefined;
  };
  const indexOf = new Map<Rec, number>();
  base.forEach((b, i) => indexOf.set(b.rec, i));
  const after: Json[][] = base.map(() => []); // extra records emitted right after base record i
  const clone = (r: Rec): Rec => JSON.parse(JSON.stringify(r)) as Rec;
  const placeAfter = (from: number, rec: Json): number => {
    const j = rng.int(from, nBase - 1);
    after[j].push(rec);
    return j;
  };
  /** A different version of the same order: changed items and amount, sometimes promo. */
  const revise = (r: Rec): Rec => {
    const v = clone(r);
    const items = v.items as Rec[];
    const kind = rng.int(0, 2);
    if (kind === 0 || items.length === 1) {
      const it = items[rng.int(0, items.length - 1)];
      it.qty = (it.qty as number) + 1;
    } else if (kind === 1) {
      items.pop();
    } else {
      items.push(makeItems().items[0]);
    }
    const seen = new Set<Json>();
    v.items = items.filter((it) => (seen.has(it.sku) ? false : (seen.add(it.sku), true)));
    v.amount = centsToNumber(itemsCents(v.items));
    if (v.amount === r.amount) v.amount = centsToNumber(itemsCents(v.items) + 100);
    if (rng.chance(0.3)) (v.metadata as Rec).promo = 'RETRY';
    return v;
  };
  const margin = 3 * DAY_S * 1000;
  const dupOriginal = (): BaseOrder | undefined =>
    take((b) => b.plainZ && b.ms > START_MS + margin && b.ms < END_MS - margin);

  // ---- duplicates -----------------------------------------------------------------------------
  for (let n = 0; n < want.dup_later_created_at; n++) {
    const b = dupOriginal();
    if (!b) break;
    const v = revise(b.rec);
    const later = n === 0 ? b.ms + 250 : b.ms + rng.int(60, 3 * DAY_S) * 1000;
    v.created_at = formatTs(later, n === 0 ? 'frac3' : 'Z');
    placeAfter(indexOf.get(b.rec)!, v);
    messiness.dup_later_created_at++;
  }
  for (let n = 0; n < want.dup_earlier_created_at; n++) {
    const b = dupOriginal();
    if (!b) break;
    const v = revise(b.rec);
    v.created_at = formatTs(b.ms - rng.int(60, 3 * DAY_S) * 1000, 'Z');
    placeAfter(indexOf.get(b.rec)!, v);
    messiness.dup_earlier_created_at++;
  }
  for (let n = 0; n < want.dup_tie_same_string; n++) {
    const b = dupOriginal();
    if (!b) break;
    placeAfter(indexOf.get(b.rec)!, revise(b.rec));
    messiness.dup_tie_same_string++;
  }
  for (let n = 0; n < want.dup_tie_same_instant; n++) {
    const b = dupOriginal();
    if (!b) break;
    const v = revise(b.rec);
    v.created_at = n % 2 === 0 ? formatTs(b.ms, 'offset', 120) : formatTs(b.ms, 'frac000');
    placeAfter(indexOf.get(b.rec)!, v);
    messiness.dup_tie_same_instant++;
  }
  for (let n = 0; n < want.dup_replay; n++) {
    const b = dupOriginal();
    if (!b) break;
    placeAfter(indexOf.get(b.rec)!, clone(b.rec));
    messiness.dup_replay++;
  }
  for (let n = 0; n < want.dup_triple_extra; n += 2) {
    const b = dupOriginal();
    if (!b) break;
    const newest = revise(b.rec);
    const delta = rng.int(2 * 3600, 2 * DAY_S);
    newest.created_at = formatTs(b.ms + delta * 1000, 'Z');
    const middle = revise(b.rec);
    middle.created_at = formatTs(b.ms + Math.floor(delta / 2) * 1000, 'Z');
    const j = placeAfter(indexOf.get(b.rec)!, newest);
    placeAfter(j, middle); // later in the stream than the newest version, yet older
    messiness.dup_triple_extra += 2;
  }
  for (let n = 0; n < want.dup_later_but_rejected; n++) {
    const b = dupOriginal();
    if (!b) break;
    const v = revise(b.rec);
    if (n % 2 === 0) v.created_at = 'not-a-date';
    else {
      v.created_at = formatTs(b.ms + 3600 * 1000, 'Z');
      delete v.user_id;
    }
    placeAfter(indexOf.get(b.rec)!, v);
    messiness.dup_later_but_rejected++;
  }

  // ---- record-level mess ----------------------------------------------------------------------
  const recordMess: Record<string, (r: Rec, b: BaseOrder, n: number) => Json> = {
    non_object_record: (_r, _b, n) => [null, 42, 'ORDER_FEED_HEARTBEAT', [] as Json[]][n % 4],
    order_id_missing: (r) => (delete r.order_id, r),
    order_id_null: (r) => ((r.order_id = null), r),
    order_id_empty: (r) => ((r.order_id = ''), r),
    created_at_null: (r) => ((r.created_at = null), r),
    created_at_missing: (r) => (delete r.created_at, r),
    created_at_empty: (r) => ((r.created_at = ''), r),
    created_at_invalid: (r, _b, n) => ((r.created_at = INVALID_CREATED_AT[n % INVALID_CREATED_AT.length]), r),
    created_at_no_offset: (r, b) => ((r.created_at = formatTs(b.ms - (b.ms % 1000), 'none')), r),
    user_id_missing: (r) => (delete r.user_id, r),
    user_id_null: (r) => ((r.user_id = null), r),
    user_id_empty: (r) => ((r.user_id = ''), r),
    items_missing: (r) => (delete r.items, r),
    items_null: (r) => ((r.items = null), r),
    items_empty_array: (r) => ((r.items = []), r),
    metadata_missing: (r) => (delete r.metadata, r),
    metadata_null: (r) => ((r.metadata = null), r),
    metadata_source_empty: (r) => (((r.metadata as Rec).source = ''), r),
    metadata_promo_empty: (r) => (((r.metadata as Rec).promo = ''), r),
    amount_numeric_string: (r) => ((r.amount = centsToString(Math.round((r.amount as number) * 100))), r),
    amount_missing: (r) => (delete r.amount, r),
    amount_null: (r) => ((r.amount = null), r),
  };
  for (const [kind, apply] of Object.entries(recordMess)) {
    for (let n = 0; n < want[kind]; n++) {
      const b = take(() => true);
      if (!b) break;
      const out = apply(b.rec, b, n);
      if (out !== b.rec) b.rec = out as Rec; // replaced by a non-object
      messiness[kind]++;
    }
  }

  // ---- item-level mess ------------------------------------------------------------------------
  const itemMess: Record<string, (items: Json[], i: number, n: number) => void> = {
    item_price_missing: (items, i) => void delete (items[i] as Rec).price,
    item_price_null: (items, i) => void ((items[i] as Rec).price = null),
    item_price_numeric_string: (items, i) =>
      void ((items[i] as Rec).price = centsToString(priceToCents((items[i] as Rec).price as number))),
    item_qty_digit_string: (items, i) => void ((items[i] as Rec).qty = String((items[i] as Rec).qty)),
    item_price_3_decimals: (items, i, n) => void ((items[i] as Rec).price = THREE_DECIMAL_PRICES[n % THREE_DECIMAL_PRICES.length]),
    invalid_item_qty_zero: (items, i) => void ((items[i] as Rec).qty = 0),
    invalid_item_qty_negative: (items, i) => void ((items[i] as Rec).qty = -1),
    invalid_item_qty_fraction: (items, i) => void ((items[i] as Rec).qty = 1.5),
    invalid_item_sku_missing: (items, i) => void delete (items[i] as Rec).sku,
    invalid_item_sku_empty: (items, i) => void ((items[i] as Rec).sku = ''),
    invalid_item_not_object: (items, i) => void (items[i] = `${(items[i] as Rec).sku} x${(items[i] as Rec).qty}`),
    invalid_item_price_not_numeric: (items, i) => void ((items[i] as Rec).price = 'N/A'),
    invalid_item_price_boolean: (items, i) => void ((items[i] as Rec).price = true),
    invalid_item_qty_missing: (items, i) => void delete (items[i] as Rec).qty,
  };
  for (const [kind, apply] of Object.entries(itemMess)) {
    for (let n = 0; n < want[kind]; n++) {
      const b = take((x) => Array.isArray(x.rec.items) && (x.rec.items as Json[]).length > 0);
      if (!b) break;
      const items = b.rec.items as Json[];
      const i = rng.int(0, items.length - 1);
      apply(items, i, n);
      // a 3-decimal price changes the true total; other mess keeps the amount the API reported
      if (kind === 'item_price_3_decimals' && typeof b.rec.amount === 'number') b.rec.amount = centsToNumber(itemsCents(items));
      messiness[kind]++;
    }
  }

  // ---- stream ---------------------------------------------------------------------------------
  for (const b of base) {
    if (b.messy) continue;
    const ts = String(b.rec.created_at);
    if (/[+-]\d\d:\d\d$/.test(ts)) variety.created_at_offset++;
    if (/\.\d+/.test(ts)) variety.created_at_fraction++;
    if (b.rec.currency === 'EUR') variety.currency_eur++;
    if (b.discounted) variety.amount_differs_from_items++;
  }
  const orders: Json[] = [];
  base.forEach((b, i) => {
    orders.push(b.rec);
    for (const x of after[i]) orders.push(x);
  });
  return {
    orders,
    users,
    products,
    messiness,
    variety,
    absentUsers: [...absentUserIdx].sort((a, b) => a - b).map((i) => `u_${i}`),
    absentSkus: [...absentSkuIdx].sort((a, b) => a - b).map((i) => `p_${i}`),
  };
}

/** The order records (stream order) of generateDataset(count, seed). */
export function generateOrders(count: number, seed: number = SEED): Json[] {
  return generateDataset(count, seed).orders;
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV text with a header and CRLF line endings, fields quoted only when needed. */
export function toCsv<T extends object>(rows: T[], columns: (keyof T & string)[]): string {
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(String(r[c]))).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function main(argv: string[] = process.argv.slice(2)): void {
  const opt = (name: string, dflt: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const outDir = opt('--out', __dirname);
  const count = Number(opt('--count', String(DEFAULT_COUNT)));
  const seed = Number(opt('--seed', String(SEED)));
  const ds = generateDataset(count, seed);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'orders.json'), JSON.stringify(ds.orders, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, 'users.csv'), toCsv(ds.users, ['user_id', 'email', 'country', 'created_at']));
  fs.writeFileSync(path.join(outDir, 'products.csv'), toCsv(ds.products, ['sku', 'name', 'category', 'price']));

  const messy = Object.values(ds.messiness).reduce((a, b) => a + b, 0);
  const lines = [
    `wrote ${ds.orders.length} orders, ${ds.users.length} users, ${ds.products.length} products to ${outDir} (seed ${seed})`,
    `clean records: ${ds.orders.length - messy} (${(((ds.orders.length - messy) / Math.max(1, ds.orders.length)) * 100).toFixed(1)}%), messy: ${messy}`,
    'messiness (records):',
    ...Object.entries(ds.messiness).map(([k, v]) => `  ${k.padEnd(32)} ${v}`),
    'variety in clean records:',
    ...Object.entries(ds.variety).map(([k, v]) => `  ${k.padEnd(32)} ${v}`),
    `absent from users.csv:    ${ds.absentUsers.join(' ')}`,
    `absent from products.csv: ${ds.absentSkus.join(' ')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
