/**
 * The simulated application: just enough of a ledger to give consensus real work and to let the
 * checkers judge validity.
 *
 * A value is an RLP-encoded block `[height, round, proposer, time, parentId, txs, invalid, nonce]`
 * and id(v) is its sha256. `processProposal` accepts a block only when it decodes, names the
 * height being decided, extends the block this node committed last, carries well-formed
 * transactions within the bounds, and is not marked invalid (Byzantine proposers mark some).
 * Every value an honest node's application judged valid, or built itself, is recorded in the
 * run's `ValidityRegistry`: the validity checker requires every committed value to be in it.
 *
 * Transactions arrive through a simulated process with busy and idle periods (see runner.ts),
 * so some heights fill blocks and some are heartbeats. The state is a hash chain over the
 * committed blocks, made durable on `commit` through the node's simulated disk.
 */
import { bytesToHex, equalsBytes, readBytes, readList, readUint, rlpDecode, rlpEncode, sha256 } from '@polis/core';
import type { Application, CommittedBlock } from '../engine/types.js';
import type { SimScheduler } from './clock.js';
import type { AppStore } from './disk.js';
import type { Rng } from './rng.js';

/** Transactions in one block (the proposer's batching bound). */
export const BLOCK_TXS_MAX = 64;
/** Bytes of transactions in one block. */
export const BLOCK_TX_BYTES_MAX = 16 * 1024;
/** Transactions a node's mempool holds; arrivals beyond are dropped (and counted). */
export const MEMPOOL_TXS_MAX = 10_000;
/** Bytes in one transaction. */
export const TX_BYTES_MAX = 512;

/** A decoded simulated block. */
export type SimBlock = {
  height: number;
  round: number;
  proposer: number;
  time: number;
  /** id of the block at height - 1 (32 zero bytes at height 1). */
  parent: Uint8Array;
  txs: Uint8Array[];
  /** Marked by a Byzantine proposer: honest applications reject it. */
  invalid: boolean;
  /** Lets an equivocating proposer make different blocks from the same contents. */
  nonce: number;
};

/** The parent id of height 1. */
export const GENESIS_PARENT = new Uint8Array(32);

/** Encodes a simulated block. */
export function encodeSimBlock(b: SimBlock): Uint8Array {
  return rlpEncode([b.height, b.round, b.proposer, b.time, b.parent, b.txs, b.invalid ? 1 : 0, b.nonce]);
}

/** Decodes a simulated block; throws a CodecError when malformed. */
export function decodeSimBlock(bytes: Uint8Array): SimBlock {
  const [h, r, p, t, parent, txs, invalid, nonce] = readList(rlpDecode(bytes), 'block', 8);
  return {
    height: readUint(h, 'block.height'),
    round: readUint(r, 'block.round'),
    proposer: readUint(p, 'block.proposer'),
    time: readUint(t, 'block.time'),
    parent: readBytes(parent, 'block.parent', 32),
    txs: readList(txs, 'block.txs').map((tx, i) => readBytes(tx, `block.txs[${i}]`)),
    invalid: readUint(invalid, 'block.invalid') === 1,
    nonce: readUint(nonce, 'block.nonce'),
  };
}

/** A simulated transaction: who submitted it, where and when (for commit latency). */
export type SimTx = { id: number; origin: number; submittedMs: number; bytes: Uint8Array };

/** Encodes a transaction with `padding` bytes of payload. */
export function encodeSimTx(id: number, origin: number, submittedMs: number, padding: Uint8Array): Uint8Array {
  return rlpEncode([id, origin, submittedMs, padding]);
}

/** Decodes a transaction; throws a CodecError when malformed. */
export function decodeSimTx(bytes: Uint8Array): { id: number; origin: number; submittedMs: number } {
  const [id, origin, at, pad] = readList(rlpDecode(bytes), 'tx', 4);
  readBytes(pad, 'tx.padding');
  return { id: readUint(id, 'tx.id'), origin: readUint(origin, 'tx.origin'), submittedMs: readUint(at, 'tx.submittedMs') };
}

