import { MerkleStateManager } from '@ethereumjs/statemanager';
import { Account, Address } from '@ethereumjs/util';
import { bytesToHex, concatBytes, equalsBytes, type Hex, hexToBytes, sha256 } from '@polis/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AccountWrite,
  createStateWriteSet,
  EMPTY_TRIE_ROOT,
  encodeAccount,
  type LedgerDatabase,
  openLedgerDatabase,
  openStateStore,
  SMTCommitment,
  type StateProof,
  type StateStore,
  type StorageWrite,
  smtAccountKey,
  smtStorageKey,
  verifyStateProof,
} from '../src/index.js';
import { genesis, randomBytes, randomValue, rng, shuffled, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function newStore(kind: 'mpt' | 'smt'): Promise<StateStore> {
  const dir = tempDir();
  const db = openLedgerDatabase({ path: dir.path });
  cleanups.push(dir.remove, () => db.close());
  return openStateStore({ db, commitment: kind });
}

/** The state after applying `blocks` in order, as plain maps, for the reference implementations. */
function finalState(blocks: { accounts: AccountWrite[]; storage: StorageWrite[] }[]) {
  const accounts = new Map<string, AccountWrite>();
  const storage = new Map<string, StorageWrite>();
  for (const b of blocks) {
    for (const w of b.accounts) accounts.set(bytesToHex(w.address), w);
    for (const w of b.storage) storage.set(bytesToHex(concatBytes(w.address, w.slot)), w);
  }
  return {
    accounts: [...accounts.values()].filter((w) => w.account),
    storage: [...storage.values()].filter((w) => w.value.length > 0),
  };
}

/** The Ethereum state root of `state`, computed by @ethereumjs/statemanager as an independent reference. */
async function referenceMPTRoot(state: ReturnType<typeof finalState>, code: Map<Hex, Uint8Array>): Promise<Uint8Array> {
  const sm = new MerkleStateManager();
  for (const w of state.accounts) {
    const a = w.account as NonNullable<AccountWrite['account']>;
    const address = new Address(w.address);
    await sm.putAccount(address, new Account(a.nonce, a.balance));
    const c = code.get(bytesToHex(a.codeHash));
    if (c) await sm.putCode(address, c);
  }
  for (const w of state.storage) await sm.putStorage(new Address(w.address), w.slot, w.value);
  return sm.getStateRoot();
}

/** The binary sparse Merkle tree root of a set of leaves, from its definition (smtProof.ts), recursively and naively. */
function referenceSMTRoot(state: ReturnType<typeof finalState>): Uint8Array {
  return referenceSMT(state).root;
}

/** A node's position as smt.ts defines it: the first `depth` bits of `key`, zero-padded to 32 bytes, then the depth (2 bytes). */
function positionHex(key: Uint8Array, depth: number): string {
  const out = new Uint8Array(34);
  for (let i = 0; i < depth; i++)
    if (((key[i >> 3] as number) >> (7 - (i % 8))) & 1) out[i >> 3] = (out[i >> 3] as number) | (1 << (7 - (i % 8)));
  out[32] = depth >> 8;
  out[33] = depth & 0xff;
  return bytesToHex(out);
}

/** The reference tree's root and its nodes (leaves and inner nodes) by position. */
function referenceSMT(state: ReturnType<typeof finalState>): { root: Uint8Array; nodes: Map<string, string> } {
  const nodes = new Map<string, string>();
  const leaves = [
    ...state.accounts.map((w) => ({
      key: smtAccountKey(w.address),
      valueHash: sha256(encodeAccount(w.account as NonNullable<AccountWrite['account']>)),
    })),
    ...state.storage.map((w) => ({ key: smtStorageKey(w.address, w.slot), valueHash: sha256(w.value) })),
  ];
  const bit = (k: Uint8Array, d: number) => ((k[d >> 3] as number) >> (7 - (d % 8))) & 1;
  const node = (at: string, prefix: number, a: Uint8Array, b: Uint8Array) => {
    const bytes = concatBytes(new Uint8Array([prefix]), a, b);
    nodes.set(at, bytesToHex(bytes));
    return sha256(bytes);
  };
  const root = (set: typeof leaves, depth: number): Uint8Array => {
    if (set.length === 0) return new Uint8Array(32);
    const first = set[0] as (typeof leaves)[0];
    const at = positionHex(first.key, depth);
    if (set.length === 1) return node(at, 0, first.key, first.valueHash);
    return node(
      at,
      1,
      root(
        set.filter((l) => bit(l.key, depth) === 0),
        depth + 1,
      ),
      root(
        set.filter((l) => bit(l.key, depth) === 1),
        depth + 1,
      ),
    );
  };
  const r = root(leaves, 0);
  return { root: r, nodes };
}

/** A seeded history: a genesis, then blocks that update, create and delete accounts and slots. */
function history(seed: number) {
  const g = genesis(seed, 40, 60);
  const next = rng(seed + 1000);
  const blocks: { accounts: AccountWrite[]; storage: StorageWrite[] }[] = [{ accounts: g.accounts, storage: g.storage }];
  for (let b = 0; b < 4; b++) {
    const accounts: AccountWrite[] = [];
    const storage: StorageWrite[] = [];
    for (let i = 0; i < 8; i++) {
      const w = g.accounts[1 + Math.floor(next() * (g.accounts.length - 1))] as AccountWrite;
      const deleted = next() < 0.25;
      accounts.push({
        address: w.address,
        account: deleted ? null : { ...(w.account as NonNullable<AccountWrite['account']>), balance: BigInt(b * 100 + i) },
      });
      const s = g.storage[Math.floor(next() * g.storage.length)] as StorageWrite;
      storage.push({ ...s, value: next() < 0.3 ? new Uint8Array(0) : randomValue(next) });
      storage.push({ address: g.contract, slot: randomBytes(next, 32), value: randomValue(next) });
    }
    blocks.push({ accounts, storage });
  }
  return { g, blocks };
}

describe.each(['mpt', 'smt'] as const)('state commitment (%s)', (kind) => {
  it('default: the root after several blocks equals the reference root of the final state', async () => {
    for (const seed of [11, 12, 13]) {
      const { g, blocks } = history(seed);
      const store = await newStore(kind);
      for (const [height, b] of blocks.entries()) {
        await store.commitBlock({ height, writes: createStateWriteSet({ ...b, code: height === 0 ? g.code : [] }) });
      }
      const state = finalState(blocks);
      const code = new Map(g.code.map((c) => [bytesToHex(c.codeHash), c.code]));
      const expected = kind === 'mpt' ? await referenceMPTRoot(state, code) : referenceSMTRoot(state);
      expect(bytesToHex(store.stateRoot), `seed ${seed}`).toBe(bytesToHex(expected));
    }
  });

  it('behavior: the same writes in a different order, or split into other blocks, give the same root', async () => {
    const { g, blocks } = history(21);
    const state = finalState(blocks);
    const next = rng(99);
    const roots: Hex[] = [];
    for (let round = 0; round < 3; round++) {
      const store = await newStore(kind);
      const accounts = shuffled(state.accounts, next);
      const storage = shuffled(state.storage, next);
      // Round 0 writes everything in one block; the others split the same writes at random points.
      const cut = round === 0 ? storage.length : Math.floor(next() * storage.length);
      await store.commitBlock({
        height: 0,
        writes: createStateWriteSet({ accounts, storage: storage.slice(0, cut), code: g.code }),
      });
      if (cut < storage.length)
        await store.commitBlock({ height: 1, writes: createStateWriteSet({ storage: storage.slice(cut) }) });
      roots.push(bytesToHex(store.stateRoot));
    }
    expect(roots[1], 'split at a random point').toBe(roots[0]);
    expect(roots[2], 'split at another random point').toBe(roots[0]);
  });

  it('behavior: proofs of present and absent accounts and slots verify against the root', async () => {
    const { g, blocks } = history(31);
    const store = await newStore(kind);
    for (const [height, b] of blocks.entries()) {
      await store.commitBlock({ height, writes: createStateWriteSet({ ...b, code: height === 0 ? g.code : [] }) });
    }
    const state = finalState(blocks);
    const present = state.storage.filter((w) => equalsBytes(w.address, g.contract)).slice(0, 3);
    const cases: [string, Uint8Array, Uint8Array[]][] = [
      ['contract with present and absent slots', g.contract, [...present.map((w) => w.slot), new Uint8Array(32).fill(7)]],
      ['EOA', state.accounts[3]?.address as Uint8Array, []],
      ['absent account', new Uint8Array(20).fill(0xab), [new Uint8Array(32)]],
    ];
    for (const [name, address, slots] of cases) {
      const proof = await store.prove(address, slots);
      expect(proof.kind).toBe(kind);
      expect(await verifyStateProof(store.stateRoot, proof), name).toEqual({ valid: true });
      const account = store.getAccount(address);
      expect(BigInt(proof.proof.balance), `${name}: balance`).toBe(account?.balance ?? 0n);
      for (const [i, slot] of slots.entries()) {
        const value = store.getStorage(address, slot);
        expect(BigInt(proof.proof.storageProof[i]?.value as string), `${name}: slot ${i}`).toBe(
          value.length ? BigInt(bytesToHex(value)) : 0n,
        );
      }
    }
    const absent = await store.prove(new Uint8Array(20).fill(0xab));
    if (absent.kind === 'mpt') expect(absent.proof.storageHash).toBe(bytesToHex(EMPTY_TRIE_ROOT));
  });

  it('error: a proof with one byte changed, a wrong value or another root fails', async () => {
    const { g, blocks } = history(41);
    const store = await newStore(kind);
    for (const [height, b] of blocks.entries()) {
      await store.commitBlock({ height, writes: createStateWriteSet({ ...b, code: height === 0 ? g.code : [] }) });
    }
    const slot = (finalState(blocks).storage.find((w) => equalsBytes(w.address, g.contract)) as StorageWrite).slot;
    const proof = await store.prove(g.contract, [slot]);
    const root = store.stateRoot;
    expect(await verifyStateProof(root, proof)).toEqual({ valid: true });

    // Flip one byte in every hex string of the proof in turn (except the requested slot key,
    // which changes the question rather than the answer); each change must be caught.
    const paths: (string | number)[][] = [];
    const walk = (value: unknown, path: (string | number)[]) => {
      if (typeof value === 'string' && value.startsWith('0x') && value.length > 2) paths.push(path);
      else if (Array.isArray(value)) for (const [i, v] of value.entries()) walk(v, [...path, i]);
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    };
    walk(proof.proof, []);
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) {
      if (path.join('.').match(/^storageProof\.\d+\.key$/)) continue;
      const tampered = structuredClone(proof) as StateProof;
      let target = tampered.proof as unknown as Record<string | number, unknown>;
      for (const p of path.slice(0, -1)) target = target[p] as Record<string | number, unknown>;
      const last = path[path.length - 1] as string | number;
      const original = target[last] as string;
      const bytes = hexToBytes(original.length % 2 ? `0x0${original.slice(2)}` : original);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0x01;
      target[last] = /^(nonce|balance|value)$/.test(String(last))
        ? `0x${BigInt(bytesToHex(bytes)).toString(16)}`
        : bytesToHex(bytes);
      const result = await verifyStateProof(root, tampered);
      expect(result.valid, `tampered ${path.join('.')}`).toBe(false);
    }
    const other = new Uint8Array(root);
    other[0] = (other[0] as number) ^ 1;
    expect((await verifyStateProof(other, proof)).valid, 'another root').toBe(false);
  });
});

