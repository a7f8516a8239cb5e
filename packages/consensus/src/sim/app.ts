/**
 * The simulated application: just enough of a ledger to give consensus real work and to let the
 * checkers judge validity.
 *
 * A value is an RLP-encoded block `[height, round, proposer, time, parentId, txs, invalid, nonce]`
 * (plus `update` in reconfigure runs) and id(v) is its sha256. `processProposal` accepts a block
 * only when it decodes, names the height being decided, extends the block this node committed
 * last, carries well-formed transactions within the bounds, and is not marked invalid (Byzantine
 * proposers mark some). Every value an honest node's application judged valid, or built itself,
 * is recorded in the run's `ValidityRegistry`: the validity checker requires every committed value
 * to be in it.
 *
 * Reconfigure runs change the validator set: the run draws a schedule of set updates from its
 * seed, which every application knows. A block's `update` lists the pool nodes of the next set,
 * or nothing; honest applications accept exactly the schedule's next update once it is due, and
 * a committed update takes effect at the next height. The application keeps the sets it has
 * applied with its committed state, so `validatorSet(height)` answers the same after a restart.
 *
 * Transactions arrive through a simulated process with busy and idle periods (see runner.ts),
 * so some heights fill blocks and some are heartbeats. The state is a hash chain over the
 * committed blocks, made durable on `commit` through the node's simulated disk.
 */
import {
  bytesToHex,
  CodecError,
  CodecErrorCode,
  equalsBytes,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  sha256,
} from '@polis/core';
import type { Application, CommittedBlock } from '../engine/types.js';
import { proposerIndex, type ValidatorSet } from '../validators.js';
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
  /**
   * Reconfigure runs only: the pool nodes of the validator set from the next height on, or empty
   * for no change. Absent (and not encoded) otherwise, so default runs keep their block bytes.
   */
  update?: readonly number[];
};

/** The parent id of height 1. */
export const GENESIS_PARENT = new Uint8Array(32);

/** Encodes a simulated block. */
export function encodeSimBlock(b: SimBlock): Uint8Array {
  const fields = [b.height, b.round, b.proposer, b.time, b.parent, b.txs, b.invalid ? 1 : 0, b.nonce];
  return rlpEncode(b.update === undefined ? fields : [...fields, [...b.update]]);
}

/** Decodes a simulated block; throws a CodecError when malformed. */
export function decodeSimBlock(bytes: Uint8Array): SimBlock {
  const fields = readList(rlpDecode(bytes), 'block');
  if (fields.length !== 8 && fields.length !== 9) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_SHAPE, field: 'block', expected: 'a list of 8 or 9 items' },
      `"block" should be a list of 8 or 9 items, got ${fields.length}`,
    );
  }
  const [h, r, p, t, parent, txs, invalid, nonce, update] = fields;
  const block: SimBlock = {
    height: readUint(h, 'block.height'),
    round: readUint(r, 'block.round'),
    proposer: readUint(p, 'block.proposer'),
    time: readUint(t, 'block.time'),
    parent: readBytes(parent, 'block.parent', 32),
    txs: readList(txs, 'block.txs').map((tx, i) => readBytes(tx, `block.txs[${i}]`)),
    invalid: readUint(invalid, 'block.invalid') === 1,
    nonce: readUint(nonce, 'block.nonce'),
  };
  if (update !== undefined) block.update = readList(update, 'block.update').map((x, i) => readUint(x, `block.update[${i}]`));
  return block;
}

/** A change of the validator set in a reconfigure run: the first block at `height` or later carries it. */
export type ValidatorUpdate = {
  /** The height from which the update is due (it takes effect at the height after its block). */
  height: number;
  kind: 'swap' | 'add' | 'remove';
  /** The pool nodes of the new set, ascending; the set's order fixes validator indices. */
  members: readonly number[];
};

/** Whether two member lists are the same set in the same order. */
export function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether a set of pool nodes keeps its Byzantine members below a third of it (every power is 1). */
export function withinByzantineBound(members: readonly number[], byzantine: ReadonlySet<number>): boolean {
  return 3 * members.filter((m) => byzantine.has(m)).length < members.length;
}

/** Everything `drawValidatorUpdates` needs. */
export type DrawValidatorUpdatesOptions = {
  /** The initial set is pool nodes 0 .. validators - 1. */
  validators: number;
  /** Pool size: validators plus spares. */
  pool: number;
  byzantine: ReadonlySet<number>;
  /** Updates are due at heights 2 .. heightMax. */
  heightMax: number;
};