/** Which values honest applications judged valid (processProposal) or built (prepareProposal), by value id. */
export class ValidityRegistry {
  private readonly judged = new Map<string, Set<number>>();

  /** Records that `node` judged the value with `valueId` valid. */
  record(valueId: Uint8Array, node: number): void {
    const key = bytesToHex(valueId);
    let set = this.judged.get(key);
    if (!set) {
      set = new Set();
      this.judged.set(key, set);
    }
    set.add(node);
  }

  /** The nodes that judged `valueId` valid. */
  judges(valueId: Uint8Array): ReadonlySet<number> {
    return this.judged.get(bytesToHex(valueId)) ?? new Set();
  }
}

/** One node's mempool: transactions in arrival order, bounded. Volatile: a crash empties it. */
export class Mempool {
  private readonly txs = new Map<number, Uint8Array>();
  /** Ids this node has seen committed, so late arrivals of them are ignored. */
  private readonly committed = new Set<number>();
  dropped = 0;

  /** Adds a transaction; returns whether the pool went from empty to non-empty. */
  add(id: number, bytes: Uint8Array): boolean {
    if (this.committed.has(id) || this.txs.has(id)) return false;
    if (this.txs.size >= MEMPOOL_TXS_MAX) {
      this.dropped++;
      return false;
    }
    this.txs.set(id, bytes);
    return this.txs.size === 1;
  }

  /** Up to the block bounds of waiting transactions, oldest first. */
  take(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let bytes = 0;
    for (const tx of this.txs.values()) {
      if (out.length >= BLOCK_TXS_MAX || bytes + tx.length > BLOCK_TX_BYTES_MAX) break;
      out.push(tx);
      bytes += tx.length;
    }
    return out;
  }

  /** Removes committed transactions. */
  remove(ids: readonly number[]): void {
    for (const id of ids) {
      this.txs.delete(id);
      this.committed.add(id);
    }
  }

  get size(): number {
    return this.txs.size;
  }

  /** Empties the pool (a crash): the committed-id memory goes too, as it is volatile. */
  clear(): void {
    this.txs.clear();
    this.committed.clear();
  }
}

/** Anomalies the simulated application saw in how the engine drove it; each is an engine bug. */
export type AppAnomaly = { node: number; message: string };

/** Everything a `SimApp` is built with. */
export type SimAppOptions = {
  node: number;
  validatorCount: number;
  honest: boolean;
  store: AppStore;
  mempool: Mempool;
  registry: ValidityRegistry;
  scheduler: SimScheduler;
  rng: Rng;
  /** Upper bound of the virtual latency of prepareProposal and processProposal. */
  latencyMaxMs: number;
  /** A Byzantine proposer marks a block invalid with this probability. */
  invalidBlockRate: number;
  /** Whether this incarnation is still running (a crash kills its pending calls). */
  alive: () => boolean;
  onAnomaly: (a: AppAnomaly) => void;
  /** Called once per transaction that this node's application commits (for commit latency). */
  onTxCommitted?: (tx: { id: number; origin: number; submittedMs: number }, node: number) => void;
};

const STATE_KEY = 'state';

/** The simulated application of one node incarnation. */
export class SimApp implements Application {
  private executedHeight: number;
  private lastId: Uint8Array;
  private appHash: Uint8Array;

  constructor(private readonly o: SimAppOptions) {
    const state = o.store.get(STATE_KEY);
    if (state) {
      const [h, id, hash] = readList(rlpDecode(state), 'app-state', 3);
      this.executedHeight = readUint(h, 'app-state.height');
      this.lastId = readBytes(id, 'app-state.lastId', 32);
      this.appHash = readBytes(hash, 'app-state.appHash', 32);
    } else {
      this.executedHeight = 0;
      this.lastId = GENESIS_PARENT;
      this.appHash = new Uint8Array(32);
    }
  }

  /** Answers after a random latency; the answer is computed at call time, from the state the call saw. */
  private later<T>(fn: () => T): Promise<T> {
    const answer = fn();
    return new Promise((resolve) => {
      this.o.scheduler.schedule(this.o.rng.int(0, this.o.latencyMaxMs), () => {
        if (this.o.alive()) resolve(answer);
      });
    });
  }

