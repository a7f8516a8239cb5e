/**
 * Usage records and monthly bills.
 *
 * Usage is kept in hourly buckets per app; recording adds to the bucket, so the gateway (or
 * several of them) can report in parts. `storage_bytes` is a level, not a flow: a reporter
 * reports an app's stored bytes once per hour (parts of it, such as one figure per node's share,
 * add up), and a bucket's value counts as that many bytes kept for one hour. An hour without a
 * report counts as no storage.
 *
 * A bill prices a month's totals with `PRICES`: a base fee plus one line per resource. Amounts are
 * integer cents, computed exactly with bigint; each line is rounded to the nearest cent (halves
 * up) and the total is the sum of the rounded lines, so the lines always add up to the total.
 */
import type { Db } from './db.js';
import { invalidInput } from './errors.js';

/** The price of a plan, in integer cents. */
export type PlanPrice = {
  /** The monthly fee, whatever the usage. */
  baseCents: number;
  /** Per 1,000 requests (reads and writes through the gateway). */
  per1kRequestsCents: number;
  /** Per 1,000 transactions included in blocks. */
  per1kTransactionsCents: number;
  /** Per million gas used. */
  perMillionGasCents: number;
  /** Per GiB kept for a whole month (2^30 bytes for every hour of the month). */
  perGiBMonthCents: number;
};

/**
 * The price table. `free` has no charges: the plan's rate limits on the system ledger are what
 * bound its use.
 */
export const PRICES: Readonly<Record<string, Readonly<PlanPrice>>> = Object.freeze({
  free: Object.freeze({
    baseCents: 0,
    per1kRequestsCents: 0,
    per1kTransactionsCents: 0,
    perMillionGasCents: 0,
    perGiBMonthCents: 0,
  }),
  standard: Object.freeze({
    baseCents: 4_900,
    per1kRequestsCents: 2,
    per1kTransactionsCents: 10,
    perMillionGasCents: 5,
    perGiBMonthCents: 25,
  }),
  dedicated: Object.freeze({
    baseCents: 49_900,
    per1kRequestsCents: 1,
    per1kTransactionsCents: 5,
    perMillionGasCents: 2,
    perGiBMonthCents: 20,
  }),
});

/** One line of a bill: `quantity` units priced at `unitPriceCents` per `unitSize` units. */
export type BillLine = {
  item: 'base' | 'requests' | 'transactions' | 'gas' | 'storage';
  quantity: number;
  /** What `quantity` counts: month, request, transaction, gas, byte-hour. */
  unit: string;
  unitPriceCents: number;
  unitSize: number;
  amountCents: number;
};

/** A month's bill for one app. */
export type Bill = { appId: string; month: string; plan: string; lines: BillLine[]; totalCents: number; createdAt: number };

/** One hourly bucket of usage. */
export type UsageBucket = { bucketStart: number; requests: number; transactions: number; gas: number; storageBytes: number };

/** A usage bucket is one hour. */
export const USAGE_BUCKET_MS = 3_600_000;
/** The most buckets `usageSeries` returns: a year and a day. */
export const USAGE_SERIES_BUCKETS_MAX = 366 * 24;
/** The most bills `billsOf` returns: ten years. */
export const BILLS_LIST_MAX = 120;
const APP_ID_MAX = 128;
const GIB = 2n ** 30n;

function checkAppId(appId: unknown): string {
  if (typeof appId !== 'string' || appId.length === 0 || appId.length > APP_ID_MAX) {
    throw invalidInput('appId', `must be a non-empty string of at most ${APP_ID_MAX} characters`);
  }
  return appId;
}

function checkCount(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidInput(field, 'must be a non-negative integer');
  }
  return value;
}

/** The start (ms) of the hourly bucket that holds `at`. */
export function bucketStart(at: number): number {
  return Math.floor(at / USAGE_BUCKET_MS) * USAGE_BUCKET_MS;
}

