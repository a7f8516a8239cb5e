import { bytesToHex, equalsBytes, isPolisError } from '@polis/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CommitmentKind,
  createStateWriteSet,
  KECCAK256_NULL,
  type LedgerDatabase,
  LedgerErrorCode,
  NONCE_CACHE_MAX,
  openLedgerDatabase,
  openStateStore,
  type StateWriteSet,
} from '../src/index.js';
import { genesis, randomBytes, tempDir } from './helpers.js';

const KINDS: CommitmentKind[] = ['none', 'mpt', 'smt'];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function open(path: string): LedgerDatabase {
  const db = openLedgerDatabase({ path });
  cleanups.push(() => db.close());
  return db;
}

function newDir(): string {
  const dir = tempDir();
  cleanups.push(dir.remove);
  return dir.path;
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: LedgerErrorCode) {
  try {
    await (typeof promise === 'function' ? promise() : promise);
    expect.fail(`should throw ${code}`);
  } catch (err) {
    expect(isPolisError(err, code), String(err)).toBe(true);
  }
}

function genesisWrites(seed: number): { writes: StateWriteSet; g: ReturnType<typeof genesis> } {
  const g = genesis(seed, 50, 40);
  return { writes: createStateWriteSet({ accounts: g.accounts, storage: g.storage, code: g.code }), g };
}

