/**
 * A node follows the system ledger (ADR 0006): an app approved there starts on the node it names
 * within seconds, with a genesis derived from its record, and serves JSON-RPC through the gateway;
 * it comes back after a restart; and once archived it stops, its data kept. Its webhooks work
 * like those of a ledger hosted from the start.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { bytesToHex, keccak256, privateKeyToAddress, utf8ToBytes } from '@polis/core';
import { type Action, encodeGovTx, type GovBody, signGovTxSecp256k1 } from '@polis/governance';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, grantAppKey } from '../src/index.js';
import { type DevNode, rpcCall, startDevNode } from './devNode.js';

const SYSTEM_CHAIN_ID = 88;
const APP = { id: 'shop', chainId: 5000 };
const keyOf = (name: string) => keccak256(utf8ToBytes(`polis follower test ${name}`));
const admin = { key: keyOf('admin'), address: bytesToHex(privateKeyToAddress(keyOf('admin'))) };
const owner = { key: keyOf('owner'), address: bytesToHex(privateKeyToAddress(keyOf('owner'))) };

let dev: DevNode;
let apiKey: string;
const sysUrl = () => `${dev.baseUrl}/v1/system`;
const appUrl = () => dev.node.rpcUrl(APP.id, apiKey);

async function send(
  signer: { key: Uint8Array; address: string },
  body: GovBody,
): Promise<{ status: string; error?: { code: string } }> {
  const nonce = await rpcCall<number>(sysUrl(), 'gov_getNonce', [signer.address]);
  const tx = signGovTxSecp256k1({ chainId: SYSTEM_CHAIN_ID, nonce, body }, signer.key);
  const hash = await rpcCall<string>(sysUrl(), 'gov_sendTransaction', [bytesToHex(encodeGovTx(tx))]);
  for (let i = 0; i < 400; i++) {
    const r = await rpcCall<{ status: string; error?: { code: string } } | null>(sysUrl(), 'gov_getReceipt', [hash]);
    if (r) return r;
    await new Promise((done) => setTimeout(done, 25));
  }
  throw new Error(`no receipt for ${hash}`);
}

/** A zero-fee transfer on the app's chain, signed by dev account `from` with nonce 0. */
function transfer(from: number): Promise<string> {
  return new Wallet(dev.accounts[from]?.privateKey as string).signTransaction({
    type: 2,
    chainId: APP.chainId,
    nonce: 0,
    to: dev.accounts[1]?.address as string,
    gasLimit: 21_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
}

/** Polls the app's endpoint until it answers `status`; returns how long that took. */
async function until(status: number, limitMs: number): Promise<number> {
  const t = performance.now();
  for (;;) {
    const res = await fetch(appUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
    if (res.status === status) return performance.now() - t;
    if (performance.now() - t > limitMs) throw new Error(`the app answered ${res.status}, not ${status}, after ${limitMs} ms`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

beforeAll(async () => {
  dev = await startDevNode({
    system: { chainId: SYSTEM_CHAIN_ID, admins: [admin.address], threshold: 1, operator: admin.address, autoApproveApps: true },
    gateway: { reloadMs: 100, webhooks: { allowPrivateTargets: true } },
  });
  apiKey = grantAppKey(dev.accessFile, { appId: APP.id, plan: 'dedicated', scopes: ['admin'] });
});

afterAll(async () => {
  await dev?.close();
});

describe('following the system ledger', () => {
  it('default: an approved app starts on its node within seconds and serves transactions', async () => {
    expect(await until(404, 1_000)).toBeGreaterThanOrEqual(0);
    const requested = await send(owner, {
      type: 'requestApp',
      ...APP,
      validators: [dev.node.publicKey],
      observers: [],
      plan: 'standard',
      keyMode: 'upload',
      accessPolicy: 'open',
    });
    expect(requested.status).toBe('ok');
    const startMs = await until(200, 5_000);
    expect(startMs).toBeLessThan(5_000);
    expect(await rpcCall(appUrl(), 'eth_chainId')).toBe('0x1388');
    expect(dev.node.follower?.hosted).toEqual([APP.id]);
    // It makes blocks and takes transactions (fees are zero; no balance is needed).
    const raw = await transfer(0);
    const hash = await rpcCall<string>(appUrl(), 'eth_sendRawTransaction', [raw]);
    let receipt: { status: string } | null = null;
    for (let i = 0; i < 200 && !receipt; i++) {
      receipt = await rpcCall(appUrl(), 'eth_getTransactionReceipt', [hash]);
      if (!receipt) await new Promise((done) => setTimeout(done, 25));
    }
    expect(receipt?.status).toBe('0x1');
  });

  it('behavior: webhooks cover the ledger the follower added: a tx hook hears a committed transaction', async () => {
    const heard: Array<{ type: string; data: { hash: string } }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        heard.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    try {
      const address = receiver.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const made = await fetch(`${dev.baseUrl}/api/v1/apps/${APP.id}/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ notifyUrl: `http://127.0.0.1:${port}/hook`, events: { type: 'tx' } }),
      });
      expect(made.status, await made.clone().text()).toBe(201);
      const hash = await rpcCall<string>(appUrl(), 'eth_sendRawTransaction', [await transfer(3)]);
      for (let i = 0; i < 200 && !heard.some((h) => h.data?.hash === hash); i++) {
        await new Promise((done) => setTimeout(done, 25));
      }
      expect(heard.map((h) => h.data?.hash)).toContain(hash);
    } finally {
      await new Promise((done) => receiver.close(done));
    }
  });

  it("behavior: the owner's API key and the app's plan come from the system ledger, with no access file change", async () => {
    const { key, record } = createApiKey({ appId: APP.id, scopes: ['read', 'write'], label: 'from the system ledger' });
    const onLedger = { ...record, contracts: record.contracts as `0x${string}`[] };
    expect((await send(owner, { type: 'putApiKey', appId: APP.id, key: onLedger })).status).toBe('ok');
    const res = await fetch(dev.node.rpcUrl(APP.id, key), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
    expect(res.status).toBe(200);
    const info = await fetch(`${dev.baseUrl}/api/v1/apps/${APP.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(((await info.json()) as { plan: string }).plan).toBe('standard');
    // Revoked on the system ledger, it stops at once.
    expect((await send(owner, { type: 'revokeApiKey', appId: APP.id, keyId: record.id, at: Date.now() })).status).toBe('ok');
    const revoked = await fetch(dev.node.rpcUrl(APP.id, key), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
    expect(revoked.status).toBe(401);
  });

  it('behavior: a suspended app refuses transactions and still serves reads; resumed, it takes them again', async () => {
    const raw = await transfer(2);
    const proposal = (action: Action) => send(admin, { type: 'propose', action, expiresAt: Date.now() + 60_000 });
    expect((await proposal({ type: 'suspendApp', appId: APP.id })).status).toBe('ok');
    await expect(rpcCall(appUrl(), 'eth_sendRawTransaction', [raw])).rejects.toThrow(/suspended by the alliance/);
    expect(await rpcCall(appUrl(), 'eth_chainId')).toBe('0x1388');
    expect((await proposal({ type: 'resumeApp', appId: APP.id })).status).toBe('ok');
    expect(await rpcCall(appUrl(), 'eth_sendRawTransaction', [raw])).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('behavior: after a restart the node hosts the app again, with its chain', async () => {
    const head = BigInt(await rpcCall<string>(appUrl(), 'eth_blockNumber'));
    await dev.restart();
    expect(dev.node.follower?.hosted).toEqual([APP.id]);
    expect(BigInt(await rpcCall<string>(appUrl(), 'eth_blockNumber'))).toBeGreaterThanOrEqual(head);
  });

  it('behavior: an archived app stops within seconds, and its data stays on disk', async () => {
    const archived = await send(admin, {
      type: 'propose',
      action: { type: 'archiveApp', appId: APP.id },
      expiresAt: Date.now() + 60_000,
    });
    expect(archived.status).toBe('ok');
    expect(await until(404, 5_000)).toBeLessThan(5_000);
    expect(dev.node.follower?.hosted).toEqual([]);
    expect(existsSync(join(dev.dir, 'data', 'ledgers', APP.id, 'db'))).toBe(true);
  });
});
