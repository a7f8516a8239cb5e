/**
 * JSON-RPC over WebSocket against a node started in-process: ethers' WebSocketProvider and viem's
 * webSocket transport (blocks, an ERC-20 transfer, contract events, pending transactions), raw
 * eth_subscribe (headers and logs shaped exactly as eth_getBlockByNumber and eth_getLogs answer),
 * the key checks made before the upgrade, a key revoked under an open socket, rate limits and
 * metering, and the bounds: subscriptions per socket, sockets per key, queued messages, a client
 * that does not read, and shutdown.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Contract, type EventLog, type InterfaceAbi, Wallet, WebSocketProvider } from 'ethers';
import {
  type Abi,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeEventTopics,
  getAddress,
  type Hash,
  http,
  pad,
  parseAbiItem,
  webSocket,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  WS_QUEUED_MESSAGES_MAX,
  WS_SEND_BUFFER_MAX_BYTES,
  WS_SOCKETS_PER_KEY_MAX,
  WS_SUBSCRIPTIONS_PER_SOCKET_MAX,
} from '../src/gateway/ws.js';
import { grantAppKey, readAccessFile, writeAccessFile } from '../src/index.js';
import { type DevNode, startDevNode } from './devNode.js';
import { type CompiledContract, compileTestToken } from './fixtures/compile.js';

const SUPPLY = 1_000_000n * 10n ** 18n;
const BOB = getAddress(`0x${'b2'.repeat(20)}`);
const CAROL = getAddress(`0x${'c2'.repeat(20)}`);
const DAVE = getAddress(`0x${'d2'.repeat(20)}`);
const ERIN = getAddress(`0x${'e2'.repeat(20)}`);
const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');
const TRANSFER_TOPIC = encodeEventTopics({ abi: [TRANSFER], eventName: 'Transfer' })[0] as Hash;
const OTHER_CHAIN_ID = 31338;

type RpcAnswer = { jsonrpc: '2.0'; id: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } };
type Notification = { method: 'eth_subscription'; params: { subscription: string; result: unknown } };

let dev: DevNode;
let compiled: CompiledContract;
let abi: Abi;
let chain: Chain;
let token: `0x${string}`;
let wsUrl: string;
const keys = { other: '', writeOnly: '', revoked: '', sockets: '', allowlist: '', meter: '' };

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The demo ledger's feed: every subscription is one of its listeners. */
function feed() {
  const ledger = dev.node.gateway.ctx.ledgers.get('demo');
  if (!ledger) throw new Error('the dev node serves no ledger "demo"');
  return ledger.feed;
}

const keyId = (key: string) => key.slice(3, 19);

/** A raw WebSocket JSON-RPC client that keeps every frame it receives. */
class Client {
  readonly ws: WebSocket;
  /** Frames not yet taken by `take`. */
  readonly inbox: unknown[] = [];
  /** Bytes of every text frame received. */
  bytesIn = 0;
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { pred: (m: unknown) => boolean; done: (m: unknown) => void }[] = [];
  #nextId = 1;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((done) => ws.once('close', (code, reason) => done({ code, reason: reason.toString() })));
    ws.on('message', (raw: Buffer) => {
      this.bytesIn += raw.length;
      const m = JSON.parse(raw.toString('utf8')) as unknown;
      const i = this.#waiters.findIndex((w) => w.pred(m));
      const w = this.#waiters[i];
      if (w) {
        this.#waiters.splice(i, 1);
        w.done(m);
      } else this.inbox.push(m);
    });
  }

  static open(url: string, headers?: Record<string, string>): Promise<Client> {
    return new Promise((done, fail) => {
      const ws = new WebSocket(url, headers ? { headers } : {});
      const client = new Client(ws);
      ws.once('open', () => done(client));
      ws.once('error', fail);
    });
  }

  /** A client around a socket that has just opened. */
  static wrap(ws: WebSocket): Client {
    return new Client(ws);
  }

  /** The first frame (received or to come) that matches. */
  take(pred: (m: unknown) => boolean, what: string, timeoutMs = 10_000): Promise<unknown> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return within(
      new Promise((done) => {
        this.#waiters.push({ pred, done });
      }),
      timeoutMs,
      what,
    );
  }

  answerTo(id: unknown): Promise<RpcAnswer> {
    return this.take(
      (m) => typeof m === 'object' && m !== null && !Array.isArray(m) && (m as { id?: unknown }).id === id,
      `the answer to ${String(id)}`,
    ) as Promise<RpcAnswer>;
  }

  call(method: string, params: unknown[] = []): Promise<RpcAnswer> {
    const id = this.#nextId++;
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return this.answerTo(id);
  }

  /** Sends a batch; resolves with the array answer holding the first request's id. */
  batch(requests: { id: unknown; method: string; params?: unknown[] }[]): Promise<RpcAnswer[]> {
    this.ws.send(JSON.stringify(requests.map((r) => ({ jsonrpc: '2.0', params: [], ...r }))));
    const first = requests[0]?.id;
    return this.take(
      (m) => Array.isArray(m) && m.some((a) => (a as RpcAnswer).id === first),
      `the batch answer to ${String(first)}`,
    ) as Promise<RpcAnswer[]>;
  }

  notification(subscription: string, what = `a notification of ${subscription}`, timeoutMs = 10_000): Promise<Notification> {
    return this.take(
      (m) =>
        (m as Partial<Notification>).method === 'eth_subscription' && (m as Notification).params.subscription === subscription,
      what,
      timeoutMs,
    ) as Promise<Notification>;
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

type Upgrade = { status: number; retryAfter?: string | undefined; body: string };

/** Asks for an upgrade; the HTTP status of the refusal, or 101 when a socket opened (it is closed again). */
function upgrade(url: string, headers?: Record<string, string>, ca?: Buffer): Promise<Upgrade> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(url, { ...(headers ? { headers } : {}), ...(ca ? { ca } : {}) });
    let settled = false;
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        settled = true;
        done({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body });
        req.destroy();
      });
    });
    ws.on('open', () => {
      settled = true;
      ws.close();
      done({ status: 101, body: '' });
    });
    ws.on('error', (err) => {
      if (!settled) fail(err);
    });
  });
}

