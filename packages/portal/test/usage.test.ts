/**
 * Usage and billing, on SQLite and on PostgreSQL: the collector's arithmetic (deltas, restarts, a
 * node seen for the first time, the gas read from one node), then against a real node with a system
 * ledger: what clients do through the gateway arrives in the hourly buckets exactly once, a node
 * restart (its counters start again from zero) neither loses nor doubles usage, the usage route
 * gives the plan's limits from the system ledger, and a bill prices known usage with `PRICES`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex, generateSecp256k1PrivateKey } from '@polis/core';
import { DEFAULT_PLANS, NODE_FILES } from '@polis/node';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, rpcCall } from '../../node/test/devNode.js';
import { type Portal, PRICES, recordUsage, startPortal } from '../src/index.js';
import {
  AppCounters,
  counterDelta,
  OWN_READS_PER_READING,
  startUsageCollector,
  type UsageCollector,
} from '../src/server/usage.js';
import { portalClient, startGovernedNode } from './portalClient.js';
import { ENGINES, type Engine } from './storeFixture.js';

const ADMINS = [0, 1, 2].map((i) => ({ address: `0x${String(i + 4).repeat(40)}` }));

describe('the collector’s arithmetic', () => {
  const c = (since: number, requests: number, txs: number, gas: bigint) => ({ since, requests, txs, gasUsed: gas });

  it('default: an increase is the delta', () => {
    expect(counterDelta(c(1, 10, 2, 100n), c(1, 15, 3, 150n))).toEqual({ requests: 5, txs: 1, gas: 50n });
  });

  it('behavior: a restart (new since, or a counter that went down) counts from zero', () => {
    expect(counterDelta(c(1, 10, 2, 100n), c(2, 4, 1, 30n))).toEqual({ requests: 4, txs: 1, gas: 30n });
    expect(counterDelta(c(1, 10, 2, 100n), c(1, 3, 2, 100n))).toEqual({ requests: 3, txs: 2, gas: 100n });
  });

  it('behavior: requests and transactions of all nodes add up, gas is read from one node, the own read is not counted', () => {
    const counters = new AppCounters(1_000);
    // Both nodes started before the collector: what they counted before is not known to be new.
    expect(
      counters.step(
        new Map([
          ['a', c(500, 10, 1, 21_000n)],
          ['b', c(600, 7, 0, 21_000n)],
        ]),
      ),
    ).toEqual({
      requests: 0,
      transactions: 0,
      gas: 0,
    });
    const d = counters.step(
      new Map([
        ['a', c(500, 16, 3, 63_000n)],
        ['b', c(600, 10, 1, 63_000n)],
      ]),
    );
    expect(d).toEqual({ requests: 6 - OWN_READS_PER_READING + (3 - OWN_READS_PER_READING), transactions: 3, gas: 42_000 });
  });

  it('behavior: a node started after the collector counts from its start; a restarted node does not lose or double', () => {
    const counters = new AppCounters(1_000);
    counters.step(new Map([['a', c(500, 10, 1, 0n)]]));
    // b appears, started after the collector: all it counted is new.
    expect(
      counters.step(
        new Map([
          ['a', c(500, 11, 1, 0n)],
          ['b', c(2_000, 5, 2, 0n)],
        ]),
      ),
    ).toEqual({
      requests: 0 + (5 - 1),
      transactions: 2,
      gas: 0,
    });
    // a restarts: its counters start from zero, and all it counted since is new.
    expect(
      counters.step(
        new Map([
          ['a', c(3_000, 4, 1, 21_000n)],
          ['b', c(2_000, 6, 2, 21_000n)],
        ]),
      ),
    ).toEqual({
      requests: 4 - 1 + (1 - 1),
      transactions: 1,
      gas: 21_000,
    });
  });

  it('behavior: when the gas node stops serving the app, another one takes over from its last reading', () => {
    const counters = new AppCounters(0);
    counters.step(
      new Map([
        ['a', c(1, 1, 0, 100n)],
        ['b', c(1, 1, 0, 100n)],
      ]),
    );
    expect(counters.step(new Map([['b', c(1, 2, 0, 150n)]])).gas).toBe(50);
  });
});

let dev: DevNode;

/** Pins the node's gateway port, so that a restart keeps its URL (the portal knows it by URL). */
function pinPort(node: DevNode): void {
  const path = join(node.dir, NODE_FILES.config);
  const config = JSON.parse(readFileSync(path, 'utf8')) as { rpc: { host: string; port: number } };
  config.rpc.port = Number(new URL(node.baseUrl).port);
  writeFileSync(path, JSON.stringify(config));
}