describe.each(KINDS)('state store (%s)', (kind) => {
  it('default: a committed block reads back, and the head moves', async () => {
    const path = newDir();
    const store = await openStateStore({ db: open(path), commitment: kind });
    expect(store.head).toBeUndefined();
    const { writes, g } = genesisWrites(1);
    const { head } = await store.commitBlock({ height: 0, writes });
    expect(head.height).toBe(0);
    expect(store.head).toEqual(head);
    for (const [i, w] of g.accounts.entries()) {
      expect(store.getAccount(w.address), `account ${i}`).toEqual(w.account);
    }
    for (const [i, w] of g.storage.entries()) {
      expect(bytesToHex(store.getStorage(w.address, w.slot)), `slot ${i}`).toBe(bytesToHex(w.value));
    }
    expect(store.getCode(g.code[0]?.codeHash as Uint8Array)).toEqual(g.code[0]?.code);
    expect(store.getAccount(randomBytes(g.next, 20))).toBeUndefined();
    expect(store.getStorage(g.contract, new Uint8Array(32)).length).toBe(0);
    expect([...store.storageSlots(g.contract)].length).toBe(40);
  });

  it('behavior: reopening the environment gives identical state and root', async () => {
    const path = newDir();
    const { writes, g } = genesisWrites(2);
    const db = openLedgerDatabase({ path });
    const store = await openStateStore({ db, commitment: kind });
    await store.commitBlock({ height: 0, writes });
    const update = createStateWriteSet({
      accounts: [{ address: g.accounts[3]?.address as Uint8Array, account: null }],
      storage: [{ address: g.contract, slot: g.storage[0]?.slot as Uint8Array, value: new Uint8Array(0) }],
    });
    await store.commitBlock({ height: 1, writes: update });
    const root = store.stateRoot;
    const proof = kind === 'none' ? undefined : await store.prove(g.contract, [g.storage[1]?.slot as Uint8Array]);
    await db.close();

    const reopened = await openStateStore({ db: open(path), commitment: kind });
    expect(reopened.head?.height).toBe(1);
    expect(bytesToHex(reopened.stateRoot)).toBe(bytesToHex(root));
    expect(reopened.getAccount(g.accounts[3]?.address as Uint8Array)).toBeUndefined();
    expect(reopened.getStorage(g.contract, g.storage[0]?.slot as Uint8Array).length).toBe(0);
    for (const [i, w] of g.accounts.entries()) {
      if (i === 3) continue;
      expect(reopened.getAccount(w.address), `account ${i}`).toEqual(w.account);
    }
    if (proof) expect(await reopened.prove(g.contract, [g.storage[1]?.slot as Uint8Array])).toEqual(proof);
  });

  it('behavior: a block whose transaction aborts leaves the previous state, root and head', async () => {
    const path = newDir();
    const db = open(path);
    const store = await openStateStore({ db, commitment: kind });
    const blocks = db.table('blocks.test');
    const { writes, g } = genesisWrites(3);
    await store.commitBlock({ height: 0, writes, write: (txn) => txn.put(blocks, new Uint8Array([0]), new Uint8Array([1])) });
    const root = store.stateRoot;
    const victim = g.accounts[5] as { address: Uint8Array; account: { nonce: bigint; balance: bigint; codeHash: Uint8Array } };
    const update = createStateWriteSet({
      accounts: [{ address: victim.address, account: { ...victim.account, balance: 7n } }],
      storage: g.storage.slice(0, 10).map((w) => ({ ...w, value: new Uint8Array([9]) })),
      storageCleared: [],
    });
    // The crash-like abort happens inside the transaction, after the flat writes and the
    // commitment's nodes have been written to it.
    await expect(
      store.commitBlock({
        height: 1,
        writes: update,
        write: (txn) => {
          txn.put(blocks, new Uint8Array([1]), new Uint8Array([1]));
          throw new Error('power cut');
        },
      }),
    ).rejects.toThrow('power cut');
    expect(store.head?.height).toBe(0);
    expect(bytesToHex(store.stateRoot)).toBe(bytesToHex(root));
    expect(store.getAccount(victim.address)).toEqual(victim.account);
    for (const [i, w] of g.storage.slice(0, 10).entries()) {
      expect(bytesToHex(store.getStorage(w.address, w.slot)), `slot ${i}`).toBe(bytesToHex(w.value));
    }
    expect(blocks.get(new Uint8Array([0]))).toEqual(new Uint8Array([1]));
    expect(blocks.get(new Uint8Array([1]))).toBeUndefined();

    // The same block commits once the fault is gone, and a reopened store agrees.
    const { head } = await store.commitBlock({ height: 1, writes: update });
    expect(store.getAccount(victim.address)?.balance).toBe(7n);
    const again = await openStateStore({ db, commitment: kind });
    expect(again.head).toEqual(head);
  });

  it('behavior: wiping an account storage removes every slot, and a slot written again keeps its new value', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: kind });
    const { writes, g } = genesisWrites(4);
    await store.commitBlock({ height: 0, writes });
    const kept = g.storage[7] as { address: Uint8Array; slot: Uint8Array; value: Uint8Array };
    await store.commitBlock({
      height: 1,
      writes: createStateWriteSet({ storageCleared: [g.contract], storage: [{ ...kept, value: new Uint8Array([42]) }] }),
    });
    expect([...store.storageSlots(g.contract)].map((s) => bytesToHex(s))).toEqual([bytesToHex(kept.slot)]);
    expect(store.getStorage(g.contract, kept.slot)).toEqual(new Uint8Array([42]));

    // The root equals that of a store that never had the wiped slots.
    const fresh = await openStateStore({ db: open(newDir()), commitment: kind });
    await fresh.commitBlock({
      height: 0,
      writes: createStateWriteSet({ accounts: g.accounts, code: g.code, storage: [{ ...kept, value: new Uint8Array([42]) }] }),
    });
    expect(bytesToHex(fresh.stateRoot)).toBe(bytesToHex(store.stateRoot));
  });
});