/** An HTTP JSON-RPC call (POST) with the admin key. */
async function httpCall(method: string, params: unknown[] = []): Promise<RpcAnswer> {
  const res = await fetch(dev.rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  expect(res.status, method).toBe(200);
  return (await res.json()) as RpcAnswer;
}

function httpClients() {
  const account = privateKeyToAccount(dev.accounts[0]?.privateKey as `0x${string}`);
  const pub = createPublicClient({ chain, transport: http(dev.rpcUrl), pollingInterval: 20 });
  const wallet = createWalletClient({ chain, transport: http(dev.rpcUrl), account, pollingInterval: 20 });
  return { account, pub, wallet };
}

/** Sends `value` tokens from dev account 0 to `to` over HTTP and waits for the receipt. */
async function transferOverHttp(to: `0x${string}`, value: bigint) {
  const { pub, wallet } = httpClients();
  const hash = await wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [to, value] });
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: 20_000 });
  expect(receipt.status).toBe('success');
  return receipt;
}

function revoke(key: string): void {
  const file = readAccessFile(dev.accessFile);
  const record = file.keys.find((k) => k.id === keyId(key));
  if (!record) throw new Error(`no key ${keyId(key)} in the access file`);
  record.revokedAt = Date.now();
  writeAccessFile(dev.accessFile, file);
}

beforeAll(async () => {
  [dev, compiled] = await Promise.all([
    startDevNode({ gateway: { reloadMs: 100 }, moreLedgers: [{ id: 'other', chainId: OTHER_CHAIN_ID }] }),
    compileTestToken(),
  ]);
  abi = compiled.abi as unknown as Abi;
  wsUrl = `${dev.baseUrl.replace('http', 'ws')}/v1/demo/${dev.apiKey}`;
  chain = defineChain({
    id: dev.chainId,
    name: 'Polis test ledger',
    nativeCurrency: { name: 'none', symbol: 'NONE', decimals: 18 },
    rpcUrls: { default: { http: [dev.rpcUrl], webSocket: [wsUrl] } },
  });
  keys.other = grantAppKey(dev.accessFile, { appId: 'other', plan: 'free', scopes: ['read'] });
  // The demo app keeps its plan: grantAppKey sets the app's plan each time.
  const demo = (scopes: ('read' | 'write')[]) => grantAppKey(dev.accessFile, { appId: 'demo', plan: 'dedicated', scopes });
  keys.writeOnly = demo(['write']);
  keys.revoked = demo(['read']);
  keys.sockets = demo(['read']);
  keys.meter = demo(['read']);
  keys.allowlist = demo(['read']);
  const file = readAccessFile(dev.accessFile);
  const allow = file.keys.find((k) => k.id === keyId(keys.allowlist));
  if (!allow) throw new Error('the allowlist key is missing from the access file');
  allow.methods = ['eth_blockNumber'];
  writeAccessFile(dev.accessFile, file);
  // The gateway re-reads the access file within reloadMs.
  const last = `${dev.baseUrl.replace('http', 'ws')}/v1/demo/${keys.allowlist}`;
  await until(async () => (await upgrade(last)).status === 101, 'the new keys to be known');

  const { pub, wallet } = httpClients();
  const hash = await wallet.deployContract({ abi, bytecode: compiled.bytecode, args: [SUPPLY] });
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: 20_000 });
  token = receipt.contractAddress as `0x${string}`;
});

afterAll(async () => {
  await dev?.close();
});

