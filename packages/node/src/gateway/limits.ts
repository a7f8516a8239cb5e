/**
 * Rate limits as token buckets: per app (its plan) and per key (its own limits, never above the
 * plan), for requests, transactions, and bytes in and out. A bucket holds one second's worth of
 * tokens and refills continuously. Bytes out are known only after the answer is built, so they
 * are charged afterwards and may push a bucket below zero: the next requests wait until it refills.
 */
import type { Limits } from './access.js';

/** A token bucket; time is passed in, so it is deterministic under test. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  rate: number;
  capacity: number;

  constructor(rate: number, now: number, capacity = rate) {
    this.rate = rate;
    this.capacity = capacity;
    this.#tokens = capacity;
    this.#last = now;
  }

  #refill(now: number): void {
    if (now > this.#last) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#last) / 1000) * this.rate);
      this.#last = now;
    }
  }

  /** Milliseconds until `n` tokens are available (0 when they are now). */
  waitMs(n: number, now: number): number {
    this.#refill(now);
    const need = Math.min(n, this.capacity) - this.#tokens;
    return need <= 0 ? 0 : Math.ceil((need / this.rate) * 1000);
  }

  /** Takes `n` tokens unconditionally (may go negative). */
  take(n: number, now: number): void {
    this.#refill(now);
    this.#tokens -= n;
  }

  get tokens(): number {
    return this.#tokens;
  }
}

/** What a request costs. */
export type Cost = { requests: number; txs: number; bytesIn: number };

/** The four buckets of one app or one key. */
type Buckets = { requests: TokenBucket; txs: TokenBucket; bytesIn: TokenBucket; bytesOut: TokenBucket };

/** Why a request is refused: which limit, and when to retry. */
export type Throttle = { limit: keyof Limits; scope: 'app' | 'key'; retryAfterMs: number; message: string };

/** Buckets tracked at most; the least recently used are dropped beyond it (they refill to full anyway). */
export const LIMITER_ENTRIES_MAX = 100_000;

function bucketsFor(l: Limits, now: number): Buckets {
  return {
    requests: new TokenBucket(l.requestsPerSec, now),
    txs: new TokenBucket(l.txPerSec, now),
    bytesIn: new TokenBucket(l.bytesInPerSec, now),
    bytesOut: new TokenBucket(l.bytesOutPerSec, now),
  };
}

function retune(b: Buckets, l: Limits): void {
  for (const [bucket, rate] of [
    [b.requests, l.requestsPerSec],
    [b.txs, l.txPerSec],
    [b.bytesIn, l.bytesInPerSec],
    [b.bytesOut, l.bytesOutPerSec],
  ] as const) {
    bucket.rate = rate;
    bucket.capacity = rate;
  }
}

const NAMES: Record<keyof Limits, string> = {
  requestsPerSec: 'requests per second',
  txPerSec: 'transactions per second',
  bytesInPerSec: 'request bytes per second',
  bytesOutPerSec: 'response bytes per second',
};

/** Per-app and per-key buckets. */
export class RateLimiter {
  readonly #entries = new Map<string, Buckets>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: { now?: () => number; maxEntries?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#max = options.maxEntries ?? LIMITER_ENTRIES_MAX;
  }

  get size(): number {
    return this.#entries.size;
  }

  #get(id: string, l: Limits, now: number): Buckets {
    let b = this.#entries.get(id);
    if (b) {
      // Most recently used goes last; the plan may have changed since.
      this.#entries.delete(id);
      retune(b, l);
    } else {
      b = bucketsFor(l, now);
      if (this.#entries.size >= this.#max) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
    }
    this.#entries.set(id, b);
    return b;
  }

  /**
   * Admits a request of `cost` for the app and the key, taking the tokens from both, or refuses it
   * and takes nothing. A cost larger than a whole bucket is admitted when the bucket is full, so a
   * single big request is never refused forever.
   */
  admit(appId: string, appLimits: Limits, keyId: string, keyLimits: Limits, cost: Cost): Throttle | undefined {
    const now = this.#now();
    const app = this.#get(`app:${appId}`, appLimits, now);
    const key = this.#get(`key:${keyId}`, keyLimits, now);
    const checks: Array<[Buckets, 'app' | 'key', Limits]> = [
      [app, 'app', appLimits],
      [key, 'key', keyLimits],
    ];
    for (const [b, scope, l] of checks) {
      for (const [name, bucket, n] of [
        ['requestsPerSec', b.requests, cost.requests],
        ['txPerSec', b.txs, cost.txs],
        ['bytesInPerSec', b.bytesIn, cost.bytesIn],
        ['bytesOutPerSec', b.bytesOut, 1],
      ] as const) {
        if (n === 0) continue;
        const wait = bucket.waitMs(n, now);
        if (wait > 0) {
          const who = scope === 'app' ? `app "${appId}"` : `API key ${keyId}`;
          return {
            limit: name,
            scope,
            retryAfterMs: wait,
            message: `rate limit exceeded: ${who} is over its ${l[name]} ${NAMES[name]}; retry after ${Math.ceil(wait / 1000)} s or move the app to a larger plan`,
          };
        }
      }
    }
    for (const b of [app, key]) {
      b.requests.take(cost.requests, now);
      b.txs.take(cost.txs, now);
      b.bytesIn.take(cost.bytesIn, now);
    }
    return undefined;
  }

  /** Charges the bytes of an answer after it was sent. */
  chargeBytesOut(appId: string, appLimits: Limits, keyId: string, keyLimits: Limits, bytes: number): void {
    const now = this.#now();
    this.#get(`app:${appId}`, appLimits, now).bytesOut.take(bytes, now);
    this.#get(`key:${keyId}`, keyLimits, now).bytesOut.take(bytes, now);
  }

  /** Charges transactions found inside a request after admission (a batch's sends). */
  chargeTxs(appId: string, appLimits: Limits, keyId: string, keyLimits: Limits, n: number): Throttle | undefined {
    return this.admit(appId, appLimits, keyId, keyLimits, { requests: 0, txs: n, bytesIn: 0 });
  }
}
