/**
 * Webhooks against a node started in-process, delivering to a real HTTP receiver on 127.0.0.1:
 * signed deliveries of Transfer logs, transaction outcomes and blocks; retries with exponential
 * backoff until delivered or failed; pending deliveries across a restart; catch-up on blocks
 * committed while the webhooks were closed; the pending-queue bound; and the REST errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  type Abi,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  type Hash,
  http,
  type PrivateKeyAccount,
  toEventSelector,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../src/gateway/context.js';
import { createHttpServer } from '../src/gateway/http.js';
import { registerRoutes } from '../src/gateway/rest/route.js';
import {
  HOOKS_PER_APP_MAX,
  signWebhook,
  verifyWebhookSignature,
  Webhooks,
  type WebhooksOptions,
} from '../src/gateway/webhooks.js';
import { grantAppKey } from '../src/index.js';
import { type DevNode, startDevNode, TEST_APP } from './devNode.js';
import { compileTestToken } from './fixtures/compile.js';

const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 400;
const MAX_ATTEMPTS = 6;
const TIMEOUT_MS = 2000;
const OTHER_APP = { id: 'other', chainId: 31338 } as const;
const TRANSFER_TOPIC = toEventSelector('Transfer(address,address,uint256)');
const BOB = getAddress(`0x${'b1'.repeat(20)}`);

// ---- A receiver: a real HTTP server that records every request and answers as told per path ----

type Answer = number | { status: number; delayMs: number };

type Received = {
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact raw body. */
  raw: Buffer;
  json: { id: string; hookId: string; app: string; type: string; createdAt: number; data: Record<string, unknown> };
  at: number;
  status: number;
};

type Receiver = {
  base: string;
  received: Received[];
  /** How to answer the n-th (0-based) request to a path; 200 when not set. */
  answers: Map<string, (n: number) => Answer>;
  at(path: string): Received[];
  close(): Promise<void>;
};

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const answers = new Map<string, (n: number) => Answer>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = received.filter((r) => r.path === path).length;
      const a = (answers.get(path) ?? (() => 200))(n);
      const { status, delayMs } = typeof a === 'number' ? { status: a, delayMs: 0 } : a;
      const raw = Buffer.concat(chunks);
      received.push({ path, headers: req.headers, raw, json: JSON.parse(raw.toString('utf8')), at: Date.now(), status });
      const reply = () => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      };
      if (delayMs > 0) setTimeout(reply, delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    base: `http://127.0.0.1:${port}`,
    received,
    answers,
    at: (path) => received.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- The node, the token and the clients ----

let dev: DevNode;
let receiver: Receiver;
let abi: Abi;
let token: `0x${string}`;
let alice: PrivateKeyAccount;
let carol: PrivateKeyAccount;

function clients(account: PrivateKeyAccount) {
  const url = dev.rpcUrl;
  const chain = defineChain({
    id: dev.chainId,
    name: 'Polis test ledger',
    nativeCurrency: { name: 'none', symbol: 'NONE', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  return {
    pub: createPublicClient({ chain, transport: http(url), pollingInterval: 20 }),
    wallet: createWalletClient({ chain, transport: http(url), account, pollingInterval: 20 }),
  };
}

async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(dev.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

type RawReceipt = {
  transactionHash: string;
  blockNumber: string;
  blockHash: string;
  status: string;
  logs: Array<Record<string, unknown> & { logIndex: string }>;
};

/** Sends `count` token transfers from `from` with consecutive nonces, and returns their receipts (JSON-RPC JSON). */
async function transfers(count: number, options: { from?: PrivateKeyAccount; gas?: bigint } = {}): Promise<RawReceipt[]> {
  const { pub, wallet } = clients(options.from ?? alice);
  const nonce = await pub.getTransactionCount({ address: wallet.account.address, blockTag: 'pending' });
  const hashes: Hash[] = [];
  for (let i = 0; i < count; i++) {
    hashes.push(
      await wallet.writeContract({
        address: token,
        abi,
        functionName: 'transfer',
        args: [BOB, BigInt(i + 1)],
        nonce: nonce + i,
        // An explicit gas limit: a transfer that reverts is still sent (and fails in its block).
        gas: options.gas ?? 100_000n,
      }),
    );
  }
  for (const hash of hashes) await pub.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: 20_000 });
  return Promise.all(hashes.map((h) => rpc('eth_getTransactionReceipt', [h]) as Promise<RawReceipt>));
}

/** The delivery id of a log event. */
const logDeliveryId = (hookId: string, log: { blockNumber?: unknown; logIndex: string }) =>
  `${hookId}:${Number(log.blockNumber)}:${Number(log.logIndex)}`;

// ---- REST ----

type ApiAnswer = {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string; issues?: string[] } };
};

async function api(method: string, path: string, body?: unknown, key = dev.apiKey, base = dev.baseUrl): Promise<ApiAnswer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as ApiAnswer['body'] };
}

