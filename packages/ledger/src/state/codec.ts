/**
 * Encodings of the flat state: the keys of its tables and the RLP of an account record.
 * Storage values are kept as canonical unsigned integers, exactly as the EVM's SSTORE writes them.
 */
import { concatBytes, readBigUint, readBytes, readList, rlpDecode, rlpEncode } from '@polis/core';
import { corrupt } from '../errors.js';
import { ADDRESS_LENGTH, WORD_LENGTH } from './params.js';
import type { AccountState } from './types.js';

/** The key of a storage slot in the flat `state.storage` table: address || slot (52 bytes). */
export function storageKey(address: Uint8Array, slot: Uint8Array): Uint8Array {
  return concatBytes(address, slot);
}

/** The first key after every storage key of `address`, the exclusive end of its range. */
export function storageRangeEnd(address: Uint8Array): Uint8Array {
  // Incrementing the address as a 160-bit integer gives the next prefix; the all-ones address
  // has no successor, so its range ends at a 53-byte all-ones key, after every 52-byte key.
  const end = new Uint8Array(address);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end;
    }
    end[i] = 0;
  }
  return new Uint8Array(ADDRESS_LENGTH + WORD_LENGTH + 1).fill(0xff);
}

/** Strips leading zero bytes, giving the canonical form of an unsigned integer. */
export function stripZeros(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  return i === 0 ? value : value.subarray(i);
}

/** Encodes an account record for the flat store as RLP [nonce, balance, codeHash]. */
export function encodeAccount(account: AccountState): Uint8Array {
  return rlpEncode([account.nonce, account.balance, account.codeHash]);
}

/** Decodes an account record written by `encodeAccount`. */
export function decodeAccount(bytes: Uint8Array): AccountState {
  try {
    const fields = readList(rlpDecode(bytes), 'account', 3);
    return {
      nonce: readBigUint(fields[0], 'account.nonce', 8),
      balance: readBigUint(fields[1], 'account.balance'),
      codeHash: readBytes(fields[2], 'account.codeHash', WORD_LENGTH),
    };
  } catch (cause) {
    throw corrupt('an account record is not valid RLP [nonce, balance, codeHash]', cause);
  }
}