/** The fewest set updates a reconfigure run schedules. */
export const VALIDATOR_UPDATES_MIN = 2;
/** The most set updates a reconfigure run schedules. */
export const VALIDATOR_UPDATES_MAX = 4;

/**
 * Draws a reconfigure run's schedule: 2 to 4 updates at seeded heights. The first swaps a
 * validator for a node outside the set; the others swap, add or remove one. Every set is
 * non-empty and keeps its Byzantine members below a third of it.
 */
export function drawValidatorUpdates(rng: Rng, o: DrawValidatorUpdatesOptions): ValidatorUpdate[] {
  const count = rng.int(VALIDATOR_UPDATES_MIN, VALIDATOR_UPDATES_MAX);
  const heights = Array.from({ length: count }, () => rng.int(2, Math.max(2, o.heightMax))).sort((a, b) => a - b);
  const updates: ValidatorUpdate[] = [];
  let current: number[] = [...Array(o.validators).keys()];
  for (const [i, height] of heights.entries()) {
    const outside = [...Array(o.pool).keys()].filter((x) => !current.includes(x));
    const candidates: Record<ValidatorUpdate['kind'], number[][]> = {
      swap: current.flatMap((m) => outside.map((s) => [...current.filter((x) => x !== m), s].sort((a, b) => a - b))),
      add: outside.map((s) => [...current, s].sort((a, b) => a - b)),
      remove: current.length > 1 ? current.map((m) => current.filter((x) => x !== m)) : [],
    };
    const kinds = (i === 0 ? (['swap'] as const) : (['swap', 'add', 'remove'] as const)).filter((k) =>
      candidates[k].some((c) => withinByzantineBound(c, o.byzantine)),
    );
    if (kinds.length === 0) break;
    const kind = rng.pick(kinds);
    const members = rng.pick(candidates[kind].filter((c) => withinByzantineBound(c, o.byzantine)));
    updates.push({ height, kind, members });
    current = members;
  }
  return updates;
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

/** What an application of a reconfigure run knows about validator sets. */
export type SimReconfigOptions = {
  /** Nodes in the run's pool; an update names only these. */
  pool: number;
  /** The set of height 1 (pool nodes). */
  initial: readonly number[];
  /** The run's schedule, known to every application. */
  schedule: readonly ValidatorUpdate[];
  /** The validator set of a member list (shared, so that equal lists give one object). */
  setOf: (members: readonly number[]) => ValidatorSet;
  /** What the application tells the engine; tests replace the true set here to show the checkers fail. */
  report?: (height: number, set: ValidatorSet) => ValidatorSet;
};

/** Everything a `SimApp` is built with. */
export type SimAppOptions = {
  node: number;
  /** The size of the (fixed) validator set; reconfigure runs use the set of each height instead. */
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
  /** Set in reconfigure runs: the application then changes validator sets and answers `validatorSet`. */
  reconfig?: SimReconfigOptions;
};

const STATE_KEY = 'state';

/** A set the application applied: `members` from height `from` on. */
type SetChange = { from: number; members: readonly number[] };

/** The simulated application of one node incarnation. */
export class SimApp implements Application {
  private executedHeight: number;
  private lastId: Uint8Array;
  private appHash: Uint8Array;
  /** Reconfigure runs: every set applied so far, oldest first (the first is the initial set, from height 1). */
  private changes: SetChange[] = [];
  /** Present only in reconfigure runs, so default runs keep the engine's fixed set. */
  readonly validatorSet?: (height: number) => ValidatorSet;

  constructor(private readonly o: SimAppOptions) {
    const state = o.store.get(STATE_KEY);
    const reconfig = o.reconfig;
    if (state) {
      const fields = readList(rlpDecode(state), 'app-state', reconfig ? 4 : 3);
      const [h, id, hash, changes] = fields;
      this.executedHeight = readUint(h, 'app-state.height');
      this.lastId = readBytes(id, 'app-state.lastId', 32);
      this.appHash = readBytes(hash, 'app-state.appHash', 32);
      if (changes !== undefined) {
        this.changes = readList(changes, 'app-state.changes').map((c, i) => {
          const [from, members] = readList(c, `app-state.changes[${i}]`, 2);
          return {
            from: readUint(from, `app-state.changes[${i}].from`),
            members: readList(members, `app-state.changes[${i}].members`).map((m, j) =>
              readUint(m, `app-state.changes[${i}].members[${j}]`),
            ),
          };
        });
      }
    } else {
      this.executedHeight = 0;
      this.lastId = GENESIS_PARENT;
      this.appHash = new Uint8Array(32);
    }
    if (reconfig) {
      if (this.changes.length === 0) this.changes = [{ from: 1, members: reconfig.initial }];
      this.validatorSet = (height) => {
        let members = this.membersAt(height);
        if (!members) {
          this.o.onAnomaly({
            node: this.o.node,
            message: `validatorSet(${height}) while the app is at ${this.executedHeight}: that set is not known yet`,
          });
          members = this.currentMembers;
        }
        const set = reconfig.setOf(members);
        return reconfig.report ? reconfig.report(height, set) : set;
      };
    }
  }

  /** The pool nodes of the set of `height`, or null when the blocks before it are not committed yet. */
  membersAt(height: number): readonly number[] | null {
    if (height < 1 || height > this.executedHeight + 1) return null;
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i] as SetChange;
      if (c.from <= height) return c.members;
    }
    return null;
  }

  /** The set of the next height (pool nodes); empty outside reconfigure runs. */
  get currentMembers(): readonly number[] {
    return this.changes[this.changes.length - 1]?.members ?? [];
  }

  /** This node's validator index at `height`, or -1 when it is not a validator there (or the set is not known yet). */
  indexAt(height: number): number {
    return this.membersAt(height)?.indexOf(this.o.node) ?? -1;
  }

  /** The update a block at `height` must carry: the schedule's next one once due, else none. */
  private dueUpdate(height: number): readonly number[] {
    const next = this.o.reconfig?.schedule[this.changes.length - 1];
    return next && height >= next.height ? next.members : [];
  }

  /** Whether `members` could be a validator set of this run at all: non-empty, distinct pool nodes. */
  private wellFormed(members: readonly number[]): boolean {
    const pool = this.o.reconfig?.pool ?? 0;
    return members.length > 0 && new Set(members).size === members.length && members.every((m) => m < pool);
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
      if (this.o.reconfig) {
        block.update = this.dueUpdate(req.height);
        // Half of a Byzantine proposer's bad blocks look fine but carry an update off the schedule:
        // the whole pool (packing the set), or this node alone when the whole pool is what is due.
        if (invalid && this.o.rng.chance(0.5)) {
          const pool = [...Array(this.o.reconfig.pool).keys()];
          block.update = sameMembers(block.update, pool) ? [this.o.node] : pool;
          block.invalid = false;
        }
      }
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
    // The proposer is an index into this height's set; in reconfigure runs it must be the one
    // that set's rotation picks for the block's round, which an engine on a stale set gets wrong.
    const reconfig = this.o.reconfig;
    const setSize = reconfig ? this.currentMembers.length : this.o.validatorCount;
    if (block.invalid || block.height !== height || block.proposer >= setSize) return false;
    if (reconfig && block.proposer !== proposerIndex(reconfig.setOf(this.currentMembers), height, block.round)) return false;
    if (block.txs.length > BLOCK_TXS_MAX || block.txs.reduce((n, t) => n + t.length, 0) > BLOCK_TX_BYTES_MAX) return false;
    // Exactly the schedule's next update once it is due, nothing before; default runs carry no update field.
    if (this.o.reconfig ? !block.update || !sameMembers(block.update, this.dueUpdate(height)) : block.update !== undefined) {
      return false;
    }
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
    if (this.o.reconfig && block.update && block.update.length > 0) {
      // A decided block is applied whatever this node thought of it; only a malformed set is refused.
      if (this.wellFormed(block.update)) {
        this.changes.push({ from: b.height + 1, members: [...block.update] });
      } else {
        this.o.onAnomaly({ node: this.o.node, message: `block ${b.height} commits a malformed set [${block.update.join(',')}]` });
      }
    }
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
    // The sets go with the state, durable together: after a restart `validatorSet` answers as before.
    const state = [this.executedHeight, this.lastId, this.appHash];
    const changes = this.changes.map((c) => [c.from, [...c.members]]);
    return this.o.store.put(STATE_KEY, rlpEncode(this.o.reconfig ? [...state, changes] : state));
  }

  /** The hash chain over committed blocks (replicas that agree have equal hashes at equal heights). */
  get stateHash(): Uint8Array {
    return this.appHash;
  }

  get height(): number {
    return this.executedHeight;
  }
}
