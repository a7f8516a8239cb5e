/**
 * The state the EVM executes against during one block: an overlay of the block's writes on top
 * of the ledger's committed flat state, with a journal of undo entries for checkpoints.
 *
 * @ethereumjs/statemanager's SimpleStateManager copies its whole state at every checkpoint
 * (O(state) per call) and its Merkle state manager updates the trie on every write; both
 * collapse under load. Here a checkpoint is the journal's current length (O(1)), a commit drops
 * a length, and a revert undoes the entries above it (O(writes undone)). Writes are undone only
 * while a checkpoint is open: outside one there is nothing to roll back to.
 *
 * Untouched keys read through to the store, which reads LMDB synchronously. At the end of a
 * block `writeSet()` returns the block's writes sorted by key (the overlay's maps are only
 * iterated through sorted keys, so nothing depends on insertion order), and the ledger computes
 * the state root from them once.
 */
import type { AccountFields, StateManagerInterface } from '@ethereumjs/common';
import { Account, type Address } from '@ethereumjs/util';
import { equalsBytes, keccak256 } from '@polis/core';
import {
  type AccountState,
  type AccountWrite,
  type CodeWrite,
  EMPTY_TRIE_ROOT,
  KECCAK256_NULL,
  type StateReader,
  type StateWriteSet,
  type StorageWrite,
  stripZeros,
} from '@polis/ledger';
import { assertLimit, ExecutionStateError, ExecutionStateErrorCode } from '../errors.js';

/** The committed state the overlay reads through to: the ledger's `StateStore` satisfies it. */
export interface CommittedState extends StateReader {
  /** The state root of the committed block the reads see. */
  readonly stateRoot: Uint8Array;
}

/** Options for a `JournaledStateManager`. */
export type JournaledStateManagerOptions = {
  /** The committed state to read through to. */
  state: CommittedState;
  /** The most undo entries the journal holds at once (it empties when the outermost checkpoint closes). */
  maxJournalEntries?: number;
  /** The most writes one block may make, counting every put, delete and wipe. */
  maxBlockWrites?: number;
  /** The most committed accounts remembered between reads within a block. */
  maxReadCacheEntries?: number;
  /** The most bytes of code kept in memory; code is immutable, so this cache lives across blocks. */
  maxCodeCacheBytes?: number;
};

const LIMITS = {
  maxJournalEntries: { default: 1_000_000, max: 16_000_000 },
  maxBlockWrites: { default: 1_000_000, max: 16_000_000 },
  maxReadCacheEntries: { default: 100_000, max: 10_000_000 },
  maxCodeCacheBytes: { default: 64 * 1024 * 1024, max: 1024 * 1024 * 1024 },
} as const;
/** The EVM nests at most 1024 calls; each opens one checkpoint, and a transaction may add one more. */
const MAX_CHECKPOINT_DEPTH = 1100;
const WORD_LENGTH = 32;
const EMPTY = new Uint8Array(0);

/** One undo entry; each restores exactly what one write replaced. */
type Undo =
  /** An account: `prev` undefined means the overlay had no entry (reads went to the store). */
  | { kind: 0; key: string; prev: AccountState | null | undefined }
  /** A storage slot in the slot map that was current when it was written. */
  | { kind: 1; slots: Map<string, Uint8Array>; slot: string; prev: Uint8Array | undefined }
  /** A storage wipe: the slot map and wiped flag it replaced. */
  | { kind: 2; key: string; prevSlots: Map<string, Uint8Array> | undefined; prevCleared: boolean }
  /** New code. */
  | { kind: 3; key: string; prev: Uint8Array | undefined };

/** Lower-case hex without `0x`: the overlay's map key for bytes. Same-length keys sort like the bytes. */
function hexKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function fromHexKey(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'hex'));
}

