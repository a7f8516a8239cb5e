/**
 * Types of the flat state: accounts, storage slots and code, and the write set one block
 * produces. Addresses are 20 bytes, slots and hashes 32 bytes, and storage values are canonical
 * unsigned integers (big-endian, no leading zero bytes, the empty array meaning zero).
 */
import type { Hex, PolisAccountProof } from '@polis/core';

export type { PolisAccountProof, PolisStorageProof, ProofVerification, SMTPath } from '@polis/core';

/** The fields of an account that the flat store keeps. Storage lives in its own table. */
export type AccountState = {
  nonce: bigint;
  balance: bigint;
  /** keccak-256 of the account's code; `KECCAK256_NULL` for an account without code. */
  codeHash: Uint8Array;
};

/** One account write: the new state, or `null` to delete the account (and its storage). */
export type AccountWrite = { address: Uint8Array; account: AccountState | null };

/** One storage write; a zero value (the empty array) deletes the slot. */
export type StorageWrite = { address: Uint8Array; slot: Uint8Array; value: Uint8Array };

/** New code, stored under its keccak-256 hash. */
export type CodeWrite = { codeHash: Uint8Array; code: Uint8Array };

/**
 * Everything one block changes in the state. Each list is sorted by its key in ascending byte
 * order without duplicates, so that applying it, and hashing it, never depends on the order in
 * which transactions happened to touch the keys.
 */
export type StateWriteSet = {
  /** Account writes, by address. */
  accounts: AccountWrite[];
  /** Addresses whose whole stored storage is wiped before `storage` is applied, ascending. */
  storageCleared: Uint8Array[];
  /** Storage writes, by (address, slot). */
  storage: StorageWrite[];
  /** Code writes, by code hash. */
  code: CodeWrite[];
};

/** Reads of the latest committed flat state. */
export interface StateReader {
  /** The account at `address`, or `undefined` if it does not exist. */
  getAccount(address: Uint8Array): AccountState | undefined;
  /** The value of a storage slot as a canonical unsigned integer (empty when zero or unset). */
  getStorage(address: Uint8Array, slot: Uint8Array): Uint8Array;
  /** The code with hash `codeHash`, or `undefined` if it is not stored. */
  getCode(codeHash: Uint8Array): Uint8Array | undefined;
  /** The slots of `address` that hold a non-zero value, in ascending order. */
  storageSlots(address: Uint8Array): Iterable<Uint8Array>;
}

/** The committed head of the state: the last block height written and its state root. */
export type StateHead = { height: number; stateRoot: Uint8Array };

/** The state commitments we can run; see docs/adr/0003-state-commitment.md. */
export type CommitmentKind = 'none' | 'mpt' | 'smt';

/** One storage slot in an EIP-1186 proof. */
export type EthStorageProof = { key: Hex; value: Hex; proof: Hex[] };

/** An EIP-1186 (`eth_getProof`) account proof: the account fields and the trie nodes from root to leaf. */
export type EthAccountProof = {
  address: Hex;
  balance: Hex;
  codeHash: Hex;
  nonce: Hex;
  storageHash: Hex;
  accountProof: Hex[];
  storageProof: EthStorageProof[];
};

/** A proof of an account and some of its storage slots, tagged with the commitment it belongs to. */
export type StateProof = { kind: 'mpt'; proof: EthAccountProof } | { kind: 'smt'; proof: PolisAccountProof };
