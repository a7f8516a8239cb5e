/**
 * The explorer against a real node with a system ledger, on SQLite and on PostgreSQL: a developer
 * creates an app, deploys a contract and calls it through the portal, and a client records a hash
 * with the records service. The explorer then lists the blocks, shows a block with its transactions,
 * a transaction with its input and logs decoded (the portal's contract and the built-in service),
 * an account, the records; its one search box resolves heights, hashes, addresses and DIDs; bad
 * input answers 400 in plain words; and the live socket relays new blocks to the signed-in browser
 * only, within its bounds.
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex, generateSecp256k1PrivateKey } from '@polis/core';
import { RECORDS_ABI, RECORDS_ADDRESS } from '@polis/execution';
import { encodeFunctionData, type Hex, keccak256, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type DevNode, rpcCall } from '../../node/test/devNode.js';
import { type Portal, startPortal } from '../src/index.js';
import { LIVE_SOCKETS_PER_USER_MAX } from '../src/server/routes/explorer.js';
import { portalClient, startGovernedNode } from './portalClient.js';
import { ENGINES, type Engine } from './storeFixture.js';

const ADMINS = [0, 1, 2].map((i) => ({ address: `0x${String(i + 7).repeat(40)}` }));

const GREETER = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Greeter {
    string public greeting;
    event Greeted(address indexed by, string greeting);
    constructor(string memory g) { greeting = g; }
    function greet(string calldata t) external { greeting = t; emit Greeted(msg.sender, t); }
}`;

let dev: DevNode;

beforeAll(async () => {
  dev = await startGovernedNode({ chainId: 43_000, heartbeatMs: 300, admins: ADMINS });
}, 60_000);

afterAll(async () => {
  await dev?.close();
});

const client = portalClient;

type Arg = { name: string; type: string; value: unknown; indexed?: boolean };
type Log = { address: string; contract?: string; event?: string; args?: Arg[]; matchedBy?: string };
type TxDetail = {
  hash: string;
  status: string;
  blockNumber: number;
  from: string;
  to: string | null;
  toName?: string;
  decodedInput?: { contract: string; function: string; args: Arg[] };
  created?: { address: string; name?: string };
  receipt?: { status: string; gasUsed: string };
  logs: Log[];
};
type BlockSummary = { number: number; hash: string; transactionCount: number; transactions: string[] };

/** Opens the live socket with the session cookie; resolves once open, with the messages it gets. */
function openLive(base: string, appId: string, cookie: string): Promise<{ ws: WebSocket; messages: unknown[] }> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/apps/${appId}/live`, {
    headers: { cookie, origin: base },
  });
  const messages: unknown[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  return new Promise((done, fail) => {
    ws.once('open', () => done({ ws, messages }));
    ws.once('unexpected-response', (_req, res) =>
      fail(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })),
    );
    ws.once('error', fail);
  });
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(ENGINES)('explorer on $name', ({ make }) => {
  let engine: Engine;
  let portal: Portal;
  const suffix = randomBytes(3).toString('hex');
  const appId = `exp-${suffix}`;
  const email = `explorer-${suffix}@example.com`;
  let call: ReturnType<typeof client>;
  let apiKey: string;
  let chainId: number;
  let contract: string;
  let deployTx: string;
  let greetTx: { hash: string; blockNumber: number };
  let recordTx: string;
  const recordHash = keccak256(toHex(`record ${suffix}`));
  const sender = privateKeyToAccount(bytesToHex(generateSecp256k1PrivateKey()) as Hex);

  beforeAll(async () => {
    engine = make();
    portal = await startPortal({
      db: (await engine.fresh()).open(),
      gateways: [dev.baseUrl],
      masterKey: randomBytes(32),
      port: 0,
      accounts: { scrypt: { N: 1024 } },
      usageIntervalMs: 0,
    });
    call = client(portal.url);
    expect((await call('POST', '/api/auth/signup', { email, name: 'Explorer', password: 'correct horse battery' })).status).toBe(
      201,
    );
    const created = await call<{ app: { chainId: number }; apiKey: string }>('POST', '/api/apps', {
      id: appId,
      validators: [dev.node.publicKey],
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    apiKey = created.body.apiKey;
    chainId = created.body.app.chainId;
    await until('the node to serve the app', () =>
      rpcCall(`${dev.baseUrl}/v1/${appId}/${apiKey}`, 'eth_chainId').then(
        () => true,
        () => undefined,
      ),
    );

    const started = await call<{ job: { id: string } }>('POST', `/api/apps/${appId}/contracts`, {
      source: GREETER,
      args: ['Hello'],
    });
    expect(started.status).toBe(202);
    const job = await until(
      'the deployment',
      async () => {
        const j = (
          await call<{ job: { status: string; result?: { contract: { address: string; txHash: string } } } }>(
            'GET',
            `/api/jobs/${started.body.job.id}`,
          )
        ).body.job;
        return j.status === 'running' ? undefined : j;
      },
      60_000,
    );
    expect(job.status).toBe('done');
    contract = String(job.result?.contract.address).toLowerCase();
    deployTx = job.result?.contract.txHash as string;
    const sent = await call<{ hash: string; blockNumber: string }>('POST', `/api/apps/${appId}/contracts/${contract}/call`, {
      function: 'greet',
      args: ['hello explorer'],
    });
    expect(sent.status).toBe(200);
    greetTx = { hash: sent.body.hash, blockNumber: Number(sent.body.blockNumber) };

    // A client records a hash with the built-in records service.
    const raw = await sender.signTransaction({
      chainId,
      nonce: 0,
      to: bytesToHex(RECORDS_ADDRESS) as Hex,
      data: encodeFunctionData({ abi: RECORDS_ABI, functionName: 'record', args: [recordHash, toHex('meta')] }),
      gas: 500_000n,
      gasPrice: 0n,
      type: 'legacy',
    });
    const res = await fetch(`${dev.baseUrl}/api/v1/apps/${appId}/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ raw, waitMs: 20_000 }),
    });
    const body = (await res.json()) as { status: string; hash: string; receipt?: { status: number } };
    expect(body).toMatchObject({ status: 'committed', receipt: { status: 1 } });
    recordTx = body.hash;
  }, 120_000);

  afterAll(async () => {
    await portal?.close();
    await engine?.cleanup();
  });

  it('default: blocks are listed latest first, a page at a time', async () => {
    // Two full pages need ten blocks; an idle ledger makes one every 300 ms.
    await until('ten blocks', async () => {
      const r = await call<{ head: number }>('GET', `/api/apps/${appId}/explorer/blocks?limit=1`);
      return r.body.head >= 10 ? true : undefined;
    });
    const page = await call<{ head: number; blocks: BlockSummary[]; nextBefore?: number }>(
      'GET',
      `/api/apps/${appId}/explorer/blocks?limit=5`,
    );
    expect(page.status).toBe(200);
    expect(page.body.head).toBeGreaterThanOrEqual(greetTx.blockNumber);
    expect(page.body.blocks.map((b) => b.number)).toEqual([0, 1, 2, 3, 4].map((i) => page.body.head - i));
    const next = await call<{ blocks: BlockSummary[] }>(
      'GET',
      `/api/apps/${appId}/explorer/blocks?limit=5&before=${page.body.nextBefore}`,
    );
    expect(next.body.blocks.map((b) => b.number)).toEqual([5, 6, 7, 8, 9].map((i) => page.body.head - i));
    const bad = await call('GET', `/api/apps/${appId}/explorer/blocks?limit=500`);
    expect(bad.status).toBe(400);
  });

  it('default: a block lists its transactions with the called function and the contract’s name', async () => {
    const block = await call<BlockSummary & { transactions: { hash: string; method?: string; toName?: string }[] }>(
      'GET',
      `/api/apps/${appId}/explorer/blocks/${greetTx.blockNumber}`,
    );
    expect(block.status).toBe(200);
    expect(block.body.transactions).toContainEqual(
      expect.objectContaining({ hash: greetTx.hash, method: 'greet', toName: 'Greeter' }),
    );
    const byHash = await call<BlockSummary>('GET', `/api/apps/${appId}/explorer/blocks/${block.body.hash}`);
    expect(byHash.body.number).toBe(greetTx.blockNumber);
  });

  it('default: a transaction to a portal contract has its input and logs decoded', async () => {
    const tx = await call<TxDetail>('GET', `/api/apps/${appId}/explorer/transactions/${greetTx.hash}`);
    expect(tx.status).toBe(200);
    expect(tx.body).toMatchObject({
      status: 'committed',
      blockNumber: greetTx.blockNumber,
      toName: 'Greeter',
      receipt: { status: 'success' },
    });
    expect(tx.body.decodedInput).toEqual({
      contract: 'Greeter',
      function: 'greet',
      signature: 'greet(string)',
      matchedBy: 'address',
      args: [{ name: 't', type: 'string', value: 'hello explorer' }],
    });
    expect(tx.body.logs).toHaveLength(1);
    expect(tx.body.logs[0]).toMatchObject({ address: contract, contract: 'Greeter', event: 'Greeted', matchedBy: 'address' });
    expect(tx.body.logs[0]?.args).toEqual([
      { name: 'by', type: 'address', indexed: true, value: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) },
      { name: 'greeting', type: 'string', indexed: false, value: 'hello explorer' },
    ]);
    expect(String(tx.body.logs[0]?.args?.[0]?.value).toLowerCase()).toBe(tx.body.from.toLowerCase());

    const deploy = await call<TxDetail>('GET', `/api/apps/${appId}/explorer/transactions/${deployTx}`);
    expect(deploy.body.to).toBeNull();
    expect(deploy.body.created).toEqual({ address: contract, name: 'Greeter' });
  });

  it('default: a transaction to a built-in service is decoded with the service’s ABI', async () => {
    const tx = await call<TxDetail>('GET', `/api/apps/${appId}/explorer/transactions/${recordTx}`);
    expect(tx.body).toMatchObject({
      toName: 'Records service',
      decodedInput: { contract: 'Records service', function: 'record' },
    });
    expect(tx.body.logs[0]).toMatchObject({ contract: 'Records service', event: 'Recorded' });
    expect(tx.body.logs[0]?.args?.find((a) => a.name === 'hash')?.value).toBe(recordHash);

    const records = await call<{ records: { hash: string; submitter: string; transactionHash: string }[] }>(
      'GET',
      `/api/apps/${appId}/explorer/records?submitter=${sender.address}`,
    );
    expect(records.body.records).toEqual([
      expect.objectContaining({ hash: recordHash, submitter: sender.address.toLowerCase(), transactionHash: recordTx }),
    ]);
    const record = await call<{ exists: boolean; submitter: string }>('GET', `/api/apps/${appId}/explorer/records/${recordHash}`);
    expect(record.body).toMatchObject({ exists: true });
    expect(record.body.submitter.toLowerCase()).toBe(sender.address.toLowerCase());
  });

  it('default: an account shows its balance, nonce, code and, for a contract, its recent events', async () => {
    const account = await call<{
      isContract: boolean;
      codeSize: number;
      contract?: { name: string };
      events?: Log[];
      transactionsNote: string;
    }>('GET', `/api/apps/${appId}/explorer/accounts/${contract}`);
    expect(account.status).toBe(200);
    expect(account.body).toMatchObject({ isContract: true, contract: { name: 'Greeter', kind: 'portal' } });
    expect(account.body.codeSize).toBeGreaterThan(0);
    expect(account.body.events?.[0]).toMatchObject({ event: 'Greeted', transactionHash: greetTx.hash });
    const eoa = await call<{ isContract: boolean; nonce: number; balance: string }>(
      'GET',
      `/api/apps/${appId}/explorer/accounts/${sender.address}`,
    );
    expect(eoa.body).toMatchObject({ isContract: false, nonce: 1 });
  });

  it('default: the search box resolves a height, a transaction hash, a block hash, an address, a record and a DID', async () => {
    const search = async (q: string) =>
      call<{ kind: string; id: string }>('GET', `/api/apps/${appId}/explorer/search?q=${encodeURIComponent(q)}`);
    const block = await call<BlockSummary>('GET', `/api/apps/${appId}/explorer/blocks/${greetTx.blockNumber}`);
    const cases: [string, { kind: string; id: string }][] = [
      [String(greetTx.blockNumber), { kind: 'block', id: String(greetTx.blockNumber) }],
      [` ${greetTx.hash.toUpperCase().replace('0X', '0x')} `, { kind: 'transaction', id: greetTx.hash.toLowerCase() }],
      [block.body.hash, { kind: 'block', id: String(greetTx.blockNumber) }],
      [contract.toUpperCase().replace('0X', '0x'), { kind: 'account', id: contract }],
      [recordHash, { kind: 'record', id: recordHash }],
      [`did:polis:${appId}:${sender.address}`, { kind: 'identity', id: `did:polis:${appId}:${sender.address}` }],
    ];
    for (const [q, want] of cases) {
      const r = await search(q);
      expect(r.status, `search ${q}`).toBe(200);
      expect(r.body, `search ${q}`).toEqual(want);
    }
  });

  it('error: malformed input answers 400, and what does not exist 404, each with a message that says what to do', async () => {
    const malformed = await call('GET', `/api/apps/${appId}/explorer/transactions/0x1234`);
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/64 hex digits/) });
    expect(malformed.body.error?.hint).toBeTruthy();

    const cases: [string, number, RegExp][] = [
      ['0x1234', 400, /4 hex digits: a hash has 64 and an address 40/],
      ['hello', 400, /not a block height, hash, address or DID/],
      ['', 400, /empty/],
      [`0x${'00'.repeat(32)}`, 404, /no transaction, block or record/],
      ['999999999', 404, /not committed yet/],
    ];
    for (const [q, status, message] of cases) {
      const r = await call('GET', `/api/apps/${appId}/explorer/search?q=${encodeURIComponent(q)}`);
      expect(r.status, `search "${q}"`).toBe(status);
      expect(r.body.error?.message, `search "${q}"`).toMatch(message);
    }
    const unknownTx = await call('GET', `/api/apps/${appId}/explorer/transactions/0x${'ab'.repeat(32)}`);
    expect(unknownTx.status).toBe(404);
    expect((await call('GET', `/api/apps/${appId}/explorer/blocks/latest`)).status).toBe(400);
    expect((await call('GET', `/api/apps/${appId}/explorer/accounts/0xabc`)).status).toBe(400);
    expect((await call('GET', `/api/apps/${appId}/explorer/certificates/0`)).status).toBe(400);
    expect((await call('GET', `/api/apps/${appId}/explorer/certificates/7`)).status).toBe(404);
    expect((await call('GET', `/api/apps/${appId}/explorer/identity/${sender.address}`)).status).toBe(404);
  });

  it('error: signed out, or another organisation’s app, is refused', async () => {
    expect((await fetch(`${portal.url}/api/apps/${appId}/explorer/blocks`)).status).toBe(401);
    const other = client(portal.url);
    await other('POST', '/api/auth/signup', {
      email: `other-${suffix}@example.com`,
      name: 'O',
      password: 'correct horse battery',
    });
    expect((await other('GET', `/api/apps/${appId}/explorer/transactions/${greetTx.hash}`)).status).toBe(403);
    await expect(openLive(portal.url, appId, other.cookie())).rejects.toMatchObject({ status: 403 });
    await expect(openLive(portal.url, appId, '')).rejects.toMatchObject({ status: 401 });
  });

  it('default: the live socket relays each new block, with its transactions, to the signed-in browser', async () => {
    const live = await openLive(portal.url, appId, call.cookie());
    try {
      await until('the relay to be live', () => live.messages.find((m) => (m as { state?: string }).state === 'live'));
      const sent = await call<{ hash: string; blockNumber: string }>('POST', `/api/apps/${appId}/contracts/${contract}/call`, {
        function: 'greet',
        args: ['live'],
      });
      const block = await until('the block of the transaction', () =>
        live.messages.find((m) => (m as { type: string; block?: BlockSummary }).block?.transactions.includes(sent.body.hash)),
      );
      expect(block).toMatchObject({ type: 'block', block: { number: Number(sent.body.blockNumber), transactionCount: 1 } });
      // Blocks arrive in order.
      const numbers = live.messages.flatMap((m) =>
        (m as { block?: BlockSummary }).block ? [(m as { block: BlockSummary }).block.number] : [],
      );
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    } finally {
      live.ws.close();
    }
  });

  it('error: a user holds a bounded number of live sockets, and another site’s page gets none', async () => {
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < LIVE_SOCKETS_PER_USER_MAX; i++) open.push((await openLive(portal.url, appId, call.cookie())).ws);
      await expect(openLive(portal.url, appId, call.cookie())).rejects.toMatchObject({ status: 429 });
    } finally {
      for (const ws of open) ws.close();
    }
    const foreign = new WebSocket(`${portal.url.replace(/^http/, 'ws')}/api/apps/${appId}/live`, {
      headers: { cookie: call.cookie(), origin: 'https://evil.example' },
    });
    const status = await new Promise<number>((done) => {
      foreign.once('unexpected-response', (_req, res) => done(res.statusCode ?? 0));
      foreign.once('open', () => done(101));
    });
    expect(status).toBe(403);
    // Closed sockets give their slots back.
    const again = await until('a freed slot', () =>
      openLive(portal.url, appId, call.cookie()).then(
        (l) => l,
        () => undefined,
      ),
    );
    again.ws.close();
  });
});
