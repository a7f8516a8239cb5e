/**
 * The seams between the consensus engine and the world. The engine wraps the pure core with a
 * WAL, timers, the network and the application; every one of those is injected through these
 * interfaces, so the deterministic simulator and a real city node run the same engine code.
 */
import type { CommitCertificate, Proposal, ValueId } from '../types.js';
import type { ValidatorSet } from '../validators.js';

/** Time and timers. The simulator's clock is virtual; a node's is the system clock. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch; only differences matter, except for BFT time in blocks. */
  now(): number;
  /** Calls `fn` after `ms`; returns a handle for `cancel`. */
  setTimer(ms: number, fn: () => void): unknown;
  cancel(handle: unknown): void;
}

/** Peers by validator index (observers have no index; they only listen and sync). */
export interface Network {
  /** Sends bytes to every connected peer. */
  broadcast(bytes: Uint8Array): void;
  /** Sends bytes to one peer. */
  send(peer: string, bytes: Uint8Array): void;
}

/**
 * Append-only durable storage for the WAL. `append` may buffer; only `sync` makes the appended
 * records durable. After a crash, `read` returns a prefix of what was appended: everything synced,
 * plus possibly part of what was not (a torn tail), which the WAL decoder detects and drops.
 */
export interface WalStorage {
  append(bytes: Uint8Array): void;
  sync(): Promise<void>;
  /** Everything stored, as one byte string. */
  read(): Promise<Uint8Array>;
  /** Atomically replaces the whole log with `bytes` (durable when it resolves). */
  reset(bytes: Uint8Array): Promise<void>;
}

/** A decided block as the engine stores it: the value, the proposal it came in, its certificate. */
export type CommittedBlock = {
  height: number;
  value: Uint8Array;
  proposal: Proposal;
  certificate: CommitCertificate;
};

/** Durable storage of decided blocks. `save` resolves only once the block is on disk (fsync). */
export interface BlockStore {
  save(block: CommittedBlock): Promise<void>;
  get(height: number): Promise<CommittedBlock | undefined>;
  /** The highest saved height, or 0 when empty. */
  height(): Promise<number>;
}

/**
 * The application seam, ABCI-like. Each caller gets its own slice: the engine calls these; the
 * mempool (outside consensus) feeds `hasWork`. Values are opaque to consensus.
 *
 * Pipelining: the application may execute a block after it is decided and report its state root
 * in the next block's header (one block late). Consensus does not care which it chooses; see
 * docs/adr/0002-consensus.md.
 */
export interface Application {
  /** id(v): the block hash. Pure and deterministic. */
  valueIdOf(value: Uint8Array): ValueId;
  /** Builds a block for (height, round) from waiting transactions, within the given bounds. */
  prepareProposal(req: { height: number; round: number; time: number; proposer: number }): Promise<Uint8Array>;
  /** Whether a proposed block is valid at this height: valid(v) of the paper. */
  processProposal(req: { height: number; round: number; value: Uint8Array }): Promise<boolean>;
  /** Executes a decided block. Called once per height, in order, before `commit`. */
  finalizeBlock(block: CommittedBlock): Promise<void>;
  /** Makes the executed block's state durable. */
  commit(height: number): Promise<void>;
  /** The last height the application has committed (0 before the first block); used to replay blocks on restart. */
  info(): Promise<{ height: number }>;
  /** Whether transactions are waiting; an idle ledger proposes only when this is true or the heartbeat is due. */
  hasWork(): boolean;
  /**
   * The validator set of `height`. The engine asks once `height - 1` is committed (and on open),
   * so a block may change the set of the next height; every replica commits the same blocks and
   * so switches at the same height. Without it the set is `EngineOptions.validators` forever.
   */
  validatorSet?(height: number): ValidatorSet;
}