describe('ws: ethers', () => {
  it('default: WebSocketProvider reads, sends an ERC-20 transfer with its signer, and a contract listener hears it', async () => {
    const baseline = feed().listeners;
    const provider = new WebSocketProvider(wsUrl, dev.chainId, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const httpHeight = BigInt((await httpCall('eth_blockNumber')).result as string);
      expect(BigInt(await provider.getBlockNumber())).toBeGreaterThanOrEqual(httpHeight);

      const alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
      const erc20 = new Contract(token, compiled.abi as InterfaceAbi, alice);
      const heard = new Promise<{ from: string; to: string; value: bigint; hash: string }>((done) => {
        void erc20.on('Transfer', (from: string, to: string, value: bigint, event: { log: EventLog }) => {
          if (to === CAROL) done({ from, to, value, hash: event.log.transactionHash });
        });
      });
      // The listener subscribes asynchronously; the transfer must come after it listens.
      await until(() => feed().listeners > baseline, 'the Transfer listener to subscribe');

      const nonce = await provider.getTransactionCount(alice.address, 'latest');
      const tx = await erc20.getFunction('transfer')(CAROL, 55n, { nonce });
      const receipt = await tx.wait();
      expect(receipt?.status).toBe(1);
      expect(await within(heard, 10_000, 'the Transfer event')).toEqual({
        from: alice.address,
        to: CAROL,
        value: 55n,
        hash: receipt?.hash,
      });
      expect(await erc20.getFunction('balanceOf')(CAROL)).toBe(55n);
    } finally {
      await provider.destroy();
    }
    await until(() => feed().listeners === baseline, 'the feed listeners to return to their baseline');
  });
});

describe('ws: viem', () => {
  function wsClient() {
    return createPublicClient({ chain, transport: webSocket(wsUrl, { reconnect: false }) });
  }
  async function closeClient(client: ReturnType<typeof wsClient>) {
    (await client.transport.getRpcClient()).close();
  }

  it('default: watchBlockNumber and watchBlocks see new blocks, the same as over HTTP', async () => {
    const baseline = feed().listeners;
    const client = wsClient();
    try {
      const numbers: bigint[] = [];
      const blocks: { number: bigint | null; hash: string | null; parentHash: string }[] = [];
      const unwatchNumbers = client.watchBlockNumber({ onBlockNumber: (n) => numbers.push(n) });
      const unwatchBlocks = client.watchBlocks({ onBlock: (b) => blocks.push(b) });
      await until(() => numbers.length >= 3 && blocks.length >= 3, 'three new blocks');
      unwatchNumbers();
      unwatchBlocks();
      for (const [i, n] of numbers.entries()) if (i > 0) expect(n, `block number ${i}`).toBeGreaterThan(numbers[i - 1] as bigint);
      const { pub } = httpClients();
      for (const b of blocks.slice(0, 3)) {
        const same = await pub.getBlock({ blockNumber: b.number as bigint });
        expect({ hash: b.hash, parentHash: b.parentHash }, `block ${b.number}`).toEqual({
          hash: same.hash,
          parentHash: same.parentHash,
        });
      }
    } finally {
      await closeClient(client);
    }
    await until(() => feed().listeners === baseline, 'the feed listeners to return to their baseline');
  });

  it('default: watchContractEvent hears a Transfer sent over HTTP', async () => {
    const client = wsClient();
    try {
      const seen: { hash: string | null; args: unknown }[] = [];
      const baseline = feed().listeners;
      const unwatch = client.watchContractEvent({
        address: token,
        abi,
        eventName: 'Transfer',
        args: { to: DAVE },
        onLogs: (logs) => {
          for (const l of logs) seen.push({ hash: l.transactionHash, args: (l as unknown as { args: unknown }).args });
        },
      });
      await until(() => feed().listeners > baseline, 'watchContractEvent to subscribe');
      const receipt = await transferOverHttp(DAVE, 7n);
      await until(() => seen.length >= 1, 'the Transfer event');
      unwatch();
      const { account } = httpClients();
      expect(seen).toEqual([{ hash: receipt.transactionHash, args: { from: account.address, to: DAVE, value: 7n } }]);
    } finally {
      await closeClient(client);
    }
  });

  it('default: eth_subscribe newPendingTransactions sees the hash of a sent transaction', async () => {
    const client = wsClient();
    try {
      const hashes: string[] = [];
      const errors: unknown[] = [];
      const { subscriptionId, unsubscribe } = await client.transport.subscribe({
        params: ['newPendingTransactions'],
        onData: (d) => hashes.push((d as unknown as { result: string }).result),
        onError: (e) => errors.push(e),
      });
      expect(subscriptionId).toMatch(/^0x[0-9a-f]{32}$/);
      const { pub, wallet } = httpClients();
      const hash = await wallet.sendTransaction({ to: BOB, value: 1n });
      await until(() => hashes.includes(hash), 'the pending transaction hash');
      expect((await unsubscribe()).result).toBe(true);
      expect(errors).toEqual([]);
      await pub.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: 20_000 });
    } finally {
      await closeClient(client);
    }
  });
});

