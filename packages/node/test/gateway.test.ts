/**
 * The gateway's access control, limits and metering, over real HTTP against a real node:
 * - isolation: no key, a malformed, wrong or revoked key, a key of another app, scopes, method,
 *   contract, IP and origin allowlists, in single requests and in batches;
 * - quotas: a burst over a plan's limit gets 429 with Retry-After and -32005, and every admitted
 *   request is served; per-key limits; the transactions-per-second limit;
 * - metering: the usage route and the Prometheus metrics; access logs without key material.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Wallet } from 'ethers';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineRoute, registerRoutes } from '../src/gateway/rest/route.js';
import { createApiKey, type NewKeyOptions, parseApiKey, readAccessFile, writeAccessFile } from '../src/index.js';
import { type DevNode, startDevNode } from './devNode.js';

type RpcError = { code: number; message: string; data?: unknown };
type RpcResponse = { jsonrpc: '2.0'; id: string | number | null; result?: unknown; error?: RpcError };

const OTHER_APP = { id: 'other', chainId: 31338 };
const RELOAD_MS = 100;

let dev: DevNode;
const logLines: string[] = [];

/** Adds a key to the node's access file and returns it. */
function addKey(options: NewKeyOptions & { plan?: string }): { key: string; id: string } {
  const file = readAccessFile(dev.accessFile);
  const { key, record } = createApiKey(options);
  file.keys.push(record);
  if (options.plan) file.apps[options.appId] = { plan: options.plan };
  writeAccessFile(dev.accessFile, file);
  return { key, id: record.id };
}