type Created = { id: string; secret: string };

async function createHook(body: unknown, base = dev.baseUrl): Promise<Created> {
  const r = await api('POST', `/api/v1/apps/${TEST_APP.id}/webhooks`, body, dev.apiKey, base);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as unknown as Created;
}

type DeliveryJson = {
  id: string;
  status: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
};
type Deliveries = { pending: number; pendingMax: number; dropped: number; deliveries: DeliveryJson[] };

async function deliveriesOf(hookId: string, base = dev.baseUrl): Promise<Deliveries> {
  const r = await api('GET', `/api/v1/apps/${TEST_APP.id}/webhooks/${hookId}/deliveries`, undefined, dev.apiKey, base);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as unknown as Deliveries;
}

const logsHook = (path: string) => ({
  notifyUrl: `${receiver.base}${path}`,
  events: { type: 'logs', address: token, topics: [TRANSFER_TOPIC] },
});

/** The 2xx answers per delivery id at `path`. */
function deliveredCounts(path: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of receiver.at(path)) {
    if (r.status >= 200 && r.status < 300) counts.set(r.json.id, (counts.get(r.json.id) ?? 0) + 1);
  }
  return counts;
}

/** The delivery `id` of `hookId` once it is no longer pending (polls the deliveries list). */
async function settled(hookId: string, id: string): Promise<DeliveryJson | undefined> {
  for (let i = 0; i < 100; i++) {
    const found = (await deliveriesOf(hookId)).deliveries.find((x) => x.id === id);
    if (found && found.status !== 'pending') return found;
    await sleep(20);
  }
  return (await deliveriesOf(hookId)).deliveries.find((x) => x.id === id);
}

/** A second Webhooks instance on the running node's ledgers, with its own store and its own REST server. */
async function openStandalone(ctx: GatewayContext, options: WebhooksOptions = {}) {
  const webhooks = await Webhooks.open(ctx, options);
  const app: FastifyInstance = createHttpServer(ctx, dev.dir);
  registerRoutes(app, ctx, webhooks.routes);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    webhooks,
    base,
    async close() {
      await app.close();
      await webhooks.close();
    },
  };
}

beforeAll(async () => {
  const [node, compiled, rec] = await Promise.all([
    startDevNode({
      gateway: {
        reloadMs: 100,
        webhooks: {
          retryBaseMs: RETRY_BASE_MS,
          retryMaxMs: RETRY_MAX_MS,
          maxAttempts: MAX_ATTEMPTS,
          timeoutMs: TIMEOUT_MS,
          allowPrivateTargets: true,
        },
      },
      moreLedgers: [OTHER_APP],
    }),
    compileTestToken(),
    startReceiver(),
  ]);
  dev = node;
  receiver = rec;
  abi = compiled.abi as unknown as Abi;
  alice = privateKeyToAccount(dev.accounts[0]?.privateKey as `0x${string}`);
  carol = privateKeyToAccount(dev.accounts[1]?.privateKey as `0x${string}`);
  const { pub, wallet } = clients(alice);
  const hash = await wallet.deployContract({ abi, bytecode: compiled.bytecode, args: [10n ** 24n] });
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: 20_000 });
  token = receipt.contractAddress as `0x${string}`;
}, 60_000);

afterAll(async () => {
  await dev?.close();
  await receiver?.close();
});