describe('ws: access', () => {
  it('default: a key opens a socket in the URL or as a Bearer token, and the POST routes still answer', async () => {
    const base = dev.baseUrl.replace('http', 'ws');
    const byUrl = await Client.open(wsUrl);
    const byBearer = await Client.open(`${base}/v1/demo`, { authorization: `Bearer ${dev.apiKey}` });
    try {
      expect((await byUrl.call('eth_chainId')).result).toBe(`0x${dev.chainId.toString(16)}`);
      expect((await byBearer.call('eth_chainId')).result).toBe(`0x${dev.chainId.toString(16)}`);
    } finally {
      await Promise.all([byUrl.close(), byBearer.close()]);
    }
    expect((await httpCall('eth_chainId')).result).toBe(`0x${dev.chainId.toString(16)}`);
    // A plain GET of a JSON-RPC path is told what to do instead.
    const res = await fetch(dev.rpcUrl);
    expect(res.status).toBe(426);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/POST/);
  });

  it('error: a missing, malformed, wrong or revoked key, another app, a key without "read" or an unknown app are refused before the upgrade', async () => {
    const base = dev.baseUrl.replace('http', 'ws');
    const wrongSecret = `${dev.apiKey.slice(0, -1)}${dev.apiKey.endsWith('A') ? 'B' : 'A'}`;
    const cases: [string, string, Record<string, string> | undefined, number, number, RegExp][] = [
      ['no key', `${base}/v1/demo`, undefined, 401, -32040, /an API key is required/],
      ['a malformed key', `${base}/v1/demo/pk_nope`, undefined, 401, -32040, /malformed/],
      ['an unknown key', `${base}/v1/demo/pk_${'0'.repeat(16)}_${'A'.repeat(43)}`, undefined, 401, -32040, /not valid/],
      ['a wrong secret', `${base}/v1/demo/${wrongSecret}`, undefined, 401, -32040, /not valid/],
      ['a wrong Bearer key', `${base}/v1/demo`, { authorization: `Bearer ${wrongSecret}` }, 401, -32040, /not valid/],
      ['a key of another app', `${base}/v1/demo/${keys.other}`, undefined, 403, -32043, /belongs to another app/],
      ['a key without "read"', `${base}/v1/demo/${keys.writeOnly}`, undefined, 403, -32043, /needs "read"/],
      ['an unknown app', `${base}/v1/nope/${dev.apiKey}`, undefined, 404, -32001, /serves no app "nope"/],
    ];
    for (const [name, url, headers, status, code, message] of cases) {
      const up = await upgrade(url, headers);
      expect(up.status, name).toBe(status);
      const body = JSON.parse(up.body) as RpcAnswer;
      expect(body.error?.code, name).toBe(code);
      expect(body.error?.message, name).toMatch(message);
      // The answer never echoes the key it refused.
      expect(up.body, name).not.toContain(wrongSecret);
    }
    // The other app's key is good for its own app.
    expect((await upgrade(`${base}/v1/other/${keys.other}`)).status).toBe(101);
  });

  it('behavior: a key revoked under open sockets gets an error on its next message, and its sockets close with 1008', async () => {
    const url = `${dev.baseUrl.replace('http', 'ws')}/v1/demo/${keys.revoked}`;
    const talker = await Client.open(url);
    const listener = await Client.open(url);
    const baseline = feed().listeners;
    expect((await talker.call('eth_chainId')).error).toBeUndefined();
    const sub = (await listener.call('eth_subscribe', ['newHeads'])).result as string;
    await listener.notification(sub, 'a head before the revocation');
    expect(feed().listeners).toBe(baseline + 1);

    revoke(keys.revoked);
    // The socket that only listens is closed at the first block after the gateway re-reads the file.
    const listenerClosed = await within(listener.closed, 5_000, 'the listening socket to close');
    expect(listenerClosed.code).toBe(1008);
    expect(listenerClosed.reason).toMatch(/revoked/);
    expect(feed().listeners).toBe(baseline);

    // The socket that talks is answered with the refusal, with its id, then closed.
    let answer: RpcAnswer | undefined;
    for (let i = 0; i < 100; i++) {
      answer = await talker.call('eth_chainId');
      if (answer.error) break;
      await sleep(20);
    }
    expect(answer?.error?.code).toBe(-32040);
    expect(answer?.error?.message).toMatch(/was revoked/);
    expect(typeof answer?.id).toBe('number');
    expect((await within(talker.closed, 5_000, 'the talking socket to close')).code).toBe(1008);
    expect((await upgrade(url)).status).toBe(401);
  });

  it('error: a message over the rate limit is refused with -32005 for each request of the batch, with their ids, and the socket stays open', async () => {
    // The other app is on the free plan: 50 requests per second.
    const c = await Client.open(`${dev.baseUrl.replace('http', 'ws')}/v1/other/${keys.other}`);
    try {
      let refused: { ids: string[]; answers: RpcAnswer[] } | undefined;
      // A full bucket admits one big batch (and goes below zero); the next one is refused.
      for (let round = 0; round < 3 && !refused; round++) {
        const ids = Array.from({ length: 100 }, (_, i) => `r${round}-${i}`);
        const answers = await c.batch(ids.map((id) => ({ id, method: 'eth_chainId' })));
        if (answers.some((a) => a.error)) refused = { ids, answers };
        else expect(answers.map((a) => a.result)).toEqual(ids.map(() => `0x${OTHER_CHAIN_ID.toString(16)}`));
      }
      if (!refused) throw new Error('no batch was refused');
      expect(refused.answers.map((a) => a.id)).toEqual(refused.ids);
      for (const a of refused.answers) {
        expect(a.error?.code, String(a.id)).toBe(-32005);
        expect(a.error?.message, String(a.id)).toMatch(/rate limit exceeded/);
        expect((a.error?.data as { retryAfter?: number } | undefined)?.retryAfter, String(a.id)).toBeGreaterThanOrEqual(1);
      }
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      await c.close();
    }
  });

  it('error: eth_subscribe respects the method allowlist of a key', async () => {
    const c = await Client.open(`${dev.baseUrl.replace('http', 'ws')}/v1/demo/${keys.allowlist}`);
    try {
      expect((await c.call('eth_blockNumber')).result).toMatch(/^0x/);
      const sub = await c.call('eth_subscribe', ['newHeads']);
      expect(sub.error?.code).toBe(-32043);
      expect(sub.error?.message).toMatch(/method allowlist/);
      expect((await c.call('eth_chainId')).error?.code).toBe(-32043);
    } finally {
      await c.close();
    }
  });
});

