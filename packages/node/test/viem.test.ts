/**
 * viem against a node started in-process, over real HTTP: the ERC-20 life cycle, logs and event
 * filters (including watchContractEvent over HTTP polling), reverts, gas estimation, nonces,
 * blocks, receipts, zero fees and a restart.
 */

import { hexToBytes } from '@polis/core';
import { bloomMayContain } from '@polis/ledger';
import {
  type Abi,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeFunctionData,
  getAddress,
  type Hash,
  type HttpTransport,
  http,
  type Log,
  type PrivateKeyAccount,
  type PublicClient,
  pad,
  parseAbiItem,
  type TransactionReceipt,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { getHttpRpcClient } from 'viem/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';
import { type CompiledContract, compileTestToken } from './fixtures/compile.js';

const SUPPLY = 1_000_000n * 10n ** 18n;
const BOB = getAddress(`0x${'b1'.repeat(20)}`);
const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

type Clients = {
  chain: Chain;
  pub: PublicClient<HttpTransport, Chain>;
  wallet: WalletClient<HttpTransport, Chain, PrivateKeyAccount>;
};

let dev: DevNode;
let compiled: CompiledContract;
let abi: Abi;
let c: Clients;
let alice: PrivateKeyAccount;
let token: `0x${string}`;
let deployReceipt: TransactionReceipt;
let transferReceipt: TransactionReceipt;

function clients(url: string, account: PrivateKeyAccount): Clients {
  const chain = defineChain({
    id: dev.chainId,
    name: 'Polis test ledger',
    nativeCurrency: { name: 'none', symbol: 'NONE', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  // Fast polling: blocks come within milliseconds of a transaction.
  const pub = createPublicClient({ chain, transport: http(url), pollingInterval: 20 });
  const wallet = createWalletClient({ chain, transport: http(url), account, pollingInterval: 20 });
  return { chain, pub, wallet };
}

function accountOf(seed: number): PrivateKeyAccount {
  return privateKeyToAccount(`0x${seed.toString(16).padStart(64, '0')}`);
}

async function receiptOf(hash: Hash): Promise<TransactionReceipt> {
  return c.pub.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: 20_000 });
}

beforeAll(async () => {
  [dev, compiled] = await Promise.all([startDevNode(), compileTestToken()]);
  abi = compiled.abi as unknown as Abi;
  alice = privateKeyToAccount(dev.accounts[0]?.privateKey as `0x${string}`);
  c = clients(dev.rpcUrl, alice);
});

afterAll(async () => {
  await dev?.close();
});

describe('viem: ERC-20', () => {
  it('default: deploys the token and reads its constants', async () => {
    const hash = await c.wallet.deployContract({ abi, bytecode: compiled.bytecode, args: [SUPPLY] });
    deployReceipt = await receiptOf(hash);
    expect(deployReceipt.status).toBe('success');
    token = deployReceipt.contractAddress as `0x${string}`;
    expect(token).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect((await c.pub.getCode({ address: token }))?.length).toBeGreaterThan(2);
    const read = (functionName: string, args: unknown[] = []) => c.pub.readContract({ address: token, abi, functionName, args });
    expect(await read('name')).toBe('Polis Test Token');
    expect(await read('symbol')).toBe('PTT');
    expect(await read('decimals')).toBe(18);
    expect(await read('totalSupply')).toBe(SUPPLY);
    expect(await read('balanceOf', [alice.address])).toBe(SUPPLY);
  });

  it('default: transfers and reads balances', async () => {
    const hash = await c.wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [BOB, 4321n] });
    transferReceipt = await receiptOf(hash);
    expect(transferReceipt.status).toBe('success');
    expect(await c.pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [BOB] })).toBe(4321n);
    expect(await c.pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [alice.address] })).toBe(
      SUPPLY - 4321n,
    );
  });

  it('default: getLogs filters Transfer events by address, event and indexed arguments', async () => {
    const all = await c.pub.getLogs({ address: token, fromBlock: 0n });
    expect(all.map((l) => l.transactionHash)).toEqual([deployReceipt.transactionHash, transferReceipt.transactionHash]);

    const toBob = await c.pub.getLogs({ address: token, event: TRANSFER, args: { to: BOB }, fromBlock: 0n, toBlock: 'latest' });
    expect(toBob).toHaveLength(1);
    expect(toBob[0]?.args).toEqual({ from: alice.address, to: BOB, value: 4321n });
    expect(toBob[0]?.blockHash).toBe(transferReceipt.blockHash);

    const mints = await c.pub.getLogs({ event: TRANSFER, args: { from: `0x${'00'.repeat(20)}` }, fromBlock: 0n });
    expect(mints.map((l) => l.transactionHash)).toEqual([deployReceipt.transactionHash]);
    expect(await c.pub.getLogs({ address: BOB, fromBlock: 0n })).toEqual([]);
    // Only the block the transfer is in.
    const inBlock = await c.pub.getLogs({ address: token, blockHash: transferReceipt.blockHash });
    expect(inBlock.map((l) => l.transactionHash)).toEqual([transferReceipt.transactionHash]);
  });

  it('default: getContractEvents reads Transfer events through the contract ABI', async () => {
    const all = await c.pub.getContractEvents({ address: token, abi, eventName: 'Transfer', fromBlock: 0n });
    expect(all).toHaveLength(2);
    const fromAlice = await c.pub.getContractEvents({
      address: token,
      abi,
      eventName: 'Transfer',
      args: { from: alice.address },
      fromBlock: 0n,
    });
    expect(fromAlice).toHaveLength(1);
    expect((fromAlice[0] as unknown as { args: unknown }).args).toEqual({ from: alice.address, to: BOB, value: 4321n });
  });

  it('behavior: watchContractEvent delivers new Transfer events over HTTP polling', async () => {
    const seen: Log[] = [];
    let resolveSeen: () => void = () => {};
    const arrived = new Promise<void>((done) => {
      resolveSeen = done;
    });
    const unwatch = c.pub.watchContractEvent({
      address: token,
      abi,
      eventName: 'Transfer',
      args: { to: BOB },
      poll: true,
      pollingInterval: 20,
      onLogs: (logs) => {
        seen.push(...logs);
        if (seen.length >= 2) resolveSeen();
      },
    });
    try {
      // Let the watcher take its starting block before the transfers land.
      await new Promise((done) => setTimeout(done, 100));
      const first = await c.wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [BOB, 1n] });
      const second = await c.wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [BOB, 2n] });
      await Promise.all([receiptOf(first), receiptOf(second)]);
      await Promise.race([
        arrived,
        new Promise((_, fail) => setTimeout(() => fail(new Error(`saw ${seen.length} of 2 events`)), 10_000)),
      ]);
      expect(seen.map((l) => l.transactionHash)).toEqual([first, second]);
      expect(seen.map((l) => (l as unknown as { args: { value: bigint } }).args.value)).toEqual([1n, 2n]);
    } finally {
      unwatch();
    }
  });

  it('error: a revert surfaces its reason from simulateContract, estimateContractGas and writeContract', async () => {
    const broke = accountOf(0xdead);
    const reason = 'TestToken: transfer amount exceeds balance';
    const brokeWallet = clients(dev.rpcUrl, broke).wallet;
    const attempts: [string, () => Promise<unknown>][] = [
      [
        'simulateContract',
        () => c.pub.simulateContract({ address: token, abi, functionName: 'transfer', args: [BOB, 1n], account: broke }),
      ],
      [
        'estimateContractGas',
        () => c.pub.estimateContractGas({ address: token, abi, functionName: 'transfer', args: [BOB, 1n], account: broke }),
      ],
      ['writeContract', () => brokeWallet.writeContract({ address: token, abi, functionName: 'transfer', args: [BOB, 1n] })],
    ];
    for (const [name, attempt] of attempts) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(BaseError);
      const reverted = (err as BaseError).walk((e) => e instanceof ContractFunctionRevertedError);
      expect(reverted, `${name}: ${String(err)}`).toBeInstanceOf(ContractFunctionRevertedError);
      expect((reverted as ContractFunctionRevertedError).reason, name).toBe(reason);
    }
  });
});