  valueIdOf(value: Uint8Array): Uint8Array {
    return sha256(value);
  }

  async info(): Promise<{ height: number }> {
    return { height: this.executedHeight };
  }

  hasWork(): boolean {
    return this.o.mempool.size > 0;
  }

  prepareProposal(req: { height: number; round: number; time: number; proposer: number }): Promise<Uint8Array> {
    return this.later(() => {
      if (req.height !== this.executedHeight + 1) {
        this.o.onAnomaly({
          node: this.o.node,
          message: `prepareProposal for ${req.height} while the app is at ${this.executedHeight}`,
        });
      }
      const invalid = !this.o.honest && this.o.rng.chance(this.o.invalidBlockRate);
      const block: SimBlock = {
        height: req.height,
        round: req.round,
        proposer: req.proposer,
        time: Math.max(0, Math.floor(req.time)),
        parent: this.lastId,
        txs: this.o.mempool.take(),
        invalid,
        nonce: 0,
      };
      const value = encodeSimBlock(block);
      // The proposer's own block is valid to it by construction; record it as judged.
      if (this.o.honest && this.judge(req.height, value)) this.o.registry.record(sha256(value), this.o.node);
      return value;
    });
  }

  processProposal(req: { height: number; round: number; value: Uint8Array }): Promise<boolean> {
    return this.later(() => {
      // A Byzantine node's application accepts anything, so its engine votes for invalid blocks.
      if (!this.o.honest) return true;
      const valid = this.judge(req.height, req.value);
      if (valid) this.o.registry.record(sha256(req.value), this.o.node);
      return valid;
    });
  }

  /** valid(v): the honest rules. */
  private judge(height: number, value: Uint8Array): boolean {
    if (height !== this.executedHeight + 1) {
      this.o.onAnomaly({
        node: this.o.node,
        message: `processProposal for ${height} while the app is at ${this.executedHeight}`,
      });
      return false;
    }
    let block: SimBlock;
    try {
      block = decodeSimBlock(value);
      for (const tx of block.txs) {
        if (tx.length > TX_BYTES_MAX) return false;
        decodeSimTx(tx);
      }
    } catch {
      return false;
    }
    if (block.invalid || block.height !== height || block.proposer >= this.o.validatorCount) return false;
    if (block.txs.length > BLOCK_TXS_MAX || block.txs.reduce((n, t) => n + t.length, 0) > BLOCK_TX_BYTES_MAX) return false;
    return equalsBytes(block.parent, this.lastId);
  }

  async finalizeBlock(b: CommittedBlock): Promise<void> {
    if (b.height !== this.executedHeight + 1) {
      this.o.onAnomaly({ node: this.o.node, message: `finalizeBlock(${b.height}) after height ${this.executedHeight}` });
      return;
    }
    const id = sha256(b.value);
    this.executedHeight = b.height;
    this.lastId = id;
    this.appHash = sha256(rlpEncode([this.appHash, id]));
    let block: SimBlock | null = null;
    try {
      block = decodeSimBlock(b.value);
    } catch {
      // Only a Byzantine majority could commit a malformed block; the validity checker reports it.
    }
    if (!block) return;
    const ids: number[] = [];
    for (const tx of block.txs) {
      try {
        const t = decodeSimTx(tx);
        ids.push(t.id);
        if (t.origin === this.o.node) this.o.onTxCommitted?.(t, this.o.node);
      } catch {
        // Malformed transactions do not pass an honest processProposal; nothing to execute.
      }
    }
    this.o.mempool.remove(ids);
  }

  commit(height: number): Promise<void> {
    if (height !== this.executedHeight) {
      this.o.onAnomaly({ node: this.o.node, message: `commit(${height}) but the app executed ${this.executedHeight}` });
    }
    return this.o.store.put(STATE_KEY, rlpEncode([this.executedHeight, this.lastId, this.appHash]));
  }

  /** The hash chain over committed blocks (replicas that agree have equal hashes at equal heights). */
  get stateHash(): Uint8Array {
    return this.appHash;
  }

  get height(): number {
    return this.executedHeight;
  }
}
