/**
 * Two apps on the same city node are isolated (issue P6): each has its own ledger, chain id, state,
 * blocks and keys. A transaction signed for app A's chain is refused on app B, a key of one app
 * opens nothing of the other, and no block, transaction, receipt, log, code or balance of one app
 * is visible through the other, over JSON-RPC or REST.
 */
import { type Contract, ContractFactory, JsonRpcProvider, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantAppKey } from '../src/index.js';
import { type DevNode, rpcCall, startDevNode } from './devNode.js';
import { compileTestToken } from './fixtures/compile.js';

const B = { id: 'other', chainId: 31338 } as const;

let dev: DevNode;
let bKey: string;
let bUrl: string;
let token: string;
let transferHash: string;
let deployHeight: number;

beforeAll(async () => {
  const [node, compiled] = await Promise.all([
    startDevNode({ moreLedgers: [B], gateway: { reloadMs: 100 } }),
    compileTestToken(),
  ]);
  dev = node;
  bKey = grantAppKey(dev.accessFile, { appId: B.id, plan: 'dedicated', scopes: ['admin'] });
  bUrl = dev.node.rpcUrl(B.id, bKey);
  await new Promise((done) => setTimeout(done, 500));
  const provider = new JsonRpcProvider(dev.rpcUrl, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
  const wallet = new Wallet(dev.accounts[0]?.privateKey as string, provider);
  const factory = new ContractFactory(compiled.abi as never, compiled.bytecode, wallet);
  const deployed = await factory.deploy(10n ** 24n, { nonce: 0 });
  const receipt = await deployed.deploymentTransaction()?.wait();
  deployHeight = receipt?.blockNumber as number;
  token = await deployed.getAddress();
  const tx = await (
    deployed as Contract & { transfer: (to: string, v: bigint, o: object) => Promise<{ hash: string; wait(): Promise<unknown> }> }
  ).transfer(dev.accounts[1]?.address as string, 5n, { nonce: 1 });
  await tx.wait();
  transferHash = tx.hash;
  provider.destroy();
}, 60_000);

afterAll(async () => {
  await dev?.close();
});

describe('two apps on one node', () => {
  it("error: a transaction signed for app A's chain id is refused on app B, and B's nonce is untouched", async () => {
    const wallet = new Wallet(dev.accounts[2]?.privateKey as string);
    const forA = await wallet.signTransaction({
      type: 2,
      chainId: dev.chainId,
      nonce: 0,
      to: dev.accounts[3]?.address as string,
      value: 1n,
      gasLimit: 21_000n,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
    });
    await expect(rpcCall(bUrl, 'eth_sendRawTransaction', [forA])).rejects.toThrow(/chain id/i);
    expect(await rpcCall(bUrl, 'eth_getTransactionCount', [wallet.address, 'pending'])).toBe('0x0');
    // The same bytes are a valid transaction on A.
    expect(await rpcCall(dev.rpcUrl, 'eth_sendRawTransaction', [forA])).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("error: keys do not cross: each app refuses the other app's key", async () => {
    const call = (url: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      }).then((r) => r.status);
    expect(await call(dev.node.rpcUrl(B.id, dev.apiKey))).toBe(403);
    expect(await call(dev.node.rpcUrl('demo', bKey))).toBe(403);
    expect(await call(bUrl)).toBe(200);
  });

  it("behavior: A's contract, transactions, receipts, logs and balances are invisible on B", async () => {
    expect(await rpcCall(dev.rpcUrl, 'eth_getCode', [token, 'latest'])).not.toBe('0x');
    expect(await rpcCall(bUrl, 'eth_getCode', [token, 'latest'])).toBe('0x');
    expect(await rpcCall(bUrl, 'eth_getTransactionByHash', [transferHash])).toBeNull();
    expect(await rpcCall(bUrl, 'eth_getTransactionReceipt', [transferHash])).toBeNull();
    const logsA = await rpcCall<unknown[]>(dev.rpcUrl, 'eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', address: token }]);
    const logsB = await rpcCall<unknown[]>(bUrl, 'eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', address: token }]);
    expect(logsA.length).toBeGreaterThan(0);
    expect(logsB).toEqual([]);
    // A's token balance exists on A only (B has no contract there: the call returns nothing).
    const holder = dev.accounts[1]?.address as string;
    const balanceOf = `0x70a08231${holder.slice(2).toLowerCase().padStart(64, '0')}`;
    expect(BigInt(await rpcCall<string>(dev.rpcUrl, 'eth_call', [{ to: token, data: balanceOf }, 'latest']))).toBe(5n);
    expect(await rpcCall(bUrl, 'eth_call', [{ to: token, data: balanceOf }, 'latest'])).toBe('0x');
    const rest = await fetch(`${dev.baseUrl}/api/v1/apps/${B.id}/transactions/${transferHash}`, {
      headers: { authorization: `Bearer ${bKey}` },
    });
    expect(rest.status).toBe(404);
  });

  it('behavior: blocks at the same height differ, each naming its own ledger and chain id', async () => {
    const height = `0x${deployHeight.toString(16)}`;
    // Wait until B has a block at that height (its heartbeats make them).
    for (let i = 0; i < 200 && BigInt(await rpcCall<string>(bUrl, 'eth_blockNumber')) < BigInt(deployHeight); i++) {
      await new Promise((done) => setTimeout(done, 50));
    }
    type Header = { ledgerId: string; chainId: string; hash: string };
    const a = await rpcCall<Header>(dev.rpcUrl, 'polis_getHeader', [height]);
    const b = await rpcCall<Header>(bUrl, 'polis_getHeader', [height]);
    expect(a.hash).not.toBe(b.hash);
    expect(Buffer.from(a.ledgerId.slice(2), 'hex').toString()).toBe('demo');
    expect(Buffer.from(b.ledgerId.slice(2), 'hex').toString()).toBe(B.id);
    expect(BigInt(a.chainId)).toBe(31337n);
    expect(BigInt(b.chainId)).toBe(31338n);
    const blockA = await rpcCall<{ transactions: string[] }>(dev.rpcUrl, 'eth_getBlockByNumber', [height, false]);
    const blockB = await rpcCall<{ transactions: string[] }>(bUrl, 'eth_getBlockByNumber', [height, false]);
    expect(blockA.transactions.length).toBeGreaterThan(0);
    expect(blockB.transactions).toEqual([]);
  });
});