describe('ws: subscriptions', () => {
  it('default: newHeads delivers headers equal to eth_getBlockByNumber without transactions', async () => {
    const c = await Client.open(wsUrl);
    try {
      const sub = await c.call('eth_subscribe', ['newHeads']);
      expect(sub.result).toMatch(/^0x[0-9a-f]{32}$/);
      for (let i = 0; i < 2; i++) {
        const head = (await c.notification(sub.result as string)).params.result as Record<string, unknown>;
        const block = (await httpCall('eth_getBlockByNumber', [head.number, false])).result as Record<string, unknown>;
        const { transactions: _, ...expected } = block;
        expect(head, `head ${String(head.number)}`).toEqual(expected);
      }
    } finally {
      await c.close();
    }
  });

  it('default: logs delivers one notification per matching log, equal to the eth_getLogs entries, in block order', async () => {
    const c = await Client.open(wsUrl);
    try {
      const toErin = await c.call('eth_subscribe', ['logs', { address: token, topics: [TRANSFER_TOPIC, null, pad(ERIN)] }]);
      const anyTransfer = await c.call('eth_subscribe', ['logs', { topics: [[TRANSFER_TOPIC, pad('0x01')]] }]);
      const elsewhere = await c.call('eth_subscribe', ['logs', { address: [BOB, CAROL] }]);
      const ids = [toErin, anyTransfer, elsewhere].map((a) => a.result as string);
      expect(new Set(ids).size).toBe(3);
      // Two transfers to Erin and one to Bob, sent together (explicit nonces) so that they may share a block.
      const { pub, wallet, account } = httpClients();
      const nonce = await pub.getTransactionCount({ address: account.address });
      const sends = [
        [ERIN, 1n],
        [BOB, 2n],
        [ERIN, 3n],
      ] as const;
      const hashes: Hash[] = [];
      for (const [i, [to, value]] of sends.entries()) {
        hashes.push(
          await wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [to, value], nonce: nonce + i }),
        );
      }
      const receipts = await Promise.all(hashes.map((hash) => pub.waitForTransactionReceipt({ hash, pollingInterval: 20 })));
      const from = receipts[0]?.blockNumber as bigint;
      const to = receipts[2]?.blockNumber as bigint;
      const range = { fromBlock: `0x${from.toString(16)}`, toBlock: `0x${to.toString(16)}` };
      const expectErin = (
        await httpCall('eth_getLogs', [{ ...range, address: token, topics: [TRANSFER_TOPIC, null, pad(ERIN)] }])
      ).result as unknown[];
      const expectAny = (await httpCall('eth_getLogs', [{ ...range, topics: [TRANSFER_TOPIC] }])).result as unknown[];
      expect(expectErin).toHaveLength(2);
      expect(expectAny).toHaveLength(3);
      const gotErin = [];
      for (let i = 0; i < expectErin.length; i++) gotErin.push((await c.notification(ids[0] as string)).params.result);
      const gotAny = [];
      for (let i = 0; i < expectAny.length; i++) gotAny.push((await c.notification(ids[1] as string)).params.result);
      expect(gotErin).toEqual(expectErin);
      expect(gotAny).toEqual(expectAny);
      // A block after the transfers: anything still to come for them would have come by now.
      const after = await c.call('eth_subscribe', ['newHeads']);
      await c.take(
        (m) =>
          (m as Notification).params?.subscription === after.result &&
          BigInt((m as { params: { result: { number: string } } }).params.result.number) > to,
        'a block after the transfers',
      );
      const stray = c.inbox.filter((m) => ids.includes((m as Notification).params?.subscription));
      expect(stray).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('behavior: feed listeners return to their baseline on eth_unsubscribe and when the client closes', async () => {
    const baseline = feed().listeners;
    const c = await Client.open(wsUrl);
    const kinds: unknown[][] = [['newHeads'], ['logs', { address: token }], ['newPendingTransactions']];
    const ids = [];
    for (const params of kinds) ids.push((await c.call('eth_subscribe', params)).result as string);
    expect(feed().listeners).toBe(baseline + 3);
    expect((await c.call('eth_unsubscribe', [ids[0]])).result).toBe(true);
    expect((await c.call('eth_unsubscribe', [ids[0]])).result).toBe(false);
    expect((await c.call('eth_unsubscribe', [`0x${'00'.repeat(16)}`])).result).toBe(false);
    expect(feed().listeners).toBe(baseline + 2);
    // Subscribed and unsubscribed in one batch: it never listens.
    const [made] = await c.batch([{ id: 'a', method: 'eth_subscribe', params: ['newHeads'] }]);
    const both = await c.batch([
      { id: 'b', method: 'eth_subscribe', params: ['newHeads'] },
      { id: 'c', method: 'eth_unsubscribe', params: [made?.result] },
    ]);
    expect(both.map((a) => a.error)).toEqual([undefined, undefined]);
    expect(feed().listeners).toBe(baseline + 3);
    await c.close();
    await until(() => feed().listeners === baseline, 'the feed listeners to return to their baseline');
  });

  it('error: a bad eth_subscribe or eth_unsubscribe is answered with -32602 naming what is wrong', async () => {
    const c = await Client.open(wsUrl);
    const many = Array.from({ length: 1001 }, (_, i) => `0x${i.toString(16).padStart(40, '0')}`);
    const cases: [unknown[], RegExp][] = [
      [['logs', { address: '0x12' }], /filter\.address must be 20 bytes/],
      [['logs', { address: [token, 'nope'] }], /filter\.address\[1\] must be 0x-prefixed hex/],
      [['logs', { address: many }], /filter\.address lists 1001 addresses; at most 1000/],
      [['logs', { topics: 'x' }], /filter\.topics must be an array/],
      [['logs', { topics: [1] }], /filter\.topics\[0\] must be a 32-byte topic/],
      [['logs', { topics: [[TRANSFER_TOPIC, '0x00']] }], /filter\.topics\[0\]\[1\] must be 32 bytes/],
      [['logs', { topics: [null, null, null, null, null] }], /filter\.topics has 5 positions/],
      [['logs', { fromBlock: '0x0' }], /filter\.fromBlock: .*eth_getLogs/],
      [['logs', { adress: token }], /filter\.adress is not a field/],
      [['logs', 'x'], /the logs filter must be an object/],
      [['newHeads', { x: 1 }], /newHeads takes no options/],
      [['newPendingTransactions', true], /hashes only/],
      [['syncing'], /unknown subscription "syncing"/],
      [[], /unknown subscription undefined/],
    ];
    try {
      for (const [params, message] of cases) {
        const a = await c.call('eth_subscribe', params);
        expect(a.error?.code, JSON.stringify(params).slice(0, 80)).toBe(-32602);
        expect(a.error?.message, JSON.stringify(params).slice(0, 80)).toMatch(message);
      }
      const un = await c.call('eth_unsubscribe', [42]);
      expect(un.error?.code).toBe(-32602);
      expect(un.error?.message).toMatch(/subscription id/);
      // A "latest" start is what a subscription does anyway.
      expect((await c.call('eth_subscribe', ['logs', { address: token, fromBlock: 'latest' }])).result).toMatch(/^0x/);
    } finally {
      await c.close();
    }
  });

  it('behavior: metering counts each request of a batch and every byte sent, answers and notifications', async () => {
    const c = await Client.open(`${dev.baseUrl.replace('http', 'ws')}/v1/demo/${keys.meter}`);
    const id = keyId(keys.meter);
    const usage = () => dev.node.gateway.ctx.meter.usage('demo', [id]).keys[id];
    try {
      const before = usage();
      // The upgrade is one request, and nothing was sent yet.
      expect(before?.requests).toBe(1);
      expect(before?.bytesOut).toBe(0);
      const batch = [
        { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
        { jsonrpc: '2.0', id: 2, method: 'eth_blockNumber', params: [] },
        { jsonrpc: '2.0', id: 3, method: 'eth_subscribe', params: ['newHeads'] },
      ];
      const text = JSON.stringify(batch);
      c.ws.send(text);
      const answers = (await c.take(Array.isArray, 'the batch answer')) as RpcAnswer[];
      await c.notification(answers[2]?.result as string);
      expect((await c.call('eth_unsubscribe', [answers[2]?.result])).result).toBe(true);
      const after = usage();
      expect(after?.requests).toBe(1 + 3 + 1);
      expect(after?.bytesIn).toBe(
        Buffer.byteLength(text) +
          Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_unsubscribe', params: [answers[2]?.result] })),
      );
      expect(after?.bytesOut).toBe(c.bytesIn);
    } finally {
      await c.close();
    }
  });
});

describe('ws: limits', () => {
  it(`error: subscription ${WS_SUBSCRIPTIONS_PER_SOCKET_MAX + 1} of a socket is refused with -32005`, async () => {
    const baseline = feed().listeners;
    const c = await Client.open(wsUrl);
    try {
      const answers = await c.batch(
        Array.from({ length: WS_SUBSCRIPTIONS_PER_SOCKET_MAX }, (_, i) => ({
          id: i,
          method: 'eth_subscribe',
          params: ['newHeads'],
        })),
      );
      expect(answers.filter((a) => a.error)).toEqual([]);
      expect(new Set(answers.map((a) => a.result)).size).toBe(WS_SUBSCRIPTIONS_PER_SOCKET_MAX);
      expect(feed().listeners).toBe(baseline + WS_SUBSCRIPTIONS_PER_SOCKET_MAX);
      const over = await c.call('eth_subscribe', ['newPendingTransactions']);
      expect(over.error?.code).toBe(-32005);
      expect(over.error?.message).toMatch(`this socket has ${WS_SUBSCRIPTIONS_PER_SOCKET_MAX} subscriptions`);
      // One unsubscribed makes room for one more.
      expect((await c.call('eth_unsubscribe', [answers[0]?.result])).result).toBe(true);
      expect((await c.call('eth_subscribe', ['newPendingTransactions'])).result).toMatch(/^0x/);
      expect(feed().listeners).toBe(baseline + WS_SUBSCRIPTIONS_PER_SOCKET_MAX);
    } finally {
      await c.close();
    }
    await until(() => feed().listeners === baseline, 'the feed listeners to return to their baseline');
  });

  it(`error: socket ${WS_SOCKETS_PER_KEY_MAX + 1} of a key is refused before the upgrade with 429 and Retry-After`, async () => {
    const url = `${dev.baseUrl.replace('http', 'ws')}/v1/demo/${keys.sockets}`;
    const clients = await Promise.all(Array.from({ length: WS_SOCKETS_PER_KEY_MAX }, () => Client.open(url)));
    try {
      const over = await upgrade(url);
      expect(over.status).toBe(429);
      expect(over.retryAfter).toBe('1');
      const body = JSON.parse(over.body) as RpcAnswer;
      expect(body.error?.code).toBe(-32005);
      expect(body.error?.message).toMatch(`${WS_SOCKETS_PER_KEY_MAX} open WebSockets`);
      // Another key is not held back by this one.
      expect((await upgrade(wsUrl)).status).toBe(101);
      // A closed socket frees its slot.
      await clients[0]?.close();
      await until(async () => (await upgrade(url)).status === 101, 'a slot to free up');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('error: malformed messages are answered with -32700 (or -32600) and the socket stays usable', async () => {
    const c = await Client.open(wsUrl);
    try {
      c.ws.send('{"jsonrpc": "2.0", "id": 1, "method": ');
      const parse = (await c.answerTo(null)) as RpcAnswer;
      expect(parse.error?.code).toBe(-32700);
      expect(parse.error?.message).toMatch(/not valid JSON/);
      const depth = dev.node.gateway.ctx.config.jsonDepthMax;
      c.ws.send(`${'['.repeat(depth + 1)}${']'.repeat(depth + 1)}`);
      const deep = (await c.answerTo(null)) as RpcAnswer;
      expect(deep.error?.code).toBe(-32700);
      expect(deep.error?.message).toMatch(`nests deeper than ${depth} levels`);
      c.ws.send(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}'), { binary: true });
      const binary = (await c.answerTo(null)) as RpcAnswer;
      expect(binary.error?.code).toBe(-32600);
      expect(binary.error?.message).toMatch(/text frames/);
      expect((await c.call('no_such_method')).error?.code).toBe(-32601);
      expect((await c.call('eth_chainId')).result).toBe(`0x${dev.chainId.toString(16)}`);
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      await c.close();
    }
  });

  it(`error: messages beyond the ${WS_QUEUED_MESSAGES_MAX} a socket queues are refused with -32005, and every message is answered`, async () => {
    const c = await Client.open(wsUrl);
    try {
      // Sent in one go, they arrive together while the first one is being answered.
      const n = WS_QUEUED_MESSAGES_MAX * 3;
      for (let id = 0; id < n; id++) c.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'eth_blockNumber' }));
      const answers = await Promise.all(Array.from({ length: n }, (_, id) => c.answerTo(id)));
      const refused = answers.filter((a) => a.error);
      expect(refused.length).toBeGreaterThan(0);
      expect(answers.length - refused.length).toBeGreaterThanOrEqual(WS_QUEUED_MESSAGES_MAX);
      for (const a of refused) {
        expect(a.error?.code, String(a.id)).toBe(-32005);
        expect(a.error?.message, String(a.id)).toMatch(`${WS_QUEUED_MESSAGES_MAX} messages waiting`);
      }
      expect((await c.call('eth_chainId')).result).toBe(`0x${dev.chainId.toString(16)}`);
    } finally {
      await c.close();
    }
  });

  it(`error: a client that does not read is closed with 1013 once over ${WS_SEND_BUFFER_MAX_BYTES} bytes wait for it`, async () => {
    const baseline = feed().listeners;
    const c = await Client.open(wsUrl);
    const sub = await c.call('eth_subscribe', ['newHeads']);
    expect(sub.result).toMatch(/^0x/);
    expect(feed().listeners).toBe(baseline + 1);
    c.ws.pause();
    // Each batch is answered with about 3 MB of contract code; the socket's buffers fill up.
    const batch = JSON.stringify(
      Array.from({ length: 1000 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'eth_getCode', params: [token, 'latest'] })),
    );
    let sent = 0;
    while (feed().listeners > baseline && sent < 40) {
      c.ws.send(batch);
      sent++;
      await sleep(50);
    }
    // The server gave up on the client: its subscription is gone although the client never closed.
    await until(() => feed().listeners === baseline, 'the server to close the socket');
    expect(sent).toBeGreaterThan(WS_SEND_BUFFER_MAX_BYTES / 4_000_000);
    c.ws.resume();
    const closed = await within(c.closed, 20_000, 'the close frame');
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/reads too slowly/);
  });

  it('behavior: closing the node closes open sockets with 1001 and removes their feed listeners', async () => {
    const old = feed();
    const baseline = old.listeners;
    const c = await Client.open(wsUrl);
    await c.call('eth_subscribe', ['newHeads']);
    await c.call('eth_subscribe', ['newPendingTransactions']);
    expect(old.listeners).toBe(baseline + 2);
    await dev.restart();
    const closed = await within(c.closed, 5_000, 'the socket to close');
    expect(closed.code).toBe(1001);
    // Other parts of the gateway may remove their own listeners as the node closes, never add.
    expect(old.listeners).toBeLessThanOrEqual(baseline);
    // The restarted node serves sockets again.
    wsUrl = `${dev.baseUrl.replace('http', 'ws')}/v1/demo/${dev.apiKey}`;
    const again = await Client.open(wsUrl);
    expect((await again.call('eth_chainId')).result).toBe(`0x${dev.chainId.toString(16)}`);
    await again.close();
  });
});

