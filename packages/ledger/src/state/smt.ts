/**
 * The binary sparse Merkle tree commitment (`smt`), the alternative to Ethereum's MPT measured in
 * docs/adr/0003-state-commitment.md. Hashing rules and the verifier are in smtProof.ts.
 *
 * Nodes are stored by position, not by hash: a node's position is its path (its first `depth`
 * key bits, zero-padded to 32 bytes) and its depth (2 bytes), its encoding 65 bytes (a type byte
 * and two 32-byte words). Four levels of nodes share one value of the `smt.pages` table
 * (smtPages.ts, ADR 0014). A subtree's pages therefore sit side by side in LMDB, a block's
 * updates dirty few pages, and a page is overwritten in place rather than added, so the table
 * holds the latest tree only and does not grow with the number of blocks (go-ethereum's
 * path-based state scheme makes the same trade). Proofs are served against the latest committed
 * root.
 *
 * A block is applied as one batch: its keys are sorted, and the tree is rebuilt along their paths
 * from the leaves up, so a node shared by many updated paths is hashed once per block.
 */
import { bytesToHex, equalsBytes, sha256 } from '@polis/core';
import type { LedgerDatabase, LedgerTable, LedgerWriteTxn } from '../db.js';
import { corrupt } from '../errors.js';
import { encodeAccount } from './codec.js';
import type { StagedCommitment, StateCommitment } from './commitment.js';
import { EMPTY_SMT_ROOT, KECCAK256_NULL, WORD_LENGTH } from './params.js';
import { decodePage, SMT_NODE_LENGTH, SMT_POSITION_LENGTH, SMTPageSet, slotPosition, writePages } from './smtPages.js';
import {
  isEmptySubtree,
  SMT_INNER_PREFIX,
  SMT_LEAF_PREFIX,
  SMT_MAX_DEPTH,
  smtAccountKey,
  smtInnerNode,
  smtKeyBit,
  smtLeafNode,
  smtStorageKey,
  toQuantity,
} from './smtProof.js';
import type { PolisStorageProof, SMTPath, StateProof, StateReader, StateWriteSet } from './types.js';

/** One leaf update: the new value hash, or null to delete the key. */
type Update = { key: Uint8Array; valueHash: Uint8Array | null };
/** A present leaf, for building subtrees. */
type Leaf = { key: Uint8Array; valueHash: Uint8Array };

const EMPTY = 0;
const LEAF = 1;
const INNER = 2;
/** We know the subtree's hash but have not loaded its root node. */
const UNKNOWN = 3;
/** A subtree: its hash, what its root is, and for a leaf (or a subtree not loaded yet) where it sits. */
type Subtree = {
  hash: Uint8Array;
  kind: typeof EMPTY | typeof LEAF | typeof INNER | typeof UNKNOWN;
  /** A leaf's 65-byte node. */
  node?: Uint8Array;
  /** The table key of a leaf or of a subtree not loaded yet. */
  position?: Uint8Array;
};
const EMPTY_SUBTREE: Subtree = { hash: EMPTY_SMT_ROOT, kind: EMPTY };
/** The table of the tree's pages. */
const PAGES_TABLE = 'smt.pages';
/** The table of an older layout, one node per value; `SMTCommitment.open` moves it into pages. */
const LEGACY_NODES_TABLE = 'smt.tree';

const compareKeys = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);

/** The first index in [lo, hi) whose key has bit `depth` set; keys in that range are sorted and share bits < depth. */
function splitIndex(keys: { key: Uint8Array }[], depth: number, lo: number, hi: number): number {
  let a = lo;
  let b = hi;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (smtKeyBit((keys[mid] as { key: Uint8Array }).key, depth) === 0) a = mid + 1;
    else b = mid;
  }
  return a;
}

/**
 * The table key of the node at `depth` on the path of `ref`: the first `depth` bits of `ref`,
 * zero-padded, then the depth. With `lastBit`, bit `depth - 1` is set to it (for a sibling).
 * Keys sort in path order, so every subtree is one contiguous key range.
 */
