/**
 * The simulated network. Every node gets a `Network` endpoint per engine incarnation; a crash
 * disables the endpoint, so a dropped engine can send nothing more. Faults are switchable and
 * drawn from the run's seed:
 * - drop: each delivery is lost with probability `dropRate`;
 * - delay and reorder: each delivery takes its own random latency, so later sends overtake earlier ones;
 * - duplicate: a delivery is repeated, later, with probability `duplicateRate`;
 * - partition: nodes are split into groups that cannot reach each other until `heal()`;
 * - WAN: latency comes from a region matrix (see wan.ts) instead of a LAN distribution.
 * Every link's in-flight queue is bounded; a full link drops, as a real socket buffer would.
 */
import type { Network } from '../engine/types.js';
import type { SimScheduler } from './clock.js';
import type { Rng } from './rng.js';

/** Messages in flight on one directed link before it drops. */
export const LINK_IN_FLIGHT_MAX = 4096;

/** How the network misbehaves. */
export type NetworkFaults = {
  dropRate: number;
  duplicateRate: number;
  /** Random latency on every delivery; off means a fixed 1 ms, which keeps per-link order. */
  delay: boolean;
  /** Mean of the exponential jitter added to the base latency when `delay` is on. */
  jitterMeanMs: number;
  /** Base one-way latency from node `from` to node `to`, in ms. */
  baseLatencyMs: (from: string, to: string) => number;
};

/** Network counters, for reports. */
export type NetworkStats = {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  partitioned: number;
  overflowed: number;
};

type Receiver = (from: string, bytes: Uint8Array) => void;

/** A node's sending side, valid for one engine incarnation. */
class Endpoint implements Network {
  alive = true;
  constructor(
    private readonly net: SimNetwork,
    private readonly id: string,
    /** A Byzantine filter may rewrite what this node sends, per recipient. */
    private readonly outgoing?: OutgoingFilter,
  ) {}

  disable(): void {
    this.alive = false;
  }

  broadcast(bytes: Uint8Array): void {
    if (!this.alive) return;
    this.net.observeSend(this.id, null, bytes);
    for (const peer of this.net.peers) {
      if (peer !== this.id) this.route(peer, bytes);
    }
  }

  send(peer: string, bytes: Uint8Array): void {
    if (!this.alive) return;
    this.net.observeSend(this.id, peer, bytes);
    this.route(peer, bytes);
  }

  private route(peer: string, bytes: Uint8Array): void {
    if (!this.outgoing) {
      this.net.transmit(this.id, peer, bytes);
      return;
    }
    for (const b of this.outgoing(peer, bytes)) {
      if (b !== bytes) this.net.observeSend(this.id, peer, b);
      this.net.transmit(this.id, peer, b);
    }
  }
}

/** Rewrites one outgoing message for one recipient into zero or more messages (Byzantine nodes). */
export type OutgoingFilter = (peer: string, bytes: Uint8Array) => Uint8Array[];

/** Called once for every message a node hands to the network (before faults), for checkers and traces. */
export type SendObserver = (from: string, to: string | null, bytes: Uint8Array) => void;

/** The network of one run. */
export class SimNetwork {
  readonly peers: readonly string[];
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, partitioned: 0, overflowed: 0 };
  private readonly receivers = new Map<string, Receiver>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly inFlight = new Map<string, number>();
  /** Partitions in force, by id; they compose: a link works only if every one of them allows it. */
  private readonly cuts = new Map<number, Map<string, number>>();
  private cutSeq = 0;

  constructor(
    peers: readonly string[],
    private readonly scheduler: SimScheduler,
    private readonly rng: Rng,
    public faults: NetworkFaults,
    private readonly observer?: SendObserver,
    /** Called for every delivery that reaches a live node, for the trace. */
    private readonly onDeliver?: (from: string, to: string, bytes: Uint8Array) => void,
  ) {
    this.peers = [...peers];
  }

  /** A fresh endpoint for node `id`'s new incarnation; the previous one stops working. */
  endpoint(id: string, outgoing?: OutgoingFilter): Network {
    this.endpoints.get(id)?.disable();
    const e = new Endpoint(this, id, outgoing);
    this.endpoints.set(id, e);
    return e;
  }

  /** Connects node `id`'s receive function (its engine is up). */
  attach(id: string, receive: Receiver): void {
    this.receivers.set(id, receive);
  }

  /** Node `id` is down: its endpoint stops sending and messages to it are lost. */
  detach(id: string): void {
    this.receivers.delete(id);
    this.endpoints.get(id)?.disable();
    this.endpoints.delete(id);
  }

  /**
   * Splits the nodes into groups; only nodes in the same group reach each other, until
   * `endPartition` with the returned id (or `heal`). Partitions in force at once compose.
   */
  partition(groups: readonly (readonly string[])[]): number {
    const group = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const id of g) group.set(id, i);
    });
    const id = ++this.cutSeq;
    this.cuts.set(id, group);
    return id;
  }

  /** Ends one partition. */
  endPartition(id: number): void {
    this.cuts.delete(id);
  }

  /** Ends every partition. */
  heal(): void {
    this.cuts.clear();
  }

  /** Whether a partition is in force. */
  get partitioned(): boolean {
    return this.cuts.size > 0;
  }

  /** Whether some partition in force separates `from` and `to`. */
  private cut(from: string, to: string): boolean {
    for (const group of this.cuts.values()) if (group.get(from) !== group.get(to)) return true;
    return false;
  }

  /** @internal Records a send for the observer. */
  observeSend(from: string, to: string | null, bytes: Uint8Array): void {
    this.observer?.(from, to, bytes);
  }

  /** @internal Puts one message on the link from -> to, applying the faults. */
  transmit(from: string, to: string, bytes: Uint8Array): void {
    this.stats.sent++;
    if (this.cut(from, to)) {
      this.stats.partitioned++;
      return;
    }
    if (this.rng.chance(this.faults.dropRate)) {
      this.stats.dropped++;
      return;
    }
    this.enqueue(from, to, bytes);
    if (this.rng.chance(this.faults.duplicateRate)) {
      this.stats.duplicated++;
      this.enqueue(from, to, bytes);
    }
  }

  private latency(from: string, to: string): number {
    const base = this.faults.baseLatencyMs(from, to);
    if (!this.faults.delay) return Math.max(1, base);
    return Math.max(1, base + this.rng.exponential(this.faults.jitterMeanMs));
  }

  private enqueue(from: string, to: string, bytes: Uint8Array): void {
    const link = `${from}>${to}`;
    const n = this.inFlight.get(link) ?? 0;
    if (n >= LINK_IN_FLIGHT_MAX) {
      this.stats.overflowed++;
      return;
    }
    this.inFlight.set(link, n + 1);
    this.scheduler.schedule(this.latency(from, to), () => {
      this.inFlight.set(link, (this.inFlight.get(link) ?? 1) - 1);
      // A partition that started while the message was in flight cuts it too.
      if (this.cut(from, to)) {
        this.stats.partitioned++;
        return;
      }
      const receive = this.receivers.get(to);
      if (!receive) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      this.onDeliver?.(from, to, bytes);
      receive(from, bytes);
    });
  }
}
