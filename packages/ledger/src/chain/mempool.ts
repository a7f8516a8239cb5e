/**
 * The mempool: signed transactions waiting for a block, ordered by nonce per sender.
 *
 * A transaction is decoded and its signature checked once, on entry; blocks reuse the decoded
 * form. Entry also checks the chain id, the gas limit and the nonce against the sender's
 * committed nonce. Transactions with a gap before them ("future" nonces) are held, within
 * `maxNonceAhead`, until the gap fills. Every dimension is bounded: the number of transactions,
 * their bytes, and the transactions per sender.
 */
import type { Common } from '@ethereumjs/common';
import { bytesToHex, keccak256 } from '@polis/core';
import { type DecodedTx, decodeTx, TxError, TxErrorCode } from './transactions.js';

/** Limits and hooks of a mempool. */
export type MempoolOptions = {
  common: Common;
  /** The committed nonce of an address (its next nonce in the state). */
  nonceOf: (address: Uint8Array) => bigint;
  /**
   * The committed balance of an address. When given, a transaction whose up-front cost (its value,
   * since fees are zero) exceeds it is refused on entry, instead of being dropped later by the
   * block builder while its sender waits for a receipt that never comes.
   */
  balanceOf?: (address: Uint8Array) => bigint;
  /**
   * Whether `sender` may send `tx` on this ledger (the app's access policy): `true` admits it,
   * `false` refuses it as not on the allowlist, and a string refuses it for the reason it gives
   * (which says what to do, for example the role or attestation the app's policy requires).
   */
  isPermitted?: (sender: Uint8Array, tx: DecodedTx) => boolean | string;
  blockGasLimit: bigint;
  maxTxs?: number;
  maxBytes?: number;
  maxPerSender?: number;
  /** How far past the next nonce a held transaction may be. */
  maxNonceAhead?: number;
  /** How many hashes of pruned transactions `knows` remembers. */
  maxPrunedRemembered?: number;
};

/**
 * Default bounds: sized for a ledger doing thousands of transactions per second. The pruned
 * hashes remembered cover several full blocks.
 */
export const MEMPOOL_DEFAULTS = {
  maxTxs: 20_000,
  maxBytes: 64 * 1024 * 1024,
  maxPerSender: 1_000,
  maxNonceAhead: 1_000,
  maxPrunedRemembered: 65_536,
};

type SenderQueue = { address: Uint8Array; byNonce: Map<bigint, DecodedTx> };

/** Pending transactions of one ledger. */
export class Mempool {
  readonly #opts: Required<Omit<MempoolOptions, 'isPermitted' | 'balanceOf'>> & Pick<MempoolOptions, 'isPermitted' | 'balanceOf'>;
  readonly #byHash = new Map<string, DecodedTx>();
  readonly #bySender = new Map<string, SenderQueue>();
  /** Hashes `prune` removed, oldest first, at most `maxPrunedRemembered`. */
  readonly #pruned = new Set<string>();
  #bytes = 0;

  constructor(options: MempoolOptions) {
    this.#opts = { ...MEMPOOL_DEFAULTS, ...options };
  }

  /** Transactions in the pool. */
  get size(): number {
    return this.#byHash.size;
  }

  /** How many pruned hashes `knows` remembers now (at most `maxPrunedRemembered`). */
  get prunedRemembered(): number {
    return this.#pruned.size;
  }

  /** Bytes of the raw transactions in the pool. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The pooled transaction with `hash`. */
  get(hash: Uint8Array): DecodedTx | undefined {
    return this.#byHash.get(bytesToHex(hash));
  }

  /**
   * Whether the transaction with `hash` needs no work here: it is in the pool, or it left the pool
   * lately because its nonce was used (`prune`). A node asks this before `add` for a transaction a
   * peer sent, since peers send pooled transactions again now and then, and decoding one costs a
   * signature recovery (about 100 µs) where this costs a hash.
   */
  knows(hash: Uint8Array): boolean {
    const key = bytesToHex(hash);
    return this.#byHash.has(key) || this.#pruned.has(key);
  }

  /** The pooled transaction whose raw bytes are `raw` (a transaction's hash is keccak-256 of them). */
  getByRaw(raw: Uint8Array): DecodedTx | undefined {
    return this.#byHash.get(bytesToHex(keccak256(raw)));
  }

