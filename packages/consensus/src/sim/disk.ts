/**
 * Simulated disks with crash semantics. Each node has one `SimDisk` that outlives its engine
 * incarnations; each incarnation gets fresh handles (`walStorage()`, `blockStore()`, `appStore()`).
 *
 * A write is visible to the process at once but durable only when a later `sync` (or `reset`,
 * `save`, `put`) completes, which takes a random few milliseconds of virtual time. So a crash can
 * land between a write and its fsync. On a crash, the writes that were not yet durable are lost,
 * except that (at random) a prefix of them survives, and the last surviving WAL append may be
 * torn: only a prefix of its bytes reaches the platter. Durable writes always survive. After the
 * crash, the dead incarnation's pending syncs never resolve: a crashed process has no future.
 */
import { concatBytes } from '@polis/core';
import type { BlockStore, CommittedBlock, WalStorage } from '../engine/types.js';
import type { SimScheduler } from './clock.js';
import type { Rng } from './rng.js';

/** Bytes a WAL may hold; the engine truncates it every height, so more is a leak. */
export const WAL_BYTES_MAX = 64 * 1024 * 1024;

/** What the last crash did to a node's disk, for traces and tests. */
export type CrashReport = {
  /** Non-durable writes that were lost entirely. */
  lostWrites: number;
  /** Non-durable writes that survived anyway. */
  survivedWrites: number;
  /** Whether the last surviving WAL append was torn. */
  torn: boolean;
};

type WalOp = { kind: 'append'; bytes: Uint8Array } | { kind: 'reset'; bytes: Uint8Array };
type Pending<T> = { seq: number; op: T };

/** One incarnation's access to the disk; dead after a crash. */
type Life = { alive: boolean };

