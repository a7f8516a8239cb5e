/**
 * Key trust mode over real HTTP against a node started in-process with a master key: custodial
 * accounts are created, listed and used to call the test token through `POST /tx`; ownership,
 * scopes, apps and contract allowlists are enforced; the key on disk is sealed, not plaintext;
 * the accounts survive a restart; and a wrong or malformed master key stops the custody from opening.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex, privateKeyToAddress } from '@polis/core';
import { type Abi, encodeFunctionData } from 'viem';
import { type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addKeyToFile } from '../src/gateway/access.js';
import type { GatewayContext } from '../src/gateway/context.js';
import { CustodialRecordSchema, Custody, openSealedKey, SignQueues } from '../src/gateway/custody.js';
import { ConfigError, createApiKey, grantAppKey } from '../src/index.js';
import { type DevNode, rpcCall, startDevNode, TEST_APP } from './devNode.js';
import { type CompiledContract, compileTestToken } from './fixtures/compile.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field and each field is asserted
type Json = Record<string, any>;
type Hex = `0x${string}`;

const OTHER_APP = { id: 'other', chainId: 31338 } as const;
const SUPPLY = 1_000_000n * 10n ** 18n;
const BOB = `0x${'b3'.repeat(20)}` as const;

let dev: DevNode;
let tmp: string;
let masterFile: string;
let compiled: CompiledContract;
let abi: Abi;
let alice: PrivateKeyAccount;
let token: Hex;
let keys: { write: string; write2: string; read: string; other: string; allow: string };
let adminId: string;
let writeId: string;
/** Custodial accounts: one created by the admin key, one by the write key. */
let adminAccount: Hex;
let writeAccount: Hex;

const num = (q: string) => Number(BigInt(q));
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const rpc = <T = Json>(method: string, params: unknown[] = []): Promise<T> => rpcCall<T>(dev.rpcUrl, method, params);

