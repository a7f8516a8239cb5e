/**
 * The Ethereum Merkle-Patricia trie commitment (`mpt`), through @ethereumjs/mpt: a secure account
 * trie keyed by keccak(address) whose leaves are RLP [nonce, balance, storageRoot, codeHash], and
 * one secure storage trie per account keyed by keccak(slot) whose leaves are RLP(value), as in
 * the Yellow Paper (section 4.1 and appendix D). Its proofs are EIP-1186 (`eth_getProof`).
 *
 * Trie nodes are stored by hash in `mpt.nodes` and never deleted, so every committed root stays
 * provable; each account's storage root is kept in `mpt.storageRoots`, so an account whose
 * storage did not change needs no trie read to rebuild its leaf.
 */
import { createMerkleProof, createMPT, type MerklePatriciaTrie } from '@ethereumjs/mpt';
import type { BatchDBOp, DB } from '@ethereumjs/util';
import {
  bytesToHex,
  type Hex,
  hexToBytes,
  type RLPItem,
  readBigUint,
  readBytes,
  readList,
  rlpDecode,
  rlpEncode,
} from '@polis/core';
import type { LedgerDatabase, LedgerTable, LedgerWriteTxn } from '../db.js';
import { assertBound, corrupt } from '../errors.js';
import type { StagedCommitment, StateCommitment } from './commitment.js';
import { trieOptions } from './mptProof.js';
import { EMPTY_TRIE_ROOT, KECCAK256_NULL, WORD_LENGTH } from './params.js';
import { toQuantity } from './smtProof.js';
import type { StateProof, StateReader, StateWriteSet } from './types.js';

/** Options for the MPT commitment. */
export type MPTCommitmentOptions = {
  /** Trie nodes kept in each trie's LRU cache (@ethereumjs/mpt `cacheSize`); 0 turns it off. */
  nodeCacheSize?: number;
};

const NODE_CACHE_DEFAULT = 100_000;
const NODE_CACHE_MAX = 10_000_000;
const STAGED_NODES_MAX = 16_000_000;

/**
 * The node database @ethereumjs/mpt reads and writes (hex-string keys, byte values). Reads go
 * to the block's staged nodes, then to LMDB; writes only stage, because they must reach disk in
 * the block's one transaction, which the store opens after the root is known.
 */
class StagedNodeDB implements DB<string, string | Uint8Array> {
  staged = new Map<string, Uint8Array>();
  readonly #table: LedgerTable;

  constructor(table: LedgerTable) {
    this.#table = table;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.staged.get(key) ?? this.#table.get(Buffer.from(key, 'hex'));
  }

  async put(key: string, value: string | Uint8Array): Promise<void> {
    this.staged.set(key, typeof value === 'string' ? hexToBytes(`0x${value}`) : value);
    // @ethereumjs/mpt stores every intermediate node of a block's puts; the store's write-set
    // bound keeps this far below the limit, which is here so memory can never run away.
    if (this.staged.size > STAGED_NODES_MAX)
      assertBound('the trie nodes staged for one block', this.staged.size, 0, STAGED_NODES_MAX);
  }

  async del(): Promise<void> {
    // Nodes are content-addressed and shared between roots (and between storage tries), so a
    // node is never deleted; pruning is off in every trie we create.
  }

  async batch(ops: BatchDBOp<string, string | Uint8Array>[]): Promise<void> {
    for (const op of ops) if (op.type === 'put') await this.put(op.key, op.value as string | Uint8Array);
  }

  shallowCopy(): DB<string, string | Uint8Array> {
    return this;
  }

  async open(): Promise<void> {}
}

/**
 * The staged nodes reachable from `roots`. @ethereumjs/mpt stores every intermediate node of a
 * batch of puts; only those under the block's final roots are worth writing to disk.
 */