/** A node's disk: its WAL, its block store and the simulated application's state. */
export class SimDisk {
  /** The durable WAL, as the chunks that were appended (concatenated only when read). */
  private wal: Uint8Array[] = [];
  private walPendingBytes = 0;
  /** Total bytes in `wal`. */
  private walDurableSize = 0;
  private walPending: Pending<WalOp>[] = [];
  private readonly blocks = new Map<number, CommittedBlock>();
  private blocksPending: Pending<CommittedBlock>[] = [];
  private app = new Map<string, Uint8Array>();
  private appPending: Pending<{ key: string; value: Uint8Array }>[] = [];
  private seq = 0;
  private life: Life = { alive: true };
  /** Counters of writes and syncs, for reports. */
  readonly stats = { walAppends: 0, walSyncs: 0, crashes: 0, tornTails: 0 };
  /** Called when the engine asks for a WAL sync (the runner may schedule a crash before it completes). */
  onWalSync?: () => void;
  /**
   * Called when a WAL sync has become durable, before the engine hears of it. A crash from here
   * is a crash after the fsync and before anything the engine would do next (such as sending).
   */
  onWalSynced?: () => void;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly rng: Rng,
    /** Upper bound of one fsync's virtual latency, in ms (0 makes syncs instant, still asynchronous). */
    private readonly fsyncMaxMs: number,
  ) {}

  private fsyncDelay(): number {
    return this.rng.int(0, this.fsyncMaxMs);
  }

  /** Resolves after an fsync delay, then runs `durable`; never resolves if the incarnation dies first. */
  private afterFsync(life: Life, durable: () => void): Promise<void> {
    return new Promise((resolve) => {
      this.scheduler.schedule(this.fsyncDelay(), () => {
        if (!life.alive) return;
        durable();
        // The durable hook may have crashed this incarnation: then nobody is left to resume.
        if (life.alive) resolve();
      });
    });
  }

  private static applyWal(chunks: Uint8Array[], op: WalOp): Uint8Array[] {
    if (op.kind === 'reset') return [op.bytes];
    chunks.push(op.bytes);
    return chunks;
  }

  private walView(): Uint8Array {
    let view = this.wal.slice();
    for (const { op } of this.walPending) view = SimDisk.applyWal(view, op);
    return concatBytes(...view);
  }

  private makeWalDurable(upTo: number): void {
    while (this.walPending.length > 0 && (this.walPending[0] as Pending<WalOp>).seq <= upTo) {
      const { op } = this.walPending.shift() as Pending<WalOp>;
      this.walPendingBytes -= op.bytes.length;
      this.wal = SimDisk.applyWal(this.wal, op);
      this.walDurableSize = op.kind === 'reset' ? op.bytes.length : this.walDurableSize + op.bytes.length;
    }
  }

  /** The WAL storage handle for the current incarnation. */
  walStorage(): WalStorage {
    const life = this.life;
    return {
      append: (bytes) => {
        if (!life.alive) return;
        this.stats.walAppends++;
        this.walPending.push({ seq: this.seq++, op: { kind: 'append', bytes: bytes.slice() } });
        this.walPendingBytes += bytes.length;
        if (this.walPendingBytes + this.walDurableBytes() > WAL_BYTES_MAX)
          throw new Error(`simulated WAL exceeds ${WAL_BYTES_MAX} bytes; the engine never truncates it`);
      },
      sync: () => {
        const upTo = this.seq - 1;
        this.stats.walSyncs++;
        if (life.alive) this.onWalSync?.();
        return this.afterFsync(life, () => {
          this.makeWalDurable(upTo);
          this.onWalSynced?.();
        });
      },
      read: async () => this.walView(),
      reset: (bytes) => {
        if (!life.alive) return new Promise<void>(() => {});
        const seq = this.seq++;
        this.walPending.push({ seq, op: { kind: 'reset', bytes: bytes.slice() } });
        this.walPendingBytes += bytes.length;
        return this.afterFsync(life, () => this.makeWalDurable(seq));
      },
    };
  }

  /** The block store handle for the current incarnation. */
  blockStore(): BlockStore {
    const life = this.life;
    return {
      save: (block) => {
        if (!life.alive) return new Promise<void>(() => {});
        const seq = this.seq++;
        this.blocksPending.push({ seq, op: block });
        return this.afterFsync(life, () => {
          while (this.blocksPending.length > 0 && (this.blocksPending[0] as Pending<CommittedBlock>).seq <= seq) {
            const { op } = this.blocksPending.shift() as Pending<CommittedBlock>;
            this.blocks.set(op.height, op);
          }
        });
      },
      get: async (height) => this.blockView().get(height),
      height: async () => this.blockHeight(),
    };
  }

  /** The application's key-value store for the current incarnation (the simulated app's durable state). */
  appStore(): AppStore {
    const life = this.life;
    return {
      get: (key) => this.appView().get(key),
      put: (key, value) => {
        if (!life.alive) return new Promise<void>(() => {});
        const seq = this.seq++;
        this.appPending.push({ seq, op: { key, value: value.slice() } });
        return this.afterFsync(life, () => {
          while (this.appPending.length > 0 && (this.appPending[0] as Pending<{ key: string }>).seq <= seq) {
            const { op } = this.appPending.shift() as Pending<{ key: string; value: Uint8Array }>;
            this.app.set(op.key, op.value);
          }
        });
      },
    };
  }

  private blockView(): Map<number, CommittedBlock> {
    if (this.blocksPending.length === 0) return this.blocks;
    const view = new Map(this.blocks);
    for (const { op } of this.blocksPending) view.set(op.height, op);
    return view;
  }

  private appView(): Map<string, Uint8Array> {
    if (this.appPending.length === 0) return this.app;
    const view = new Map(this.app);
    for (const { op } of this.appPending) view.set(op.key, op.value);
    return view;
  }

  /** The highest block height in the process's view (durable or not), 0 when empty. */
  blockHeight(): number {
    let h = 0;
    for (const k of this.blockView().keys()) h = Math.max(h, k);
    return h;
  }

  /** Every block in the process's view, by height (for the checkers). */
  allBlocks(): CommittedBlock[] {
    return [...this.blockView().values()].sort((a, b) => a.height - b.height);
  }

  /**
   * The power goes out. Non-durable writes are lost, except that a random prefix of each
   * store's pending writes survives, and the WAL's last surviving append may be torn. The current
   * incarnation's handles die.
   */
  crash(): CrashReport {
    this.stats.crashes++;
    this.life.alive = false;
    this.life = { alive: true };
    const report: CrashReport = { lostWrites: 0, survivedWrites: 0, torn: false };

    const keep = <T>(pending: Pending<T>[]): number => {
      const k = this.rng.chance(0.5) ? 0 : this.rng.int(0, pending.length);
      report.survivedWrites += k;
      report.lostWrites += pending.length - k;
      return k;
    };

    const walKeep = keep(this.walPending);
    const walSurvivors = this.walPending.slice(0, walKeep);
    const last = walSurvivors[walSurvivors.length - 1];
    if (last && last.op.kind === 'append' && last.op.bytes.length > 0 && this.rng.chance(0.5)) {
      // A torn write: only a prefix of the last append's bytes made it.
      last.op = { kind: 'append', bytes: last.op.bytes.slice(0, this.rng.int(0, last.op.bytes.length - 1)) };
      report.torn = true;
      this.stats.tornTails++;
    }
    for (const { op } of walSurvivors) this.wal = SimDisk.applyWal(this.wal, op);
    this.walPending = [];
    this.walPendingBytes = 0;
    this.walDurableSize = this.wal.reduce((n, c) => n + c.length, 0);

    for (const { op } of this.blocksPending.slice(0, keep(this.blocksPending))) this.blocks.set(op.height, op);
    this.blocksPending = [];

    for (const { op } of this.appPending.slice(0, keep(this.appPending))) this.app.set(op.key, op.value);
    this.appPending = [];
    return report;
  }

  private walDurableBytes(): number {
    return this.walDurableSize;
  }

  /** Bytes in the WAL as the process sees it. */
  walBytes(): Uint8Array {
    return this.walView();
  }
}

/** A tiny durable key-value store for the simulated application. */
export type AppStore = {
  get(key: string): Uint8Array | undefined;
  /** Writes `value`; durable when the promise resolves. */
  put(key: string, value: Uint8Array): Promise<void>;
};
