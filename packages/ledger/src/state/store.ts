/**
 * The flat state store: accounts, storage slots and code in LMDB tables of the ledger database,
 * with a Merkle commitment over them.
 *
 * Tables (keys and values are raw bytes):
 * - `state.accounts`: address (20) -> RLP [nonce, balance, codeHash]
 * - `state.storage`:  address (20) || slot (32) -> value (canonical unsigned integer, never zero)
 * - `state.code`:     keccak-256 of the code (32) -> code
 * - `state.meta`:     "head" -> RLP [height, stateRoot]; "commitment" -> its kind
 *
 * Reads are synchronous LMDB reads of the latest committed block. `commitBlock` writes one
 * block's write set, the commitment's new nodes, the head and anything else the caller adds, in
 * one LMDB transaction: after a crash the store holds the previous block or this one, whole.
 */
import {
  bytesToHex,
  bytesToUtf8,
  equalsBytes,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';
import type { LedgerDatabase, LedgerTable, LedgerWriteTxn } from '../db.js';
import { assertBound, corrupt, LedgerError, LedgerErrorCode } from '../errors.js';
import { decodeAccount, encodeAccount, storageKey, storageRangeEnd } from './codec.js';
import type { StagedCommitment, StateCommitment } from './commitment.js';
import { ADDRESS_LENGTH, WORD_LENGTH } from './params.js';
import type { AccountState, StateHead, StateProof, StateReader, StateWriteSet } from './types.js';
import { validateWriteSet, writeSetSize } from './writeSet.js';

const HEAD_KEY = utf8ToBytes('head');
const COMMITMENT_KEY = utf8ToBytes('commitment');
const ZERO_VALUE = new Uint8Array(0);

/** Options for a block commit. */
export type CommitBlockOptions = {
  /** The block's height: 0 for the first (genesis) block, then one more than the head each time. */
  height: number;
  /** Everything the block changes in the state. */
  writes: StateWriteSet;
  /** Writes the block's other data (header, transactions, receipts, indexes) in the same transaction. */
  write?: (txn: LedgerWriteTxn) => void;
  /**
   * The commitment already staged from these writes against the current root (a proposal is
   * executed and its root computed before it is decided); omitted, it is staged here.
   */
  staged?: { baseRoot: Uint8Array; staged: StagedCommitment };
};

/** What a block commit did, for metrics and benchmarks. */
export type CommitBlockResult = {
  head: StateHead;
  /** Commitment nodes written. */
  nodeCount: number;
  /** Bytes of commitment nodes written. */
  nodeBytes: number;
};

/** The most accounts `StateStore.committedNonceAndBalance` keeps decoded (more than a full pool's senders). */
export const NONCE_CACHE_MAX = 65_536;

/** The flat state of one ledger in the ledger database, and its commitment. */
export class StateStore implements StateReader {
  readonly db: LedgerDatabase;
  readonly commitment: StateCommitment;
  /** The largest write set `commitBlock` accepts, in entries. */
  readonly maxBlockWrites: number;
  readonly #accounts: LedgerTable;
  readonly #storage: LedgerTable;
  readonly #code: LedgerTable;
  readonly #meta: LedgerTable;
  #head: StateHead | undefined;
  #committing = false;
  /** Decoded nonces and balances of the committed state, for the read version they were read at. */
  #balances: { version: number | undefined; entries: Map<string, { nonce: bigint; balance: bigint }> } = {
    version: undefined,
    entries: new Map(),
  };

  /** @internal Use `openStateStore`. */
  constructor(db: LedgerDatabase, commitment: StateCommitment, maxBlockWrites: number) {
    this.db = db;
    this.commitment = commitment;
    this.maxBlockWrites = maxBlockWrites;
    this.#accounts = db.table('state.accounts');
    this.#storage = db.table('state.storage');
    this.#code = db.table('state.code');
    this.#meta = db.table('state.meta');
    const stored = this.#meta.get(COMMITMENT_KEY);
    if (stored !== undefined && bytesToUtf8(stored) !== commitment.kind) {
      throw new LedgerError(
        { code: LedgerErrorCode.COMMITMENT_MISMATCH, stored: bytesToUtf8(stored), requested: commitment.kind },
        `the state in ${db.path} was committed with "${bytesToUtf8(stored)}", not "${commitment.kind}"`,
        { hint: `Open it with the "${bytesToUtf8(stored)}" commitment, or start from an empty data directory` },
      );
    }
    this.#head = this.#readHead();
  }

  /** The last committed block's height and state root, or `undefined` before the first block. */
  get head(): StateHead | undefined {
    return this.#head;
  }

  /** The state root of the latest committed block (the empty root before the first block). */
  get stateRoot(): Uint8Array {
    return this.#head?.stateRoot ?? this.commitment.emptyRoot;
  }

  /** The account at `address` in the latest committed block. */
  getAccount(address: Uint8Array): AccountState | undefined {
    const bytes = this.#accounts.get(address);
    return bytes === undefined ? undefined : decodeAccount(bytes);
  }

  /**
   * The nonce and balance of `address` in the latest committed block (zero for an absent
   * account), each decoded once per block: the mempool asks them of every pending sender at
   * each height and for every transaction it admits. The cache is dropped with every write and
   * holds at most `NONCE_CACHE_MAX` accounts; inside a write it is not used.
   */
  committedNonceAndBalance(address: Uint8Array): { nonce: bigint; balance: bigint } {
    const version = this.db.readVersion();
    const read = () => {
      const account = this.getAccount(address);
      return { nonce: account?.nonce ?? 0n, balance: account?.balance ?? 0n };
    };
    if (version === undefined) return read();
    const cache = this.#balances;
    if (cache.version !== version || cache.entries.size >= NONCE_CACHE_MAX) {
      cache.version = version;
      cache.entries.clear();
    }
    const key = bytesToHex(address);
    let entry = cache.entries.get(key);
    if (entry === undefined) {
      entry = read();
      cache.entries.set(key, entry);
    }
    return entry;
  }

  /** How many accounts `committedNonceAndBalance` holds decoded now. */
  get cachedAccounts(): number {
    return this.#balances.entries.size;
  }

  /** A storage slot's value in the latest committed block; empty when zero. */
  getStorage(address: Uint8Array, slot: Uint8Array): Uint8Array {
    return this.#storage.get(storageKey(address, slot)) ?? ZERO_VALUE;
  }

  /** Code by its keccak-256 hash. */
  getCode(codeHash: Uint8Array): Uint8Array | undefined {
    return this.#code.get(codeHash);
  }

  /** The non-zero slots of `address`, ascending. */
  *storageSlots(address: Uint8Array): Generator<Uint8Array> {
    for (const key of this.#storage.keys(storageKey(address, new Uint8Array(WORD_LENGTH)), storageRangeEnd(address))) {
      yield key.subarray(ADDRESS_LENGTH);
    }
  }

  /**
   * Commits one block: computes the new state root from `writes`, then writes the flat state,
   * the commitment's nodes, the new head and `options.write`'s data in one LMDB transaction,
   * and resolves once that transaction is on disk. If anything throws, nothing is written.
   */
  async commitBlock(options: CommitBlockOptions): Promise<CommitBlockResult> {
    const { height, writes } = options;
    if (this.#committing) {
      throw new LedgerError(
        { code: LedgerErrorCode.CONCURRENT_COMMIT },
        'a block commit started before the previous one finished',
        {
          hint: 'Await each commitBlock before starting the next',
        },
      );
    }
    const expected = this.#head === undefined ? 0 : this.#head.height + 1;
    if (height !== expected) {
      throw new LedgerError(
        { code: LedgerErrorCode.HEIGHT_MISMATCH, expected, got: height },
        `block ${height} cannot follow the committed head (expected ${expected})`,
        { hint: 'Commit blocks in order, starting from height 0' },
      );
    }
    assertBound('the block write set size', writeSetSize(writes), 0, this.maxBlockWrites);
    validateWriteSet(writes);
    this.#checkStorageOwners(writes);
    this.#committing = true;
    try {
      const pre = options.staged;
      if (pre && !equalsBytes(pre.baseRoot, this.stateRoot)) {
        throw new LedgerError(
          { code: LedgerErrorCode.HEIGHT_MISMATCH, expected, got: height },
          'the staged state root was computed on another state than the committed head',
          { hint: 'Stage the block again on the current head' },
        );
      }
      const staged = pre ? pre.staged : await this.commitment.stage(this.stateRoot, writes, this);
      const head: StateHead = { height, stateRoot: staged.root };
      await this.db.write((txn) => {
        this.#applyFlat(txn, writes);
        staged.write(txn);
        txn.put(this.#meta, COMMITMENT_KEY, utf8ToBytes(this.commitment.kind));
        txn.put(this.#meta, HEAD_KEY, rlpEncode([height, head.stateRoot]));
        options.write?.(txn);
      });
      this.#head = head;
      return { head, nodeCount: staged.nodeCount, nodeBytes: staged.nodeBytes };
    } finally {
      this.#committing = false;
    }
  }

  /** Proves an account and some of its slots against the latest committed state root. */
  async prove(address: Uint8Array, slots: Uint8Array[] = []): Promise<StateProof> {
    return this.commitment.prove(this.stateRoot, address, slots, this);
  }

  #applyFlat(txn: LedgerWriteTxn, writes: StateWriteSet): void {
    // Wiping comes first: a slot written again in this block must keep its new value.
    for (const address of writes.storageCleared) {
      for (const slot of [...this.storageSlots(address)]) txn.remove(this.#storage, storageKey(address, slot));
    }
    for (const w of writes.accounts) {
      if (w.account) txn.put(this.#accounts, w.address, encodeAccount(w.account));
      else txn.remove(this.#accounts, w.address);
    }
    for (const w of writes.storage) {
      const key = storageKey(w.address, w.slot);
      if (w.value.length === 0) txn.remove(this.#storage, key);
      else txn.put(this.#storage, key, w.value);
    }
    for (const w of writes.code) txn.put(this.#code, w.codeHash, w.code);
  }

  /**
   * Storage may only be written under an account that exists once the block is applied, and an
   * account may only be deleted with its storage, so that no slot outlives its account.
   */
  #checkStorageOwners(writes: StateWriteSet): void {
    const cleared = new Set(writes.storageCleared.map((a) => Buffer.from(a).toString('hex')));
    for (const w of writes.accounts) {
      const hex = Buffer.from(w.address).toString('hex');
      if (w.account === null && !cleared.has(hex) && !this.storageSlots(w.address).next().done) {
        throw new LedgerError(
          { code: LedgerErrorCode.INVALID_WRITE_SET, field: 'accounts', reason: `deletes 0x${hex} but keeps its storage` },
          `invalid state write set: the account 0x${hex} is deleted but its storage is not wiped`,
          { hint: 'This is a bug in the code that built the write set; the block was not committed' },
        );
      }
    }
    const accounts = new Map(writes.accounts.map((w) => [Buffer.from(w.address).toString('hex'), w.account]));
    let last = '';
    for (const w of writes.storage) {
      const hex = Buffer.from(w.address).toString('hex');
      if (hex === last) continue;
      last = hex;
      const written = accounts.get(hex);
      if (written === null || (written === undefined && this.#accounts.get(w.address) === undefined)) {
        throw new LedgerError(
          { code: LedgerErrorCode.INVALID_WRITE_SET, field: 'storage', reason: `storage of the missing account 0x${hex}` },
          `invalid state write set: storage was written for the missing account 0x${hex}`,
          { hint: 'This is a bug in the code that built the write set; the block was not committed' },
        );
      }
    }
  }

  #readHead(): StateHead | undefined {
    const bytes = this.#meta.get(HEAD_KEY);
    if (bytes === undefined) return undefined;
    try {
      const fields = readList(rlpDecode(bytes), 'head', 2);
      return { height: readUint(fields[0], 'head.height'), stateRoot: readBytes(fields[1], 'head.stateRoot', WORD_LENGTH) };
    } catch (cause) {
      throw corrupt('the state head record is not RLP [height, stateRoot]', cause);
    }
  }
}

/** The bounds of `maxBlockWrites`. */
export const MAX_BLOCK_WRITES_DEFAULT = 1_000_000;
const MAX_BLOCK_WRITES_LIMIT = 16_000_000;

/** Asserts a configured `maxBlockWrites`. */
export function checkMaxBlockWrites(value: number): number {
  assertBound('maxBlockWrites', value, 1, MAX_BLOCK_WRITES_LIMIT);
  return value;
}
