/**
 * Building and checking write sets. A write set is the unit a commitment hashes and the store
 * applies, so its canonical form (sorted, unique, canonical values) is checked before either
 * touches it: a bug in the execution layer must not turn into a root that differs between nodes.
 */
import { compareBytes, equalsBytes, keccak256 } from '@polis/core';
import { LedgerError, LedgerErrorCode } from '../errors.js';
import { storageKey, stripZeros } from './codec.js';
import { ADDRESS_LENGTH, WORD_LENGTH } from './params.js';
import type { AccountWrite, CodeWrite, StateWriteSet, StorageWrite } from './types.js';

function invalid(field: string, reason: string): LedgerError {
  return new LedgerError(
    { code: LedgerErrorCode.INVALID_WRITE_SET, field, reason },
    `invalid state write set: ${field} ${reason}`,
    {
      hint: 'This is a bug in the code that built the write set; the block was not committed',
    },
  );
}

/** The number of entries in a write set, the measure its bound applies to. */
export function writeSetSize(writes: StateWriteSet): number {
  return writes.accounts.length + writes.storageCleared.length + writes.storage.length + writes.code.length;
}

/**
 * Sorts and deduplicates loose writes into a canonical write set. A later entry for the same key
 * replaces an earlier one, as it would in execution order. Storage values are made canonical.
 */
export function createStateWriteSet(input: Partial<StateWriteSet>): StateWriteSet {
  const accounts = new Map<string, AccountWrite>();
  for (const w of input.accounts ?? []) accounts.set(Buffer.from(w.address).toString('hex'), w);
  const storage = new Map<string, StorageWrite>();
  for (const w of input.storage ?? []) {
    storage.set(Buffer.from(storageKey(w.address, w.slot)).toString('hex'), { ...w, value: stripZeros(w.value) });
  }
  const code = new Map<string, CodeWrite>();
  for (const w of input.code ?? []) code.set(Buffer.from(w.codeHash).toString('hex'), w);
  const cleared = new Map<string, Uint8Array>();
  for (const a of input.storageCleared ?? []) cleared.set(Buffer.from(a).toString('hex'), a);
  // Same-length lower-case hex sorts exactly like the bytes it encodes.
  const sorted = <T>(m: Map<string, T>): T[] => [...m.keys()].sort().map((k) => m.get(k) as T);
  const writes = { accounts: sorted(accounts), storageCleared: sorted(cleared), storage: sorted(storage), code: sorted(code) };
  validateWriteSet(writes);
  return writes;
}

/** Checks that a write set is canonical: lengths, strict ascending order, canonical values, code hashes. */
export function validateWriteSet(writes: StateWriteSet): void {
  let prev: Uint8Array | undefined;
  writes.accounts.forEach((w, i) => {
    if (w.address.length !== ADDRESS_LENGTH) throw invalid(`accounts[${i}].address`, `is ${w.address.length} bytes, not 20`);
    if (prev && compareBytes(prev, w.address) >= 0) throw invalid(`accounts[${i}]`, 'is not in strictly ascending address order');
    if (w.account && w.account.codeHash.length !== WORD_LENGTH) throw invalid(`accounts[${i}].codeHash`, 'is not 32 bytes');
    if (w.account && (w.account.nonce < 0n || w.account.balance < 0n)) throw invalid(`accounts[${i}]`, 'has a negative field');
    prev = w.address;
  });
  prev = undefined;
  writes.storageCleared.forEach((a, i) => {
    if (a.length !== ADDRESS_LENGTH) throw invalid(`storageCleared[${i}]`, `is ${a.length} bytes, not 20`);
    if (prev && compareBytes(prev, a) >= 0) throw invalid(`storageCleared[${i}]`, 'is not in strictly ascending order');
    prev = a;
  });
  prev = undefined;
  writes.storage.forEach((w, i) => {
    if (w.address.length !== ADDRESS_LENGTH) throw invalid(`storage[${i}].address`, `is ${w.address.length} bytes, not 20`);
    if (w.slot.length !== WORD_LENGTH) throw invalid(`storage[${i}].slot`, `is ${w.slot.length} bytes, not 32`);
    if (w.value.length > WORD_LENGTH) throw invalid(`storage[${i}].value`, 'is longer than 32 bytes');
    if (w.value.length > 0 && w.value[0] === 0) throw invalid(`storage[${i}].value`, 'has a leading zero byte');
    const key = storageKey(w.address, w.slot);
    if (prev && compareBytes(prev, key) >= 0)
      throw invalid(`storage[${i}]`, 'is not in strictly ascending (address, slot) order');
    prev = key;
  });
  prev = undefined;
  writes.code.forEach((w, i) => {
    if (w.codeHash.length !== WORD_LENGTH) throw invalid(`code[${i}].codeHash`, 'is not 32 bytes');
    if (prev && compareBytes(prev, w.codeHash) >= 0) throw invalid(`code[${i}]`, 'is not in strictly ascending hash order');
    if (!equalsBytes(keccak256(w.code), w.codeHash)) throw invalid(`code[${i}].codeHash`, 'is not the keccak-256 of the code');
    prev = w.codeHash;
  });
}