/** Adds usage to the app's bucket for the hour of `at`. */
export async function recordUsage(
  db: Db,
  input: { appId: string; at: number; requests?: number; transactions?: number; gas?: number; storageBytes?: number },
): Promise<void> {
  const appId = checkAppId(input.appId);
  const at = checkCount('at', input.at);
  const values = [
    checkCount('requests', input.requests ?? 0),
    checkCount('transactions', input.transactions ?? 0),
    checkCount('gas', input.gas ?? 0),
    checkCount('storageBytes', input.storageBytes ?? 0),
  ];
  // ON CONFLICT ... DO UPDATE is the same text on PostgreSQL and SQLite (3.24 and later).
  await db.run(
    `INSERT INTO usage (app_id, bucket_start, requests, transactions, gas, storage_bytes) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (app_id, bucket_start) DO UPDATE SET
       requests = usage.requests + excluded.requests,
       transactions = usage.transactions + excluded.transactions,
       gas = usage.gas + excluded.gas,
       storage_bytes = usage.storage_bytes + excluded.storage_bytes`,
    [appId, bucketStart(at), ...values],
  );
}

type UsageRow = { bucket_start: number; requests: number; transactions: number; gas: number; storage_bytes: number };

/** The app's hourly buckets with `from <= bucketStart < to`, oldest first; empty hours are absent. */
export async function usageSeries(db: Db, appId: string, from: number, to: number): Promise<UsageBucket[]> {
  checkAppId(appId);
  checkCount('from', from);
  checkCount('to', to);
  if (to < from) throw invalidInput('to', 'must not be before from');
  if ((to - from) / USAGE_BUCKET_MS > USAGE_SERIES_BUCKETS_MAX) {
    throw invalidInput('to', `must be at most ${USAGE_SERIES_BUCKETS_MAX} hours after from`);
  }
  const rows = await db.all<UsageRow>(
    'SELECT bucket_start, requests, transactions, gas, storage_bytes FROM usage WHERE app_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start',
    [appId, from, to],
  );
  return rows.map((r) => ({
    bucketStart: r.bucket_start,
    requests: r.requests,
    transactions: r.transactions,
    gas: r.gas,
    storageBytes: r.storage_bytes,
  }));
}

/** The first and last-plus-one ms of a UTC month `YYYY-MM`. */
export function monthRange(month: string): { from: number; to: number } {
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!match) throw invalidInput('month', 'must be YYYY-MM, for example 2025-03');
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  return { from: Date.UTC(year, index, 1), to: Date.UTC(year, index + 1, 1) };
}

/** `quantity * price / size`, rounded to the nearest integer with halves up, exactly. */
function priceOf(quantity: bigint, price: number, size: bigint): number {
  const numerator = quantity * BigInt(price);
  return Number((2n * numerator + size) / (2n * size));
}

/** The lines and total of a month with the given totals; pure, so that the arithmetic is testable alone. */
export function priceMonth(
  plan: string,
  totals: { requests: number; transactions: number; gas: number; storageByteHours: number },
  hoursInMonth: number,
): { lines: BillLine[]; totalCents: number } {
  const price = Object.hasOwn(PRICES, plan) ? PRICES[plan] : undefined;
  if (price === undefined) {
    throw invalidInput('plan', `must be one of ${Object.keys(PRICES).join(', ')}`);
  }
  const storageSize = GIB * BigInt(hoursInMonth);
  const lines: BillLine[] = [
    { item: 'base', quantity: 1, unit: 'month', unitPriceCents: price.baseCents, unitSize: 1, amountCents: price.baseCents },
    {
      item: 'requests',
      quantity: totals.requests,
      unit: 'request',
      unitPriceCents: price.per1kRequestsCents,
      unitSize: 1_000,
      amountCents: priceOf(BigInt(totals.requests), price.per1kRequestsCents, 1_000n),
    },
    {
      item: 'transactions',
      quantity: totals.transactions,
      unit: 'transaction',
      unitPriceCents: price.per1kTransactionsCents,
      unitSize: 1_000,
      amountCents: priceOf(BigInt(totals.transactions), price.per1kTransactionsCents, 1_000n),
    },
    {
      item: 'gas',
      quantity: totals.gas,
      unit: 'gas',
      unitPriceCents: price.perMillionGasCents,
      unitSize: 1_000_000,
      amountCents: priceOf(BigInt(totals.gas), price.perMillionGasCents, 1_000_000n),
    },
    {
      item: 'storage',
      quantity: totals.storageByteHours,
      unit: 'byte-hour',
      unitPriceCents: price.perGiBMonthCents,
      unitSize: Number(storageSize),
      amountCents: priceOf(BigInt(totals.storageByteHours), price.perGiBMonthCents, storageSize),
    },
  ];
  return { lines, totalCents: lines.reduce((sum, line) => sum + line.amountCents, 0) };
}