/** Waits until the gateway has re-read the access file. */
const reloaded = () => new Promise((done) => setTimeout(done, RELOAD_MS * 4));

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${dev.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

const req = (method: string, params: unknown[] = [], id: number | string = 1) => ({ jsonrpc: '2.0', id, method, params });

function sign(wallet: Wallet, nonce: number, chainId: number, to = `0x${'be'.repeat(20)}`): Promise<string> {
  return wallet.signTransaction({
    type: 2,
    chainId,
    nonce,
    to,
    gasLimit: 21_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
}

async function receipt(path: string, hash: string): Promise<Record<string, string>> {
  for (let i = 0; i < 500; i++) {
    const { json } = await post(path, req('eth_getTransactionReceipt', [hash]));
    const r = json as RpcResponse;
    if (r.result) return r.result as Record<string, string>;
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error(`no receipt for ${hash}`);
}

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  dev = await startDevNode({
    moreLedgers: [OTHER_APP],
    gateway: { reloadMs: RELOAD_MS },
    logger: pino({ level: 'info' }, sink),
  });
  // The other app is on the free plan: 50 requests/s, 10 transactions/s.
  const file = readAccessFile(dev.accessFile);
  file.apps[OTHER_APP.id] = { plan: 'free' };
  writeAccessFile(dev.accessFile, file);
  await reloaded();
});

afterAll(async () => {
  await dev?.close();
});

describe('isolation', () => {
  it('default: the key in the path and as a Bearer header both reach the app', async () => {
    const inPath = await post(`/v1/demo/${dev.apiKey}`, req('eth_chainId'));
    expect(inPath.status).toBe(200);
    expect((inPath.json as RpcResponse).result).toBe('0x7a69');
    const bearer = await post('/v1/demo', req('eth_chainId'), { authorization: `Bearer ${dev.apiKey}` });
    expect(bearer.status).toBe(200);
    expect((bearer.json as RpcResponse).result).toBe('0x7a69');
  });

  it('error: no key, a malformed key and a wrong key are 401 with -32040 and say what to do', async () => {
    const cases: Array<[string, string, Record<string, string>, RegExp]> = [
      ['no key', '/v1/demo', {}, /API key is required/],
      ['malformed', '/v1/demo/not-a-key', {}, /malformed/],
      ['malformed bearer', '/v1/demo', { authorization: 'Bearer abc' }, /malformed/],
      // The right id with a wrong secret: the secret is what is checked.
      ['wrong secret', `/v1/demo/${dev.apiKey.slice(0, 20)}${'A'.repeat(43)}`, {}, /not valid/],
      ['unknown id', `/v1/demo/pk_${'0'.repeat(16)}_${'A'.repeat(43)}`, {}, /not valid/],
    ];
    for (const [name, path, headers, message] of cases) {
      const res = await post(path, req('eth_chainId'), headers);
      expect(res.status, name).toBe(401);
      expect((res.json as RpcResponse).error?.code, name).toBe(-32040);
      expect((res.json as RpcResponse).error?.message, name).toMatch(message);
      expect((res.json as RpcResponse).result, name).toBeUndefined();
    }
  });

  it('error: a key of another app is 403 on this app, for a single request and for a batch', async () => {
    const other = addKey({ appId: OTHER_APP.id, scopes: ['admin'] });
    await reloaded();
    expect((await post(`/v1/${OTHER_APP.id}/${other.key}`, req('eth_chainId'))).status).toBe(200);
    const single = await post(`/v1/demo/${other.key}`, req('eth_chainId'));
    expect(single.status).toBe(403);
    expect((single.json as RpcResponse).error).toMatchObject({ code: -32043, message: expect.stringMatching(/another app/) });
    const batch = await post('/v1/demo', [req('eth_chainId', [], 1), req('eth_blockNumber', [], 2)], {
      authorization: `Bearer ${other.key}`,
    });
    expect(batch.status).toBe(403);
    expect(Array.isArray(batch.json)).toBe(false);
    expect((batch.json as RpcResponse).error?.code).toBe(-32043);
    // And the demo key cannot reach the other app.
    expect((await post(`/v1/${OTHER_APP.id}/${dev.apiKey}`, req('eth_chainId'))).status).toBe(403);
  });

  it('error: an unknown app is 404 whatever the key', async () => {
    const res = await post(`/v1/nope/${dev.apiKey}`, req('eth_chainId'));
    expect(res.status).toBe(404);
    expect((res.json as RpcResponse).error).toMatchObject({ code: -32001, message: expect.stringMatching(/nope/) });
  });

  it('error: a revoked key is refused within the reload interval, and the others go on', async () => {
    const k = addKey({ appId: 'demo', scopes: ['read'] });
    const kept = addKey({ appId: 'demo', scopes: ['read'] });
    await reloaded();
    expect((await post(`/v1/demo/${k.key}`, req('eth_chainId'))).status).toBe(200);
    const file = readAccessFile(dev.accessFile);
    const record = file.keys.find((r) => r.id === k.id);
    if (!record) throw new Error('the key is missing from the access file');
    record.revokedAt = Date.now();
    writeAccessFile(dev.accessFile, file);
    await reloaded();
    const res = await post(`/v1/demo/${k.key}`, req('eth_chainId'));
    expect(res.status).toBe(401);
    expect((res.json as RpcResponse).error?.message).toMatch(/revoked/);
    expect((await post(`/v1/demo/${kept.key}`, req('eth_chainId'))).status).toBe(200);
  });

  it("error: a method outside the key's allowlist is -32043; a batch of allowed and forbidden methods answers each on its own", async () => {
    const k = addKey({ appId: 'demo', scopes: ['read'], methods: ['eth_chainId', 'eth_blockNumber'] });
    await reloaded();
    const single = await post(`/v1/demo/${k.key}`, req('eth_getBalance', [`0x${'11'.repeat(20)}`, 'latest']));
    expect(single.status).toBe(200);
    expect((single.json as RpcResponse).error).toMatchObject({ code: -32043, message: expect.stringMatching(/eth_getBalance/) });
    const batch = await post(`/v1/demo/${k.key}`, [
      req('eth_chainId', [], 'a'),
      req('eth_getBalance', [`0x${'11'.repeat(20)}`, 'latest'], 'b'),
      req('eth_blockNumber', [], 'c'),
      req('eth_call', [{ to: `0x${'11'.repeat(20)}`, data: '0x' }, 'latest'], 'd'),
    ]);
    expect(batch.status).toBe(200);
    const answers = new Map((batch.json as RpcResponse[]).map((r) => [r.id, r]));
    expect(answers.get('a')?.result).toBe('0x7a69');
    expect(answers.get('b')?.error?.code).toBe(-32043);
    expect(answers.get('c')?.result).toMatch(/^0x[0-9a-f]+$/);
    expect(answers.get('d')?.error?.code).toBe(-32043);
  });

  it('error: a read-only key cannot send a transaction, and a write key can', async () => {
    const reader = addKey({ appId: 'demo', scopes: ['read'] });
    const writer = addKey({ appId: 'demo', scopes: ['write'] });
    await reloaded();
    const wallet = new Wallet(dev.accounts[7]?.privateKey as string);
    const raw = await sign(wallet, 0, dev.chainId);
    const refused = await post(`/v1/demo/${reader.key}`, req('eth_sendRawTransaction', [raw]));
    expect((refused.json as RpcResponse).error).toMatchObject({ code: -32043, message: expect.stringMatching(/"write"/) });
    const sent = await post(`/v1/demo/${writer.key}`, req('eth_sendRawTransaction', [raw]));
    expect((sent.json as RpcResponse).result, JSON.stringify(sent.json)).toMatch(/^0x[0-9a-f]{64}$/);
    // A write-only key reads nothing.
    const read = await post(`/v1/demo/${writer.key}`, req('eth_chainId'));
    expect((read.json as RpcResponse).error?.code).toBe(-32043);
  });

  it('error: a contract allowlist refuses calls and transactions to other contracts', async () => {
    const allowed = `0x${'a1'.repeat(20)}`;
    const k = addKey({ appId: 'demo', scopes: ['read', 'write'], contracts: [allowed] });
    await reloaded();
    const path = `/v1/demo/${k.key}`;
    const allowedCall = await post(path, req('eth_call', [{ to: allowed, data: '0x' }, 'latest']));
    expect((allowedCall.json as RpcResponse).result).toBe('0x');
    const call = await post(path, req('eth_call', [{ to: `0x${'b2'.repeat(20)}`, data: '0x' }, 'latest']));
    expect((call.json as RpcResponse).error).toMatchObject({
      code: -32043,
      message: expect.stringMatching(/contract allowlist/),
    });
    const wallet = new Wallet(dev.accounts[8]?.privateKey as string);
    const other = await post(path, req('eth_sendRawTransaction', [await sign(wallet, 0, dev.chainId, `0x${'b2'.repeat(20)}`)]));
    expect((other.json as RpcResponse).error?.code).toBe(-32043);
    const ok = await post(path, req('eth_sendRawTransaction', [await sign(wallet, 0, dev.chainId, allowed)]));
    expect((ok.json as RpcResponse).result).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('error: a key is refused from an IP or an origin outside its allowlists', async () => {
    const elsewhere = addKey({ appId: 'demo', scopes: ['read'], ips: ['10.1.2.3'] });
    const here = addKey({ appId: 'demo', scopes: ['read'], ips: ['127.0.0.1'], origins: ['https://app.example'] });
    await reloaded();
    const refused = await post(`/v1/demo/${elsewhere.key}`, req('eth_chainId'));
    expect(refused.status).toBe(403);
    expect((refused.json as RpcResponse).error?.message).toMatch(/127\.0\.0\.1/);
    expect((await post(`/v1/demo/${here.key}`, req('eth_chainId'))).status).toBe(200);
    const good = await post(`/v1/demo/${here.key}`, req('eth_chainId'), { origin: 'https://app.example' });
    expect(good.status).toBe(200);
    expect(good.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const bad = await post(`/v1/demo/${here.key}`, req('eth_chainId'), { origin: 'https://evil.example' });
    expect(bad.status).toBe(403);
    expect((bad.json as RpcResponse).error?.message).toMatch(/origin/);
    // A browser's preflight carries no key; it is answered, and the real request is what is checked.
    const preflight = await fetch(`${dev.baseUrl}/v1/demo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
  });
});

describe('quotas', () => {
  it('behavior: a burst over the free plan gets 429 with Retry-After and -32005, and every admitted request is served', async () => {
    const k = addKey({ appId: OTHER_APP.id, scopes: ['read'] });
    await reloaded();
    const burst = 150;
    const answers = await Promise.all(
      Array.from({ length: burst }, (_, i) => post(`/v1/${OTHER_APP.id}/${k.key}`, req('eth_chainId', [], i))),
    );
    const served = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(served.length + limited.length, 'every request is either served or refused with 429').toBe(burst);
    // 50 in the bucket, plus what refills while the burst is in flight.
    expect(served.length).toBeGreaterThanOrEqual(50);
    expect(served.length).toBeLessThan(burst);
    for (const a of served) expect((a.json as RpcResponse).result).toBe('0x7a6a');
    for (const a of limited) {
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((a.json as RpcResponse).error).toMatchObject({
        code: -32005,
        message: expect.stringMatching(/rate limit.*requests per second/),
      });
    }
    const wait = Number(limited[0]?.headers.get('retry-after'));
    await new Promise((done) => setTimeout(done, wait * 1000));
    expect((await post(`/v1/${OTHER_APP.id}/${k.key}`, req('eth_chainId'))).status).toBe(200);
  });

  it("behavior: a key's own limit, lower than its plan, applies to that key only", async () => {
    const slow = addKey({ appId: 'demo', scopes: ['read'], limits: { requestsPerSec: 5 } });
    await reloaded();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(`/v1/demo/${slow.key}`, req('eth_chainId', [], i))),
    );
    const served = answers.filter((a) => a.status === 200).length;
    expect(served).toBeGreaterThanOrEqual(5);
    expect(served).toBeLessThanOrEqual(7);
    expect(answers.find((a) => a.status === 429)?.json).toMatchObject({ error: { message: expect.stringMatching(/API key/) } });
    // The app's other keys are not slowed down.
    const fast = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(`/v1/demo/${dev.apiKey}`, req('eth_chainId', [], i))),
    );
    expect(fast.every((a) => a.status === 200)).toBe(true);
  });

  it('behavior: transactions over the plan rate get -32005 with Retry-After, and the admitted ones commit', async () => {
    // A fresh second so that the free plan's 10 transactions/s bucket is full.
    const k = addKey({ appId: OTHER_APP.id, scopes: ['read', 'write'] });
    await reloaded();
    await new Promise((done) => setTimeout(done, 1_100));
    const wallet = new Wallet(dev.accounts[9]?.privateKey as string);
    const raws = await Promise.all(Array.from({ length: 25 }, (_, i) => sign(wallet, i, OTHER_APP.chainId)));
    const path = `/v1/${OTHER_APP.id}/${k.key}`;
    const batch = await post(
      path,
      raws.map((raw, i) => req('eth_sendRawTransaction', [raw], i)),
    );
    expect(batch.status).toBe(200);
    expect(Number(batch.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const answers = batch.json as RpcResponse[];
    const sent = answers.filter((a) => typeof a.result === 'string');
    const refused = answers.filter((a) => a.error?.code === -32005);
    expect(sent.length + refused.length).toBe(25);
    expect(sent.length).toBeGreaterThanOrEqual(10);
    expect(sent.length).toBeLessThanOrEqual(12);
    expect(refused[0]?.error?.message).toMatch(/transactions per second/);
    // Admitted in nonce order, so they all commit.
    for (const a of sent) expect((await receipt(path, a.result as string)).status).toBe('0x1');
  });
});

describe('metering', () => {
  it("behavior: usage counts requests, transactions, gas and bytes per key, for the owner's key only", async () => {
    const owner = addKey({ appId: 'demo', scopes: ['admin'] });
    const reader = addKey({ appId: 'demo', scopes: ['read'] });
    await reloaded();
    const path = `/v1/demo/${owner.key}`;
    for (let i = 0; i < 7; i++) await post(path, req('eth_blockNumber', [], i));
    const wallet = new Wallet(dev.accounts[6]?.privateKey as string);
    const hash = (await post(path, req('eth_sendRawTransaction', [await sign(wallet, 0, dev.chainId)]))).json as RpcResponse;
    const r = await receipt(path, hash.result as string);
    const usage = await fetch(`${dev.baseUrl}/api/v1/apps/demo/usage`, { headers: { authorization: `Bearer ${owner.key}` } });
    expect(usage.status).toBe(200);
    const body = (await usage.json()) as { total: Record<string, unknown>; keys: Record<string, Record<string, unknown>> };
    const mine = body.keys[owner.id];
    // 7 reads, 1 send, and the receipt polls.
    expect(mine?.requests).toBeGreaterThanOrEqual(9);
    expect(mine?.txs).toBe(1);
    expect(mine?.gasUsed).toBe(BigInt(r.gasUsed as string).toString());
    expect(mine?.bytesIn).toBeGreaterThan(0);
    expect(mine?.bytesOut).toBeGreaterThan(0);
    expect(mine?.storageBytes).toBeGreaterThan(100);
    expect(Number(body.total.requests)).toBeGreaterThan(Number(mine?.requests));
    const refused = await fetch(`${dev.baseUrl}/api/v1/apps/demo/usage`, { headers: { authorization: `Bearer ${reader.key}` } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/"admin"/);

    const metrics = await (await fetch(`${dev.baseUrl}/metrics`)).text();
    // Over every transport (the usage request itself went through REST), the counter agrees with the usage route.
    const lines = metrics.split('\n').filter((l) => l.startsWith(`polis_gateway_requests_total{app="demo",key="${owner.id}"`));
    expect(lines.some((l) => l.includes('transport="http"'))).toBe(true);
    expect(lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0)).toBe(mine?.requests);
    expect(metrics).toMatch(/polis_gateway_throttled_total\{app="other"/);
    expect(metrics).toMatch(/polis_ledger_height\{app="demo"\} \d+/);
  });

  it('behavior: access logs name the key id and the route, never a key', async () => {
    const k = addKey({ appId: 'demo', scopes: ['read'] });
    await reloaded();
    await post(`/v1/demo/${k.key}`, req('eth_chainId'));
    await post('/v1/demo', req('eth_chainId'), { authorization: `Bearer ${k.key}` });
    await post(`/v1/demo/${k.key}xx`, req('eth_chainId'));
    // A secret is base64url and may itself hold '_': take it from the key's own parser.
    const secret = parseApiKey(k.key)?.secret as string;
    const devSecret = parseApiKey(dev.apiKey)?.secret as string;
    expect([secret.length, devSecret.length]).toEqual([43, 43]);
    const all = logLines.join('');
    expect(all).toContain(`"key":"${k.id}"`);
    expect(all).toContain('"route":"/v1/:app/:key"');
    expect(
      logLines.filter((l) => l.includes(devSecret) || l.includes(secret)),
      'log lines holding a key secret',
    ).toEqual([]);
  });
});

describe('webhooks', () => {
  it('error: by default a hook to a private address is never called, and its deliveries say why', async () => {
    let calls = 0;
    const receiver = createServer((_req, res) => {
      calls++;
      res.end('ok');
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    try {
      const port = (receiver.address() as AddressInfo).port;
      const headers = { authorization: `Bearer ${dev.apiKey}`, 'content-type': 'application/json' };
      const created = await fetch(`${dev.baseUrl}/api/v1/apps/demo/webhooks`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ notifyUrl: `http://127.0.0.1:${port}/hook`, events: { type: 'blocks' } }),
      });
      expect(created.status).toBe(201);
      const hook = (await created.json()) as { id: string };
      let lastError = '';
      for (let i = 0; i < 100 && lastError === ''; i++) {
        await new Promise((done) => setTimeout(done, 100));
        const list = await fetch(`${dev.baseUrl}/api/v1/apps/demo/webhooks/${hook.id}/deliveries`, { headers });
        const body = (await list.json()) as { deliveries: { lastError: string | null }[] };
        lastError = body.deliveries.find((d) => d.lastError)?.lastError ?? '';
      }
      expect(lastError).toMatch(/private address.*allowPrivateTargets/);
      expect(calls).toBe(0);
      await fetch(`${dev.baseUrl}/api/v1/apps/demo/webhooks/${hook.id}`, { method: 'DELETE', headers });
    } finally {
      receiver.close();
    }
  });
});

describe('hygiene', () => {
  it('error: a REST route that outlives its timeout is answered 504 with what to do', async () => {
    const ctx = { ...dev.node.gateway.ctx, config: { ...dev.node.gateway.ctx.config, requestTimeoutMs: 100 } };
    const app = Fastify();
    const slow = defineRoute({
      method: 'GET',
      path: '/api/v1/apps/{id}/slow',
      summary: 'a route slower than the timeout',
      tag: 'test',
      scope: 'read',
      response: z.object({}),
      handler: () => new Promise((done) => setTimeout(() => done({}), 2_000)),
    });
    registerRoutes(app, ctx, [slow]);
    try {
      const t = performance.now();
      const res = await app.inject({
        method: 'GET',
        url: '/api/v1/apps/demo/slow',
        headers: { authorization: `Bearer ${dev.apiKey}` },
      });
      expect(res.statusCode).toBe(504);
      expect(res.json()).toMatchObject({
        error: { code: 'TIMEOUT', message: expect.stringMatching(/within 100 ms.*look it up/) },
      });
      expect(performance.now() - t).toBeLessThan(1_500);
    } finally {
      await app.close();
    }
  });

  it('error: an over-long path segment is 414 in the error shape, without echoing the URL', async () => {
    const secretish = `pk_${'ab'.repeat(200)}`;
    const res = await post(`/v1/demo/${secretish}`, req('eth_chainId'));
    expect(res.status).toBe(414);
    expect(res.json).toMatchObject({ error: { code: 'URI_TOO_LONG', message: expect.stringMatching(/longer than 256/) } });
    expect(JSON.stringify(res.json)).not.toContain('abab');
    const bad = await fetch(`${dev.baseUrl}/api/v1/apps/%E0%A4%A/blocks/latest`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_URL' } });
  });

  it('error: JSON nested deeper than the limit is refused with a message, and the gateway goes on', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const res = await post(`/v1/demo/${dev.apiKey}`, deep);
    expect(res.status).toBe(200);
    expect((res.json as RpcResponse).error).toMatchObject({ code: -32700, message: expect.stringMatching(/deeper than 64/) });
    expect((await post(`/v1/demo/${dev.apiKey}`, req('eth_chainId'))).status).toBe(200);
  });
});