/** A journaled overlay over the ledger's flat state, implementing @ethereumjs's `StateManagerInterface`. */
export class JournaledStateManager implements StateManagerInterface {
  readonly #state: CommittedState;
  readonly #options: Required<Omit<JournaledStateManagerOptions, 'state'>>;
  /** The block's account writes; `null` is a deleted account. */
  #accounts = new Map<string, AccountState | null>();
  /** The block's storage writes per address; a wiped address gets a fresh map. */
  #storage = new Map<string, Map<string, Uint8Array>>();
  /** Addresses whose committed storage is wiped in this block. */
  #cleared = new Set<string>();
  /** Code first stored in this block, by hash. */
  #code = new Map<string, Uint8Array>();
  #journal: Undo[] = [];
  /** The journal length at each open checkpoint. */
  #checkpoints: number[] = [];
  #writes = 0;
  /** Committed accounts already read in this block (`null`: absent). Bounded; see `#readAccount`. */
  #readCache = new Map<string, AccountState | null>();
  #codeCache = new Map<string, Uint8Array>();
  #codeCacheBytes = 0;
  /** Storage values at the start of the current transaction, for EIP-2200 gas; see `originalStorageCache`. */
  #originals = new Map<string, Uint8Array>();

  /**
   * The value each slot had when the current transaction began; the EVM prices SSTORE from it
   * (EIP-2200, EIP-3529). `clear()` marks a transaction boundary and must be called before each
   * transaction, as @ethereumjs/vm's runTx does. A slot's original is recorded when it is first
   * written in the transaction; until then, the current value is the original.
   */
  readonly originalStorageCache = {
    get: async (address: Address, key: Uint8Array): Promise<Uint8Array> => {
      const original = this.#originals.get(hexKey(address.bytes) + hexKey(key));
      return original ?? this.#currentStorage(address.bytes, hexKey(address.bytes), key);
    },
    clear: (): void => {
      this.#originals.clear();
    },
  };