/** Computes the app's bill for a UTC month from its usage and stores it; running a month again replaces it. */
export async function monthlyBill(
  db: Db,
  input: { appId: string; month: string; plan: string; now?: () => number },
): Promise<Bill> {
  const appId = checkAppId(input.appId);
  const { from, to } = monthRange(input.month);
  // pg types SUM(bigint) as NUMERIC (a string in pg); the cast brings it back to BIGINT, which
  // openDb reads as a number on both engines.
  const sums = await db.one<{ requests: number; transactions: number; gas: number; storage: number }>(
    `SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests,
            CAST(COALESCE(SUM(transactions), 0) AS BIGINT) AS transactions,
            CAST(COALESCE(SUM(gas), 0) AS BIGINT) AS gas,
            CAST(COALESCE(SUM(storage_bytes), 0) AS BIGINT) AS storage
       FROM usage WHERE app_id = $1 AND bucket_start >= $2 AND bucket_start < $3`,
    [appId, from, to],
  );
  const { lines, totalCents } = priceMonth(
    input.plan,
    {
      requests: sums?.requests ?? 0,
      transactions: sums?.transactions ?? 0,
      gas: sums?.gas ?? 0,
      storageByteHours: sums?.storage ?? 0,
    },
    (to - from) / USAGE_BUCKET_MS,
  );
  const bill: Bill = { appId, month: input.month, plan: input.plan, lines, totalCents, createdAt: (input.now ?? Date.now)() };
  await db.run(
    `INSERT INTO bills (app_id, month, plan, lines, total_cents, created_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (app_id, month) DO UPDATE SET
       plan = excluded.plan, lines = excluded.lines, total_cents = excluded.total_cents, created_at = excluded.created_at`,
    [appId, bill.month, bill.plan, JSON.stringify(lines), totalCents, bill.createdAt],
  );
  return bill;
}

type BillRow = { app_id: string; month: string; plan: string; lines: string; total_cents: number; created_at: number };

function billFromRow(row: BillRow): Bill {
  return {
    appId: row.app_id,
    month: row.month,
    plan: row.plan,
    lines: JSON.parse(row.lines) as BillLine[],
    totalCents: row.total_cents,
    createdAt: row.created_at,
  };
}

/** The stored bill of an app for a month, or undefined. */
export async function getBill(db: Db, appId: string, month: string): Promise<Bill | undefined> {
  monthRange(month);
  const row = await db.one<BillRow>(
    'SELECT app_id, month, plan, lines, total_cents, created_at FROM bills WHERE app_id = $1 AND month = $2',
    [checkAppId(appId), month],
  );
  return row && billFromRow(row);
}

/** The app's stored bills, newest month first (at most BILLS_LIST_MAX). */
export async function billsOf(db: Db, appId: string): Promise<Bill[]> {
  const rows = await db.all<BillRow>(
    'SELECT app_id, month, plan, lines, total_cents, created_at FROM bills WHERE app_id = $1 ORDER BY month DESC LIMIT $2',
    [checkAppId(appId), BILLS_LIST_MAX],
  );
  return rows.map(billFromRow);
}