describe('webhooks', () => {
  it('default: a Transfer log is delivered once, signed over the exact body, with the receipt log as data', async () => {
    const hook = await createHook({ ...logsHook('/default'), description: 'transfers' });
    expect(hook.id).toMatch(/^wh_[0-9a-f]{32}$/);
    expect(hook.secret).toMatch(/^[0-9a-f]{64}$/);

    const [receipt] = await transfers(1);
    const log = receipt?.logs[0];
    expect(log).toBeDefined();
    const id = logDeliveryId(hook.id, log as RawReceipt['logs'][number]);
    await waitFor('the delivery of the Transfer log', () => receiver.at('/default').length > 0);
    const [got] = receiver.at('/default');
    if (!got) throw new Error('no delivery');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-polis-delivery']).toBe(id);
    expect(got.json).toMatchObject({ id, hookId: hook.id, app: TEST_APP.id, type: 'logs' });
    expect(got.json.data).toEqual(log);
    const timestamp = got.headers['x-polis-timestamp'] as string;
    const signature = got.headers['x-polis-signature'] as string;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: hook.secret, timestamp, body: got.raw, signature })).toBe(true);
    // The signature covers the exact bytes, the timestamp and the secret.
    const altered = Buffer.from(got.raw.toString('utf8').replace('"logs"', '"blocks"'));
    expect(verifyWebhookSignature({ secret: hook.secret, timestamp, body: altered, signature })).toBe(false);
    expect(
      verifyWebhookSignature({ secret: hook.secret, timestamp: String(Number(timestamp) + 1), body: got.raw, signature }),
    ).toBe(false);
    expect(verifyWebhookSignature({ secret: 'ab'.repeat(32), timestamp, body: got.raw, signature })).toBe(false);
    expect(
      verifyWebhookSignature({ secret: hook.secret, timestamp, body: got.raw, signature, now: Number(timestamp) + 10 * 60_000 }),
    ).toBe(false);
    expect(signWebhook(hook.secret, timestamp, got.raw)).toBe(signature);

    // The list shows the hook without its secret; the deliveries list shows it delivered.
    const list = await api('GET', `/api/v1/apps/${TEST_APP.id}/webhooks`);
    expect(list.status).toBe(200);
    const shown = (list.body.webhooks as Array<Record<string, unknown>>).find((h) => h.id === hook.id);
    expect(shown).toMatchObject({ notifyUrl: `${receiver.base}/default`, description: 'transfers', app: TEST_APP.id });
    expect(JSON.stringify(list.body)).not.toContain(hook.secret);
    // The outcome is recorded just after the receiver answers.
    const d = await settled(hook.id, id);
    expect(d).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 200 });
    expect(receiver.at('/default').map((r) => r.json.id)).toEqual([id]);
    expect((await api('DELETE', `/api/v1/apps/${TEST_APP.id}/webhooks/${hook.id}`)).status).toBe(200);
  });

  it('default: tx hooks report success and failure; block hooks report each block; a deleted hook gets nothing more', async () => {
    const txHook = await createHook({ notifyUrl: `${receiver.base}/tx`, events: { type: 'tx', to: token } });
    const blockHook = await createHook({ notifyUrl: `${receiver.base}/blocks`, events: { type: 'blocks' } });
    const [ok] = await transfers(1);
    // Carol holds no tokens: her transfer reverts in its block.
    const [failed] = await transfers(1, { from: carol });
    expect(ok?.status).toBe('0x1');
    expect(failed?.status).toBe('0x0');
    await waitFor('both tx deliveries', () => receiver.at('/tx').length >= 2);
    const byHash = new Map(receiver.at('/tx').map((r) => [r.json.data.hash, r.json]));
    expect(byHash.get(ok?.transactionHash)?.data).toMatchObject({
      status: 'success',
      blockNumber: ok?.blockNumber,
      blockHash: ok?.blockHash,
      from: alice.address.toLowerCase(),
      to: token.toLowerCase(),
      contractAddress: null,
    });
    expect(byHash.get(failed?.transactionHash)?.data).toMatchObject({ status: 'failed', from: carol.address.toLowerCase() });

    await waitFor('a block delivery', () => receiver.at('/blocks').length > 0);
    const first = receiver.at('/blocks')[0]?.json;
    const block = (await rpc('eth_getBlockByNumber', [first?.data.number, false])) as Record<string, unknown> & {
      transactions: unknown[];
    };
    expect(first?.type).toBe('blocks');
    expect(first?.data).toEqual({
      number: block.number,
      hash: block.hash,
      parentHash: block.parentHash,
      timestamp: block.timestamp,
      txCount: `0x${block.transactions.length.toString(16)}`,
      gasUsed: block.gasUsed,
    });

    for (const h of [txHook, blockHook]) {
      expect((await api('DELETE', `/api/v1/apps/${TEST_APP.id}/webhooks/${h.id}`)).status).toBe(200);
    }
    expect((await api('GET', `/api/v1/apps/${TEST_APP.id}/webhooks/${blockHook.id}/deliveries`)).status).toBe(404);
    // Blocks keep coming (the heartbeat), but the deleted hook receives none of them.
    await sleep(200);
    const seen = receiver.at('/blocks').length;
    await sleep(800);
    expect(receiver.at('/blocks').length).toBe(seen);
  });

  it('behavior: a failing receiver sees the same delivery retried with growing gaps, then never again once it answers 200', async () => {
    const failures = 3;
    receiver.answers.set('/retry', (n) => (n < failures ? 500 : 200));
    const hook = await createHook(logsHook('/retry'));
    const [receipt] = await transfers(1);
    const id = logDeliveryId(hook.id, receipt?.logs[0] as RawReceipt['logs'][number]);
    await waitFor('a 200 answer', () => receiver.at('/retry').some((r) => r.status === 200));
    // Long enough for several more retries, were any still scheduled.
    await sleep(4 * RETRY_MAX_MS);
    const got = receiver.at('/retry');
    expect(got.map((r) => r.json.id)).toEqual(Array(failures + 1).fill(id));
    expect(got.map((r) => r.status)).toEqual([500, 500, 500, 200]);
    const gaps = got.slice(1).map((r, i) => r.at - (got[i] as Received).at);
    gaps.forEach((gap, i) => {
      // Timers never fire much early; they may fire late on a busy machine, so only the lower bound is exact.
      expect(gap, `gap ${i}`).toBeGreaterThanOrEqual(RETRY_BASE_MS * 2 ** i - 5);
    });
    expect(gaps[2] as number).toBeGreaterThan(gaps[0] as number);
    // Every attempt is signed afresh over the same body.
    expect(new Set(got.map((r) => r.raw.toString('utf8'))).size).toBe(1);
    const d = await deliveriesOf(hook.id);
    expect(d.deliveries.find((x) => x.id === id)).toMatchObject({
      status: 'delivered',
      attempts: failures + 1,
      lastStatus: 200,
      lastError: null,
      nextAttemptAt: null,
    });
    expect((await api('DELETE', `/api/v1/apps/${TEST_APP.id}/webhooks/${hook.id}`)).status).toBe(200);
  });

  it('behavior: after maxAttempts failures (timeouts included) a delivery is kept as failed and the next one goes out', async () => {
    // The first answer comes after the timeout; every other one is a 500, except for later events.
    receiver.answers.set('/fail', (n) => (n === 0 ? { status: 200, delayMs: TIMEOUT_MS + 500 } : n < MAX_ATTEMPTS ? 500 : 200));
    const hook = await createHook(logsHook('/fail'));
    const receipts = await transfers(2);
    const [firstId, secondId] = receipts.map((r) => logDeliveryId(hook.id, r.logs[0] as RawReceipt['logs'][number]));
    await waitFor('the second event', () => receiver.at('/fail').some((r) => r.json.id === secondId), 15_000);
    const got = receiver.at('/fail');
    expect(got.filter((r) => r.json.id === firstId)).toHaveLength(MAX_ATTEMPTS);
    const d = await deliveriesOf(hook.id);
    const first = d.deliveries.find((x) => x.id === firstId);
    expect(first).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, lastStatus: 500, nextAttemptAt: null });
    expect(first?.lastError).toContain('500');
    await waitFor('the second delivered', () => deliveredCounts('/fail').get(secondId as string) === 1);
    expect((await api('DELETE', `/api/v1/apps/${TEST_APP.id}/webhooks/${hook.id}`)).status).toBe(200);
  }, 20_000);

  it('behavior: blocks committed while the webhooks were closed are caught up, and pending deliveries resume, exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polis-webhooks-'));
    const ctx: GatewayContext = { ...dev.node.gateway.ctx, dataDir: dir };
    let open = await openStandalone(ctx);
    try {
      receiver.answers.set('/catchup', () => 500);
      const hook = await createHook(logsHook('/catchup'), open.base);
      const before = await transfers(1);
      await waitFor('a first (failing) attempt', () => receiver.at('/catchup').length > 0);
      await open.close();
      // Committed while no webhooks instance follows the ledger.
      const during = await transfers(2);
      receiver.answers.set('/catchup', () => 200);
      open = await openStandalone(ctx);
      const ids = [...before, ...during].map((r) => logDeliveryId(hook.id, r.logs[0] as RawReceipt['logs'][number]));
      await waitFor('all three delivered', () => ids.every((id) => deliveredCounts('/catchup').has(id)));
      await sleep(2 * RETRY_MAX_MS);
      expect([...deliveredCounts('/catchup')]).toEqual(ids.map((id) => [id, 1]));
      // In order: the delivered answers follow the events' order.
      expect(
        receiver
          .at('/catchup')
          .filter((r) => r.status === 200)
          .map((r) => r.json.id),
      ).toEqual(ids);
      const d = await deliveriesOf(hook.id, open.base);
      expect(d.deliveries.map((x) => [x.id, x.status])).toEqual(ids.reverse().map((id) => [id, 'delivered']));
    } finally {
      await open.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('behavior: a full pending queue drops and counts new events; close() cuts an attempt under way short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polis-webhooks-'));
    const ctx: GatewayContext = { ...dev.node.gateway.ctx, dataDir: dir };
    const pendingMax = 2;
    const open = await openStandalone(ctx, { pendingPerHookMax: pendingMax });
    let closed = false;
    try {
      // The receiver holds every request past the timeout: the first delivery stays in flight.
      receiver.answers.set('/full', () => ({ status: 200, delayMs: TIMEOUT_MS + 1000 }));
      const hook = await createHook(logsHook('/full'), open.base);
      await transfers(4);
      await waitFor('an attempt under way', () => receiver.at('/full').length > 0);
      let d = await deliveriesOf(hook.id, open.base);
      for (let i = 0; i < 100 && d.dropped < 4 - pendingMax; i++) {
        await sleep(20);
        d = await deliveriesOf(hook.id, open.base);
      }
      expect(d).toMatchObject({ pending: pendingMax, pendingMax, dropped: 4 - pendingMax });
      expect(d.deliveries.every((x) => x.status === 'pending')).toBe(true);
      const hooks = await api('GET', `/api/v1/apps/${TEST_APP.id}/webhooks`, undefined, dev.apiKey, open.base);
      expect((hooks.body.webhooks as Array<{ dropped: number }>)[0]?.dropped).toBe(4 - pendingMax);
      const started = Date.now();
      await open.close();
      closed = true;
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);
    } finally {
      if (!closed) await open.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('behavior: pending deliveries survive a node restart and each event is delivered exactly once', async () => {
    receiver.answers.set('/restart', () => 500);
    const hook = await createHook(logsHook('/restart'));
    const receipts = await transfers(3);
    const ids = receipts.map((r) => logDeliveryId(hook.id, r.logs[0] as RawReceipt['logs'][number]));
    await waitFor('a first (failing) attempt', () => receiver.at('/restart').length > 0);
    const pendingBefore = await deliveriesOf(hook.id);
    expect(pendingBefore.pending).toBe(3);
    await dev.restart();
    receiver.answers.set('/restart', () => 200);
    await waitFor('all three delivered after the restart', () => ids.every((id) => deliveredCounts('/restart').has(id)));
    await sleep(2 * RETRY_MAX_MS);
    expect([...deliveredCounts('/restart')]).toEqual(ids.map((id) => [id, 1]));
    const d = await deliveriesOf(hook.id);
    expect(d.pending).toBe(0);
    expect(d.deliveries.map((x) => x.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect((await api('DELETE', `/api/v1/apps/${TEST_APP.id}/webhooks/${hook.id}`)).status).toBe(200);
  });

  it('error: bad notifyUrl or filter is a 400 naming the field; other keys and apps are refused; the hook count is bounded', async () => {
    const path = `/api/v1/apps/${TEST_APP.id}/webhooks`;
    const bad: Array<[unknown, string]> = [
      [{ notifyUrl: 'ftp://example.com/x', events: { type: 'blocks' } }, 'notifyUrl'],
      [{ notifyUrl: 'not a url', events: { type: 'blocks' } }, 'notifyUrl'],
      [{ notifyUrl: 'http://user:pw@127.0.0.1/x', events: { type: 'blocks' } }, 'notifyUrl'],
      [{ events: { type: 'blocks' } }, 'notifyUrl'],
      [{ notifyUrl: `${receiver.base}/x`, events: { type: 'logs', address: '0x1234' } }, 'events.address'],
      [{ notifyUrl: `${receiver.base}/x`, events: { type: 'logs', topics: [null, null, null, null, null] } }, 'events.topics'],
      [{ notifyUrl: `${receiver.base}/x`, events: { type: 'logs', topics: ['0x12'] } }, 'events.topics'],
      [{ notifyUrl: `${receiver.base}/x`, events: { type: 'tx', hashes: ['nope'] } }, 'events.hashes'],
      [{ notifyUrl: `${receiver.base}/x`, events: { type: 'tx', form: token } }, 'events'],
      [{ notifyUrl: `${receiver.base}/x`, events: { type: 'everything' } }, 'events'],
    ];
    for (const [body, field] of bad) {
      const r = await api('POST', path, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error?.issues?.join('\n'), JSON.stringify(body)).toContain(`body.${field}`);
    }

    const readWrite = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['read', 'write'] });
    const otherAdmin = grantAppKey(dev.accessFile, { appId: OTHER_APP.id, plan: 'dedicated', scopes: ['admin'] });
    // The gateway re-reads the access file within reloadMs.
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      ready = (await api('GET', `/api/v1/apps/${OTHER_APP.id}`, undefined, otherAdmin)).status === 200;
      if (!ready) await sleep(50);
    }
    expect(ready).toBe(true);

    const mine = await createHook({ notifyUrl: `${receiver.base}/errors`, events: { type: 'blocks' } });
    const rw = await api('POST', path, { notifyUrl: `${receiver.base}/x`, events: { type: 'blocks' } }, readWrite);
    expect(rw.status).toBe(403);
    expect(rw.body.error?.message).toContain('admin');
    expect((await api('GET', path, undefined, readWrite)).status).toBe(403);

    // Another app's key reaches neither this app's routes nor, through its own app, this app's hooks.
    for (const [method, p] of [
      ['GET', path],
      ['GET', `${path}/${mine.id}/deliveries`],
      ['DELETE', `${path}/${mine.id}`],
    ] as const) {
      expect([401, 403, 404], `${method} ${p}`).toContain((await api(method, p, undefined, otherAdmin)).status);
    }
    const otherPath = `/api/v1/apps/${OTHER_APP.id}/webhooks`;
    expect((await api('GET', otherPath, undefined, otherAdmin)).body).toEqual({ webhooks: [] });
    expect((await api('GET', `${otherPath}/${mine.id}/deliveries`, undefined, otherAdmin)).status).toBe(404);
    expect((await api('DELETE', `${otherPath}/${mine.id}`, undefined, otherAdmin)).status).toBe(404);
    expect((await api('GET', `${path}/${mine.id}/deliveries`)).status).toBe(200);
    expect((await api('DELETE', `${path}/${mine.id}`)).status).toBe(200);
    expect((await api('DELETE', `${path}/${mine.id}`)).status).toBe(404);

    // The other app fills its webhooks (filters that never match), and one more is refused.
    const never = { notifyUrl: `${receiver.base}/never`, events: { type: 'tx', hashes: [`0x${'00'.repeat(32)}`] } };
    for (let i = 0; i < HOOKS_PER_APP_MAX; i++) {
      const r = await api('POST', otherPath, never, otherAdmin);
      expect(r.status, `hook ${i}`).toBe(201);
    }
    const over = await api('POST', otherPath, never, otherAdmin);
    expect(over.status).toBe(409);
    expect(over.body.error?.code).toBe('TOO_MANY_WEBHOOKS');
    expect(over.body.error?.message).toContain(String(HOOKS_PER_APP_MAX));
    // This app is not affected by the other app's count.
    const still = await createHook({ notifyUrl: `${receiver.base}/x`, events: { type: 'tx', hashes: [`0x${'00'.repeat(32)}`] } });
    expect((await api('DELETE', `${path}/${still.id}`)).status).toBe(200);
  }, 30_000);
});