beforeAll(async () => {
  dev = await startGovernedNode({
    chainId: 42_000,
    heartbeatMs: 500,
    admins: ADMINS,
    // A plan the network offers and the portal's price table does not know.
    plans: { ...DEFAULT_PLANS, pilot: { requestsPerSec: 10, txPerSec: 5, bytesInPerSec: 1_000_000, bytesOutPerSec: 1_000_000 } },
  });
  pinPort(dev);
}, 60_000);

afterAll(async () => {
  await dev?.close();
});

const client = portalClient;

/** An app created through the portal's API, with its first client key and the portal's own key. */
async function makeApp(
  portal: Portal,
  call: ReturnType<typeof client>,
  appId: string,
  plan: string,
): Promise<{ chainId: number; clientKey: string; portalKey: string }> {
  const created = await call<{ app: { chainId: number }; apiKey: string }>('POST', '/api/apps', {
    id: appId,
    validators: [dev.node.publicKey],
    plan,
    keyMode: 'upload',
    accessPolicy: 'open',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { chainId: created.body.app.chainId, clientKey: created.body.apiKey, portalKey: await portal.ctx.apps.portalKey(appId) };
}

/** Waits until the node serves `appId` to `key`. */
async function served(appId: string, key: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await rpcCall(`${dev.baseUrl}/v1/${appId}/${key}`, 'eth_chainId').then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the node never served ${appId}`);
}

/** Sends a 21,000-gas transfer through `POST /transactions` (one request, one transaction) and waits for its block. */
async function transfer(
  appId: string,
  key: string,
  chainId: number,
  signer: ReturnType<typeof privateKeyToAccount>,
  nonce: number,
) {
  const raw = await signer.signTransaction({
    chainId,
    nonce,
    to: `0x${'ab'.repeat(20)}`,
    value: 0n,
    gas: 21_000n,
    gasPrice: 0n,
    type: 'legacy',
  });
  const res = await fetch(`${dev.baseUrl}/api/v1/apps/${appId}/transactions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ raw, waitMs: 20_000 }),
  });
  const body = (await res.json()) as { status: string; receipt?: { gasUsed: string; status: number } };
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.receipt).toMatchObject({ gasUsed: '21000', status: 1 });
}

type UsageAnswer = {
  series: { bucketStart: number; requests: number; transactions: number; gas: number; storageBytes: number }[];
  totals: { requests: number; transactions: number; gas: number; storageByteHours: number };
  plan: {
    name: string;
    limits?: { requestsPerSec: number; txPerSec: number };
    perBucket?: { requests: number; transactions: number };
  };
  bucketMs: number;
};
type BillAnswer = {
  bill: { month: string; plan: string; lines: { item: string; quantity: number; amountCents: number }[]; totalCents: number };
  provisional: boolean;
};

