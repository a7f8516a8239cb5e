/** Bounded structures of the p2p layer: a token bucket and a drop-oldest frame queue. */

/**
 * A token bucket: `capacity` tokens, refilled at `ratePerSecond`. `take(n)` succeeds only if n
 * tokens are there; a failed take consumes nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;
  private readonly ratePerMs: number;
  private readonly now: () => number;

  constructor(options: { capacity: number; ratePerSecond: number; now?: () => number }) {
    this.capacity = options.capacity;
    this.ratePerMs = options.ratePerSecond / 1000;
    this.now = options.now ?? (() => performance.now());
    this.tokens = options.capacity;
    this.last = this.now();
  }

  /** Refills by elapsed time, then takes `n` tokens if there are enough. */
  take(n: number): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.ratePerMs);
    this.last = t;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Whether `n` tokens are available now (after refilling), without taking them. */
  has(n: number): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.ratePerMs);
    this.last = t;
    return this.tokens >= n;
  }
}

/**
 * A FIFO of encoded frames bounded by count and bytes. When full, `push` drops the *oldest*
 * frames: consensus messages go stale (a vote of a past round is superseded, and the engine
 * re-gossips its current messages every gossipMs), so under pressure the newest are the ones
 * worth delivering. Order among the frames that stay is preserved.
 */
export class FrameQueue {
  private items: Uint8Array[] = [];
  private head = 0;
  private bytesQueued = 0;
  private readonly framesMax: number;
  private readonly bytesMax: number;

  constructor(options: { framesMax: number; bytesMax: number }) {
    this.framesMax = options.framesMax;
    this.bytesMax = options.bytesMax;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.bytesQueued;
  }

  /** Appends a frame; returns how many older frames were dropped to make room. */
  push(frame: Uint8Array): number {
    let dropped = 0;
    while (this.length > 0 && (this.length + 1 > this.framesMax || this.bytesQueued + frame.length > this.bytesMax)) {
      this.shift();
      dropped++;
    }
    this.items.push(frame);
    this.bytesQueued += frame.length;
    return dropped;
  }

  /** Removes and returns the oldest frame. */
  shift(): Uint8Array | undefined {
    if (this.head >= this.items.length) return undefined;
    const frame = this.items[this.head] as Uint8Array;
    this.items[this.head] = EMPTY;
    this.head++;
    this.bytesQueued -= frame.length;
    // Compact once the consumed prefix dominates, so memory stays proportional to the queue.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return frame;
  }

  /** Removes frames from the front into one chunk of at most `bytesMax` bytes (or one larger frame). */
  takeBatch(bytesMax: number): { bytes: Uint8Array; frames: number } | undefined {
    const first = this.shift();
    if (first === undefined) return undefined;
    const batch = [first];
    let total = first.length;
    for (;;) {
      const next = this.head < this.items.length ? this.items[this.head] : undefined;
      if (next === undefined || total + next.length > bytesMax) break;
      batch.push(this.shift() as Uint8Array);
      total += next.length;
    }
    if (batch.length === 1) return { bytes: first, frames: 1 };
    const out = new Uint8Array(total);
    let offset = 0;
    for (const f of batch) {
      out.set(f, offset);
      offset += f.length;
    }
    return { bytes: out, frames: batch.length };
  }

  /** Drops everything; returns how many frames were dropped. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    this.bytesQueued = 0;
    return n;
  }
}

const EMPTY = new Uint8Array(0);