function positionKey(ref: Uint8Array, depth: number, lastBit?: number): Uint8Array {
  const key = Buffer.alloc(SMT_POSITION_LENGTH);
  const whole = depth >> 3;
  for (let i = 0; i < whole; i++) key[i] = ref[i] as number;
  const rest = depth & 7;
  if (rest > 0) key[whole] = (ref[whole] as number) & ((0xff << (8 - rest)) & 0xff);
  if (lastBit !== undefined) {
    const bit = depth - 1;
    const mask = 1 << (7 - (bit & 7));
    key[bit >> 3] = lastBit ? (key[bit >> 3] as number) | mask : (key[bit >> 3] as number) & ~mask;
  }
  key.writeUInt16BE(depth, WORD_LENGTH);
  return key;
}

/** The position of the root. */
const ROOT_POSITION = positionKey(new Uint8Array(WORD_LENGTH), 0);

/**
 * One block's batch update: loads nodes by position and changes them in its page set. A node is
 * read before anything is written at its position, and a later write to a position wins.
 */
class SMTBatch {
  readonly pages: SMTPageSet;

  constructor(table: LedgerTable) {
    this.pages = new SMTPageSet(table);
  }

  /** The stored root node, or undefined for the empty tree. */
  root(): Uint8Array | undefined {
    return this.pages.get(ROOT_POSITION);
  }

  load(position: Uint8Array): Uint8Array {
    const node = this.pages.get(position);
    if (node?.length !== SMT_NODE_LENGTH)
      throw corrupt(`the sparse Merkle tree node at ${bytesToHex(position)} is missing or malformed`);
    return node;
  }