function reachable(staged: Map<string, Uint8Array>, roots: Uint8Array[]): [Uint8Array, Uint8Array][] {
  const out: [Uint8Array, Uint8Array][] = [];
  const stack = roots.map((r) => Buffer.from(r).toString('hex'));
  while (stack.length > 0) {
    const key = stack.pop() as string;
    const node = staged.get(key);
    if (node === undefined) continue; // committed earlier, or already collected
    staged.delete(key);
    out.push([Buffer.from(key, 'hex'), node]);
    const item = rlpDecode(node);
    if (!Array.isArray(item)) throw corrupt('a staged trie node is not an RLP list');
    const children: RLPItem[] = [];
    if (item.length === 17) children.push(...item.slice(0, 16));
    else if (item.length === 2 && item[0] instanceof Uint8Array && (item[0][0] ?? 0) >> 4 < 2) children.push(item[1] as RLPItem);
    // Leaves (hex-prefix flag 2 or 3) hold values, not node references.
    for (const child of children) {
      if (child instanceof Uint8Array && child.length === WORD_LENGTH) stack.push(Buffer.from(child).toString('hex'));
    }
  }
  return out;
}

/** Reads an account trie leaf: RLP [nonce, balance, storageRoot, codeHash]. */
function decodeTrieAccount(bytes: Uint8Array): { nonce: bigint; balance: bigint; storageRoot: Uint8Array; codeHash: Uint8Array } {
  const fields = readList(rlpDecode(bytes), 'account', 4);
  return {
    nonce: readBigUint(fields[0], 'account.nonce', 8),
    balance: readBigUint(fields[1], 'account.balance'),
    storageRoot: readBytes(fields[2], 'account.storageRoot', WORD_LENGTH),
    codeHash: readBytes(fields[3], 'account.codeHash', WORD_LENGTH),
  };
}

/** The Ethereum Merkle-Patricia trie commitment. */
export class MPTCommitment implements StateCommitment {
  readonly kind = 'mpt' as const;
  readonly emptyRoot = EMPTY_TRIE_ROOT;
  readonly #nodes: LedgerTable;
  readonly #storageRoots: LedgerTable;
  readonly #nodeDB: StagedNodeDB;
  readonly #accountTrie: MerklePatriciaTrie;
  readonly #storageTrie: MerklePatriciaTrie;
  #staging = false;

  private constructor(
    db: LedgerDatabase,
    nodeDB: StagedNodeDB,
    accountTrie: MerklePatriciaTrie,
    storageTrie: MerklePatriciaTrie,
  ) {
    this.#nodes = db.table('mpt.nodes');
    this.#storageRoots = db.table('mpt.storageRoots');
    this.#nodeDB = nodeDB;
    this.#accountTrie = accountTrie;
    this.#storageTrie = storageTrie;
  }

  /** Opens the commitment's tables in `db`. */
  static async open(db: LedgerDatabase, options: MPTCommitmentOptions = {}): Promise<MPTCommitment> {
    const cacheSize = options.nodeCacheSize ?? NODE_CACHE_DEFAULT;
    assertBound('nodeCacheSize', cacheSize, 0, NODE_CACHE_MAX);
    const nodeDB = new StagedNodeDB(db.table('mpt.nodes'));
    const trie = () => createMPT({ db: nodeDB, ...trieOptions(), cacheSize });
    return new MPTCommitment(db, nodeDB, await trie(), await trie());
  }