describe.each(ENGINES)('usage and bills on $name', ({ make }) => {
  let engine: Engine;
  let portal: Portal;
  let collector: UsageCollector;
  const errors: unknown[] = [];
  const suffix = randomBytes(3).toString('hex');
  const appId = `meter-${suffix}`;
  const email = `meter-${suffix}@example.com`;
  let app: { chainId: number; clientKey: string; portalKey: string };

  beforeAll(async () => {
    engine = make();
    portal = await startPortal({
      db: (await engine.fresh()).open(),
      gateways: [dev.baseUrl],
      masterKey: randomBytes(32),
      port: 0,
      accounts: { scrypt: { N: 1024 } },
      // The test runs the collector's rounds itself.
      usageIntervalMs: 0,
    });
    const call = client(portal.url);
    expect((await call('POST', '/api/auth/signup', { email, name: 'Meter', password: 'correct horse battery' })).status).toBe(
      201,
    );
    app = await makeApp(portal, call, appId, 'standard');
    await served(appId, app.clientKey);
    // Rounds run when the test says: the interval is longer than the test.
    collector = startUsageCollector(portal.ctx, { intervalMs: 3_600_000, onError: (id, err) => errors.push([id, err]) });
  }, 120_000);

  afterAll(async () => {
    await collector?.stop();
    await portal?.close();
    await engine?.cleanup();
  });

  it('default: what clients did through the gateway is recorded once, and a node restart neither loses nor doubles it', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email, password: 'correct horse battery' });
    // The first round only learns where the counters stand: the node started before the collector.
    await collector.collect();
    expect(errors).toEqual([]);
    // Storage is a level: the ledger's size is recorded once in the hour, as the node reports it.
    const first = (await call<UsageAnswer>('GET', `/api/apps/${appId}/usage`)).body.totals;
    const { storageByteHours: stored, ...counted } = first;
    expect(counted).toEqual({ requests: 0, transactions: 0, gas: 0 });
    const health = (await (await fetch(`${dev.baseUrl}/healthz`)).json()) as { ledgers: { id: string; storageBytes: number }[] };
    const size = health.ledgers.find((l) => l.id === appId)?.storageBytes as number;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(size);
    // Counted usage, with the storage level set aside (a round in a new hour samples it again).
    const countedOf = (t: UsageAnswer['totals']) => {
      expect(t.storageByteHours).toBeGreaterThanOrEqual(stored);
      const { storageByteHours: _level, ...rest } = t;
      return rest;
    };

    const signer = privateKeyToAccount(bytesToHex(generateSecp256k1PrivateKey()) as `0x${string}`);
    const url = `${dev.baseUrl}/v1/${appId}/${app.clientKey}`;
    for (let i = 0; i < 5; i++) await rpcCall(url, 'eth_blockNumber');
    await transfer(appId, app.clientKey, app.chainId, signer, 0);
    await transfer(appId, app.clientKey, app.chainId, signer, 1);
    await collector.collect();
    // A second round with nothing new in between adds nothing: the collector's own reads are not usage.
    await collector.collect();
    expect(errors).toEqual([]);
    let usage = (await call<UsageAnswer>('GET', `/api/apps/${appId}/usage`)).body;
    expect(countedOf(usage.totals)).toEqual({ requests: 7, transactions: 2, gas: 42_000 });
    expect(usage.series.length).toBeGreaterThanOrEqual(1);
    expect(usage.series.every((b) => b.bucketStart % usage.bucketMs === 0)).toBe(true);

    // The node restarts: its gateway's counters start again from zero.
    const counters = async () => {
      const res = await fetch(`${dev.baseUrl}/api/v1/apps/${appId}/usage`, {
        headers: { authorization: `Bearer ${app.portalKey}` },
      });
      return (await res.json()) as { since: number; total: { requests: number } };
    };
    const before = await counters();
    await dev.restart();
    portal.ctx.network.refresh();
    await served(appId, app.clientKey);
    const after = await counters();
    expect(after.since).toBeGreaterThan(before.since);
    expect(after.total.requests).toBeLessThan(before.total.requests);
    for (let i = 0; i < 3; i++) await rpcCall(url, 'eth_blockNumber');
    await transfer(appId, app.clientKey, app.chainId, signer, 2);
    errors.length = 0;
    await collector.collect();
    expect(errors).toEqual([]);
    usage = (await call<UsageAnswer>('GET', `/api/apps/${appId}/usage`)).body;
    // After the restart: served()'s one answered call (refused calls are not metered), the test's
    // read of the counters (the gateway cannot tell it from a client's), three reads and one
    // transfer. The test's read just before the restart is lost with the old counters: what a node
    // counts between the last round and its restart is never seen.
    expect(countedOf(usage.totals)).toEqual({ requests: 7 + 1 + 1 + 3 + 1, transactions: 3, gas: 63_000 });
  }, 120_000);

  it('default: the usage route gives the plan’s limits from the system ledger, per second and per hourly bucket', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email, password: 'correct horse battery' });
    const plans = await rpcCall<{ name: string; limits: { requestsPerSec: number; txPerSec: number } }[]>(
      `${dev.baseUrl}/v1/system`,
      'gov_listPlans',
    );
    const standard = plans.find((p) => p.name === 'standard')?.limits;
    expect(standard).toBeDefined();
    const usage = (await call<UsageAnswer>('GET', `/api/apps/${appId}/usage`)).body;
    expect(usage.plan).toMatchObject({
      name: 'standard',
      limits: standard,
      perBucket: { requests: (standard?.requestsPerSec ?? 0) * 3600, transactions: (standard?.txPerSec ?? 0) * 3600 },
    });
    const bad = await call('GET', `/api/apps/${appId}/usage?from=10&to=5`);
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/before/);
  });

  it('default: a month’s bill prices its usage with PRICES, line by line', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email, password: 'correct horse battery' });
    const at = Date.UTC(2024, 1, 10, 13, 30);
    await recordUsage(portal.ctx.db, { appId, at, requests: 1_234_567, transactions: 45_678, gas: 987_654_321 });
    await recordUsage(portal.ctx.db, { appId, at: at + 3_600_000, requests: 1_000, transactions: 22, gas: 345_679 });
    const res = await call<BillAnswer>('GET', `/api/apps/${appId}/bill?month=2024-02`);
    expect(res.status).toBe(200);
    const p = PRICES.standard as (typeof PRICES)[string];
    const expected = {
      base: p.baseCents,
      requests: Math.round((1_235_567 * p.per1kRequestsCents) / 1_000),
      transactions: Math.round((45_700 * p.per1kTransactionsCents) / 1_000),
      gas: Math.round((988_000_000 * p.perMillionGasCents) / 1_000_000),
      storage: 0,
    };
    expect(Object.fromEntries(res.body.bill.lines.map((l) => [l.item, l.amountCents]))).toEqual(expected);
    expect(res.body.bill.lines.find((l) => l.item === 'requests')?.quantity).toBe(1_235_567);
    expect(res.body.bill.totalCents).toBe(Object.values(expected).reduce((a, b) => a + b, 0));
    expect(res.body).toMatchObject({ provisional: false, bill: { month: '2024-02', plan: 'standard' } });

    // This month's bill is provisional and holds what the collector recorded.
    const now = await call<BillAnswer>('GET', `/api/apps/${appId}/bill`);
    expect(now.body.provisional).toBe(true);
    expect(now.body.bill.lines.find((l) => l.item === 'transactions')?.quantity).toBe(3);
    expect(now.body.bill.lines.find((l) => l.item === 'gas')?.quantity).toBe(63_000);
  });

  it('error: a malformed month, and a plan without a price, are refused in plain words', async () => {
    const call = client(portal.url);
    await call('POST', '/api/auth/signin', { email, password: 'correct horse battery' });
    const bad = await call('GET', `/api/apps/${appId}/bill?month=2024-13`);
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/YYYY-MM/);
    const unpriced = `dedi-${suffix}`;
    await makeApp(portal, call, unpriced, 'pilot');
    const res = await call('GET', `/api/apps/${unpriced}/bill?month=2024-02`);
    expect(res.status).toBe(409);
    expect(res.body.error?.code).toBe('PLAN_NOT_PRICED');
    expect(res.body.error?.message).toMatch(/pilot/);
  }, 60_000);

  it('error: signed out, or another organisation’s app, is refused', async () => {
    expect((await fetch(`${portal.url}/api/apps/${appId}/usage`)).status).toBe(401);
    const other = client(portal.url);
    await other('POST', '/api/auth/signup', {
      email: `other-${suffix}@example.com`,
      name: 'O',
      password: 'correct horse battery',
    });
    expect((await other('GET', `/api/apps/${appId}/usage`)).status).toBe(403);
    expect((await other('GET', `/api/apps/${appId}/bill`)).status).toBe(403);
  });
});