describe('viem: gas estimation', () => {
  it('default: a transaction sent with exactly the estimate succeeds', async () => {
    const sender = accountOf(0xe59);
    const senderWallet = clients(dev.rpcUrl, sender).wallet;
    await receiptOf(
      await c.wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [sender.address, 100n] }),
    );
    const cases: [string, unknown[]][] = [
      ['transfer to a new holder', [accountOf(7).address, 60n]],
      ['transfer of the whole remaining balance', [BOB, 40n]],
    ];
    for (const [name, args] of cases) {
      const gas = await c.pub.estimateContractGas({ address: token, abi, functionName: 'transfer', args, account: sender });
      const receipt = await receiptOf(
        await senderWallet.writeContract({ address: token, abi, functionName: 'transfer', args, gas }),
      );
      expect(receipt.status, name).toBe('success');
      expect(receipt.gasUsed, name).toBeLessThanOrEqual(gas);
    }
    const deployGas = await c.pub.estimateGas({
      account: alice,
      data: `${compiled.bytecode}${pad('0x05', { size: 32 }).slice(2)}`,
    });
    const deployed = await receiptOf(
      await c.wallet.deployContract({ abi, bytecode: compiled.bytecode, args: [5n], gas: deployGas }),
    );
    expect(deployed.status).toBe('success');
  });
});

