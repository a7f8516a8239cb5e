/**
 * Ethereum transactions (legacy, EIP-2930, EIP-1559) through `@ethereumjs/tx`, with sender
 * recovery through the native secp256k1 binding instead of the library's pure-JS default.
 */
import { type Common, createCustomCommon, Mainnet } from '@ethereumjs/common';
import { createTxFromRLP, paramsTx, type TypedTransaction } from '@ethereumjs/tx';
import { keccak256, PolisError, padBytes, type RLPItem, readBigUint, rlpDecode, secp256k1Recover } from '@polis/core';

/** The hardfork whose rules app ledgers run. */
export const HARDFORK = 'prague';

/** Codes for rejected transactions; each message is what a wallet should show. */
export enum TxErrorCode {
  /** The bytes are not a transaction we accept. */
  MALFORMED = 'TX_ERROR_MALFORMED',
  /** A transaction type we do not accept (blobs, EIP-7702). */
  UNSUPPORTED_TYPE = 'TX_ERROR_UNSUPPORTED_TYPE',
  /** The signature does not recover a sender. */
  INVALID_SIGNATURE = 'TX_ERROR_INVALID_SIGNATURE',
  /** Signed for another chain. */
  INVALID_CHAIN_ID = 'TX_ERROR_INVALID_CHAIN_ID',
  /** The nonce was already used. */
  NONCE_TOO_LOW = 'TX_ERROR_NONCE_TOO_LOW',
  /** The gas limit is below the intrinsic gas or above the block gas limit. */
  GAS_LIMIT = 'TX_ERROR_GAS_LIMIT',
  /** The sender may not transact on this ledger. */
  NOT_PERMITTED = 'TX_ERROR_NOT_PERMITTED',
  /** The transaction is already in the pool or in a block. */
  ALREADY_KNOWN = 'TX_ERROR_ALREADY_KNOWN',
  /** The pool is full (in count or bytes, overall or for this sender). */
  MEMPOOL_FULL = 'TX_ERROR_MEMPOOL_FULL',
  /** The nonce is too far ahead of the sender's next nonce. */
  NONCE_TOO_HIGH = 'TX_ERROR_NONCE_TOO_HIGH',
  /** The sender's committed balance does not cover the value (fees are zero, so only value counts). */
  INSUFFICIENT_FUNDS = 'TX_ERROR_INSUFFICIENT_FUNDS',
}

/** The payload of a `TxError`. */
export type TxErrorType =
  | { code: TxErrorCode.MALFORMED; reason: string }
  | { code: TxErrorCode.UNSUPPORTED_TYPE; txType: number }
  | { code: TxErrorCode.INVALID_SIGNATURE }
  | { code: TxErrorCode.INVALID_CHAIN_ID; expected: bigint; got: bigint | null }
  | { code: TxErrorCode.NONCE_TOO_LOW; next: bigint; got: bigint }
  | { code: TxErrorCode.NONCE_TOO_HIGH; next: bigint; got: bigint; maxAhead: number }
  | { code: TxErrorCode.INSUFFICIENT_FUNDS; balance: bigint; cost: bigint }
  | { code: TxErrorCode.GAS_LIMIT; gasLimit: bigint; min: bigint; max: bigint }
  | { code: TxErrorCode.NOT_PERMITTED; sender: string }
  | { code: TxErrorCode.ALREADY_KNOWN; hash: string }
  | { code: TxErrorCode.MEMPOOL_FULL; what: string };

/** A transaction that cannot enter the pool or a block. */
export class TxError extends PolisError<TxErrorType> {
  override name = 'TxError';
}

/** A decoded, sender-recovered transaction. */
export type DecodedTx = {
  tx: TypedTransaction;
  raw: Uint8Array;
  hash: Uint8Array;
  sender: Uint8Array;
  nonce: bigint;
  gasLimit: bigint;
};

function recover(msgHash: Uint8Array, v: bigint, r: Uint8Array, s: Uint8Array, chainId?: bigint): Uint8Array {
  // EIP-155: v = chainId * 2 + 35 + yParity; pre-EIP-155: v = 27 + yParity; typed transactions: v = yParity.
  let recovery: bigint;
  if (chainId !== undefined) recovery = v - (chainId * 2n + 35n);
  else recovery = v >= 27n ? v - 27n : v;
  if (recovery !== 0n && recovery !== 1n) throw new Error('invalid signature v');
  const sig = new Uint8Array(64);
  sig.set(padBytes(r, 32), 0);
  sig.set(padBytes(s, 32), 32);
  return secp256k1Recover(msgHash, sig, Number(recovery)).subarray(1);
}

/**
 * The `Common` of a ledger: Prague rules, its own chain id, native keccak and signature recovery.
 *
 * `@ethereumjs/tx` copies the `Common` for every transaction it builds and merges its parameter
 * set into the copy (a JSON deep copy of every EIP's parameters, then a rebuild of the lookup
 * cache): a tenth of a node's time under load; blocks do the same with theirs. The ledger's
 * `Common` merges each set once: a copy whose lookup cache was built with a set skips it.
 * (`node packages/execution/dist/bench/decode.js` and `block.js` measure both changes here.)
 */