  constructor(options: JournaledStateManagerOptions) {
    this.#state = options.state;
    const pick = (name: keyof typeof LIMITS): number => {
      const value = options[name] ?? LIMITS[name].default;
      assertLimit(name, value, 1, LIMITS[name].max);
      return value;
    };
    this.#options = {
      maxJournalEntries: pick('maxJournalEntries'),
      maxBlockWrites: pick('maxBlockWrites'),
      maxReadCacheEntries: pick('maxReadCacheEntries'),
      maxCodeCacheBytes: pick('maxCodeCacheBytes'),
    };
  }

  /** The number of open checkpoints. */
  get checkpointDepth(): number {
    return this.#checkpoints.length;
  }

  /** Whether the overlay holds writes that are not committed yet. */
  get dirty(): boolean {
    return this.#writes > 0;
  }

  /** The account at `address`, as a fresh object the caller may change. */
  async getAccount(address: Address): Promise<Account | undefined> {
    const state = this.#currentAccount(hexKey(address.bytes), address.bytes);
    // The EVM mutates the Account it gets and puts it back, so each call gets its own object.
    // The storage root is not tracked during execution (the commitment computes it per block);
    // EIP-7610's storage-only collision check needs it only for accounts that have storage but
    // no code and no nonce, which cannot arise on a chain that started empty after EIP-6780.
    return state ? new Account(state.nonce, state.balance, EMPTY_TRIE_ROOT, state.codeHash) : undefined;
  }

  /** Sets an account; `undefined` deletes it. The storage root and code size fields are ignored. */
  async putAccount(address: Address, account?: Account): Promise<void> {
    if (account === undefined) return this.deleteAccount(address);
    this.#setAccount(hexKey(address.bytes), { nonce: account.nonce, balance: account.balance, codeHash: account.codeHash });
  }

  /** Deletes an account and wipes its storage. */
  async deleteAccount(address: Address): Promise<void> {
    this.#setAccount(hexKey(address.bytes), null);
    this.#clearStorage(hexKey(address.bytes));
  }

  /** Changes some fields of an account, creating it if it does not exist. */
  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const key = hexKey(address.bytes);
    const current = this.#currentAccount(key, address.bytes) ?? { nonce: 0n, balance: 0n, codeHash: KECCAK256_NULL };
    this.#setAccount(key, {
      nonce: fields.nonce ?? current.nonce,
      balance: fields.balance ?? current.balance,
      codeHash: fields.codeHash ?? current.codeHash,
    });
  }

  /** Stores code and points the account (created if missing) at its keccak-256 hash. */
  async putCode(address: Address, code: Uint8Array): Promise<void> {
    let codeHash = KECCAK256_NULL;
    if (code.length > 0) {
      codeHash = keccak256(code);
      const key = hexKey(codeHash);
      this.#record({ kind: 3, key, prev: this.#code.get(key) });
      this.#code.set(key, new Uint8Array(code));
    }
    await this.modifyAccountFields(address, { codeHash });
  }

  /** The code of the account at `address` (empty for none). */
  async getCode(address: Address): Promise<Uint8Array> {
    const account = this.#currentAccount(hexKey(address.bytes), address.bytes);
    if (!account || equalsBytes(account.codeHash, KECCAK256_NULL)) return EMPTY;
    const key = hexKey(account.codeHash);
    const code = this.#code.get(key) ?? this.#codeCache.get(key) ?? this.#loadCode(key, account.codeHash);
    return code;
  }

  /** The size of the code of the account at `address`. */
  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length;
  }

  /** The value of a storage slot as a canonical unsigned integer (empty when zero). */
  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    checkStorageKey(key);
    return this.#currentStorage(address.bytes, hexKey(address.bytes), key);
  }

  /**
   * The value of a storage slot, read synchronously and outside the EVM (as `getStorage`): for
   * the checks the executor makes before a transaction runs, such as the app's account policy.
   */
  peekStorage(address: Uint8Array, key: Uint8Array): Uint8Array {
    checkStorageKey(key);
    return this.#currentStorage(address, hexKey(address), key);
  }

  /** Sets a storage slot; a zero value deletes it. */
  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    checkStorageKey(key);
    if (value.length > WORD_LENGTH) {
      throw new ExecutionStateError(
        { code: ExecutionStateErrorCode.INVALID_STORAGE, field: 'value', length: value.length },
        `a storage value of ${value.length} bytes is longer than 32`,
      );
    }
    const addressKey = hexKey(address.bytes);
    const slotKey = hexKey(key);
    const originalKey = addressKey + slotKey;
    if (!this.#originals.has(originalKey)) this.#originals.set(originalKey, this.#currentStorage(address.bytes, addressKey, key));
    let slots = this.#storage.get(addressKey);
    if (slots === undefined) {
      slots = new Map();
      this.#storage.set(addressKey, slots);
    }
    this.#record({ kind: 1, slots, slot: slotKey, prev: slots.get(slotKey) });
    slots.set(slotKey, new Uint8Array(stripZeros(value)));
  }

  /** Wipes all storage of `address`. */
  async clearStorage(address: Address): Promise<void> {
    this.#clearStorage(hexKey(address.bytes));
  }

  /** Opens a checkpoint: O(1), it records the journal's length. */
  async checkpoint(): Promise<void> {
    assertLimit('the checkpoint depth', this.#checkpoints.length + 1, 1, MAX_CHECKPOINT_DEPTH);
    this.#checkpoints.push(this.#journal.length);
  }

  /** Closes the innermost checkpoint and keeps its writes; they can still be undone by an outer revert. */
  async commit(): Promise<void> {
    if (this.#checkpoints.pop() === undefined) throw noCheckpoint('commit');
    if (this.#checkpoints.length === 0) this.#journal.length = 0;
  }

  /** Undoes every write since the innermost checkpoint, newest first, and closes it. */
  async revert(): Promise<void> {
    const length = this.#checkpoints.pop();
    if (length === undefined) throw noCheckpoint('revert');
    for (let i = this.#journal.length - 1; i >= length; i--) this.#undo(this.#journal[i] as Undo);
    this.#journal.length = length;
  }

  /** The committed state root; there is no root for writes that no block has committed yet. */
  async getStateRoot(): Promise<Uint8Array> {
    if (this.dirty) {
      throw new ExecutionStateError(
        { code: ExecutionStateErrorCode.PENDING_WRITES },
        'the state root of a block in progress is not known yet',
        {
          hint: 'The root is computed once per block: commit the block, then read the root from the ledger',
        },
      );
    }
    return this.#state.stateRoot;
  }

  /** Accepts only the committed root (discarding the overlay): the flat store keeps the latest state only. */
  async setStateRoot(stateRoot: Uint8Array): Promise<void> {
    if (!equalsBytes(stateRoot, this.#state.stateRoot)) {
      throw new ExecutionStateError(
        { code: ExecutionStateErrorCode.UNSUPPORTED, operation: 'setStateRoot' },
        'the state overlay can only run on the latest committed state root',
        { hint: 'Execute against the latest block; historical state is served from proofs, not re-executed' },
      );
    }
    this.reset();
  }

  /** Whether `root` is the committed root this overlay reads. */
  async hasStateRoot(root: Uint8Array): Promise<boolean> {
    return equalsBytes(root, this.#state.stateRoot);
  }

  /** Forgets cached committed reads (not the block's writes). */
  clearCaches(): void {
    this.#readCache.clear();
    this.#codeCache.clear();
    this.#codeCacheBytes = 0;
  }

  /** A new overlay over the same committed state, without this one's writes (for calls that must not change state). */
  shallowCopy(): JournaledStateManager {
    return new JournaledStateManager({ state: this.#state, ...this.#options });
  }

  /** The block's writes, sorted by key; throws while a checkpoint is open. */
  writeSet(): StateWriteSet {
    if (this.#checkpoints.length > 0) {
      throw new ExecutionStateError(
        { code: ExecutionStateErrorCode.OPEN_CHECKPOINT, depth: this.#checkpoints.length },
        `the block's writes were asked for with ${this.#checkpoints.length} checkpoint(s) open`,
        { hint: 'Commit or revert every checkpoint (finish the transaction) before ending the block' },
      );
    }
    const accounts: AccountWrite[] = [...this.#accounts.keys()]
      .sort()
      .map((key) => ({ address: fromHexKey(key), account: this.#accounts.get(key) as AccountState | null }));
    const storage: StorageWrite[] = [];
    for (const addressKey of [...this.#storage.keys()].sort()) {
      const slots = this.#storage.get(addressKey) as Map<string, Uint8Array>;
      if (slots.size === 0) continue;
      const address = fromHexKey(addressKey);
      for (const slotKey of [...slots.keys()].sort()) {
        storage.push({ address, slot: fromHexKey(slotKey), value: slots.get(slotKey) as Uint8Array });
      }
    }
    const code: CodeWrite[] = [...this.#code.keys()]
      .sort()
      .map((key) => ({ codeHash: fromHexKey(key), code: this.#code.get(key) as Uint8Array }));
    return { accounts, storageCleared: [...this.#cleared].sort().map(fromHexKey), storage, code };
  }

  /** Drops the block's writes and journal; call it after the block committed (or to abandon it). */
  reset(): void {
    this.#accounts = new Map();
    this.#storage = new Map();
    this.#cleared = new Set();
    this.#code = new Map();
    this.#journal = [];
    this.#checkpoints = [];
    this.#originals = new Map();
    this.#writes = 0;
    // Reads cached before the block committed may now be stale.
    this.#readCache = new Map();
  }

  #currentAccount(key: string, address: Uint8Array): AccountState | null | undefined {
    const written = this.#accounts.get(key);
    if (written !== undefined) return written;
    return this.#readAccount(key, address);
  }

  #readAccount(key: string, address: Uint8Array): AccountState | null {
    const cached = this.#readCache.get(key);
    if (cached !== undefined) return cached;
    const account = this.#state.getAccount(address) ?? null;
    // Dropping the whole cache when full keeps the bound with O(1) work and no LRU bookkeeping;
    // a block that touches more accounts than the bound just reads LMDB again.
    if (this.#readCache.size >= this.#options.maxReadCacheEntries) this.#readCache.clear();
    this.#readCache.set(key, account);
    assertLimit('the read cache entries', this.#readCache.size, 1, this.#options.maxReadCacheEntries);
    return account;
  }

  #loadCode(key: string, codeHash: Uint8Array): Uint8Array {
    const code = this.#state.getCode(codeHash);
    if (code === undefined) {
      throw new ExecutionStateError(
        { code: ExecutionStateErrorCode.MISSING_CODE, codeHash: `0x${key}` },
        `the code with hash 0x${key} is not in the state store`,
        { hint: 'The state store is corrupt: restore the data directory or resync the node' },
      );
    }
    if (code.length <= this.#options.maxCodeCacheBytes) {
      if (this.#codeCacheBytes + code.length > this.#options.maxCodeCacheBytes) {
        this.#codeCache.clear();
        this.#codeCacheBytes = 0;
      }
      this.#codeCache.set(key, code);
      this.#codeCacheBytes += code.length;
      assertLimit('the code cache bytes', this.#codeCacheBytes, 0, this.#options.maxCodeCacheBytes);
    }
    return code;
  }

  #currentStorage(address: Uint8Array, addressKey: string, key: Uint8Array): Uint8Array {
    const written = this.#storage.get(addressKey)?.get(hexKey(key));
    if (written !== undefined) return written;
    if (this.#cleared.has(addressKey)) return EMPTY;
    return this.#state.getStorage(address, key);
  }

  #setAccount(key: string, account: AccountState | null): void {
    this.#record({ kind: 0, key, prev: this.#accounts.get(key) });
    this.#accounts.set(key, account);
  }

  #clearStorage(key: string): void {
    this.#record({ kind: 2, key, prevSlots: this.#storage.get(key), prevCleared: this.#cleared.has(key) });
    this.#storage.set(key, new Map());
    this.#cleared.add(key);
  }

  /** Counts a write against the block bound and, inside a checkpoint, journals how to undo it. */
  #record(undo: Undo): void {
    this.#writes++;
    if (this.#writes > this.#options.maxBlockWrites)
      assertLimit('the block writes', this.#writes, 0, this.#options.maxBlockWrites);
    if (this.#checkpoints.length === 0) return;
    if (this.#journal.length >= this.#options.maxJournalEntries) {
      assertLimit('the journal entries', this.#journal.length + 1, 0, this.#options.maxJournalEntries);
    }
    this.#journal.push(undo);
  }

  #undo(undo: Undo): void {
    switch (undo.kind) {
      case 0:
        if (undo.prev === undefined) this.#accounts.delete(undo.key);
        else this.#accounts.set(undo.key, undo.prev);
        return;
      case 1:
        if (undo.prev === undefined) undo.slots.delete(undo.slot);
        else undo.slots.set(undo.slot, undo.prev);
        return;
      case 2:
        if (undo.prevSlots === undefined) this.#storage.delete(undo.key);
        else this.#storage.set(undo.key, undo.prevSlots);
        if (undo.prevCleared) this.#cleared.add(undo.key);
        else this.#cleared.delete(undo.key);
        return;
      case 3:
        if (undo.prev === undefined) this.#code.delete(undo.key);
        else this.#code.set(undo.key, undo.prev);
        return;
    }
  }
}

function checkStorageKey(key: Uint8Array): void {
  if (key.length !== WORD_LENGTH) {
    throw new ExecutionStateError(
      { code: ExecutionStateErrorCode.INVALID_STORAGE, field: 'key', length: key.length },
      `a storage key of ${key.length} bytes is not 32 bytes`,
      { hint: 'Left-pad storage keys to 32 bytes, as the EVM does' },
    );
  }
}

function noCheckpoint(operation: 'commit' | 'revert'): ExecutionStateError {
  return new ExecutionStateError(
    { code: ExecutionStateErrorCode.NO_CHECKPOINT, operation },
    `${operation} was called with no open checkpoint`,
    {
      hint: 'Pair every commit or revert with an earlier checkpoint',
    },
  );
}
