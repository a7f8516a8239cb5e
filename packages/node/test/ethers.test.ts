/**
 * ethers v6 against a node started in-process, over real HTTP: the ERC-20 life cycle, logs,
 * reverts, gas estimation, nonces, blocks, receipts, zero fees and a restart.
 */

import { hexToBytes } from '@polis/core';
import { bloomMayContain } from '@polis/ledger';
import {
  type Contract,
  ContractFactory,
  type ContractTransactionResponse,
  getAddress,
  Interface,
  type InterfaceAbi,
  isError,
  JsonRpcProvider,
  type TransactionReceipt,
  Wallet,
  zeroPadValue,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevNode, startDevNode } from './devNode.js';
import { type CompiledContract, compileTestToken } from './fixtures/compile.js';

const SUPPLY = 1_000_000n * 10n ** 18n;
const BOB = getAddress(`0x${'b0'.repeat(20)}`);

let dev: DevNode;
let provider: JsonRpcProvider;
let alice: Wallet;
let token: Contract;
let tokenAddress: string;
let compiled: CompiledContract;
let deployReceipt: TransactionReceipt;
let transferReceipt: TransactionReceipt;

function connect(url: string): JsonRpcProvider {
  // A static network (no eth_chainId before every call), fast polling for receipts and no
  // response cache, so each read sees the node's current answer.
  return new JsonRpcProvider(url, dev.chainId, { staticNetwork: true, pollingInterval: 20, cacheTimeout: -1 });
}

async function mined(tx: Promise<ContractTransactionResponse> | ContractTransactionResponse): Promise<TransactionReceipt> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error('no receipt');
  return receipt;
}

/** A funded-by-nothing account: fees are zero, so any key can transact. */
function freshWallet(seed: number): Wallet {
  return new Wallet(`0x${seed.toString(16).padStart(64, '0')}`, provider);
}

beforeAll(async () => {
  [dev, compiled] = await Promise.all([startDevNode(), compileTestToken()]);
  provider = connect(dev.rpcUrl);
  alice = new Wallet(dev.accounts[0]?.privateKey as string, provider);
});

afterAll(async () => {
  provider?.destroy();
  await dev?.close();
});