describe('viem: nonces, blocks, receipts and fees', () => {
  it('default: getTransactionCount "pending" counts pooled transactions, "latest" only committed ones', async () => {
    const sender = accountOf(0x9e9e);
    expect(await c.pub.getTransactionCount({ address: sender.address, blockTag: 'latest' })).toBe(0);
    const sign = (nonce: number) =>
      sender.signTransaction({
        chainId: dev.chainId,
        type: 'eip1559',
        nonce,
        to: BOB,
        gas: 21_000n,
        maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n,
      });
    const [tx0, tx1] = await Promise.all([sign(0), sign(1)]);
    // One JSON-RPC batch: answered in order, with no block committed in between.
    const rpc = getHttpRpcClient(dev.rpcUrl);
    const answers = (await rpc.request({
      body: [
        { jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [tx0] },
        { jsonrpc: '2.0', id: 2, method: 'eth_sendRawTransaction', params: [tx1] },
        { jsonrpc: '2.0', id: 3, method: 'eth_getTransactionCount', params: [sender.address, 'pending'] },
        { jsonrpc: '2.0', id: 4, method: 'eth_getTransactionCount', params: [sender.address, 'latest'] },
      ],
    })) as { id: number; result?: string; error?: unknown }[];
    expect(answers.map((a) => a.id)).toEqual([1, 2, 3, 4]);
    for (const a of answers) expect(a.error, `request ${a.id}`).toBeUndefined();
    expect(answers[2]?.result).toBe('0x2');
    expect(answers[3]?.result).toBe('0x0');
    await receiptOf(answers[1]?.result as Hash);
    expect(await c.pub.getTransactionCount({ address: sender.address, blockTag: 'latest' })).toBe(2);
    expect(await c.pub.getTransactionCount({ address: sender.address, blockTag: 'pending' })).toBe(2);
  });

  it('default: blocks by number and by hash, with hashes only and with full transactions', async () => {
    const n = transferReceipt.blockNumber;
    const byNumber = await c.pub.getBlock({ blockNumber: n });
    const byHash = await c.pub.getBlock({ blockHash: transferReceipt.blockHash });
    const full = await c.pub.getBlock({ blockNumber: n, includeTransactions: true });
    const fullByHash = await c.pub.getBlock({ blockHash: transferReceipt.blockHash, includeTransactions: true });
    const parent = await c.pub.getBlock({ blockNumber: n - 1n });
    expect(byNumber.hash).toBe(transferReceipt.blockHash);
    expect(byNumber.number).toBe(n);
    expect(byHash).toEqual(byNumber);
    expect(byNumber.parentHash).toBe(parent.hash);
    expect(byNumber.baseFeePerGas).toBe(0n);
    expect(byNumber.stateRoot).toMatch(/^0x[0-9a-f]{64}$/);
    expect(byNumber.transactions).toContain(transferReceipt.transactionHash);
    expect(full.transactions.map((t) => t.hash)).toEqual(byNumber.transactions);
    const tx = full.transactions.find((t) => t.hash === transferReceipt.transactionHash);
    expect(tx?.from).toBe(alice.address.toLowerCase());
    expect(tx?.to).toBe(token.toLowerCase());
    expect(tx?.blockHash).toBe(byNumber.hash);
    expect(tx?.blockNumber).toBe(n);
    expect(tx?.input.startsWith(encodeFunctionData({ abi, functionName: 'transfer', args: [BOB, 4321n] }))).toBe(true);
    expect(fullByHash).toEqual(full);
    const latest = await c.pub.getBlock({ blockTag: 'latest' });
    expect(latest.number).toBeGreaterThanOrEqual(n);
  });

  it('default: receipts carry status, gasUsed, logs, logsBloom and contractAddress', async () => {
    const r = await c.pub.getTransactionReceipt({ hash: transferReceipt.transactionHash });
    expect(r).toEqual(transferReceipt);
    expect(deployReceipt.contractAddress).toBe(token);
    expect(r.contractAddress).toBeNull();
    expect(r.status).toBe('success');
    expect(r.gasUsed).toBeGreaterThan(21_000n);
    expect(r.cumulativeGasUsed).toBeGreaterThanOrEqual(r.gasUsed);
    expect(r.effectiveGasPrice).toBe(0n);
    expect(r.type).toBe('eip1559');
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.address).toBe(token.toLowerCase());
    expect(r.logs[0]?.topics[2]).toBe(pad(BOB.toLowerCase() as `0x${string}`, { size: 32 }));
    const bloom = hexToBytes(r.logsBloom);
    expect(bloomMayContain(bloom, hexToBytes(token))).toBe(true);
    for (const topic of r.logs[0]?.topics ?? []) expect(bloomMayContain(bloom, hexToBytes(topic)), topic).toBe(true);
    expect(await c.pub.getTransactionReceipt({ hash: `0x${'ee'.repeat(32)}` }).catch((e: unknown) => (e as Error).name)).toBe(
      'TransactionReceiptNotFoundError',
    );
  });

  it('default: gas price and priority fee are zero, and zero-fee transactions of types legacy, eip2930 and eip1559 commit', async () => {
    expect(await c.pub.getGasPrice()).toBe(0n);
    expect(await c.pub.estimateMaxPriorityFeePerGas()).toBe(0n);
    const fees = await c.pub.estimateFeesPerGas();
    expect(fees.maxFeePerGas).toBe(0n);
    const sender = accountOf(0xfef);
    const wallet = clients(dev.rpcUrl, sender).wallet;
    const data = encodeFunctionData({ abi, functionName: 'approve', args: [BOB, 1n] });
    const requests = [
      { type: 'legacy', gasPrice: 0n },
      { type: 'eip2930', gasPrice: 0n, accessList: [{ address: token, storageKeys: [] }] },
      { type: 'eip1559', maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
    ] as const;
    for (const fields of requests) {
      const hash = await wallet.sendTransaction({ to: token, data, ...fields } as Parameters<typeof wallet.sendTransaction>[0]);
      const receipt = await receiptOf(hash);
      expect(receipt.status, fields.type).toBe('success');
      expect(receipt.type, fields.type).toBe(fields.type);
      const tx = await c.pub.getTransaction({ hash });
      expect(tx.type, fields.type).toBe(fields.type);
      expect(tx.gasPrice, fields.type).toBe(0n);
    }
    // With no fee fields, viem fills them from the node's fee data.
    const auto = await receiptOf(await wallet.sendTransaction({ to: BOB }));
    expect(auto.status).toBe('success');
    expect(await c.pub.getTransactionCount({ address: sender.address })).toBe(4);
  });
});

describe('viem: restart', () => {
  it('behavior: nonces continue across a node restart', async () => {
    const before = await c.pub.getTransactionCount({ address: alice.address, blockTag: 'latest' });
    const height = await c.pub.getBlockNumber();
    expect(before).toBeGreaterThan(0);
    await dev.restart();
    c = clients(dev.rpcUrl, alice);
    expect(await c.pub.getBlockNumber()).toBeGreaterThanOrEqual(height);
    expect(await c.pub.getTransactionCount({ address: alice.address, blockTag: 'latest' })).toBe(before);
    expect(await c.pub.getTransactionCount({ address: alice.address, blockTag: 'pending' })).toBe(before);
    const balance = (await c.pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [BOB] })) as bigint;
    const hash = await c.wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [BOB, 1n] });
    const receipt = await receiptOf(hash);
    expect(receipt.status).toBe('success');
    expect((await c.pub.getTransaction({ hash })).nonce).toBe(before);
    expect(await c.pub.getTransactionCount({ address: alice.address, blockTag: 'latest' })).toBe(before + 1);
    expect(await c.pub.readContract({ address: token, abi, functionName: 'balanceOf', args: [BOB] })).toBe(balance + 1n);
  });
});