async function rest(
  path: string,
  init: { method?: string; body?: unknown; key?: string; app?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${dev.baseUrl}/api/v1/apps/${init.app ?? TEST_APP.id}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.key ?? dev.apiKey}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(init.headers ?? {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function receiptOf(hash: string): Promise<Json> {
  for (let i = 0; i < 1000; i++) {
    const r = await rpc<Json | null>('eth_getTransactionReceipt', [hash]);
    if (r) return r;
    await sleep(20);
  }
  throw new Error(`no receipt for ${hash}`);
}

async function tokenBalance(address: string): Promise<bigint> {
  const data = encodeFunctionData({ abi, functionName: 'balanceOf', args: [address as Hex] });
  return BigInt(await rpc<string>('eth_call', [{ to: token, data }, 'latest']));
}

async function nonceOf(address: string): Promise<number> {
  return num(await rpc<string>('eth_getTransactionCount', [address, 'pending']));
}

/** Alice sends `amount` tokens to `to` over JSON-RPC. */
async function fundTokens(to: string, amount: bigint): Promise<void> {
  const raw = await alice.signTransaction({
    type: 'eip1559',
    chainId: dev.chainId,
    nonce: await nonceOf(alice.address),
    to: token,
    data: encodeFunctionData({ abi, functionName: 'transfer', args: [to as Hex, amount] }),
    gas: 100_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  await receiptOf(await rpc<string>('eth_sendRawTransaction', [raw]));
}

function transferCall(from: string, to: string, amount: bigint | string): Json {
  return { from, to: token, abi, functionName: 'transfer', args: [to, amount.toString()] };
}

/** Waits until the gateway has loaded `key` (it re-reads the access file every reloadMs). */
async function untilLoaded(key: string, app: string = TEST_APP.id): Promise<void> {
  for (let i = 0; i < 100; i++) {
    // 401 until the key is loaded; a write-only key then gets 403 from this read route.
    if ((await rest('', { key, app })).status !== 401) return;
    await sleep(50);
  }
  throw new Error('the gateway did not load the new key');
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'polis-custody-test-'));
  masterFile = join(tmp, 'master.key');
  writeFileSync(masterFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  [dev, compiled] = await Promise.all([
    startDevNode({ gateway: { masterKeyFile: masterFile, reloadMs: 100 }, moreLedgers: [OTHER_APP] }),
    compileTestToken(),
  ]);
  abi = compiled.abi as unknown as Abi;
  alice = privateKeyToAccount(dev.accounts[0]?.privateKey as Hex);
  const deploy = await alice.signTransaction({
    type: 'eip1559',
    chainId: dev.chainId,
    nonce: await nonceOf(alice.address),
    data: `${compiled.bytecode}${SUPPLY.toString(16).padStart(64, '0')}`,
    gas: 2_000_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  token = (await receiptOf(await rpc<string>('eth_sendRawTransaction', [deploy]))).contractAddress;
  const grant = (scopes: ('read' | 'write' | 'admin')[], appId: string = TEST_APP.id) =>
    grantAppKey(dev.accessFile, { appId, plan: 'dedicated', scopes });
  const allow = createApiKey({ appId: TEST_APP.id, scopes: ['write'], contracts: [token] });
  addKeyToFile(dev.accessFile, allow.record);
  keys = {
    write: grant(['write']),
    write2: grant(['write']),
    read: grant(['read']),
    other: grant(['admin'], OTHER_APP.id),
    allow: allow.key,
  };
  adminId = dev.apiKey.split('_')[1] as string;
  writeId = keys.write.split('_')[1] as string;
  for (const k of [keys.write, keys.write2, keys.read, keys.allow]) await untilLoaded(k);
  await untilLoaded(keys.other, OTHER_APP.id);
});

afterAll(async () => {
  await dev?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('custodial accounts', () => {
  it('default: creates accounts owned by the creating key and lists the app’s accounts', async () => {
    const a = await rest('/accounts/custodial', { method: 'POST' });
    expect(a.status).toBe(201);
    expect(a.body.address).toMatch(/^0x[0-9a-f]{40}$/);
    expect(a.body.owner).toBe(adminId);
    expect(a.body).not.toHaveProperty('privateKey');
    adminAccount = a.body.address;
    const w = await rest('/accounts/custodial', { method: 'POST', key: keys.write });
    expect(w.status).toBe(201);
    expect(w.body.owner).toBe(writeId);
    writeAccount = w.body.address;
    expect(writeAccount).not.toBe(adminAccount);

    const list = await rest('/accounts/custodial', { key: keys.read });
    expect(list.status).toBe(200);
    expect(list.body.accounts).toEqual(
      expect.arrayContaining([
        { address: adminAccount, owner: adminId, createdAt: a.body.createdAt },
        { address: writeAccount, owner: writeId, createdAt: w.body.createdAt },
      ]),
    );
    expect(list.body.accounts).toHaveLength(2);
    expect(JSON.stringify(list.body)).not.toMatch(/privateKey|ciphertext/);
  });

  it('default: POST /tx calls the token with abi + functionName + args, and the balances change', async () => {
    await fundTokens(adminAccount, 1000n);
    const r = await rest('/tx', { method: 'POST', body: transferCall(adminAccount, BOB, 250n) });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('committed');
    expect(r.body.receipt.status).toBe(1);
    expect(r.body.receipt.from).toBe(adminAccount);
    expect(r.body.receipt.to).toBe(token);
    expect(await tokenBalance(adminAccount)).toBe(750n);
    expect(await tokenBalance(BOB)).toBe(250n);
    const tx = await rpc('eth_getTransactionByHash', [r.body.hash]);
    expect(tx.from).toBe(adminAccount);
    expect(tx.gasPrice).toBe('0x0');
    expect(tx.input).toBe(encodeFunctionData({ abi, functionName: 'transfer', args: [BOB, 250n] }));
  });

  it('behavior: concurrent sends from one account are signed one at a time with consecutive nonces', async () => {
    const first = await nonceOf(adminAccount);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => rest('/tx', { method: 'POST', body: transferCall(adminAccount, BOB, 1n) })),
    );
    const nonces: number[] = [];
    for (const [i, a] of answers.entries()) {
      expect(a.status, `send ${i}: ${JSON.stringify(a.body)}`).toBe(200);
      expect(a.body.receipt.status, `send ${i}`).toBe(1);
      nonces.push(num((await rpc('eth_getTransactionByHash', [a.body.hash])).nonce));
    }
    expect(nonces.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4].map((i) => first + i));
    expect(await tokenBalance(BOB)).toBe(255n);
  });

  it('behavior: an Idempotency-Key replays a custodial send without signing again; another body with it is 409', async () => {
    const before = await nonceOf(adminAccount);
    const key = `custody-${Date.now()}`;
    const body = transferCall(adminAccount, BOB, 2n);
    const first = await rest('/tx', { method: 'POST', body, headers: { 'idempotency-key': key } });
    const again = await rest('/tx', { method: 'POST', body: { ...body, waitMs: 1000 }, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body.hash).toBe(first.body.hash);
    expect(await nonceOf(adminAccount)).toBe(before + 1);
    const other = await rest('/tx', {
      method: 'POST',
      body: transferCall(adminAccount, BOB, 3n),
      headers: { 'idempotency-key': key },
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await nonceOf(adminAccount)).toBe(before + 1);
  });

  it('behavior: a write key signs only for its own accounts; the admin key for any of the app', async () => {
    const plain = (from: string) => ({ from, to: BOB });
    const own = await rest('/tx', { method: 'POST', body: plain(writeAccount), key: keys.write });
    expect(own.status).toBe(200);
    expect(own.body.receipt.from).toBe(writeAccount);
    expect(own.body.receipt.gasUsed).toBe('21000');
    const byAdmin = await rest('/tx', { method: 'POST', body: plain(writeAccount) });
    expect(byAdmin.status).toBe(200);
    const notOwner = await rest('/tx', { method: 'POST', body: plain(writeAccount), key: keys.write2 });
    expect(notOwner.status).toBe(403);
    expect(notOwner.body.error.message).toContain(`belongs to the key ${writeId}`);
    const adminOwned = await rest('/tx', { method: 'POST', body: plain(adminAccount), key: keys.write });
    expect(adminOwned.status).toBe(403);
  });

  it('error: a read-only key, and a key of another app, are refused', async () => {
    const create = await rest('/accounts/custodial', { method: 'POST', key: keys.read });
    expect(create.status).toBe(403);
    expect(create.body.error.message).toContain('needs "write"');
    const send = await rest('/tx', { method: 'POST', body: { from: adminAccount, to: BOB }, key: keys.read });
    expect(send.status).toBe(403);

    const otherOnThisApp = await rest('/tx', { method: 'POST', body: { from: adminAccount, to: BOB }, key: keys.other });
    expect(otherOnThisApp.status).toBe(403);
    expect(otherOnThisApp.body.error.message).toContain('belongs to another app');
    const otherOnItsApp = await rest('/tx', {
      method: 'POST',
      body: { from: adminAccount, to: BOB },
      key: keys.other,
      app: OTHER_APP.id,
    });
    expect(otherOnItsApp.status).toBe(404);
    expect(otherOnItsApp.body.error.message).toContain(`not a custodial account of the app ${OTHER_APP.id}`);
    const otherList = await rest('/accounts/custodial', { key: keys.other, app: OTHER_APP.id });
    expect(otherList.status).toBe(200);
    expect(otherList.body.accounts).toEqual([]);
  });

  it('error: the key’s contract allowlist applies to custodial sends', async () => {
    const created = await rest('/accounts/custodial', { method: 'POST', key: keys.allow });
    expect(created.status).toBe(201);
    const toEoa = await rest('/tx', { method: 'POST', body: { from: created.body.address, to: BOB }, key: keys.allow });
    expect(toEoa.status).toBe(403);
    expect(toEoa.body.error.message).toContain('contract allowlist');
    const deploy = await rest('/tx', { method: 'POST', body: { from: created.body.address, data: '0x00' }, key: keys.allow });
    expect(deploy.status).toBe(403);
    const toToken = await rest('/tx', {
      method: 'POST',
      body: transferCall(created.body.address, BOB, 0n),
      key: keys.allow,
    });
    expect(toToken.status).toBe(200);
    expect(toToken.body.receipt.status).toBe(1);
  });

  it('error: a call that would revert is 422 with the reason and is not sent; bad calls are 400 naming the field', async () => {
    const before = await nonceOf(writeAccount);
    const revert = await rest('/tx', { method: 'POST', body: transferCall(writeAccount, BOB, 5n), key: keys.write });
    expect(revert.status).toBe(422);
    expect(revert.body.error.code).toBe('EXECUTION_REVERTED');
    expect(revert.body.error.message).toContain('transfer amount exceeds balance');
    expect(await nonceOf(writeAccount)).toBe(before);

    const poor = await rest('/tx', {
      method: 'POST',
      body: { from: writeAccount, to: BOB, value: '1', gas: '21000' },
      key: keys.write,
    });
    expect(poor.status).toBe(422);
    expect(poor.body.error.code).toBe('TX_ERROR_INSUFFICIENT_FUNDS');

    const cases: [Json, string][] = [
      [{ ...transferCall(writeAccount, BOB, 1n), args: [BOB] }, 'body.args'],
      [{ ...transferCall(writeAccount, BOB, 1n), functionName: 'nope' }, 'body.args'],
      [{ ...transferCall(writeAccount, BOB, 1n), data: '0x00' }, 'body.data'],
      [{ from: writeAccount, to: token, functionName: 'transfer' }, 'body.abi'],
      [{ from: writeAccount, to: token, abi }, 'body.functionName'],
      [{ from: writeAccount, to: BOB, value: '-1' }, 'body.value'],
      [{ from: writeAccount, to: BOB, gas: '1e6' }, 'body.gas'],
      [{ from: writeAccount, to: 'bob' }, 'body.to'],
    ];
    for (const [body, field] of cases) {
      const r = await rest('/tx', { method: 'POST', body, key: keys.write });
      expect(r.status, field).toBe(400);
      expect(r.body.error.issues?.join('\n'), `${field}: ${JSON.stringify(r.body)}`).toContain(field);
    }
    const unknown = await rest('/tx', { method: 'POST', body: { from: BOB, to: BOB } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('POST /api/v1/apps/demo/accounts/custodial');
  });

  it('behavior: the key on disk is sealed with the master key, never in plaintext', async () => {
    // The custody's LMDB data file, read as bytes. The record of an account is stored as JSON;
    // the test opens it with the master key (as only the gateway can) to get the real private
    // key, checks that key is the account's, and then checks its bytes appear nowhere in the file.
    const file = readFileSync(join(dev.node.gateway.ctx.dataDir, 'custody', 'data.mdb'));
    const text = file.toString('latin1');
    const at = text.indexOf(`"address":"${adminAccount}"`);
    expect(at).toBeGreaterThan(0);
    const start = text.lastIndexOf('{', at);
    const record = CustodialRecordSchema.parse(JSON.parse(text.slice(start, text.indexOf('}', at) + 1)));
    expect(record.appId).toBe(TEST_APP.id);
    const master = Buffer.from(readFileSync(masterFile, 'utf8').trim(), 'hex');
    const privateKey = openSealedKey(master, record);
    expect(bytesToHex(privateKeyToAddress(privateKey))).toBe(adminAccount);
    expect(file.includes(Buffer.from(privateKey))).toBe(false);
    expect(text.toLowerCase().includes(Buffer.from(privateKey).toString('hex'))).toBe(false);
    expect(file.includes(Buffer.from(privateKey).toString('base64'))).toBe(false);
    // The seal is bound to the master key, the app and the address.
    expect(() => openSealedKey(randomBytes(32), record)).toThrow();
    expect(() => openSealedKey(master, { ...record, appId: OTHER_APP.id })).toThrow();
    expect(() => openSealedKey(master, { ...record, address: writeAccount })).toThrow();
    privateKey.fill(0);
  });

  it('behavior: custodial accounts survive a restart and still sign', async () => {
    await dev.restart();
    const list = await rest('/accounts/custodial');
    expect(list.status).toBe(200);
    expect(list.body.accounts.map((a: Json) => a.address)).toEqual(expect.arrayContaining([adminAccount, writeAccount]));
    const balance = await tokenBalance(adminAccount);
    const r = await rest('/tx', { method: 'POST', body: transferCall(adminAccount, BOB, 10n) });
    expect(r.status).toBe(200);
    expect(r.body.receipt.status).toBe(1);
    expect(await tokenBalance(adminAccount)).toBe(balance - 10n);
  });
});

describe('custody store', () => {
  /** The running gateway's context with another master key file and data directory. */
  function contextWith(masterKeyFile: string | undefined, dataDir: string): GatewayContext {
    const ctx = dev.node.gateway.ctx;
    const { masterKeyFile: _, ...config } = ctx.config;
    return { ...ctx, config: masterKeyFile === undefined ? config : { ...config, masterKeyFile }, dataDir };
  }

  it('error: a master key that did not seal the stored accounts, or a malformed one, stops the custody from opening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polis-custody-store-'));
    try {
      const keyA = join(dir, 'a.key');
      const keyB = join(dir, 'b.key');
      const bad = join(dir, 'bad.key');
      writeFileSync(keyA, randomBytes(32).toString('hex'), { mode: 0o600 });
      writeFileSync(keyB, `0x${randomBytes(32).toString('hex')}`, { mode: 0o600 });
      writeFileSync(bad, 'not a key', { mode: 0o600 });
      const data = join(dir, 'gateway');
      const first = await Custody.open(contextWith(keyA, data));
      await first.close();
      await expect(Custody.open(contextWith(keyB, data))).rejects.toThrow(/is not the one that sealed the custodial accounts/);
      await expect(Custody.open(contextWith(bad, data))).rejects.toThrow(/does not hold 32 bytes as hex/);
      await expect(Custody.open(contextWith(join(dir, 'missing.key'), data))).rejects.toThrow(ConfigError);
      await expect(Custody.open(contextWith('a.key', data))).rejects.toThrow(/relative path/);
      const relative = await Custody.open(contextWith('a.key', data), { configDir: dir });
      await relative.close();
      const off = await Custody.open(contextWith(undefined, data));
      expect(off.routes.map((r) => `${r.method} ${r.path}`)).toHaveLength(3);
      await off.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('behavior: the signing queue runs one task at a time per account and refuses past its bound', async () => {
    const queues = new SignQueues(3);
    const order: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((done) => {
      release = done;
    });
    const task = (name: string) => async () => {
      order.push(`start ${name}`);
      await gate;
      order.push(`end ${name}`);
      return name;
    };
    const running = ['a', 'b', 'c'].map((n) => queues.run('acct', task(n)));
    const elsewhere = queues.run('other', async () => 'x');
    await expect(queues.run('acct', task('d'))).rejects.toMatchObject({ status: 503, code: 'TOO_MANY_PENDING' });
    expect(await elsewhere).toBe('x');
    expect(order).toEqual(['start a']);
    release();
    expect(await Promise.all(running)).toEqual(['a', 'b', 'c']);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(queues.size).toBe(0);
    // A failed task does not stop the ones after it.
    const failing = queues.run('acct', async () => {
      throw new Error('boom');
    });
    const after = queues.run('acct', async () => 'after');
    await expect(failing).rejects.toThrow('boom');
    expect(await after).toBe('after');
  });
});