describe('committed nonces and balances', () => {
  it('behavior: decoded once per block, fresh after every commit, zero for an absent account', async () => {
    const db = open(newDir());
    const store = await openStateStore({ db, commitment: 'smt' });
    const alice = new Uint8Array(20).fill(7);
    const absent = new Uint8Array(20).fill(9);
    const account = (nonce: bigint, balance: bigint) => ({
      address: alice,
      account: { nonce, balance, codeHash: KECCAK256_NULL },
    });
    await store.commitBlock({ height: 0, writes: createStateWriteSet({ accounts: [account(0n, 100n)] }) });
    expect(store.committedNonceAndBalance(alice)).toEqual({ nonce: 0n, balance: 100n });
    expect(store.committedNonceAndBalance(absent)).toEqual({ nonce: 0n, balance: 0n });
    expect(store.cachedAccounts).toBe(2);
    // Asked again in the same block: answered from the cache.
    expect(store.committedNonceAndBalance(alice)).toBe(store.committedNonceAndBalance(alice));
    expect(store.cachedAccounts).toBe(2);
    await store.commitBlock({ height: 1, writes: createStateWriteSet({ accounts: [account(1n, 60n)] }) });
    expect(store.committedNonceAndBalance(alice)).toEqual({ nonce: 1n, balance: 60n });
    expect(store.cachedAccounts).toBe(1);
  });

  it('behavior: holds at most NONCE_CACHE_MAX accounts', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: 'none' });
    await store.commitBlock({ height: 0, writes: createStateWriteSet({}) });
    const address = (i: number) => {
      const a = new Uint8Array(20);
      new DataView(a.buffer).setUint32(16, i);
      return a;
    };
    for (let i = 0; i < NONCE_CACHE_MAX + 10; i++) store.committedNonceAndBalance(address(i));
    expect(store.cachedAccounts).toBeLessThanOrEqual(NONCE_CACHE_MAX);
    expect(store.cachedAccounts).toBe(10);
  });
});

