/**
 * A ledger's live events for the gateway: committed blocks with their receipts and transaction
 * hashes, and transactions entering the mempool. WebSocket subscriptions, submit-and-wait and
 * webhooks listen here. Listeners run synchronously and must not throw; a listener that does is
 * removed and reported, so one bad subscriber never stops the others.
 */
import type { Block, Receipt } from '@polis/ledger';

/** A committed block as the feed reports it. */
export type CommittedEvent = { height: number; block: Block; receipts: Receipt[]; txHashes: Uint8Array[] };

type BlockFn = (e: CommittedEvent) => void;
type PendingFn = (hash: Uint8Array) => void;

/** Listeners one feed holds at most: every WebSocket subscription and waiting request is one. */
export const FEED_LISTENERS_MAX = 50_000;

export class LedgerFeed {
  readonly #blocks = new Set<BlockFn>();
  readonly #pending = new Set<PendingFn>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void) {
    this.#onError = onError;
  }

  get listeners(): number {
    return this.#blocks.size + this.#pending.size;
  }

  #add<T>(set: Set<T>, fn: T): () => void {
    if (this.listeners >= FEED_LISTENERS_MAX) {
      throw new Error(`this ledger has ${FEED_LISTENERS_MAX} live subscriptions, the most it serves; close some`);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** Subscribes to committed blocks; returns the unsubscribe function. Throws when full. */
  onBlock(fn: BlockFn): () => void {
    return this.#add(this.#blocks, fn);
  }

  /** Subscribes to transactions entering the mempool. Throws when full. */
  onPending(fn: PendingFn): () => void {
    return this.#add(this.#pending, fn);
  }

  emitBlock(e: CommittedEvent): void {
    for (const fn of this.#blocks) {
      try {
        fn(e);
      } catch (err) {
        this.#blocks.delete(fn);
        this.#onError(err);
      }
    }
  }

  emitPending(hash: Uint8Array): void {
    for (const fn of this.#pending) {
      try {
        fn(hash);
      } catch (err) {
        this.#pending.delete(fn);
        this.#onError(err);
      }
    }
  }
}