describe('ethers: ERC-20', () => {
  it('default: deploys the token and reads its constants', async () => {
    const factory = new ContractFactory(compiled.abi as InterfaceAbi, compiled.bytecode, alice);
    const deployed = await factory.deploy(SUPPLY);
    const tx = deployed.deploymentTransaction();
    if (!tx) throw new Error('no deployment transaction');
    deployReceipt = (await tx.wait()) as TransactionReceipt;
    await deployed.waitForDeployment();
    tokenAddress = await deployed.getAddress();
    token = deployed as Contract;
    expect(deployReceipt.status).toBe(1);
    expect(deployReceipt.contractAddress).toBe(tokenAddress);
    expect((await provider.getCode(tokenAddress)).length).toBeGreaterThan(2);
    expect(await token.getFunction('name')()).toBe('Polis Test Token');
    expect(await token.getFunction('symbol')()).toBe('PTT');
    expect(await token.getFunction('decimals')()).toBe(18n);
    expect(await token.getFunction('totalSupply')()).toBe(SUPPLY);
    expect(await token.getFunction('balanceOf')(alice.address)).toBe(SUPPLY);
  });

  it('default: transfers and reads balances', async () => {
    transferReceipt = await mined(token.getFunction('transfer')(BOB, 1234n));
    expect(transferReceipt.status).toBe(1);
    expect(await token.getFunction('balanceOf')(BOB)).toBe(1234n);
    expect(await token.getFunction('balanceOf')(alice.address)).toBe(SUPPLY - 1234n);
  });

  it('default: getLogs finds Transfer events by address and topics', async () => {
    const transferTopic = token.interface.getEvent('Transfer')?.topicHash as string;
    const all = await provider.getLogs({ address: tokenAddress, fromBlock: 0, toBlock: 'latest' });
    expect(all.map((l) => l.transactionHash)).toEqual([deployReceipt.hash, transferReceipt.hash]);

    const toBob = await provider.getLogs({
      address: tokenAddress,
      topics: [transferTopic, null, zeroPadValue(BOB, 32)],
      fromBlock: 0,
    });
    expect(toBob).toHaveLength(1);
    const parsed = token.interface.parseLog({ topics: [...(toBob[0]?.topics ?? [])], data: toBob[0]?.data ?? '0x' });
    expect(parsed?.args.toArray()).toEqual([alice.address, BOB, 1234n]);
    expect(toBob[0]?.blockNumber).toBe(transferReceipt.blockNumber);
    expect(toBob[0]?.blockHash).toBe(transferReceipt.blockHash);

    // OR within a position: the mint (from zero) and the transfer (from alice).
    const either = await provider.getLogs({
      topics: [transferTopic, [zeroPadValue('0x', 32), zeroPadValue(alice.address, 32)]],
      fromBlock: 0,
    });
    expect(either).toHaveLength(2);
    // Another address, or a topic nobody emitted, matches nothing.
    expect(await provider.getLogs({ address: BOB, fromBlock: 0 })).toEqual([]);
    expect(await provider.getLogs({ address: tokenAddress, topics: [zeroPadValue('0x01', 32)], fromBlock: 0 })).toEqual([]);
  });

  it('default: queryFilter reads Transfer events through a contract filter', async () => {
    const all = await token.queryFilter(token.filters.Transfer?.() as never, 0, 'latest');
    expect(all).toHaveLength(2);
    const fromAlice = await token.queryFilter(token.filters.Transfer?.(alice.address, BOB) as never, 0);
    expect(fromAlice).toHaveLength(1);
    const event = fromAlice[0] as { args: unknown[]; transactionHash: string };
    expect([...event.args]).toEqual([alice.address, BOB, 1234n]);
    expect(event.transactionHash).toBe(transferReceipt.hash);
  });

  it('error: a revert surfaces its reason from eth_call, eth_estimateGas and a send', async () => {
    const broke = freshWallet(0xdead);
    const poorToken = token.connect(broke) as Contract;
    const reason = 'TestToken: transfer amount exceeds balance';
    for (const attempt of [
      () => poorToken.getFunction('transfer').staticCall(BOB, 1n),
      () => poorToken.getFunction('transfer').estimateGas(BOB, 1n),
      () => poorToken.getFunction('transfer')(BOB, 1n),
    ]) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isError(err, 'CALL_EXCEPTION'), String(err)).toBe(true);
      expect((err as { reason?: string }).reason).toBe(reason);
    }
    const zero = await token
      .getFunction('transfer')
      .staticCall(`0x${'00'.repeat(20)}`, 1n)
      .catch((e: unknown) => e);
    expect((zero as { reason?: string }).reason).toBe('TestToken: transfer to the zero address');
  });

  it('behavior: a reverting transaction with its own gas limit is mined with status 0', async () => {
    const broke = freshWallet(0xdead01);
    const tx = await (token.connect(broke) as Contract).getFunction('transfer')(BOB, 1n, { gasLimit: 100_000n });
    const err = await tx.wait().catch((e: unknown) => e);
    expect(isError(err, 'CALL_EXCEPTION'), String(err)).toBe(true);
    const receipt = await provider.getTransactionReceipt(tx.hash);
    expect(receipt?.status).toBe(0);
    expect(receipt?.logs).toEqual([]);
    expect(await provider.getTransactionCount(broke.address)).toBe(1);
  });
});