  /** Updates the storage tries, then the account trie, once each per block. */
  async stage(root: Uint8Array, writes: StateWriteSet, state: StateReader): Promise<StagedCommitment> {
    if (this.#staging) throw corrupt('two blocks were staged at once in the MPT commitment');
    this.#staging = true;
    this.#nodeDB.staged = new Map();
    try {
      // Storage tries first: an account's leaf holds its storage root.
      const cleared = new Set(writes.storageCleared.map((a) => bytesToHex(a)));
      const storageAddresses = new Set(cleared);
      for (const w of writes.storage) storageAddresses.add(bytesToHex(w.address));
      const newStorageRoots = new Map<Hex, Uint8Array>();
      let next = 0;
      for (const addressHex of [...storageAddresses].sort()) {
        const address = hexToBytes(addressHex);
        this.#storageTrie.root(cleared.has(addressHex) ? EMPTY_TRIE_ROOT : this.#storageRootOf(address));
        // writes.storage is sorted by address, so this address's slots are the next run of it.
        while (
          next < writes.storage.length &&
          bytesToHex((writes.storage[next] as StateWriteSet['storage'][0]).address) < addressHex
        )
          next++;
        for (; next < writes.storage.length; next++) {
          const w = writes.storage[next] as StateWriteSet['storage'][0];
          if (bytesToHex(w.address) !== addressHex) break;
          if (w.value.length === 0) await this.#storageTrie.del(w.slot);
          else await this.#storageTrie.put(w.slot, rlpEncode(w.value));
        }
        newStorageRoots.set(addressHex, this.#storageTrie.root());
      }

      this.#accountTrie.root(root);
      const accountWrites = new Map(writes.accounts.map((w) => [bytesToHex(w.address), w.account]));
      const touched = [...new Set([...accountWrites.keys(), ...newStorageRoots.keys()])].sort();
      for (const addressHex of touched) {
        const address = hexToBytes(addressHex);
        const written = accountWrites.get(addressHex);
        if (written === null) {
          await this.#accountTrie.del(address);
          continue;
        }
        const account = written ?? state.getAccount(address);
        if (!account) throw corrupt(`storage was written for the missing account ${addressHex}`);
        const storageRoot = newStorageRoots.get(addressHex) ?? this.#storageRootOf(address);
        await this.#accountTrie.put(address, rlpEncode([account.nonce, account.balance, storageRoot, account.codeHash]));
      }

      const newRoot = this.#accountTrie.root();
      const nodes = reachable(this.#nodeDB.staged, [newRoot, ...newStorageRoots.values()]);
      const deleted = [...accountWrites].filter(([, a]) => a === null).map(([k]) => k);
      const nodesTable = this.#nodes;
      const rootsTable = this.#storageRoots;
      let nodeBytes = 0;
      for (const [, node] of nodes) nodeBytes += node.length;
      return {
        root: newRoot,
        nodeCount: nodes.length,
        nodeBytes,
        write(txn: LedgerWriteTxn) {
          for (const [hash, node] of nodes) txn.put(nodesTable, hash, node);
          for (const [addressHex, storageRoot] of newStorageRoots) {
            const key = hexToBytes(addressHex);
            if (storageRoot.length === WORD_LENGTH && Buffer.compare(storageRoot, EMPTY_TRIE_ROOT) !== 0)
              txn.put(rootsTable, key, storageRoot);
            else txn.remove(rootsTable, key);
          }
          for (const addressHex of deleted) txn.remove(rootsTable, hexToBytes(addressHex));
        },
      };
    } finally {
      this.#nodeDB.staged = new Map();
      this.#staging = false;
    }
  }

  /** Builds the EIP-1186 proof from the tries at `root`; the values come from the tries themselves. */
  async prove(root: Uint8Array, address: Uint8Array, slots: Uint8Array[]): Promise<StateProof> {
    // Fresh tries over committed nodes only, so a proof never races a block being staged.
    const reader = new StagedNodeDB(this.#nodes);
    const accountTrie = await createMPT({ db: reader, ...trieOptions(), root });
    const leaf = await accountTrie.get(address);
    const account = leaf
      ? decodeTrieAccount(leaf)
      : { nonce: 0n, balance: 0n, storageRoot: EMPTY_TRIE_ROOT, codeHash: KECCAK256_NULL };
    const storageTrie = await createMPT({ db: reader, ...trieOptions(), root: account.storageRoot });
    const storageProof = [];
    for (const slot of slots) {
      const stored = await storageTrie.get(slot);
      const value = stored ? readBigUint(rlpDecode(stored), 'storage value') : 0n;
      const proof = await createMerkleProof(storageTrie, slot);
      storageProof.push({ key: bytesToHex(slot), value: toQuantity(value), proof: proof.map((n) => bytesToHex(n)) });
    }
    return {
      kind: 'mpt',
      proof: {
        address: bytesToHex(address),
        balance: toQuantity(account.balance),
        codeHash: bytesToHex(account.codeHash),
        nonce: toQuantity(account.nonce),
        storageHash: bytesToHex(account.storageRoot),
        accountProof: (await createMerkleProof(accountTrie, address)).map((n) => bytesToHex(n)),
        storageProof,
      },
    };
  }

  #storageRootOf(address: Uint8Array): Uint8Array {
    return this.#storageRoots.get(address) ?? EMPTY_TRIE_ROOT;
  }
}