  #put(position: Uint8Array, node: Uint8Array): Uint8Array {
    this.pages.set(position, node);
    return sha256(node);
  }

  #remove(position: Uint8Array): void {
    this.pages.set(position, null);
  }

  /** Builds the canonical subtree at `depth` holding exactly the leaves in [lo, hi), where nothing was before. */
  build(leaves: Leaf[], depth: number, lo: number, hi: number): Subtree {
    if (hi === lo) return EMPTY_SUBTREE;
    const first = leaves[lo] as Leaf;
    const position = positionKey(first.key, depth);
    if (hi - lo === 1) {
      const node = smtLeafNode(first.key, first.valueHash);
      return { hash: this.#put(position, node), kind: LEAF, node, position };
    }
    if (depth >= SMT_MAX_DEPTH) throw corrupt('two distinct sparse Merkle tree keys share all 256 bits');
    const mid = splitIndex(leaves, depth, lo, hi);
    // With two or more leaves below, neither side can be lifted: a lone leaf on one side sits
    // beside a non-empty sibling or an inner node, both canonical.
    const left = this.build(leaves, depth + 1, lo, mid);
    const right = this.build(leaves, depth + 1, mid, hi);
    return { hash: this.#put(position, smtInnerNode(left.hash, right.hash)), kind: INNER };
  }

  /** Applies the sorted updates [lo, hi) to the committed subtree with hash `hash` at `position`. */
  update(hash: Uint8Array, position: Uint8Array, depth: number, updates: Update[], lo: number, hi: number): Subtree {
    if (lo === hi) return { hash, kind: isEmptySubtree(hash) ? EMPTY : UNKNOWN, position };
    if (isEmptySubtree(hash)) {
      const leaves = presentOnly(updates, lo, hi);
      return this.build(leaves, depth, 0, leaves.length);
    }
    const node = this.load(position);
    if (node[0] === SMT_LEAF_PREFIX) {
      const existing: Leaf = { key: node.subarray(1, 1 + WORD_LENGTH), valueHash: node.subarray(1 + WORD_LENGTH) };
      const merged = mergeLeaf(existing, updates, lo, hi);
      const result = this.build(merged, depth, 0, merged.length);
      if (result.kind === EMPTY) this.#remove(position);
      return result;
    }
    if (node[0] !== SMT_INNER_PREFIX) throw corrupt(`the sparse Merkle tree node at ${bytesToHex(position)} has an unknown type`);
    if (depth >= SMT_MAX_DEPTH) throw corrupt('the sparse Merkle tree is deeper than 256 levels');
    const leftHash = node.subarray(1, 1 + WORD_LENGTH);
    const rightHash = node.subarray(1 + WORD_LENGTH);
    const ref = (updates[lo] as Update).key;
    const mid = splitIndex(updates, depth, lo, hi);
    const left = this.update(leftHash, positionKey(ref, depth + 1, 0), depth + 1, updates, lo, mid);
    const right = this.update(rightHash, positionKey(ref, depth + 1, 1), depth + 1, updates, mid, hi);
    if (equalsBytes(left.hash, leftHash) && equalsBytes(right.hash, rightHash)) return { hash, kind: INNER };
    return this.#combine(position, left, right);
  }

  /** Joins two subtrees under the inner node at `position`, lifting a lone leaf so the tree stays canonical. */
  #combine(position: Uint8Array, left: Subtree, right: Subtree): Subtree {
    if (left.kind === EMPTY && right.kind === EMPTY) {
      this.#remove(position);
      return EMPTY_SUBTREE;
    }
    const lone = left.kind === EMPTY ? this.#asLeaf(right) : right.kind === EMPTY ? this.#asLeaf(left) : undefined;
    if (lone) {
      // The leaf moves up from its child position to this one.
      this.#remove(lone.position as Uint8Array);
      return { hash: this.#put(position, lone.node as Uint8Array), kind: LEAF, node: lone.node as Uint8Array, position };
    }
    return { hash: this.#put(position, smtInnerNode(left.hash, right.hash)), kind: INNER };
  }

  /** The subtree as a leaf (with its node and position), or undefined if it is not one. */
  #asLeaf(subtree: Subtree): Subtree | undefined {
    if (subtree.kind === LEAF) return subtree;
    if (subtree.kind !== UNKNOWN) return undefined;
    const node = this.load(subtree.position as Uint8Array);
    return node[0] === SMT_LEAF_PREFIX ? { ...subtree, kind: LEAF, node } : undefined;
  }
}

function presentOnly(updates: Update[], lo: number, hi: number): Leaf[] {
  const leaves: Leaf[] = [];
  for (let i = lo; i < hi; i++) {
    const u = updates[i] as Update;
    if (u.valueHash) leaves.push({ key: u.key, valueHash: u.valueHash });
  }
  return leaves;
}

/** The leaves of a subtree that held one leaf, after the updates [lo, hi): sorted, without deletions. */
function mergeLeaf(existing: Leaf, updates: Update[], lo: number, hi: number): Leaf[] {
  const leaves: Leaf[] = [];
  let placed = false;
  for (let i = lo; i < hi; i++) {
    const u = updates[i] as Update;
    const order = placed ? 1 : compareKeys(u.key, existing.key);
    if (order > 0 && !placed) {
      leaves.push(existing);
      placed = true;
    }
    if (order === 0) placed = true; // the update replaces (or deletes) the existing leaf
    if (u.valueHash) leaves.push({ key: u.key, valueHash: u.valueHash });
  }
  if (!placed) leaves.push(existing);
  return leaves;
}

/** The leaf updates of a write set, sorted by tree key. */
function leafUpdates(writes: StateWriteSet, state: StateReader): Update[] {
  const updates = new Map<string, Update>();
  const add = (key: Uint8Array, valueHash: Uint8Array | null) => {
    updates.set(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex'), { key, valueHash });
  };
  // Wiped storage first, so that a slot written again in the same block ends with its new value.
  for (const address of writes.storageCleared) {
    for (const slot of state.storageSlots(address)) add(smtStorageKey(address, slot), null);
  }
  for (const w of writes.accounts) {
    add(smtAccountKey(w.address), w.account ? sha256(encodeAccount(w.account)) : null);
  }
  for (const w of writes.storage) {
    add(smtStorageKey(w.address, w.slot), w.value.length === 0 ? null : sha256(w.value));
  }
  return [...updates.keys()].sort().map((k) => updates.get(k) as Update);
}

/** The binary sparse Merkle tree commitment over the flat state. */
export class SMTCommitment implements StateCommitment {
  readonly kind = 'smt' as const;
  readonly emptyRoot = EMPTY_SMT_ROOT;
  readonly #tree: LedgerTable;

  /** @internal Use `SMTCommitment.open`, which also moves an older layout into pages. */
  constructor(db: LedgerDatabase) {
    this.#tree = db.table(PAGES_TABLE);
  }

  /** Opens the commitment's table in `db`; a tree stored one node per value (before ADR 0014) is moved into pages first. */
  static async open(db: LedgerDatabase): Promise<SMTCommitment> {
    const commitment = new SMTCommitment(db);
    if (db.hasTable(LEGACY_NODES_TABLE)) {
      const legacy = db.table(LEGACY_NODES_TABLE);
      await db.write((txn) => {
        const pages = new SMTPageSet(commitment.#tree);
        for (const position of legacy.keys(new Uint8Array(0), new Uint8Array(SMT_POSITION_LENGTH + 1).fill(0xff))) {
          const node = legacy.get(position);
          if (node?.length !== SMT_NODE_LENGTH || position.length !== SMT_POSITION_LENGTH) {
            throw corrupt(`the sparse Merkle tree node at ${bytesToHex(position)} is malformed`);
          }
          pages.set(position, node);
        }
        writePages(txn, commitment.#tree, pages.changes().writes);
        txn.drop(legacy);
      });
    }
    return commitment;
  }

  /** Computes the root after `writes` in one batch over the block's sorted keys. */
  async stage(root: Uint8Array, writes: StateWriteSet, state: StateReader): Promise<StagedCommitment> {
    const batch = new SMTBatch(this.#tree);
    checkRoot(batch, root);
    const updates = leafUpdates(writes, state);
    const result = batch.update(root, ROOT_POSITION, 0, updates, 0, updates.length);
    const table = this.#tree;
    const { writes: pageWrites, bytes } = batch.pages.changes();
    return {
      root: result.hash,
      nodeCount: pageWrites.length,
      nodeBytes: bytes,
      write(txn: LedgerWriteTxn) {
        writePages(txn, table, pageWrites);
      },
    };
  }

  /** The nodes stored, in position order (for tests and diagnostics: it reads the whole table). */
  *storedNodes(): Generator<{ position: Uint8Array; node: Uint8Array }> {
    for (const key of this.#tree.keys(new Uint8Array(0), new Uint8Array(SMT_POSITION_LENGTH + 1).fill(0xff))) {
      const slots = decodePage(key, this.#tree.get(key) as Uint8Array);
      for (let slot = 0; slot < slots.length; slot++) {
        const node = slots[slot];
        if (node) yield { position: slotPosition(key, slot), node };
      }
    }
  }

  /** The path of `key` in the latest committed tree, whose root is `root`. */
  path(root: Uint8Array, key: Uint8Array): SMTPath {
    const batch = new SMTBatch(this.#tree);
    checkRoot(batch, root);
    const siblings: SMTPath['siblings'] = [];
    if (isEmptySubtree(root)) return { siblings, leaf: null };
    for (let depth = 0; depth <= SMT_MAX_DEPTH; depth++) {
      const node = batch.load(positionKey(key, depth));
      if (node[0] === SMT_LEAF_PREFIX) {
        return {
          siblings,
          leaf: { key: bytesToHex(node.subarray(1, 1 + WORD_LENGTH)), valueHash: bytesToHex(node.subarray(1 + WORD_LENGTH)) },
        };
      }
      const bit = smtKeyBit(key, depth);
      const child = bit === 0 ? node.subarray(1, 1 + WORD_LENGTH) : node.subarray(1 + WORD_LENGTH);
      siblings.push(bytesToHex(bit === 0 ? node.subarray(1 + WORD_LENGTH) : node.subarray(1, 1 + WORD_LENGTH)));
      if (isEmptySubtree(child)) return { siblings, leaf: null };
    }
    throw corrupt('a sparse Merkle tree path is deeper than 256 levels');
  }

  /** Proves an account and slots; `root` and `state` must be the latest committed ones. */
  async prove(root: Uint8Array, address: Uint8Array, slots: Uint8Array[], state: StateReader): Promise<StateProof> {
    const account = state.getAccount(address);
    const storageProof: PolisStorageProof[] = slots.map((slot) => {
      const value = state.getStorage(address, slot);
      return {
        key: bytesToHex(slot),
        value: toQuantity(value.length === 0 ? 0n : BigInt(bytesToHex(value))),
        proof: this.path(root, smtStorageKey(address, slot)),
      };
    });
    return {
      kind: 'smt',
      proof: {
        address: bytesToHex(address),
        balance: toQuantity(account?.balance ?? 0n),
        codeHash: bytesToHex(account?.codeHash ?? KECCAK256_NULL),
        nonce: toQuantity(account?.nonce ?? 0n),
        accountProof: this.path(root, smtAccountKey(address)),
        storageProof,
      },
    };
  }
}

/** The stored tree must be the one whose root the caller holds: the table keeps the latest tree only. */
function checkRoot(batch: SMTBatch, root: Uint8Array): void {
  const node = batch.root();
  const stored = node === undefined ? EMPTY_SMT_ROOT : sha256(node);
  if (!equalsBytes(stored, root)) {
    throw corrupt(`the sparse Merkle tree holds root ${bytesToHex(stored)}, not the committed root ${bytesToHex(root)}`);
  }
}
