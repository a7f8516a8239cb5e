/**
 * Virtual time for the simulator. One `SimScheduler` owns the event queue of a run: a binary
 * heap ordered by (time, insertion sequence), so events at the same millisecond run in the order
 * they were scheduled. Between two events the scheduler drains the microtask queue (it yields
 * one macrotask turn, which Node runs only after every pending microtask), so the engine's async
 * code finishes reacting to one event before the next one happens. Nothing reads wall time.
 *
 * Each engine incarnation gets its own `NodeClock` over the scheduler. A crash disables it: its
 * timers never fire again, whatever the dropped engine object still holds.
 */
import type { Clock } from '../engine/types.js';

type Event = { time: number; seq: number; fn: () => void; cancelled: boolean };

/** Events a run may process before the scheduler declares it runaway (a programmer error). */
export const EVENTS_PER_RUN_MAX = 20_000_000;
/** Events pending at once; more means something schedules without bound. */
export const PENDING_EVENTS_MAX = 2_000_000;

/** A handle for a scheduled event. */
export type TimerHandle = { readonly event: Event };

/** Yields to the event loop once; every pending microtask (and process.nextTick) runs first. */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The event queue and virtual clock of one run. */
export class SimScheduler {
  private heap: Event[] = [];
  private seq = 0;
  private nowMs = 0;
  /** Events processed so far. */
  processed = 0;

  /** Virtual milliseconds since the start of the run. */
  now(): number {
    return this.nowMs;
  }

  /** Schedules `fn` at `now + delayMs` (a negative or fractional delay is rounded up to >= 0). */
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const time = this.nowMs + Math.max(0, Math.ceil(delayMs));
    const event: Event = { time, seq: this.seq++, fn, cancelled: false };
    this.push(event);
    if (this.heap.length > PENDING_EVENTS_MAX) {
      throw new Error(`simulator: more than ${PENDING_EVENTS_MAX} pending events; something schedules without bound`);
    }
    return { event };
  }

  /** Cancels a scheduled event (no effect once it ran). */
  cancel(handle: TimerHandle): void {
    handle.event.cancelled = true;
  }

  /** The time of the next pending event, or Infinity. */
  nextTime(): number {
    this.skipCancelled();
    return this.heap[0]?.time ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Runs events in order until virtual time `untilMs` (inclusive) or until `stop()` says so
   * (checked after every event), draining microtasks after each. Time ends at `untilMs`, or
   * where `stop` held.
   */
  async runUntil(untilMs: number, stop?: () => boolean): Promise<void> {
    await drainMicrotasks();
    for (;;) {
      if (stop?.()) return;
      this.skipCancelled();
      const next = this.heap[0];
      if (!next || next.time > untilMs) break;
      this.pop();
      this.nowMs = next.time;
      this.processed++;
      if (this.processed > EVENTS_PER_RUN_MAX) throw new Error(`simulator: more than ${EVENTS_PER_RUN_MAX} events in one run`);
      next.fn();
      await drainMicrotasks();
    }
    if (untilMs > this.nowMs && Number.isFinite(untilMs)) this.nowMs = untilMs;
  }

  private skipCancelled(): void {
    while (this.heap[0]?.cancelled) this.pop();
  }

  private less(a: Event, b: Event): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i] as Event, h[parent] as Event)) break;
      [h[i], h[parent]] = [h[parent] as Event, h[i] as Event];
      i = parent;
    }
  }

  private pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l] as Event, h[m] as Event)) m = l;
        if (r < h.length && this.less(h[r] as Event, h[m] as Event)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Event, h[i] as Event];
        i = m;
      }
    }
    return top;
  }
}

/**
 * One engine incarnation's view of time: the scheduler's clock plus a fixed skew (nodes' clocks
 * disagree a little, which BFT time must tolerate). `disable()` (on crash) kills every timer.
 */
export class NodeClock implements Clock {
  private alive = true;
  private readonly timers = new Set<TimerHandle>();

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly skewMs: number,
    /** Runs before every timer callback of this node (the Byzantine amnesia hook uses it). */
    private readonly beforeTimer?: () => void,
  ) {}

  /** Virtual milliseconds plus this node's skew. */
  now(): number {
    return this.scheduler.now() + this.skewMs;
  }

  /** Schedules `fn` after `ms` of virtual time, unless this clock is disabled by then. */
  setTimer(ms: number, fn: () => void): unknown {
    if (!this.alive) return null;
    const handle = this.scheduler.schedule(ms, () => {
      this.timers.delete(handle);
      if (!this.alive) return;
      this.beforeTimer?.();
      fn();
    });
    this.timers.add(handle);
    return handle;
  }

  /** Cancels a timer made by this clock. */
  cancel(handle: unknown): void {
    if (handle === null || handle === undefined) return;
    const h = handle as TimerHandle;
    if (!this.timers.has(h)) return;
    this.timers.delete(h);
    this.scheduler.cancel(h);
  }

  /** Timers pending on this clock. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Stops every timer for good: the incarnation that owns this clock has crashed. */
  disable(): void {
    this.alive = false;
    for (const h of this.timers) this.scheduler.cancel(h);
    this.timers.clear();
  }
}
