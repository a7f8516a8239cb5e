/**
 * The gateway's REST API over real HTTP against a node started in-process: every read route
 * agrees with the JSON-RPC answer for the same object, submit-and-wait answers with a receipt
 * whose block is already readable, or 202 while the transaction cannot commit, idempotency keys
 * replay without sending twice, bad input is refused naming the field, and the OpenAPI document
 * lists every route.
 */
import { keccak256, toHex } from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addKeyToFile } from '../src/gateway/access.js';
import { FEED_LISTENERS_MAX } from '../src/gateway/feed.js';
import { IDEMPOTENCY_KEY_LENGTH_MAX, IdempotencyStore, WAIT_MS_MAX, Waiters } from '../src/gateway/rest/submit.js';
import { createApiKey, grantAppKey } from '../src/index.js';
import { type DevNode, rpcCall, startDevNode, TEST_APP } from './devNode.js';
import { type CompiledContract, compileTestToken } from './fixtures/compile.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field and each field is asserted
type Json = Record<string, any>;

const SUPPLY = 1_000_000n * 10n ** 18n;
const BOB = `0x${'b2'.repeat(20)}` as const;
const TRANSFER_TOPIC = keccak256(toHex('Transfer(address,address,uint256)'));

let dev: DevNode;
let compiled: CompiledContract;
let alice: PrivateKeyAccount;
let token: `0x${string}`;
let transferHashes: `0x${string}`[] = [];
let readKey: string;

const num = (q: string) => Number(BigInt(q));
const dec = (q: string) => BigInt(q).toString();
const pad32 = (address: string) => `0x${address.slice(2).toLowerCase().padStart(64, '0')}`;

const rpc = <T = Json>(method: string, params: unknown[] = []): Promise<T> => rpcCall<T>(dev.rpcUrl, method, params);

type RestAnswer = { status: number; body: Json; headers: Headers };