/** A fresh `smt` store with its database, closed and removed after the test. */
async function newSMTStore(): Promise<{ db: LedgerDatabase; store: StateStore }> {
  const dir = tempDir();
  const db = openLedgerDatabase({ path: dir.path });
  cleanups.push(dir.remove, () => db.close());
  return { db, store: await openStateStore({ db, commitment: 'smt' }) };
}

/** The stored tree as position -> node, read through the commitment. */
function storedTree(db: LedgerDatabase): Map<string, string> {
  const out = new Map<string, string>();
  for (const { position, node } of new SMTCommitment(db).storedNodes()) out.set(bytesToHex(position), bytesToHex(node));
  return out;
}

describe('sparse Merkle tree storage', () => {
  it('behavior: the stored tree is exactly the nodes of the current tree, at their positions, after inserts, updates and deletions', async () => {
    const { db, store } = await newSMTStore();
    for (const seed of [51, 52]) {
      const { g, blocks } = history(seed);
      const applied: typeof blocks = [];
      for (const b of blocks) {
        const height = (store.head?.height ?? -1) + 1;
        await store.commitBlock({ height, writes: createStateWriteSet({ ...b, code: g.code }) });
        applied.push(b);
        const expected = referenceSMT(finalState(applied));
        expect(bytesToHex(store.stateRoot), `seed ${seed} height ${height}: root`).toBe(bytesToHex(expected.root));
        expect(storedTree(db), `seed ${seed} height ${height}: stored nodes`).toEqual(expected.nodes);
      }
      // Delete everything: the table must end empty, with the empty root.
      const state = finalState(applied);
      await store.commitBlock({
        height: (store.head?.height ?? -1) + 1,
        writes: createStateWriteSet({
          accounts: state.accounts.map((w) => ({ address: w.address, account: null })),
          storageCleared: [g.contract],
        }),
      });
      const pages = db.table('smt.pages');
      expect([...pages.keys(new Uint8Array(0), new Uint8Array(35).fill(0xff))], `seed ${seed}: pages after deleting all`).toEqual(
        [],
      );
      expect(bytesToHex(store.stateRoot)).toBe(bytesToHex(new Uint8Array(32)));
    }
  });

  it('behavior: four levels share a page, so a path of d nodes is about d/4 table values', async () => {
    const { g, blocks } = history(53);
    const { db, store } = await newSMTStore();
    for (const [height, b] of blocks.entries())
      await store.commitBlock({ height, writes: createStateWriteSet({ ...b, code: g.code }) });
    const nodes = storedTree(db);
    const pages = [...db.table('smt.pages').keys(new Uint8Array(0), new Uint8Array(35).fill(0xff))];
    // Every page sits at a depth that is a multiple of 4, and holds every stored node under it for 4 levels.
    for (const key of pages) expect(((key[32] as number) * 256 + (key[33] as number)) % 4).toBe(0);
    const pageOf = (position: string) => {
      const bytes = hexToBytes(position as Hex);
      const depth = (bytes[32] as number) * 256 + (bytes[33] as number);
      const top = depth - (depth % 4);
      return positionHex(bytes, top);
    };
    expect(new Set([...nodes.keys()].map(pageOf))).toEqual(new Set(pages.map((k) => bytesToHex(k))));
    expect(pages.length).toBeLessThan(nodes.size / 2);
  });

  it('behavior: a tree stored one node per value (the layout before ADR 0014) is moved into pages when the store opens', async () => {
    const { g, blocks } = history(54);
    const dir = tempDir();
    cleanups.push(dir.remove);
    let db = openLedgerDatabase({ path: dir.path });
    let store = await openStateStore({ db, commitment: 'smt' });
    for (const [height, b] of blocks.slice(0, -1).entries()) {
      await store.commitBlock({ height, writes: createStateWriteSet({ ...b, code: g.code }) });
    }
    const root = store.stateRoot;
    const tree = storedTree(db);
    // Rewrite the tree in the old layout: `smt.tree`, position -> node.
    const pages = db.table('smt.pages');
    const legacy = db.table('smt.tree');
    await db.write((txn) => {
      for (const key of [...pages.keys(new Uint8Array(0), new Uint8Array(35).fill(0xff))]) txn.remove(pages, key);
      for (const [position, node] of tree) txn.put(legacy, hexToBytes(position as Hex), hexToBytes(node as Hex));
    });
    await db.close();

    db = openLedgerDatabase({ path: dir.path });
    cleanups.push(() => db.close());
    expect(db.hasTable('smt.tree')).toBe(true);
    store = await openStateStore({ db, commitment: 'smt' });
    expect(db.hasTable('smt.tree'), 'the old table is gone').toBe(false);
    expect(storedTree(db)).toEqual(tree);
    expect(bytesToHex(store.stateRoot)).toBe(bytesToHex(root));
    const account = g.accounts[1] as AccountWrite;
    expect(await verifyStateProof(store.stateRoot, await store.prove(account.address))).toEqual({ valid: true });
    // The next block commits on the migrated tree to the reference root.
    await store.commitBlock({
      height: blocks.length - 1,
      writes: createStateWriteSet({ ...(blocks.at(-1) as (typeof blocks)[0]), code: g.code }),
    });
    expect(bytesToHex(store.stateRoot)).toBe(bytesToHex(referenceSMT(finalState(blocks)).root));
  });

  it('error: a malformed page is reported as corruption, naming the page', async () => {
    const { g, blocks } = history(55);
    const { db, store } = await newSMTStore();
    await store.commitBlock({ height: 0, writes: createStateWriteSet({ ...(blocks[0] as (typeof blocks)[0]), code: g.code }) });
    const pages = db.table('smt.pages');
    const rootPage = new Uint8Array(34);
    const good = pages.get(rootPage) as Uint8Array;
    await db.write((txn) => txn.put(pages, rootPage, good.subarray(0, good.length - 1)));
    await expect(store.prove((g.accounts[1] as AccountWrite).address)).rejects.toThrow(
      /sparse Merkle tree page at 0x0{68} is malformed/,
    );
  });
});
