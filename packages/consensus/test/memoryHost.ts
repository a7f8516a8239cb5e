/**
 * Plain in-memory hosts for engine tests: a manual clock, storage with explicit crash semantics,
 * a network that delivers in FIFO order, and a trivial application. The simulator has richer,
 * seeded versions; these keep unit tests small and readable.
 */
import { rlpEncode, sha256 } from '@polis/core';
import type { Application, BlockStore, Clock, CommittedBlock, Network, WalStorage } from '../src/index.js';

export class ManualClock implements Clock {
  time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  setTimer(ms: number, fn: () => void): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  cancel(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Fires the earliest timer; returns false if none. */
  fireNext(): boolean {
    let best: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (!best || e[1].at < best[1].at) best = e;
    if (!best) return false;
    this.timers.delete(best[0]);
    this.time = Math.max(this.time, best[1].at);
    best[1].fn();
    return true;
  }
}

/** A WAL whose unsynced tail is lost on `crash()`. */
export class MemoryWal implements WalStorage {
  durable: Uint8Array = new Uint8Array(0);
  pending: Uint8Array[] = [];
  syncs = 0;
  append(bytes: Uint8Array): void {
    this.pending.push(bytes);
  }
  async sync(): Promise<void> {
    this.durable = concat([this.durable, ...this.pending]);
    this.pending = [];
    this.syncs++;
  }
  async read(): Promise<Uint8Array> {
    return concat([this.durable, ...this.pending]);
  }
  async reset(bytes: Uint8Array): Promise<void> {
    this.durable = bytes.slice();
    this.pending = [];
  }
  crash(): void {
    this.pending = [];
  }
}

export class MemoryBlocks implements BlockStore {
  readonly blocks = new Map<number, CommittedBlock>();
  async save(block: CommittedBlock): Promise<void> {
    this.blocks.set(block.height, block);
  }
  async get(height: number): Promise<CommittedBlock | undefined> {
    return this.blocks.get(height);
  }
  async height(): Promise<number> {
    return this.blocks.size;
  }
}

export class MemoryApp implements Application {
  committed = 0;
  work = true;
  readonly executed: string[] = [];
  constructor(readonly name: string) {}
  valueIdOf(value: Uint8Array): Uint8Array {
    return sha256(value);
  }
  async prepareProposal(req: { height: number; round: number }): Promise<Uint8Array> {
    return rlpEncode([req.height, req.round, new TextEncoder().encode(this.name)]);
  }
  async processProposal(): Promise<boolean> {
    return true;
  }
  async finalizeBlock(block: CommittedBlock): Promise<void> {
    this.executed.push(Buffer.from(block.value).toString('hex'));
  }
  async commit(height: number): Promise<void> {
    this.committed = height;
  }
  async info(): Promise<{ height: number }> {
    return { height: this.committed };
  }
  hasWork(): boolean {
    return this.work;
  }
}

export class MemoryNetwork {
  readonly inbox: Array<{ to: string; from: string; bytes: Uint8Array }> = [];
  readonly sent: Array<{ from: string; bytes: Uint8Array }> = [];
  readonly down = new Set<string>();
  constructor(readonly peers: string[]) {}
  forPeer(self: string): Network {
    return {
      broadcast: (bytes) => {
        if (this.down.has(self)) return;
        this.sent.push({ from: self, bytes });
        for (const p of this.peers) if (p !== self) this.inbox.push({ to: p, from: self, bytes });
      },
      send: (peer, bytes) => {
        if (!this.down.has(self)) this.inbox.push({ to: peer, from: self, bytes });
      },
    };
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