describe('state store errors', () => {
  it('error: a block out of order is refused', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: 'smt' });
    await expectCode(store.commitBlock({ height: 1, writes: createStateWriteSet({}) }), LedgerErrorCode.HEIGHT_MISMATCH);
  });

  it('error: reopening with another commitment is refused', async () => {
    const path = newDir();
    const db = openLedgerDatabase({ path });
    const store = await openStateStore({ db, commitment: 'mpt' });
    await store.commitBlock({ height: 0, writes: genesisWrites(5).writes });
    await db.close();
    await expectCode(openStateStore({ db: open(path), commitment: 'smt' }), LedgerErrorCode.COMMITMENT_MISMATCH);
  });

  it('error: storage of a missing account is refused before anything is written', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: 'mpt' });
    const writes = createStateWriteSet({
      storage: [{ address: new Uint8Array(20), slot: new Uint8Array(32), value: new Uint8Array([1]) }],
    });
    await expectCode(store.commitBlock({ height: 0, writes }), LedgerErrorCode.INVALID_WRITE_SET);
    expect(store.head).toBeUndefined();
  });

  it('error: deleting an account without wiping its storage is refused', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: 'smt' });
    const { writes, g } = genesisWrites(8);
    await store.commitBlock({ height: 0, writes });
    const deletion = createStateWriteSet({ accounts: [{ address: g.contract, account: null }] });
    await expectCode(store.commitBlock({ height: 1, writes: deletion }), LedgerErrorCode.INVALID_WRITE_SET);
    await store.commitBlock({ height: 1, writes: createStateWriteSet({ ...deletion, storageCleared: [g.contract] }) });
    expect([...store.storageSlots(g.contract)]).toEqual([]);
  });

  it('error: an unsorted or non-canonical write set is refused', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: 'smt' });
    const a = { address: new Uint8Array(20).fill(2), account: { nonce: 0n, balance: 1n, codeHash: KECCAK256_NULL } };
    const b = { address: new Uint8Array(20).fill(1), account: { nonce: 0n, balance: 1n, codeHash: KECCAK256_NULL } };
    const unsorted: StateWriteSet = { accounts: [a, b], storageCleared: [], storage: [], code: [] };
    await expectCode(store.commitBlock({ height: 0, writes: unsorted }), LedgerErrorCode.INVALID_WRITE_SET);
    const padded: StateWriteSet = {
      accounts: [b],
      storageCleared: [],
      storage: [{ address: b.address, slot: new Uint8Array(32), value: new Uint8Array([0, 1]) }],
      code: [],
    };
    await expectCode(store.commitBlock({ height: 0, writes: padded }), LedgerErrorCode.INVALID_WRITE_SET);
    const badCode: StateWriteSet = {
      accounts: [],
      storageCleared: [],
      storage: [],
      code: [{ codeHash: KECCAK256_NULL, code: new Uint8Array([1]) }],
    };
    await expectCode(store.commitBlock({ height: 0, writes: badCode }), LedgerErrorCode.INVALID_WRITE_SET);
  });

  it('error: a write set over the bound is refused', async () => {
    const store = await openStateStore({ db: open(newDir()), commitment: 'none', maxBlockWrites: 10 });
    await expectCode(store.commitBlock({ height: 0, writes: genesisWrites(6).writes }), LedgerErrorCode.LIMIT_EXCEEDED);
    await expectCode(
      openStateStore({ db: open(newDir()), commitment: 'none', maxBlockWrites: 0 }),
      LedgerErrorCode.LIMIT_EXCEEDED,
    );
    await expectCode(
      openStateStore({ db: open(newDir()), commitment: 'mpt', mptNodeCacheSize: -1 }),
      LedgerErrorCode.LIMIT_EXCEEDED,
    );
  });

  it('error: a write after its transaction ended, or on a closed database, throws', async () => {
    const db = openLedgerDatabase({ path: newDir() });
    const table = db.table('blocks.test');
    let leaked: Parameters<Parameters<LedgerDatabase['write']>[0]>[0] | undefined;
    await db.write((txn) => {
      leaked = txn;
    });
    expect(() => leaked?.put(table, new Uint8Array([1]), new Uint8Array([1]))).toThrow(/outside its transaction/);
    expect(() => db.table('Not A Name')).toThrow(/not a valid table name/);
    await db.close();
    await expectCode(() => table.get(new Uint8Array([1])), LedgerErrorCode.CLOSED);
  });

  it('behavior: equal roots mean equal states across commitments that differ only in block boundaries', async () => {
    const g = genesis(7, 30, 30);
    const all = createStateWriteSet({ accounts: g.accounts, storage: g.storage, code: g.code });
    const one = await openStateStore({ db: open(newDir()), commitment: 'smt' });
    await one.commitBlock({ height: 0, writes: all });
    const two = await openStateStore({ db: open(newDir()), commitment: 'smt' });
    await two.commitBlock({ height: 0, writes: createStateWriteSet({ accounts: g.accounts, code: g.code }) });
    await two.commitBlock({ height: 1, writes: createStateWriteSet({ storage: g.storage }) });
    expect(equalsBytes(one.stateRoot, two.stateRoot)).toBe(true);
  });
});

describe('database stats', () => {
  it('behavior: stats names every table with its entries and page bytes, within the bytes of the data file', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const db = openLedgerDatabase({ path: dir.path });
    cleanups.push(() => db.close());
    const small = db.table('test.small');
    const large = db.table('test.large');
    await db.write((txn) => {
      for (let i = 0; i < 100; i++) txn.put(small, Uint8Array.of(i), Uint8Array.of(i));
      // Values over half a page go to overflow pages: 10 of 10 KB are at least 30 pages.
      for (let i = 0; i < 10; i++) txn.put(large, Uint8Array.of(i), new Uint8Array(10_000).fill(i));
    });
    const stats = db.stats();
    expect(stats.tables['test.small']).toEqual({ entries: 100, bytes: 4096 });
    expect(stats.tables['test.large']?.entries).toBe(10);
    expect(stats.tables['test.large']?.bytes).toBeGreaterThanOrEqual(10 * 3 * 4096);
    const inTables = Object.values(stats.tables).reduce((n, t) => n + t.bytes, 0);
    expect(stats.fileBytes).toBeGreaterThan(inTables);
    expect(stats.fileBytes).toBe(db.storageBytes());
  });
});
