/**
 * The state commitment: a Merkle root over the flat state, computed once per block from the
 * block's write set (never per transaction), and the proofs a client checks against it.
 *
 * A commitment keeps its own tables in the ledger database. `stage` computes the new root and the
 * nodes to store without writing anything; the store then writes those nodes in the same LMDB
 * transaction as the flat state, so the two can never disagree on disk.
 */
import type { LedgerWriteTxn } from '../db.js';
import { LedgerError, LedgerErrorCode } from '../errors.js';
import { NONE_ROOT } from './params.js';
import type { CommitmentKind, StateProof, StateReader, StateWriteSet } from './types.js';

/** The result of `StateCommitment.stage`: the new root, and the writes that make it durable. */
export interface StagedCommitment {
  /** The state root after the block. */
  readonly root: Uint8Array;
  /** How many nodes `write` stores, for metrics and the benchmark. */
  readonly nodeCount: number;
  /** How many bytes of nodes `write` stores. */
  readonly nodeBytes: number;
  /** Writes the staged nodes inside the block's transaction. */
  write(txn: LedgerWriteTxn): void;
}

/** A Merkle commitment over the flat state. */
export interface StateCommitment {
  /** Which commitment this is; stored in the database so it is never opened with another. */
  readonly kind: CommitmentKind;
  /** The root of the empty state. */
  readonly emptyRoot: Uint8Array;
  /**
   * Computes the root of the state `writes` produces from the committed state at `root`, which
   * `state` reads. Nothing is written; `StagedCommitment.write` does that.
   */
  stage(root: Uint8Array, writes: StateWriteSet, state: StateReader): Promise<StagedCommitment>;
  /** Proves an account and some of its storage slots against the committed `root`. */
  prove(root: Uint8Array, address: Uint8Array, slots: Uint8Array[], state: StateReader): Promise<StateProof>;
}

/**
 * The commitment that commits to nothing: its root is always zero. It exists to measure what the
 * flat store and the EVM cost on their own (docs/adr/0003-state-commitment.md), not to run a ledger.
 */
export class NoCommitment implements StateCommitment {
  readonly kind = 'none' as const;
  readonly emptyRoot = NONE_ROOT;

  /** Returns the zero root and no nodes. */
  async stage(): Promise<StagedCommitment> {
    return { root: NONE_ROOT, nodeCount: 0, nodeBytes: 0, write: () => {} };
  }

  /** Always throws: there is nothing to prove against. */
  async prove(): Promise<StateProof> {
    throw new LedgerError(
      { code: LedgerErrorCode.NOT_PROVABLE, commitment: 'none' },
      'the "none" state commitment has no proofs',
      {
        hint: 'Open the state store with the "mpt" or "smt" commitment to serve proofs',
      },
    );
  }
}