async function rest(
  path: string,
  init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string>; app?: string } = {},
): Promise<RestAnswer> {
  const res = await fetch(`${dev.baseUrl}/api/v1/apps/${init.app ?? TEST_APP.id}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.key ?? dev.apiKey}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(init.headers ?? {}),
    },
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
}

async function pendingNonce(address: string): Promise<number> {
  return num(await rpc<string>('eth_getTransactionCount', [address, 'pending']));
}

/** A signed EIP-1559 transaction with zero fees. */
async function signed(
  account: PrivateKeyAccount,
  tx: { nonce: number; to?: `0x${string}`; value?: bigint; data?: `0x${string}`; gas?: bigint; chainId?: number },
): Promise<`0x${string}`> {
  return account.signTransaction({
    type: 'eip1559',
    chainId: tx.chainId ?? dev.chainId,
    nonce: tx.nonce,
    ...(tx.to ? { to: tx.to } : {}),
    value: tx.value ?? 0n,
    data: tx.data ?? '0x',
    gas: tx.gas ?? 100_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
}

function transferData(to: string, amount: bigint): `0x${string}` {
  return `0xa9059cbb${pad32(to).slice(2)}${amount.toString(16).padStart(64, '0')}`;
}

async function receiptOf(hash: string): Promise<Json> {
  for (let i = 0; i < 1000; i++) {
    const r = await rpc<Json | null>('eth_getTransactionReceipt', [hash]);
    if (r) return r;
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error(`no receipt for ${hash}`);
}

async function usageTxs(): Promise<number> {
  const u = await rest('/usage');
  expect(u.status).toBe(200);
  return u.body.total.txs as number;
}

function expectTxAgrees(r: Json, t: Json, where: string): void {
  const m = `${where}: transaction ${t.hash}`;
  expect(r.hash, m).toBe(t.hash);
  expect(r.nonce, m).toBe(num(t.nonce));
  expect(r.blockHash, m).toBe(t.blockHash);
  expect(r.blockNumber, m).toBe(t.blockNumber === null ? null : num(t.blockNumber));
  expect(r.transactionIndex, m).toBe(t.transactionIndex === null ? null : num(t.transactionIndex));
  expect(r.from, m).toBe(t.from);
  expect(r.to, m).toBe(t.to);
  expect(r.value, m).toBe(dec(t.value));
  expect(r.gas, m).toBe(dec(t.gas));
  expect(r.gasPrice, m).toBe(dec(t.gasPrice));
  expect(r.maxFeePerGas, m).toBe(dec(t.maxFeePerGas));
  expect(r.maxPriorityFeePerGas, m).toBe(dec(t.maxPriorityFeePerGas));
  expect(r.input, m).toBe(t.input);
  expect(r.type, m).toBe(num(t.type));
  expect(r.chainId, m).toBe(num(t.chainId));
  expect(r.accessList, m).toEqual(t.accessList);
  expect([r.v, r.r, r.s], m).toEqual([t.v, t.r, t.s]);
  expect(r.yParity, m).toBe(num(t.yParity));
}

function expectLogAgrees(r: Json, l: Json, where: string): void {
  const m = `${where}: log ${l.logIndex} of ${l.transactionHash}`;
  expect(r.address, m).toBe(l.address);
  expect(r.topics, m).toEqual(l.topics);
  expect(r.data, m).toBe(l.data);
  expect(r.blockNumber, m).toBe(num(l.blockNumber));
  expect(r.blockHash, m).toBe(l.blockHash);
  expect(r.transactionHash, m).toBe(l.transactionHash);
  expect(r.transactionIndex, m).toBe(num(l.transactionIndex));
  expect(r.logIndex, m).toBe(num(l.logIndex));
  expect(r.removed, m).toBe(false);
}

function expectReceiptAgrees(r: Json, t: Json, where: string): void {
  const m = `${where}: receipt of ${t.transactionHash}`;
  expect(r.transactionHash, m).toBe(t.transactionHash);
  expect(r.transactionIndex, m).toBe(num(t.transactionIndex));
  expect(r.blockHash, m).toBe(t.blockHash);
  expect(r.blockNumber, m).toBe(num(t.blockNumber));
  expect(r.from, m).toBe(t.from);
  expect(r.to, m).toBe(t.to);
  expect(r.cumulativeGasUsed, m).toBe(dec(t.cumulativeGasUsed));
  expect(r.gasUsed, m).toBe(dec(t.gasUsed));
  expect(r.effectiveGasPrice, m).toBe(dec(t.effectiveGasPrice));
  expect(r.contractAddress, m).toBe(t.contractAddress);
  expect(r.logsBloom, m).toBe(t.logsBloom);
  expect(r.status, m).toBe(num(t.status));
  expect(r.type, m).toBe(num(t.type));
  expect(r.logs, m).toHaveLength(t.logs.length);
  t.logs.forEach((l: Json, i: number) => {
    expectLogAgrees(r.logs[i], l, m);
  });
}

function expectBlockAgrees(r: Json, b: Json, full: boolean): void {
  const m = `block ${b.number}${full ? ' (full)' : ''}`;
  expect(r.number, m).toBe(num(b.number));
  expect(r.hash, m).toBe(b.hash);
  expect(r.parentHash, m).toBe(b.parentHash);
  expect(r.timestamp, m).toBe(num(b.timestamp));
  expect(Math.floor(r.timestampMs / 1000), m).toBe(num(b.timestamp));
  expect(r.size, m).toBe(num(b.size));
  expect(r.gasLimit, m).toBe(dec(b.gasLimit));
  expect(r.gasUsed, m).toBe(dec(b.gasUsed));
  expect(r.baseFeePerGas, m).toBe(dec(b.baseFeePerGas));
  expect(r.miner, m).toBe(b.miner);
  expect(r.logsBloom, m).toBe(b.logsBloom);
  expect(r.transactionsRoot, m).toBe(b.transactionsRoot);
  expect(r.stateRoot, m).toBe(b.stateRoot);
  expect(r.receiptsRoot, m).toBe(b.receiptsRoot);
  expect(r.transactionCount, m).toBe(b.transactions.length);
  if (!full) expect(r.transactions, m).toEqual(b.transactions);
  else {
    expect(r.transactions, m).toHaveLength(b.transactions.length);
    b.transactions.forEach((t: Json, i: number) => {
      expectTxAgrees(r.transactions[i], t, m);
    });
  }
}

beforeAll(async () => {
  [dev, compiled] = await Promise.all([startDevNode({ gateway: { reloadMs: 100 } }), compileTestToken()]);
  alice = privateKeyToAccount(dev.accounts[0]?.privateKey as `0x${string}`);
  readKey = grantAppKey(dev.accessFile, { appId: TEST_APP.id, plan: 'dedicated', scopes: ['read'], label: 'read-only' });
  // The token is deployed and used over JSON-RPC, so that the REST reads below see objects made without REST.
  const supply = SUPPLY.toString(16).padStart(64, '0');
  const nonce = await pendingNonce(alice.address);
  const deploy = await rpc<string>('eth_sendRawTransaction', [
    await signed(alice, { nonce, data: `${compiled.bytecode}${supply}`, gas: 2_000_000n }),
  ]);
  const deployed = await receiptOf(deploy);
  token = deployed.contractAddress;
  for (let i = 0; i < 3; i++) {
    transferHashes.push(
      await rpc<`0x${string}`>('eth_sendRawTransaction', [
        await signed(alice, { nonce: nonce + 1 + i, to: token, data: transferData(BOB, 1000n + BigInt(i)) }),
      ]),
    );
  }
  transferHashes = [deploy as `0x${string}`, ...transferHashes];
  for (const h of transferHashes) await receiptOf(h);
  // The read-only key must be loaded before the tests use it.
  for (let i = 0; i < 100 && (await rest('', { key: readKey })).status !== 200; i++) {
    await new Promise((done) => setTimeout(done, 50));
  }
});

afterAll(async () => {
  await dev?.close();
});

describe('REST reads agree with JSON-RPC', () => {
  it('default: GET /blocks/{number}, by hash and with ?txs=true, agrees with eth_getBlockByNumber', async () => {
    const receipt = await rpc('eth_getTransactionReceipt', [transferHashes[1]]);
    const n = num(receipt.blockNumber);
    const [hashesOnly, full] = await Promise.all([
      rpc('eth_getBlockByNumber', [receipt.blockNumber, false]),
      rpc('eth_getBlockByNumber', [receipt.blockNumber, true]),
    ]);
    expect(hashesOnly.transactions).toContain(transferHashes[1]);
    const byNumber = await rest(`/blocks/${n}`);
    expect(byNumber.status).toBe(200);
    expectBlockAgrees(byNumber.body, hashesOnly, false);
    const byHash = await rest(`/blocks/${hashesOnly.hash}?txs=true`);
    expect(byHash.status).toBe(200);
    expectBlockAgrees(byHash.body, full, true);
    const genesis = await rest('/blocks/earliest');
    expectBlockAgrees(genesis.body, await rpc('eth_getBlockByNumber', ['0x0', false]), false);
  });

  it('default: GET /blocks/latest is the head block', async () => {
    const before = num(await rpc<string>('eth_blockNumber'));
    const latest = await rest('/blocks/latest');
    const after = num(await rpc<string>('eth_blockNumber'));
    expect(latest.status).toBe(200);
    expect(latest.body.number).toBeGreaterThanOrEqual(before);
    expect(latest.body.number).toBeLessThanOrEqual(after);
    expectBlockAgrees(latest.body, await rpc('eth_getBlockByNumber', [`0x${latest.body.number.toString(16)}`, false]), false);
  });

  it('default: GET /transactions/{hash} and /receipts/{hash} agree with eth_getTransactionByHash and eth_getTransactionReceipt', async () => {
    for (const hash of transferHashes) {
      const tx = await rest(`/transactions/${hash}`);
      expect(tx.status, hash).toBe(200);
      expect(tx.body.status, hash).toBe('committed');
      expectTxAgrees(tx.body.transaction, await rpc('eth_getTransactionByHash', [hash]), 'GET /transactions');
      const receipt = await rest(`/receipts/${hash}`, { key: readKey });
      expect(receipt.status, hash).toBe(200);
      expectReceiptAgrees(receipt.body, await rpc('eth_getTransactionReceipt', [hash]), 'GET /receipts');
    }
  });

  it('default: GET /events agrees with eth_getLogs for address and topic filters', async () => {
    const head = await rpc<string>('eth_blockNumber');
    const all = await rpc<Json[]>('eth_getLogs', [{ fromBlock: '0x0', toBlock: head, address: token }]);
    expect(all.length).toBe(4);
    const restAll = await rest(`/events?fromBlock=0&toBlock=${num(head)}&address=${token}`);
    expect(restAll.status).toBe(200);
    expect(restAll.body.fromBlock).toBe(0);
    expect(restAll.body.toBlock).toBe(num(head));
    expect(restAll.body.events).toHaveLength(all.length);
    all.forEach((l, i) => {
      expectLogAgrees(restAll.body.events[i], l, 'GET /events by address');
    });

    const toBob = await rpc<Json[]>('eth_getLogs', [
      { fromBlock: '0x0', toBlock: head, topics: [TRANSFER_TOPIC, null, pad32(BOB)] },
    ]);
    expect(toBob).toHaveLength(3);
    const restToBob = await rest(`/events?fromBlock=0&toBlock=${num(head)}&topic0=${TRANSFER_TOPIC}&topic2=${pad32(BOB)}`);
    expect(restToBob.body.events).toHaveLength(3);
    toBob.forEach((l, i) => {
      expectLogAgrees(restToBob.body.events[i], l, 'GET /events by topics');
    });

    // Several alternatives in one topic position match any of them.
    const either = await rest(
      `/events?fromBlock=0&toBlock=${num(head)}&topic2=${pad32(BOB)},${pad32(alice.address)}&address=${token},${BOB}`,
    );
    expect(either.status).toBe(200);
    expect(either.body.events).toHaveLength(4);
  });

  it('default: GET /accounts/{address} and its storage agree with eth_getBalance, eth_getTransactionCount, eth_getCode and eth_getStorageAt', async () => {
    for (const address of [alice.address, token, BOB]) {
      const a = await rest(`/accounts/${address}`);
      expect(a.status, address).toBe(200);
      const [balance, nonce, pending, code] = await Promise.all([
        rpc<string>('eth_getBalance', [address, 'latest']),
        rpc<string>('eth_getTransactionCount', [address, 'latest']),
        rpc<string>('eth_getTransactionCount', [address, 'pending']),
        rpc<string>('eth_getCode', [address, 'latest']),
      ]);
      expect(a.body.address, address).toBe(address.toLowerCase());
      expect(a.body.balance, address).toBe(dec(balance));
      expect(a.body.nonce, address).toBe(num(nonce));
      expect(a.body.pendingNonce, address).toBe(num(pending));
      expect(a.body.codeSize, address).toBe((code.length - 2) / 2);
      expect(a.body.isContract, address).toBe(address === token);
    }
    // Slot 0 of the test token is totalSupply.
    const slot = await rest(`/accounts/${token}/storage/0x0`);
    expect(slot.status).toBe(200);
    expect(slot.body.value).toBe(await rpc('eth_getStorageAt', [token, '0x0', 'latest']));
    expect(BigInt(slot.body.value)).toBe(SUPPLY);
    expect(slot.body.slot).toBe(`0x${'0'.repeat(64)}`);
  });

  it('error: unknown blocks, transactions and receipts are 404 with a clear message', async () => {
    const head = num(await rpc<string>('eth_blockNumber'));
    const future = await rest(`/blocks/${head + 1000}`);
    expect(future.status).toBe(404);
    expect(future.body.error.code).toBe('NOT_FOUND');
    expect(future.body.error.message).toMatch(/is not committed yet: the latest block is \d+/);
    const unknownHash = `0x${'ab'.repeat(32)}`;
    const byHash = await rest(`/blocks/${unknownHash}`);
    expect(byHash.status).toBe(404);
    expect(byHash.body.error.message).toContain(unknownHash);
    const tx = await rest(`/transactions/${unknownHash}`);
    expect(tx.status).toBe(404);
    expect(tx.body.error.message).toContain('neither pending nor committed');
    const receipt = await rest(`/receipts/${unknownHash}`);
    expect(receipt.status).toBe(404);
    expect(receipt.body.error.message).toContain(unknownHash);
  });

  it('error: malformed parameters are 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['/blocks/abc', 'path.number'],
      ['/blocks/0x1234', 'path.number'],
      ['/transactions/0x12', 'path.hash'],
      ['/receipts/nothex', 'path.hash'],
      ['/accounts/0x1234', 'path.address'],
      [`/accounts/${BOB}/storage/12`, 'path.slot'],
      ['/blocks/1?txs=yes', 'query.txs'],
      ['/events?fromBlock=-1', 'query.fromBlock'],
      ['/events?address=0x12', 'query.address'],
      ['/events?topic1=0x12', 'query.topic1'],
      [`/events?address=${Array.from({ length: 65 }, () => BOB).join(',')}`, 'query.address'],
      [`/events?topic0=${Array.from({ length: 17 }, () => TRANSFER_TOPIC).join(',')}`, 'query.topic0'],
    ];
    for (const [path, field] of cases) {
      const r = await rest(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe('INVALID_REQUEST');
      expect(r.body.error.issues.join('\n'), path).toContain(field);
    }
  });
});

describe('submit-and-wait', () => {
  let committedRaw: `0x${string}`;
  let committedHash: string;

  it('default: POST /transactions answers 200 with a receipt whose block is already readable over JSON-RPC', async () => {
    const sent = await usageTxs();
    committedRaw = await signed(alice, { nonce: await pendingNonce(alice.address), to: token, data: transferData(BOB, 7n) });
    const r = await rest('/transactions', { method: 'POST', body: { raw: committedRaw } });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('committed');
    committedHash = r.body.hash;
    expect(committedHash).toBe(keccak256(committedRaw));
    // No polling: the block is committed, so JSON-RPC has it already.
    const [receipt, block] = await Promise.all([
      rpc<Json | null>('eth_getTransactionReceipt', [committedHash]),
      rpc<Json | null>('eth_getBlockByNumber', [`0x${r.body.receipt.blockNumber.toString(16)}`, false]),
    ]);
    expect(receipt).not.toBeNull();
    expect(block?.transactions).toContain(committedHash);
    expectReceiptAgrees(r.body.receipt, receipt as Json, 'POST /transactions');
    expect(r.body.receipt.status).toBe(1);
    expect(await usageTxs()).toBe(sent + 1);
  });

  it('behavior: an already committed transaction sent again answers its outcome, without sending it', async () => {
    const sent = await usageTxs();
    const r = await rest('/transactions', { method: 'POST', body: { raw: committedRaw } });
    expect(r.status).toBe(200);
    expect(r.body.hash).toBe(committedHash);
    expect(r.body.receipt.transactionHash).toBe(committedHash);
    expect(await usageTxs()).toBe(sent);
  });

  it('behavior: a transaction that cannot commit (a nonce gap) answers 202 pending at the end of a short wait', async () => {
    const carol = privateKeyToAccount(`0x${'0c'.repeat(32)}`);
    const raw = await signed(carol, { nonce: (await pendingNonce(carol.address)) + 5, to: BOB });
    const started = Date.now();
    const r = await rest('/transactions', {
      method: 'POST',
      body: { raw, waitMs: 150 },
      headers: { 'idempotency-key': 'gap-1' },
    });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ status: 'pending', hash: keccak256(raw) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const tx = await rest(`/transactions/${r.body.hash}`);
    expect(tx.body.status).toBe('pending');
    expect(tx.body.transaction.blockNumber).toBeNull();
    const receipt = await rest(`/receipts/${r.body.hash}`);
    expect(receipt.status).toBe(404);
    expect(receipt.body.error.message).toContain('pending');
    // A replay of a pending transaction waits again and answers pending again.
    const sent = await usageTxs();
    const again = await rest('/transactions', {
      method: 'POST',
      body: { raw, waitMs: 50 },
      headers: { 'idempotency-key': 'gap-1' },
    });
    expect(again.status).toBe(202);
    expect(again.body.hash).toBe(r.body.hash);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await usageTxs()).toBe(sent);
  });

  it('behavior: the same Idempotency-Key replayed returns the same hash and does not send twice', async () => {
    const sent = await usageTxs();
    const raw = await signed(alice, { nonce: await pendingNonce(alice.address), to: token, data: transferData(BOB, 8n) });
    const key = `transfer-${Date.now()}`;
    const [first, second] = await Promise.all([
      rest('/transactions', { method: 'POST', body: { raw }, headers: { 'idempotency-key': key } }),
      rest('/transactions', { method: 'POST', body: { raw, waitMs: 20_000 }, headers: { 'idempotency-key': key } }),
    ]);
    const third = await rest('/transactions', { method: 'POST', body: { raw }, headers: { 'idempotency-key': key } });
    for (const [i, r] of [first, second, third].entries()) {
      expect(r.status, `answer ${i}`).toBe(200);
      expect(r.body.hash, `answer ${i}`).toBe(keccak256(raw));
      expect(r.body.receipt, `answer ${i}`).toEqual(first.body.receipt);
    }
    expect(third.headers.get('idempotent-replayed')).toBe('true');
    expect(await usageTxs()).toBe(sent + 1);
  });

  it('error: the same Idempotency-Key with a different body is 409', async () => {
    const key = `conflict-${Date.now()}`;
    const nonce = await pendingNonce(alice.address);
    const first = await rest('/transactions', {
      method: 'POST',
      body: { raw: await signed(alice, { nonce, to: token, data: transferData(BOB, 9n) }) },
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(200);
    const other = await signed(alice, { nonce: nonce + 1, to: token, data: transferData(BOB, 10n) });
    const r = await rest('/transactions', { method: 'POST', body: { raw: other }, headers: { 'idempotency-key': key } });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(r.body.error.message).toContain(key);
    expect(await rest(`/transactions/${keccak256(other)}`).then((x) => x.status)).toBe(404);
  });

  it('error: a bad raw transaction is 400 with the reason; a used nonce is 409 with the mempool message', async () => {
    const malformed = await rest('/transactions', { method: 'POST', body: { raw: '0xc0' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('TX_ERROR_MALFORMED');
    expect(malformed.body.error.message).toContain('cannot be decoded: a legacy transaction has 9 fields');

    const blob = await rest('/transactions', { method: 'POST', body: { raw: '0x03c0' } });
    expect(blob.status).toBe(400);
    expect(blob.body.error.code).toBe('TX_ERROR_UNSUPPORTED_TYPE');
    expect(blob.body.error.message).toContain('transaction type 3 is not supported');

    const notHex = await rest('/transactions', { method: 'POST', body: { raw: 'hello' } });
    expect(notHex.status).toBe(400);
    expect(notHex.body.error.issues.join('\n')).toContain('body.raw');

    const otherChain = await signed(alice, { nonce: 0, to: BOB, chainId: 1 });
    const wrongChain = await rest('/transactions', { method: 'POST', body: { raw: otherChain } });
    expect(wrongChain.status).toBe(400);
    expect(wrongChain.body.error.code).toBe('TX_ERROR_INVALID_CHAIN_ID');
    expect(wrongChain.body.error.message).toContain(`this ledger is ${dev.chainId}`);

    const used = await rest('/transactions', { method: 'POST', body: { raw: await signed(alice, { nonce: 0, to: BOB }) } });
    expect(used.status).toBe(409);
    expect(used.body.error.code).toBe('TX_ERROR_NONCE_TOO_LOW');
    expect(used.body.error.message).toContain('nonce too low');

    const tooLong = await rest('/transactions', {
      method: 'POST',
      body: { raw: committedRaw },
      headers: { 'idempotency-key': 'k'.repeat(IDEMPOTENCY_KEY_LENGTH_MAX + 1) },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.issues.join('\n')).toContain('header.idempotency-key');

    const longWait = await rest('/transactions', { method: 'POST', body: { raw: committedRaw, waitMs: WAIT_MS_MAX + 1 } });
    expect(longWait.status).toBe(400);
    expect(longWait.body.error.issues.join('\n')).toContain('body.waitMs');
  });

  it('error: a read-only key, or a key whose contract allowlist excludes the target, may not send', async () => {
    const raw = await signed(alice, { nonce: await pendingNonce(alice.address), to: BOB });
    const readOnly = await rest('/transactions', { method: 'POST', body: { raw }, key: readKey });
    expect(readOnly.status).toBe(403);
    expect(readOnly.body.error.message).toContain('needs "write"');

    const { key, record } = createApiKey({ appId: TEST_APP.id, scopes: ['write'], contracts: [token] });
    addKeyToFile(dev.accessFile, record);
    let r: RestAnswer | undefined;
    for (let i = 0; i < 100; i++) {
      r = await rest('/transactions', { method: 'POST', body: { raw, waitMs: 0 }, key });
      if (r.status !== 401) break;
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(r?.status).toBe(403);
    expect(r?.body.error.message).toContain('contract allowlist');
  });

  it('error: when the feed holds all the waiters it can, a submit is 503 with Retry-After', async () => {
    const ledger = dev.node.gateway.ctx.ledgers.get(TEST_APP.id);
    if (!ledger) throw new Error('no test ledger');
    const unsubscribe: (() => void)[] = [];
    try {
      while (ledger.feed.listeners < FEED_LISTENERS_MAX) unsubscribe.push(ledger.feed.onBlock(() => {}));
      const carol = privateKeyToAccount(`0x${'0d'.repeat(32)}`);
      const raw = await signed(carol, { nonce: (await pendingNonce(carol.address)) + 3, to: BOB });
      const r = await rest('/transactions', { method: 'POST', body: { raw } });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.body.error.code).toBe('TOO_MANY_WAITERS');
      expect(r.body.error.message).toContain(`/transactions/${keccak256(raw)}`);
    } finally {
      for (const u of unsubscribe) u();
    }
  });
});

describe('submit state', () => {
  it('behavior: idempotency records are bounded and expire', async () => {
    let now = 1_000;
    const store = new IdempotencyStore({ max: 3, ttlMs: 1_000, now: () => now });
    let sends = 0;
    const send = async () => {
      sends++;
      return new Uint8Array([sends]);
    };
    for (const k of ['a', 'b', 'c', 'd']) await store.run('app', k, 'f', send);
    expect(store.size).toBe(3);
    // 'a' was the oldest, so it was forgotten: a retry sends again; 'd' is remembered.
    expect((await store.run('app', 'd', 'f', send)).replayed).toBe(true);
    expect((await store.run('app', 'a', 'f', send)).replayed).toBe(false);
    expect(sends).toBe(5);
    now += 1_000;
    expect((await store.run('app', 'd', 'f', send)).replayed).toBe(false);
    expect(store.size).toBeLessThanOrEqual(3);
    // Keys are per app.
    expect((await store.run('other', 'd', 'g', send)).replayed).toBe(false);
  });

  it('behavior: close ends every wait at once, as pending', async () => {
    const ledger = dev.node.gateway.ctx.ledgers.get(TEST_APP.id);
    if (!ledger) throw new Error('no test ledger');
    const waiters = new Waiters();
    const started = Date.now();
    const waits = [0, 1, 2].map((i) => waiters.wait(ledger, new Uint8Array(32).fill(i + 1), WAIT_MS_MAX));
    expect(waiters.size).toBe(3);
    waiters.close();
    expect(await Promise.all(waits)).toEqual([undefined, undefined, undefined]);
    expect(waiters.size).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    const aborted = new AbortController();
    const w = new Waiters();
    const p = w.wait(ledger, new Uint8Array(32).fill(9), WAIT_MS_MAX, aborted.signal);
    aborted.abort();
    expect(await p).toBeUndefined();
    expect(w.size).toBe(0);
  });
});

describe('OpenAPI', () => {
  it('default: the document lists every REST route of the chain and the custody', async () => {
    const res = await fetch(`${dev.baseUrl}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Json;
    const expected: [string, string][] = [
      ['get', '/api/v1/apps/{id}/blocks/latest'],
      ['get', '/api/v1/apps/{id}/blocks/{number}'],
      ['get', '/api/v1/apps/{id}/transactions/{hash}'],
      ['get', '/api/v1/apps/{id}/receipts/{hash}'],
      ['get', '/api/v1/apps/{id}/events'],
      ['get', '/api/v1/apps/{id}/accounts/{address}'],
      ['get', '/api/v1/apps/{id}/accounts/{address}/storage/{slot}'],
      ['post', '/api/v1/apps/{id}/transactions'],
      ['post', '/api/v1/apps/{id}/accounts/custodial'],
      ['get', '/api/v1/apps/{id}/accounts/custodial'],
      ['post', '/api/v1/apps/{id}/tx'],
    ];
    for (const [method, path] of expected) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      expect(op['x-polis-scope'], `${method} ${path}`).toMatch(/^(read|write)$/);
    }
    const send = doc.paths['/api/v1/apps/{id}/transactions'].post;
    expect(send.requestBody.content['application/json'].schema.properties.raw).toBeDefined();
    expect(send.requestBody.content['application/json'].schema.properties.waitMs.maximum).toBe(WAIT_MS_MAX);
    const events = doc.paths['/api/v1/apps/{id}/events'].get;
    expect(events.parameters.map((p: Json) => p.name)).toEqual(
      expect.arrayContaining(['fromBlock', 'toBlock', 'address', 'topic0', 'topic1', 'topic2', 'topic3']),
    );
    const tx = doc.paths['/api/v1/apps/{id}/tx'].post;
    expect(Object.keys(tx.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['from', 'to', 'value', 'gas', 'data', 'abi', 'functionName', 'args', 'waitMs']),
    );
  });

  it('error: a request that violates a documented schema is refused with 400 naming the field', async () => {
    const r = await rest('/transactions', { method: 'POST', body: { raw: '0x02c0', waitMs: 'soon' } });
    expect(r.status).toBe(400);
    expect(r.body.error.issues.join('\n')).toContain('body.waitMs');
    const tx = await rest('/tx', { method: 'POST', body: { from: 'me' } });
    expect(tx.status).toBe(400);
    expect(tx.body.error.issues.join('\n')).toContain('body.from');
  });

  it('error: without a master key the custody routes answer 501 saying how to configure it', async () => {
    for (const [method, path] of [
      ['POST', '/accounts/custodial'],
      ['GET', '/accounts/custodial'],
    ] as const) {
      const r = await rest(path, { method });
      expect(r.status, `${method} ${path}`).toBe(501);
      expect(r.body.error.code).toBe('CUSTODY_DISABLED');
      expect(r.body.error.message).toContain('gateway.masterKeyFile');
    }
    const tx = await rest('/tx', { method: 'POST', body: { from: alice.address, to: BOB } });
    expect(tx.status).toBe(501);
    expect(tx.body.error.message).toContain('gateway.masterKeyFile');
  });
});
