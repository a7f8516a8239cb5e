/**
 * The read path's caches, over a real LMDB state store and the test ERC-20:
 * - `BlockExecutor.call` keeps results per block context: the same call in the same context is
 *   answered from the cache (one execution for concurrent callers too); a new block, a new second
 *   or a different call is executed again, so no answer is ever stale; the cache stays within its
 *   bound; reverts are answered as reverts.
 * - The interpreter's code analysis is done once per code, however many calls run it.
 */
import { bytesToBigInt, hexToBytes } from '@polis/core';
import { createLedgerCommon, createStateWriteSet, type DecodedTx, decodeTx } from '@polis/ledger';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileContract, ERC20_SOURCE, encodeArgs, encodeCall } from '../bench/erc20.js';
import {
  BlockExecutor,
  CALL_CACHE_ENTRIES,
  commitBlockState,
  installJumpAnalysisCache,
  jumpAnalysisStats,
} from '../src/index.js';
import { type Fixture, openFixture } from './helpers.js';

const CHAIN_ID = 31337n;
const common = createLedgerCommon(CHAIN_ID);
const GAS_LIMIT = 30_000_000n;
const owner = privateKeyToAccount(`0x${'11'.repeat(32)}` as Hex);
const ownerBytes = hexToBytes(owner.address);
const alice = new Uint8Array(20).fill(0xa1);

let f: Fixture;
let executor: BlockExecutor;
let token: Uint8Array;
let height = 0;
let timeMs = 1_700_000_000_000;

const env = (time = timeMs) => ({ height: height + 1, timeMs: time, gasLimit: GAS_LIMIT, coinbase: new Uint8Array(20) });

async function signed(fields: { to?: Uint8Array; data: Uint8Array }): Promise<DecodedTx> {
  const nonce = f.store.getAccount(ownerBytes)?.nonce ?? 0n;
  const raw = await owner.signTransaction({
    chainId: Number(CHAIN_ID),
    type: 'eip1559',
    ...(fields.to ? { to: `0x${Buffer.from(fields.to).toString('hex')}` as Hex } : {}),
    data: `0x${Buffer.from(fields.data).toString('hex')}` as Hex,
    nonce: Number(nonce),
    gas: 3_000_000n,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
  });
  return decodeTx(hexToBytes(raw), common);
}

/** Builds and commits the next block of `txs`, each of which must succeed. */
async function commit(txs: DecodedTx[]) {
  const exec = await executor.executeBlock(env(), txs, 'build');
  if ('invalid' in exec) throw new Error(exec.invalid);
  for (const r of exec.receipts) expect(r.status).toBe(1);
  height += 1;
  await commitBlockState(f.store, executor.state, { height });
  timeMs += 1_000;
  return exec;
}

const balanceOf = (who: Uint8Array) => ({ to: token, data: encodeCall('balanceOf(address)', [who]) });

beforeAll(async () => {
  f = await openFixture('smt');
  await f.store.commitBlock({ height: 0, writes: createStateWriteSet({}) });
  executor = await BlockExecutor.create({ common, committed: f.store });
  const compiled = compileContract(ERC20_SOURCE, 'Token');
  const deploy = await commit([await signed({ data: new Uint8Array([...compiled.bytecode, ...encodeArgs([1_000n])]) })]);
  token = deploy.receipts[0]?.contractAddress as Uint8Array;
  expect(token).toHaveLength(20);
});

afterAll(async () => {
  await f?.close();
});

describe('BlockExecutor.call results per block context', () => {
  it('answers the same call in the same context from the cache, and concurrent callers share one run', async () => {
    const a = executor.call(env(), balanceOf(ownerBytes));
    const b = executor.call(env(), balanceOf(ownerBytes));
    expect(b, 'a call arriving while the same one runs waits for it').toBe(a);
    const first = await a;
    expect(first.success).toBe(true);
    expect(bytesToBigInt(first.returnValue)).toBe(1_000n);
    const again = await executor.call(env(), balanceOf(ownerBytes));
    expect(again).toBe(first);
    // A different call in the same context is run, not confused with the first.
    const other = await executor.call(env(), balanceOf(alice));
    expect(other).not.toBe(first);
    expect(bytesToBigInt(other.returnValue)).toBe(0n);
  });

  it('never answers from an older block: after a transfer commits, the call sees the new balance', async () => {
    const before = await executor.call(env(), balanceOf(alice));
    expect(bytesToBigInt(before.returnValue)).toBe(0n);
    await commit([await signed({ to: token, data: encodeCall('transfer(address,uint256)', [alice, 250n]) })]);
    const after = await executor.call(env(), balanceOf(alice));
    expect(bytesToBigInt(after.returnValue)).toBe(250n);
    expect(bytesToBigInt((await executor.call(env(), balanceOf(ownerBytes))).returnValue)).toBe(750n);
  });

  it('runs the call again in a new second of the same height (the block time is part of the context)', async () => {
    const now = await executor.call(env(), balanceOf(alice));
    const later = await executor.call(env(timeMs + 1_000), balanceOf(alice));
    expect(later).not.toBe(now);
    expect(later.returnValue).toEqual(now.returnValue);
    expect(executor.cachedCalls.entries, 'the old context was dropped').toBe(1);
  });

  it('answers a revert as a revert, from the cache as well', async () => {
    const transfer = { from: alice, to: token, data: encodeCall('transfer(address,uint256)', [ownerBytes, 10_000n]) };
    for (let i = 0; i < 2; i++) {
      const r = await executor.call(env(), transfer);
      expect(r.success).toBe(false);
      expect(new TextDecoder().decode(r.returnValue)).toContain('balance');
    }
  });

  it(`keeps at most ${CALL_CACHE_ENTRIES} results`, async () => {
    let most = 0;
    for (let i = 0; i < CALL_CACHE_ENTRIES + 50; i++) {
      const who = new Uint8Array(20);
      new DataView(who.buffer).setUint32(16, i + 1);
      await executor.call(env(), balanceOf(who));
      most = Math.max(most, executor.cachedCalls.entries);
    }
    expect(most).toBe(CALL_CACHE_ENTRIES);
    expect(executor.cachedCalls.entries).toBeLessThan(CALL_CACHE_ENTRIES);
  });
});

describe('the interpreter analyses each code once', () => {
  it('is installed for this version of @ethereumjs/evm', async () => {
    expect(await installJumpAnalysisCache()).toBe(true);
  });

  it('reuses the analysis of the token for every call after the first', async () => {
    const { analysed, reused } = jumpAnalysisStats;
    for (let i = 0; i < 20; i++) {
      const who = new Uint8Array(20).fill(0x40 + i);
      const r = await executor.call(env(timeMs + 10_000), balanceOf(who));
      expect(r.success).toBe(true);
    }
    expect(jumpAnalysisStats.analysed - analysed, 'the code was analysed already').toBe(0);
    expect(jumpAnalysisStats.reused - reused).toBe(20);
  });
});