export function createLedgerCommon(chainId: bigint): Common {
  const common = createCustomCommon({ chainId: chainId.toString(), name: `polis-${chainId}` }, Mainnet, {
    hardfork: HARDFORK,
    customCrypto: { keccak256, ecrecover: recover },
  });
  const merge = common.updateParams;
  type Internals = { _params: object; _paramsCache: object };
  const shared = (common as unknown as Internals)._params;
  // The sets merged into the shared parameters so far, and for each lookup cache the sets it
  // was built with (a cache is rebuilt, as a new object, from all the shared parameters).
  const merged = new Set<object>();
  const cacheHolds = new WeakMap<object, ReadonlySet<object>>();
  // Own properties, so that `copy()` (an `Object.assign` of the own properties) carries them;
  // copies share `_params`, and a copy shares its original's cache until it rebuilds its own.
  common.updateParams = function (this: Common, params) {
    const self = this as unknown as Internals;
    if (cacheHolds.get(self._paramsCache)?.has(params)) return;
    merge.call(this, params);
    if (self._params !== shared) return;
    merged.add(params);
    cacheHolds.set(self._paramsCache, new Set(merged));
  };
  common.updateParams(paramsTx);
  // The interpreter asks `isActivatedEIP` twice per opcode, and the library scans the list of
  // active EIPs each time (5% of execution); a set per list answers the same, and a changed
  // hardfork or EIP list (a new array) gets its own set.
  const sets = new WeakMap<readonly number[], ReadonlySet<number>>();
  common.isActivatedEIP = function (this: Common, eip: number) {
    const list = (this as unknown as { _activatedEIPsCache: readonly number[] })._activatedEIPsCache;
    let set = sets.get(list);
    if (set === undefined) {
      set = new Set(list);
      sets.set(list, set);
    }
    return set.has(eip);
  };
  return common;
}

/** Decodes a raw signed transaction for a ledger, checking type, chain id and signature. */
export function decodeTx(raw: Uint8Array, common: Common): DecodedTx {
  if (raw.length === 0) throw new TxError({ code: TxErrorCode.MALFORMED, reason: 'empty' }, 'the transaction is empty');
  const first = raw[0] as number;
  if (first <= 0x7f && first !== 1 && first !== 2) {
    throw new TxError({ code: TxErrorCode.UNSUPPORTED_TYPE, txType: first }, `transaction type ${first} is not supported`, {
      hint: 'Send a legacy, EIP-2930 or EIP-1559 transaction',
    });
  }
  // Check the chain id before the library does, so the error says what is wrong.
  const expected = common.chainId();
  const got = chainIdOf(raw);
  if (got !== expected) {
    throw new TxError(
      { code: TxErrorCode.INVALID_CHAIN_ID, expected, got },
      got === null
        ? 'the transaction has no chain id (it is not EIP-155 protected)'
        : `invalid chain id: the transaction is signed for chain ${got}, this ledger is ${expected}`,
      { hint: `Sign the transaction with chain id ${expected}` },
    );
  }
  let tx: TypedTransaction;
  try {
    tx = createTxFromRLP(raw, { common }) as TypedTransaction;
  } catch (cause) {
    const reason = cause instanceof Error ? (cause.message.split('\n')[0] ?? cause.message) : String(cause);
    throw new TxError({ code: TxErrorCode.MALFORMED, reason }, `the transaction cannot be decoded: ${reason}`, {
      hint: 'Send the raw signed transaction bytes as produced by your wallet or library',
      cause,
    });
  }
  let sender: Uint8Array;
  try {
    sender = tx.getSenderAddress().bytes;
  } catch (cause) {
    throw new TxError({ code: TxErrorCode.INVALID_SIGNATURE }, 'the transaction signature is invalid', {
      hint: 'Sign the transaction again with the sender key',
      cause,
    });
  }
  return { tx, raw, hash: tx.hash(), sender, nonce: tx.nonce, gasLimit: tx.gasLimit };
}

/**
 * The chain id a raw transaction was signed for: the first field of a typed transaction, or
 * derived from v for a legacy one (EIP-155: v = chainId * 2 + 35 + yParity). A legacy
 * transaction without EIP-155 protection has none (null): it could be replayed on every ledger.
 */
function chainIdOf(raw: Uint8Array): bigint | null {
  const malformed = (reason: string) =>
    new TxError({ code: TxErrorCode.MALFORMED, reason }, `the transaction cannot be decoded: ${reason}`, {
      hint: 'Send the raw signed transaction bytes as produced by your wallet or library',
    });
  let fields: RLPItem[];
  try {
    const item = rlpDecode((raw[0] as number) <= 0x7f ? raw.subarray(1) : raw);
    if (!Array.isArray(item)) throw malformed('not an RLP list');
    fields = item;
  } catch (err) {
    if (err instanceof TxError) throw err;
    throw malformed('invalid RLP');
  }
  try {
    if ((raw[0] as number) <= 0x7f) return readBigUint(fields[0], 'chainId');
    if (fields.length !== 9) throw malformed(`a legacy transaction has 9 fields, not ${fields.length}`);
    const v = readBigUint(fields[6], 'v');
    if (v === 27n || v === 28n) return null;
    if (v < 35n) throw malformed(`invalid v ${v}`);
    return (v - 35n) / 2n;
  } catch (err) {
    if (err instanceof TxError) throw err;
    throw malformed(err instanceof Error ? err.message : String(err));
  }
}