  /** Checks a raw transaction and adds it; throws a `TxError` saying why it cannot enter. */
  add(raw: Uint8Array): DecodedTx {
    const o = this.#opts;
    // A transaction's hash is keccak-256 of its bytes: a pooled one is refused before it is decoded.
    const rawHash = bytesToHex(keccak256(raw));
    if (this.#byHash.has(rawHash)) throw alreadyPooled(rawHash);
    const decoded = decodeTx(raw, o.common);
    const hashHex = bytesToHex(decoded.hash);
    if (this.#byHash.has(hashHex)) throw alreadyPooled(hashHex);
    const permitted = o.isPermitted ? o.isPermitted(decoded.sender, decoded) : true;
    if (permitted !== true) {
      const sender = bytesToHex(decoded.sender);
      throw new TxError(
        { code: TxErrorCode.NOT_PERMITTED, sender },
        typeof permitted === 'string'
          ? `account ${sender} is not permitted to transact on this ledger: ${permitted}`
          : `account ${sender} is not permitted to transact on this ledger`,
        typeof permitted === 'string' ? {} : { hint: "Ask the app's owner to add the account to its allowlist" },
      );
    }
    // EIP-7623 (Prague): the least gas limit is the intrinsic gas or the calldata floor, whichever
    // is higher; below it the EVM refuses the transaction, so it could never leave the pool.
    const intrinsic = decoded.tx.getMinimumGasLimit();
    if (decoded.gasLimit < intrinsic || decoded.gasLimit > o.blockGasLimit) {
      throw new TxError(
        { code: TxErrorCode.GAS_LIMIT, gasLimit: decoded.gasLimit, min: intrinsic, max: o.blockGasLimit },
        decoded.gasLimit < intrinsic
          ? `intrinsic gas too low: the gas limit ${decoded.gasLimit} is below the ${intrinsic} this transaction needs`
          : `exceeds block gas limit: the gas limit ${decoded.gasLimit} is above the block gas limit ${o.blockGasLimit}`,
        { hint: 'Set the gas limit from eth_estimateGas' },
      );
    }
    if (o.balanceOf) {
      const balance = o.balanceOf(decoded.sender);
      const cost = decoded.tx.getUpfrontCost();
      if (cost > balance) {
        const value = decoded.tx.value;
        throw new TxError(
          { code: TxErrorCode.INSUFFICIENT_FUNDS, balance, cost },
          `insufficient funds for transfer: the account holds ${balance} wei and the transaction needs ${cost}`,
          {
            hint:
              value <= balance
                ? `The value is covered but the gas price is not: Polis needs no fees, so send with a gas price of 0 (cast and forge: --gas-price 0 --priority-gas-price 0)`
                : 'Send a value the account holds; with a gas price of 0 a transaction needs no balance for fees',
          },
        );
      }
    }
    const next = o.nonceOf(decoded.sender);
    if (decoded.nonce < next) {
      throw new TxError(
        { code: TxErrorCode.NONCE_TOO_LOW, next, got: decoded.nonce },
        `nonce too low: the account's next nonce is ${next}, the transaction has ${decoded.nonce}`,
        { hint: 'Use eth_getTransactionCount with "pending" to get the next nonce' },
      );
    }
    if (decoded.nonce > next + BigInt(o.maxNonceAhead)) {
      throw new TxError(
        { code: TxErrorCode.NONCE_TOO_HIGH, next, got: decoded.nonce, maxAhead: o.maxNonceAhead },
        `nonce too high: the account's next nonce is ${next}, and the pool holds at most ${o.maxNonceAhead} ahead`,
        { hint: 'Send the missing lower-nonce transactions first' },
      );
    }
    const senderKey = bytesToHex(decoded.sender);
    const queue = this.#bySender.get(senderKey);
    if (queue?.byNonce.has(decoded.nonce)) {
      throw new TxError(
        { code: TxErrorCode.ALREADY_KNOWN, hash: hashHex },
        `already known: a transaction from this account with nonce ${decoded.nonce} is already pending`,
        { hint: 'Wait for it to be included, or use the next nonce' },
      );
    }
    if ((queue?.byNonce.size ?? 0) >= o.maxPerSender) throw this.#full(`${o.maxPerSender} transactions for this account`);
    if (this.#byHash.size >= o.maxTxs) throw this.#full(`${o.maxTxs} transactions`);
    if (this.#bytes + raw.length > o.maxBytes) throw this.#full(`${o.maxBytes} bytes`);

    const q = queue ?? { address: decoded.sender, byNonce: new Map() };
    if (!queue) this.#bySender.set(senderKey, q);
    q.byNonce.set(decoded.nonce, decoded);
    this.#byHash.set(hashHex, decoded);
    this.#bytes += raw.length;
    return decoded;
  }

  #full(what: string): TxError {
    return new TxError({ code: TxErrorCode.MEMPOOL_FULL, what }, `mempool full: it holds at most ${what}`, {
      hint: 'Retry after the next block, or send fewer transactions at once',
    });
  }

  /** The next nonce of `address` counting its contiguous pooled transactions (`eth_getTransactionCount` "pending"). */
  pendingNonce(address: Uint8Array): bigint {
    let nonce = this.#opts.nonceOf(address);
    const q = this.#bySender.get(bytesToHex(address));
    if (!q) return nonce;
    while (q.byNonce.has(nonce)) nonce++;
    return nonce;
  }

  /** Whether any transaction is ready to go in a block. */
  hasReady(): boolean {
    for (const q of this.#bySender.values()) if (q.byNonce.has(this.#opts.nonceOf(q.address))) return true;
    return false;
  }

  /**
   * Picks transactions for a block: for each sender, in order of arrival, its transactions from
   * its committed nonce on without gaps, until a bound is reached.
   */
  select(bounds: { maxTxs: number; maxBytes: number; maxGas: bigint }): DecodedTx[] {
    const out: DecodedTx[] = [];
    let bytes = 0;
    let gas = 0n;
    for (const q of this.#bySender.values()) {
      for (let nonce = this.#opts.nonceOf(q.address); ; nonce++) {
        const tx = q.byNonce.get(nonce);
        if (!tx) break;
        if (out.length >= bounds.maxTxs) return out;
        if (bytes + tx.raw.length > bounds.maxBytes || gas + tx.gasLimit > bounds.maxGas) break;
        out.push(tx);
        bytes += tx.raw.length;
        gas += tx.gasLimit;
      }
    }
    return out;
  }

  /**
   * Removes `txs` from the pool: the block builder could not run them (the EVM refused them, for
   * example a value the sender cannot pay), so they can never be included.
   */
  drop(txs: Iterable<DecodedTx>): void {
    for (const tx of txs) {
      const key = bytesToHex(tx.sender);
      const q = this.#bySender.get(key);
      const hashHex = bytesToHex(tx.hash);
      const pooled = this.#byHash.get(hashHex);
      if (!q || !pooled || q.byNonce.get(tx.nonce) !== pooled) continue;
      q.byNonce.delete(tx.nonce);
      this.#byHash.delete(hashHex);
      this.#bytes -= tx.raw.length;
      if (q.byNonce.size === 0) this.#bySender.delete(key);
    }
  }

  /** Drops transactions whose nonces the committed state has passed (included, or replaced by ones that were). */
  prune(senders: Iterable<Uint8Array>): void {
    for (const address of senders) {
      const key = bytesToHex(address);
      const q = this.#bySender.get(key);
      if (!q) continue;
      const next = this.#opts.nonceOf(address);
      for (const [nonce, tx] of q.byNonce) {
        if (nonce >= next) continue;
        q.byNonce.delete(nonce);
        const hashHex = bytesToHex(tx.hash);
        this.#byHash.delete(hashHex);
        this.#bytes -= tx.raw.length;
        this.#pruned.add(hashHex);
        if (this.#pruned.size > this.#opts.maxPrunedRemembered) this.#pruned.delete(this.#pruned.values().next().value as string);
      }
      if (q.byNonce.size === 0) this.#bySender.delete(key);
    }
  }
}

function alreadyPooled(hashHex: string): TxError {
  return new TxError({ code: TxErrorCode.ALREADY_KNOWN, hash: hashHex }, 'already known: this transaction is in the mempool', {
    hint: 'Wait for its receipt; do not send it again',
  });
}
