import { Account, Address } from '@ethereumjs/util';
import { bytesToHex, isPolisError, keccak256 } from '@polis/core';
import { KECCAK256_NULL } from '@polis/ledger';
import { afterEach, describe, expect, it } from 'vitest';
import { commitBlockState, ExecutionStateErrorCode, type JournaledStateManager } from '../src/index.js';
import { type Fixture, openFixture } from './helpers.js';

const fixtures: Fixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

async function fixture(...args: Parameters<typeof openFixture>): Promise<Fixture> {
  const f = await openFixture(...args);
  fixtures.push(f);
  return f;
}

const addr = (n: number) => new Address(new Uint8Array(20).fill(n));
const slot = (n: number) => new Uint8Array(32).fill(n);
const value = (n: number) => new Uint8Array([n]);

async function expectCode(fn: () => Promise<unknown> | unknown, code: ExecutionStateErrorCode) {
  try {
    await fn();
    expect.fail(`should throw ${code}`);
  } catch (err) {
    expect(isPolisError(err, code), String(err)).toBe(true);
  }
}

async function balanceOf(state: JournaledStateManager, a: Address): Promise<bigint | undefined> {
  return (await state.getAccount(a))?.balance;
}

describe('journaled state overlay', () => {
  it('default: writes are read back, and reads go through to the committed store', async () => {
    const { store, state } = await fixture();
    await state.putAccount(addr(1), new Account(1n, 100n));
    await state.putStorage(addr(1), slot(1), value(5));
    await commitBlockState(store, state, { height: 0 });
    expect(state.dirty).toBe(false);
    expect(await balanceOf(state, addr(1))).toBe(100n);
    expect(await state.getStorage(addr(1), slot(1))).toEqual(value(5));
    expect(await state.getStorage(addr(1), slot(2))).toEqual(new Uint8Array(0));
    expect(await state.getAccount(addr(2))).toBeUndefined();
  });

  it('behavior: nested checkpoints commit and revert the right writes', async () => {
    const { state } = await fixture();
    await state.putAccount(addr(1), new Account(0n, 1n));
    await state.checkpoint(); // depth 1
    await state.putAccount(addr(1), new Account(0n, 2n));
    await state.putStorage(addr(1), slot(1), value(1));
    await state.checkpoint(); // depth 2
    await state.putAccount(addr(1), new Account(0n, 3n));
    await state.putStorage(addr(1), slot(1), value(2));
    await state.putAccount(addr(2), new Account(0n, 9n));
    await state.checkpoint(); // depth 3
    await state.putStorage(addr(1), slot(1), value(3));
    await state.commit(); // depth 3 merges into depth 2
    expect(await state.getStorage(addr(1), slot(1))).toEqual(value(3));
    await state.revert(); // undoes depth 2 and what depth 3 merged into it
    expect(state.checkpointDepth).toBe(1);
    expect(await balanceOf(state, addr(1))).toBe(2n);
    expect(await state.getStorage(addr(1), slot(1))).toEqual(value(1));
    expect(await state.getAccount(addr(2))).toBeUndefined();
    await state.commit();
    expect(state.checkpointDepth).toBe(0);
    expect(await balanceOf(state, addr(1))).toBe(2n);
    const writes = state.writeSet();
    expect(writes.accounts.map((w) => bytesToHex(w.address))).toEqual([addr(1).toString()]);
    expect(writes.storage.map((w) => w.value)).toEqual([value(1)]);
  });

  it('behavior: reverting a wipe or a deletion restores the storage and the committed reads behind it', async () => {
    const { store, state } = await fixture();
    await state.putAccount(addr(1), new Account(1n, 1n));
    await state.putStorage(addr(1), slot(1), value(1));
    await state.putStorage(addr(1), slot(2), value(2));
    await commitBlockState(store, state, { height: 0 });

    await state.putStorage(addr(1), slot(2), value(22));
    await state.checkpoint();
    await state.clearStorage(addr(1));
    expect(await state.getStorage(addr(1), slot(1))).toEqual(new Uint8Array(0));
    await state.putStorage(addr(1), slot(3), value(3));
    await state.deleteAccount(addr(1));
    expect(await state.getAccount(addr(1))).toBeUndefined();
    await state.revert();
    expect(await balanceOf(state, addr(1))).toBe(1n);
    expect(await state.getStorage(addr(1), slot(1))).toEqual(value(1));
    expect(await state.getStorage(addr(1), slot(2))).toEqual(value(22));
    expect(await state.getStorage(addr(1), slot(3))).toEqual(new Uint8Array(0));
    expect(state.writeSet().storageCleared).toEqual([]);

    // Without the revert, the wipe reaches the store and removes every committed slot.
    await state.clearStorage(addr(1));
    await state.putStorage(addr(1), slot(3), value(3));
    await commitBlockState(store, state, { height: 1 });
    expect([...store.storageSlots(addr(1).bytes)].map((s) => bytesToHex(s))).toEqual([bytesToHex(slot(3))]);
  });

  it('behavior: code is stored by hash and reverted with its account', async () => {
    const { store, state } = await fixture();
    const code = new Uint8Array([0x60, 0x01, 0x60, 0x00, 0x55]);
    await state.checkpoint();
    await state.putCode(addr(1), code);
    expect(await state.getCode(addr(1))).toEqual(code);
    expect(await state.getCodeSize(addr(1))).toBe(5);
    await state.revert();
    expect(await state.getCode(addr(1))).toEqual(new Uint8Array(0));
    expect(state.writeSet().code).toEqual([]);
    await state.putCode(addr(1), code);
    await commitBlockState(store, state, { height: 0 });
    expect(store.getCode(keccak256(code))).toEqual(code);
    expect(bytesToHex((await state.getAccount(addr(1)))?.codeHash as Uint8Array)).toBe(bytesToHex(keccak256(code)));
    expect(await state.getCode(addr(2))).toEqual(new Uint8Array(0));
  });

  it('behavior: the original storage value is the one at the transaction start', async () => {
    const { store, state } = await fixture();
    await state.putAccount(addr(1), new Account());
    await state.putStorage(addr(1), slot(1), value(1));
    await commitBlockState(store, state, { height: 0 });
    state.originalStorageCache.clear();
    await state.putStorage(addr(1), slot(1), value(2));
    await state.putStorage(addr(1), slot(1), value(3));
    expect(await state.originalStorageCache.get(addr(1), slot(1))).toEqual(value(1));
    expect(await state.originalStorageCache.get(addr(1), slot(9))).toEqual(new Uint8Array(0));
    state.originalStorageCache.clear(); // the next transaction starts
    expect(await state.originalStorageCache.get(addr(1), slot(1))).toEqual(value(3));
  });

  it('behavior: the write set is sorted and independent of the order of writes', async () => {
    const a = (await fixture()).state;
    const b = (await fixture()).state;
    const ops = [1, 7, 3, 9, 2, 5].map((n) => async (s: JournaledStateManager) => {
      await s.putAccount(addr(n), new Account(BigInt(n), 1n));
      await s.putStorage(addr(n), slot(10 - n), value(n));
      await s.putStorage(addr(n), slot(n), value(n));
    });
    for (const op of ops) await op(a);
    for (const op of [...ops].reverse()) await op(b);
    const wa = a.writeSet();
    expect(wa).toEqual(b.writeSet());
    const keys = wa.storage.map((w) => bytesToHex(w.address) + bytesToHex(w.slot).slice(2));
    expect(keys).toEqual([...keys].sort());
  });

  it('behavior: the state root is known only between blocks', async () => {
    const { store, state } = await fixture();
    expect(await state.getStateRoot()).toEqual(store.stateRoot);
    await state.putAccount(addr(1), new Account(0n, 1n));
    await expectCode(() => state.getStateRoot(), ExecutionStateErrorCode.PENDING_WRITES);
    const { head } = await commitBlockState(store, state, { height: 0 });
    expect(await state.getStateRoot()).toEqual(head.stateRoot);
    expect(await state.hasStateRoot(head.stateRoot)).toBe(true);
    await state.setStateRoot(head.stateRoot);
    await expectCode(() => state.setStateRoot(KECCAK256_NULL), ExecutionStateErrorCode.UNSUPPORTED);
    const copy = state.shallowCopy();
    await copy.putAccount(addr(1), new Account(0n, 5n));
    expect(await balanceOf(state, addr(1))).toBe(1n);
  });

  it('error: misuse and exceeded bounds throw typed errors', async () => {
    const { state } = await fixture('smt', { maxJournalEntries: 3, maxBlockWrites: 10 });
    await expectCode(() => state.commit(), ExecutionStateErrorCode.NO_CHECKPOINT);
    await expectCode(() => state.revert(), ExecutionStateErrorCode.NO_CHECKPOINT);
    await expectCode(() => state.getStorage(addr(1), new Uint8Array(31)), ExecutionStateErrorCode.INVALID_STORAGE);
    await expectCode(() => state.putStorage(addr(1), slot(1), new Uint8Array(33)), ExecutionStateErrorCode.INVALID_STORAGE);
    await state.checkpoint();
    await expectCode(async () => state.writeSet(), ExecutionStateErrorCode.OPEN_CHECKPOINT);
    for (let i = 0; i < 3; i++) await state.putAccount(addr(i + 1), new Account());
    await expectCode(() => state.putAccount(addr(9), new Account()), ExecutionStateErrorCode.LIMIT_EXCEEDED);
    await state.revert();
    for (let i = 0; i < 6; i++) await state.putAccount(addr(i + 1), new Account());
    await expectCode(() => state.putAccount(addr(9), new Account()), ExecutionStateErrorCode.LIMIT_EXCEEDED);
    await expectCode(() => openFixture('smt', { maxReadCacheEntries: 0 }), ExecutionStateErrorCode.LIMIT_EXCEEDED);
  });

  it('behavior: the read cache stays within its bound and never serves a stale value after a block', async () => {
    const { store, state } = await fixture('smt', { maxReadCacheEntries: 2 });
    for (let i = 1; i <= 5; i++) await state.putAccount(addr(i), new Account(0n, BigInt(i)));
    await commitBlockState(store, state, { height: 0 });
    for (let round = 0; round < 2; round++) {
      for (let i = 1; i <= 5; i++) expect(await balanceOf(state, addr(i)), `round ${round} account ${i}`).toBe(BigInt(i));
    }
    await state.putAccount(addr(1), new Account(0n, 50n));
    await commitBlockState(store, state, { height: 1 });
    expect(await balanceOf(state, addr(1))).toBe(50n);
  });
});