describe('ethers: gas estimation', () => {
  it('default: a transaction sent with exactly the estimate succeeds, and one less gas does not', async () => {
    const sender = freshWallet(0xe57);
    await mined(token.getFunction('transfer')(sender.address, 500n));
    const senderToken = token.connect(sender) as Contract;
    const cases: [string, () => Promise<bigint>, (gasLimit: bigint) => Promise<ContractTransactionResponse>][] = [
      // A new holder: SSTORE from zero.
      [
        'transfer to a new holder',
        () => senderToken.getFunction('transfer').estimateGas(freshWallet(1).address, 100n),
        (g) => senderToken.getFunction('transfer')(freshWallet(1).address, 100n, { gasLimit: g }),
      ],
      // Emptying the sender's balance: SSTORE to zero earns a refund, so the gas used is less than the gas needed.
      [
        'transfer of the whole balance',
        () => senderToken.getFunction('transfer').estimateGas(BOB, 400n),
        (g) => senderToken.getFunction('transfer')(BOB, 400n, { gasLimit: g }),
      ],
    ];
    for (const [name, estimate, send] of cases) {
      const gas = await estimate();
      expect(gas, name).toBeGreaterThan(21_000n);
      const tooLittle = await send(gas - 1n);
      const failed = await provider.waitForTransaction(tooLittle.hash);
      expect(failed?.status, `${name}: estimate - 1 must run out of gas`).toBe(0);
      const exact = await mined(send(gas));
      expect(exact.status, `${name}: the exact estimate must succeed`).toBe(1);
      expect(exact.gasUsed, name).toBeLessThanOrEqual(gas);
    }
    expect(await token.getFunction('balanceOf')(sender.address)).toBe(0n);
  });

  it('behavior: the estimate covers an access list (EIP-2930) and the calldata floor (EIP-7623)', async () => {
    const sender = freshWallet(0xe58);
    const data = token.interface.encodeFunctionData('approve', [BOB, 5n]);
    const accessList = [{ address: tokenAddress, storageKeys: [zeroPadValue('0x02', 32)] }];
    const cases: [string, Record<string, unknown>][] = [
      ['type 1 with an access list', { type: 1, to: tokenAddress, data, accessList, gasPrice: 0n }],
      // 1000 non-zero bytes to an account without code: the floor (10 gas per token) exceeds the standard cost.
      [
        'calldata-heavy transfer to an account',
        { type: 2, to: BOB, data: `0x${'ff'.repeat(1000)}`, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
      ],
    ];
    for (const [name, request] of cases) {
      const gas = await sender.estimateGas(request);
      const receipt = await (await sender.sendTransaction({ ...request, gasLimit: gas })).wait();
      expect(receipt?.status, name).toBe(1);
      expect(receipt?.gasUsed, name).toBe(gas);
    }
  });

  it('default: a deployment sent with exactly the estimate succeeds', async () => {
    const factory = new ContractFactory(compiled.abi as InterfaceAbi, compiled.bytecode, alice);
    const deployTx = await factory.getDeployTransaction(7n);
    const gas = await alice.estimateGas(deployTx);
    const receipt = await mined(alice.sendTransaction({ ...deployTx, gasLimit: gas }) as Promise<ContractTransactionResponse>);
    expect(receipt.status).toBe(1);
    expect(receipt.contractAddress).not.toBeNull();
  });
});

describe('ethers: nonces, blocks, receipts and fees', () => {
  it('default: eth_getTransactionCount "pending" counts pooled transactions, "latest" only committed ones', async () => {
    const sender = freshWallet(0x9e9d);
    const base = await provider.getTransactionCount(sender.address, 'latest');
    expect(base).toBe(0);
    const sign = (nonce: number) =>
      sender.signTransaction({
        type: 2,
        chainId: dev.chainId,
        nonce,
        to: BOB,
        gasLimit: 21_000n,
        maxFeePerGas: 0n,
        maxPriorityFeePerGas: 0n,
      });
    const [tx0, tx1, tx3] = await Promise.all([sign(0), sign(1), sign(3)]);
    // One JSON-RPC batch: the server answers its requests in order, and no block can commit
    // between them (a commit waits for disk I/O; the batch's handlers never yield to it).
    const answers = (await provider._send([
      { jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [tx0] },
      { jsonrpc: '2.0', id: 2, method: 'eth_sendRawTransaction', params: [tx1] },
      // Nonce 3 leaves a gap at 2: it is held, and "pending" does not count past the gap.
      { jsonrpc: '2.0', id: 3, method: 'eth_sendRawTransaction', params: [tx3] },
      { jsonrpc: '2.0', id: 4, method: 'eth_getTransactionCount', params: [sender.address, 'pending'] },
      { jsonrpc: '2.0', id: 5, method: 'eth_getTransactionCount', params: [sender.address, 'latest'] },
    ])) as { id: number; result?: string; error?: unknown }[];
    expect(answers.map((a) => a.id)).toEqual([1, 2, 3, 4, 5]);
    for (const a of answers) expect(a.error, `request ${a.id}`).toBeUndefined();
    expect(answers[3]?.result).toBe('0x2');
    expect(answers[4]?.result).toBe('0x0');
    await provider.waitForTransaction(answers[1]?.result as string);
    expect(await provider.getTransactionCount(sender.address, 'latest')).toBe(2);
    expect(await provider.getTransactionCount(sender.address, 'pending')).toBe(2);
    // Filling the gap releases the held transaction.
    const tx2 = await provider.broadcastTransaction(await sign(2));
    await tx2.wait();
    await provider.waitForTransaction(answers[2]?.result as string);
    expect(await provider.getTransactionCount(sender.address, 'latest')).toBe(4);
  });

  it('default: blocks by number and by hash, with hashes only and with full transactions', async () => {
    const n = transferReceipt.blockNumber;
    const byNumber = await provider.getBlock(n);
    const byHash = await provider.getBlock(transferReceipt.blockHash);
    const full = await provider.getBlock(n, true);
    const fullByHash = await provider.getBlock(transferReceipt.blockHash, true);
    const parent = await provider.getBlock(n - 1);
    if (!byNumber || !byHash || !full || !fullByHash || !parent) throw new Error('missing block');
    expect(byNumber.hash).toBe(transferReceipt.blockHash);
    expect(byNumber.number).toBe(n);
    expect(byHash.toJSON()).toEqual(byNumber.toJSON());
    expect(byNumber.parentHash).toBe(parent.hash);
    expect(byNumber.timestamp).toBeGreaterThanOrEqual(parent.timestamp);
    expect(byNumber.baseFeePerGas).toBe(0n);
    expect(byNumber.gasUsed).toBeGreaterThanOrEqual(transferReceipt.gasUsed);
    expect(byNumber.transactions).toContain(transferReceipt.hash);
    expect(full.transactions).toEqual(byNumber.transactions);
    const tx = full.prefetchedTransactions.find((t) => t.hash === transferReceipt.hash);
    expect(tx?.from).toBe(alice.address);
    expect(tx?.to).toBe(tokenAddress);
    expect(tx?.blockHash).toBe(byNumber.hash);
    expect(tx?.blockNumber).toBe(n);
    expect(fullByHash.prefetchedTransactions.map((t) => t.hash)).toEqual(full.prefetchedTransactions.map((t) => t.hash));
    expect(await provider.getBlock(`0x${'ab'.repeat(32)}`)).toBeNull();
    expect(await provider.getBlock((await provider.getBlockNumber()) + 1000)).toBeNull();
  });

  it('default: receipts carry status, gasUsed, logs, logsBloom and contractAddress', async () => {
    expect(deployReceipt.contractAddress).toBe(tokenAddress);
    expect(transferReceipt.contractAddress).toBeNull();
    expect(transferReceipt.to).toBe(tokenAddress);
    expect(transferReceipt.from).toBe(alice.address);
    expect(transferReceipt.gasUsed).toBeGreaterThan(21_000n);
    expect(transferReceipt.cumulativeGasUsed).toBeGreaterThanOrEqual(transferReceipt.gasUsed);
    expect(transferReceipt.gasPrice).toBe(0n);
    expect(transferReceipt.fee).toBe(0n);
    expect(transferReceipt.logs).toHaveLength(1);
    const log = transferReceipt.logs[0];
    expect(log?.address).toBe(tokenAddress);
    expect(log?.transactionHash).toBe(transferReceipt.hash);
    expect(log?.blockHash).toBe(transferReceipt.blockHash);
    const bloom = hexToBytes(transferReceipt.logsBloom);
    expect(bloomMayContain(bloom, hexToBytes(tokenAddress))).toBe(true);
    for (const topic of log?.topics ?? []) expect(bloomMayContain(bloom, hexToBytes(topic)), topic).toBe(true);
    // The block's bloom covers the receipt's.
    const block = await provider.send('eth_getBlockByNumber', [`0x${transferReceipt.blockNumber.toString(16)}`, false]);
    expect(bloomMayContain(hexToBytes(block.logsBloom), hexToBytes(tokenAddress))).toBe(true);
  });

  it('default: gas price and priority fee are zero, and zero-fee transactions of types 0, 1 and 2 commit', async () => {
    expect(await provider.send('eth_gasPrice', [])).toBe('0x0');
    expect(await provider.send('eth_maxPriorityFeePerGas', [])).toBe('0x0');
    const fees = await provider.getFeeData();
    expect(fees.gasPrice).toBe(0n);
    const sender = freshWallet(0xfee);
    const iface = new Interface(compiled.abi as InterfaceAbi);
    const data = iface.encodeFunctionData('approve', [BOB, 1n]);
    const requests = [
      { type: 0, gasPrice: 0n },
      { type: 1, gasPrice: 0n, accessList: [{ address: tokenAddress, storageKeys: [] }] },
      { type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
    ];
    for (const fields of requests) {
      const tx = await sender.sendTransaction({ to: tokenAddress, data, ...fields });
      const receipt = await tx.wait();
      expect(receipt?.status, `type ${fields.type}`).toBe(1);
      expect(receipt?.type, `type ${fields.type}`).toBe(fields.type);
      const fetched = await provider.getTransaction(tx.hash);
      expect(fetched?.type, `type ${fields.type}`).toBe(fields.type);
      expect(fetched?.gasPrice, `type ${fields.type}`).toBe(0n);
    }
    // With no fee fields at all, ethers fills them in from the node's fee data.
    const auto = await (await sender.sendTransaction({ to: BOB })).wait();
    expect(auto?.status).toBe(1);
    expect(await provider.getTransactionCount(sender.address)).toBe(4);
  });
});

describe('ethers: restart', () => {
  it('behavior: nonces continue across a node restart', async () => {
    const before = await provider.getTransactionCount(alice.address, 'latest');
    const height = await provider.getBlockNumber();
    expect(before).toBeGreaterThan(0);
    provider.destroy();
    await dev.restart();
    provider = connect(dev.rpcUrl);
    alice = alice.connect(provider);
    expect(await provider.getBlockNumber()).toBeGreaterThanOrEqual(height);
    expect(await provider.getTransactionCount(alice.address, 'latest')).toBe(before);
    expect(await provider.getTransactionCount(alice.address, 'pending')).toBe(before);
    const restarted = (token.connect(alice) as Contract).attach(tokenAddress) as Contract;
    const receipt = await mined(restarted.getFunction('transfer')(BOB, 1n));
    expect(receipt.status).toBe(1);
    const tx = await provider.getTransaction(receipt.hash);
    expect(tx?.nonce).toBe(before);
    expect(await provider.getTransactionCount(alice.address, 'latest')).toBe(before + 1);
    expect(await restarted.getFunction('balanceOf')(BOB)).toBe(1234n + 400n + 1n);
  });
});
