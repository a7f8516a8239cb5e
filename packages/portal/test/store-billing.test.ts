/**
 * Usage buckets and monthly bills on both engines, and the price arithmetic on its own.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  billsOf,
  type Db,
  getBill,
  monthlyBill,
  monthRange,
  PortalErrorCode,
  PRICES,
  priceMonth,
  recordUsage,
  USAGE_BUCKET_MS,
  usageSeries,
} from '../src/server/store/index.js';
import { clearAll, countRows, ENGINES, type Engine, expectCode, migratedDb } from './storeFixture.js';

const GIB = 2 ** 30;
const FEB_2025 = Date.UTC(2025, 1, 1);
const MAR_2025 = Date.UTC(2025, 2, 1);
const HOURS_FEB_2025 = 28 * 24;

describe('priceMonth', () => {
  it('default: a base fee plus one line per resource', () => {
    const { lines, totalCents } = priceMonth(
      'standard',
      { requests: 1_000, transactions: 2_000, gas: 3_000_000, storageByteHours: GIB * HOURS_FEB_2025 },
      HOURS_FEB_2025,
    );
    expect(lines.map((l) => [l.item, l.amountCents])).toEqual([
      ['base', 4_900],
      ['requests', 2],
      ['transactions', 20],
      ['gas', 15],
      ['storage', 25],
    ]);
    expect(totalCents).toBe(4_962);
  });

  it('behavior: each line is rounded to the nearest cent, halves up', () => {
    const cents = (requests: number) =>
      priceMonth('standard', { requests, transactions: 0, gas: 0, storageByteHours: 0 }, HOURS_FEB_2025).lines[1]?.amountCents;
    // 2 cents per 1,000 requests.
    expect(cents(2_249)).toBe(4);
    expect(cents(2_250)).toBe(5);
    expect(cents(2_251)).toBe(5);
    expect(cents(0)).toBe(0);
    expect(cents(249)).toBe(0);
    expect(cents(250)).toBe(1);
  });

  it('behavior: the free plan costs nothing', () => {
    const free = priceMonth('free', { requests: 10 ** 9, transactions: 10 ** 7, gas: 10 ** 12, storageByteHours: 10 ** 15 }, 720);
    expect(free.totalCents).toBe(0);
    expect(Object.keys(PRICES)).toEqual(['free', 'standard', 'dedicated']);
  });

  it('error: an unknown plan is INVALID_INPUT', async () => {
    for (const plan of ['gold', 'toString', '__proto__']) {
      await expectCode(
        (async () => priceMonth(plan, { requests: 0, transactions: 0, gas: 0, storageByteHours: 0 }, 720))(),
        PortalErrorCode.INVALID_INPUT,
      );
    }
  });

  it('default: monthRange is the UTC month', () => {
    expect(monthRange('2025-02')).toEqual({ from: FEB_2025, to: MAR_2025 });
    expect(monthRange('2024-12')).toEqual({ from: Date.UTC(2024, 11, 1), to: Date.UTC(2025, 0, 1) });
  });
});

describe.each(ENGINES)('store billing on $name', ({ make }) => {
  let engine: Engine;
  let db: Db;

  beforeAll(async () => {
    engine = make();
    db = await migratedDb(engine);
  });

  afterAll(async () => {
    await engine.cleanup();
  });

  beforeEach(async () => {
    await clearAll(db);
  });

  it('default: usage in one hour adds up; another hour is another bucket', async () => {
    const at = FEB_2025 + 5 * USAGE_BUCKET_MS;
    await recordUsage(db, { appId: 'shop', at: at + 10, requests: 3, transactions: 1, gas: 21_000, storageBytes: 100 });
    await recordUsage(db, { appId: 'shop', at: at + USAGE_BUCKET_MS - 1, requests: 4, gas: 50_000 });
    await recordUsage(db, { appId: 'shop', at: at + USAGE_BUCKET_MS, requests: 1 });
    await recordUsage(db, { appId: 'other', at, requests: 100 });
    expect(await usageSeries(db, 'shop', FEB_2025, MAR_2025)).toEqual([
      { bucketStart: at, requests: 7, transactions: 1, gas: 71_000, storageBytes: 100 },
      { bucketStart: at + USAGE_BUCKET_MS, requests: 1, transactions: 0, gas: 0, storageBytes: 0 },
    ]);
    expect(await usageSeries(db, 'shop', FEB_2025, at + USAGE_BUCKET_MS)).toHaveLength(1);
    expect(await countRows(db, 'usage')).toBe(3);
  });

  it('behavior: values above 2^31 add and come back as exact numbers', async () => {
    const big = 2 ** 33 + 1;
    await recordUsage(db, { appId: 'shop', at: FEB_2025, gas: big, storageBytes: big });
    await recordUsage(db, { appId: 'shop', at: FEB_2025, gas: big, storageBytes: 1 });
    const [bucket] = await usageSeries(db, 'shop', FEB_2025, MAR_2025);
    expect(bucket).toEqual({ bucketStart: FEB_2025, requests: 0, transactions: 0, gas: 2 * big, storageBytes: big + 1 });
    expect(typeof bucket?.gas).toBe('number');
  });

  it('error: negative or fractional amounts and overlong ranges are INVALID_INPUT', async () => {
    await expectCode(recordUsage(db, { appId: 'shop', at: FEB_2025, requests: -1 }), PortalErrorCode.INVALID_INPUT);
    await expectCode(recordUsage(db, { appId: 'shop', at: FEB_2025, gas: 1.5 }), PortalErrorCode.INVALID_INPUT);
    await expectCode(recordUsage(db, { appId: '', at: FEB_2025 }), PortalErrorCode.INVALID_INPUT);
    await expectCode(usageSeries(db, 'shop', 0, 400 * 24 * USAGE_BUCKET_MS), PortalErrorCode.INVALID_INPUT);
    expect(await countRows(db, 'usage')).toBe(0);
  });

  it('default: a monthly bill prices the month of usage and is stored', async () => {
    // Outside February: not billed.
    await recordUsage(db, { appId: 'shop', at: FEB_2025 - 1, requests: 10 ** 6 });
    await recordUsage(db, { appId: 'shop', at: MAR_2025, requests: 10 ** 6 });
    await recordUsage(db, { appId: 'shop', at: FEB_2025, requests: 1_000_000, transactions: 10_000, gas: 1_000_000_000 });
    await recordUsage(db, {
      appId: 'shop',
      at: MAR_2025 - 1,
      requests: 234_567,
      transactions: 500,
      gas: 2_000_000_000,
      // 1 GiB for every hour of February, reported in one bucket: 1 GiB-month.
      storageBytes: GIB * HOURS_FEB_2025,
    });
    const bill = await monthlyBill(db, { appId: 'shop', month: '2025-02', plan: 'standard', now: () => 42 });
    expect(bill.lines).toEqual([
      { item: 'base', quantity: 1, unit: 'month', unitPriceCents: 4_900, unitSize: 1, amountCents: 4_900 },
      // 1,234,567 requests at 2 cents per 1,000: 2,469.134 cents.
      { item: 'requests', quantity: 1_234_567, unit: 'request', unitPriceCents: 2, unitSize: 1_000, amountCents: 2_469 },
      // 10,500 transactions at 10 cents per 1,000: 105 cents.
      { item: 'transactions', quantity: 10_500, unit: 'transaction', unitPriceCents: 10, unitSize: 1_000, amountCents: 105 },
      // 3e9 gas at 5 cents per million: 15,000 cents.
      { item: 'gas', quantity: 3_000_000_000, unit: 'gas', unitPriceCents: 5, unitSize: 1_000_000, amountCents: 15_000 },
      {
        item: 'storage',
        quantity: GIB * HOURS_FEB_2025,
        unit: 'byte-hour',
        unitPriceCents: 25,
        unitSize: GIB * HOURS_FEB_2025,
        amountCents: 25,
      },
    ]);
    expect(bill.totalCents).toBe(4_900 + 2_469 + 105 + 15_000 + 25);
    expect(await getBill(db, 'shop', '2025-02')).toEqual({ ...bill, createdAt: 42 });
  });

  it('behavior: billing a month again replaces its bill', async () => {
    await recordUsage(db, { appId: 'shop', at: FEB_2025, requests: 1_000 });
    const first = await monthlyBill(db, { appId: 'shop', month: '2025-02', plan: 'standard', now: () => 1 });
    await recordUsage(db, { appId: 'shop', at: FEB_2025, requests: 1_000 });
    const second = await monthlyBill(db, { appId: 'shop', month: '2025-02', plan: 'dedicated', now: () => 2 });
    expect(second.totalCents).toBe(49_900 + 2);
    expect(second.totalCents).not.toBe(first.totalCents);
    expect(await countRows(db, 'bills')).toBe(1);
    expect(await getBill(db, 'shop', '2025-02')).toEqual(second);
  });

  it('behavior: billsOf lists newest month first', async () => {
    for (const month of ['2025-01', '2025-03', '2025-02']) await monthlyBill(db, { appId: 'shop', month, plan: 'free' });
    await monthlyBill(db, { appId: 'other', month: '2025-04', plan: 'free' });
    expect((await billsOf(db, 'shop')).map((b) => b.month)).toEqual(['2025-03', '2025-02', '2025-01']);
  });

  it('error: a malformed month or an unknown plan stores nothing', async () => {
    await expectCode(monthlyBill(db, { appId: 'shop', month: '2025-13', plan: 'standard' }), PortalErrorCode.INVALID_INPUT);
    await expectCode(monthlyBill(db, { appId: 'shop', month: '2025-2', plan: 'standard' }), PortalErrorCode.INVALID_INPUT);
    await expectCode(monthlyBill(db, { appId: 'shop', month: '2025-02', plan: 'gold' }), PortalErrorCode.INVALID_INPUT);
    expect(await countRows(db, 'bills')).toBe(0);
  });
});