describe('ws: TLS', () => {
  it('behavior: wss:// opens on a gateway with TLS and HTTP/2, for a client that trusts its certificate', async () => {
    const tlsDir = fileURLToPath(new URL('./fixtures/tls/', import.meta.url));
    const secure = await startDevNode({
      gateway: { tls: { cert: `${tlsDir}cert.pem`, key: `${tlsDir}key.pem` }, http2: true },
    });
    try {
      const url = `${secure.baseUrl.replace('https', 'wss')}/v1/demo/${secure.apiKey}`;
      const c = await new Promise<Client>((done, fail) => {
        // The socket of Client.open, with the test CA: certificate checks stay on.
        const ws = new WebSocket(url, { ca: readFileSync(`${tlsDir}cert.pem`) });
        ws.once('open', () => done(Client.wrap(ws)));
        ws.once('error', fail);
      });
      try {
        expect((await c.call('eth_chainId')).result).toBe(`0x${secure.chainId.toString(16)}`);
        const sub = await c.call('eth_subscribe', ['newHeads']);
        expect((await c.notification(sub.result as string)).params.result).toHaveProperty('hash');
      } finally {
        await c.close();
      }
      expect(
        (await upgrade(`${secure.baseUrl.replace('https', 'wss')}/v1/demo/pk_nope`, undefined, readFileSync(`${tlsDir}cert.pem`)))
          .status,
      ).toBe(401);
    } finally {
      await secure.close();
    }
  });
});
