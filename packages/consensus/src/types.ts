/**
 * Types of the Tendermint consensus core (Buchman, Kwon, Milosevic, "The latest gossip on BFT
 * consensus", arXiv 1807.04938, Algorithm 1). Names follow the paper: h_p is `height`,
 * round_p is `round`, step_p is `step`, and so on.
 */

import type { ValidatorSet } from './validators.js';

/** A value's identity, id(v) in the paper: 32 bytes chosen by the application (the block hash). */
export type ValueId = Uint8Array;

/** The steps of a round. `waiting` precedes StartRound(0) while an idle ledger has nothing to do. */
export type Step = 'waiting' | 'propose' | 'prevote' | 'precommit';

/** The two vote types. */
export type VoteType = 'prevote' | 'precommit';

/** A signed vote. `valueId` null is a vote for nil. */
export type Vote = {
  type: VoteType;
  height: number;
  round: number;
  valueId: ValueId | null;
  /** Index of the voter in the height's validator set. */
  validator: number;
  signature: Uint8Array;
};

/** A signed proposal: ⟨PROPOSAL, h, r, v, vr⟩. `polRound` is vr (-1 for none). */
export type Proposal = {
  height: number;
  round: number;
  polRound: number;
  /** The proposed value (an encoded block); opaque to consensus. */
  value: Uint8Array;
  /** id(value), as computed by the application. The signature covers it, and so the value. */
  valueId: ValueId;
  /** Index of the proposer in the height's validator set. */
  validator: number;
  signature: Uint8Array;
};

/** A consensus message on the wire. */
export type ConsensusMessage = { kind: 'proposal'; proposal: Proposal } | { kind: 'vote'; vote: Vote };

/**
 * A commit certificate: 2f+1 precommits (by voting power) for `valueId` at (height, round).
 * Anyone holding the validator set can verify it.
 */
export type CommitCertificate = {
  height: number;
  round: number;
  valueId: ValueId;
  /** Signatures by validator index, sorted by index, no duplicates. */
  signatures: Array<{ validator: number; signature: Uint8Array }>;
};

/** Two conflicting votes signed by one validator for the same (height, round, type). */
export type DuplicateVoteEvidence = { kind: 'duplicate-vote'; a: Vote; b: Vote };
/** Two different proposals signed by one proposer for the same (height, round). */
export type DuplicateProposalEvidence = { kind: 'duplicate-proposal'; a: Proposal; b: Proposal };
/** Proof of equivocation. */
export type Evidence = DuplicateVoteEvidence | DuplicateProposalEvidence;

/** The timeouts of Algorithm 1. */
export type TimeoutKind = 'propose' | 'prevote' | 'precommit';

/** What the core is fed, one at a time. */
export type Input =
  /** Begin `height` (after the previous one was committed). The core waits for `wake`. */
  | { type: 'start-height'; height: number; validators?: ValidatorSet }
  /** The ledger has work (transactions, or the heartbeat is due): leave `waiting` (StartRound(0)). */
  | { type: 'wake' }
  /** A message from the network (not yet verified). */
  | { type: 'message'; message: ConsensusMessage }
  /** A timer scheduled by a `schedule-timeout` output fired. */
  | { type: 'timeout'; kind: TimeoutKind; height: number; round: number }
  /** The application's answer to `get-value` (prepareProposal): the value to propose. */
  | { type: 'proposal-value'; height: number; round: number; value: Uint8Array; valueId: ValueId }
  /** The application's answer to `validate` (processProposal): valid(v). */
  | { type: 'validity'; height: number; valueId: ValueId; valid: boolean };

/** What the core asks its host to do. */
export type Output =
  | { type: 'broadcast'; message: ConsensusMessage }
  | { type: 'schedule-timeout'; kind: TimeoutKind; height: number; round: number; durationMs: number }
  /** Ask the application for a value to propose (prepareProposal); answer with `proposal-value`. */
  | { type: 'get-value'; height: number; round: number }
  /** Ask the application whether a value is valid (processProposal); answer with `validity`. */
  | { type: 'validate'; height: number; round: number; value: Uint8Array; valueId: ValueId }
  /** The decision for `height`: commit `value` with its certificate and the proposal it came in. */
  | { type: 'decide'; height: number; value: Uint8Array; proposal: Proposal; certificate: CommitCertificate }
  | { type: 'evidence'; evidence: Evidence }
  /** The round changed; for logs and metrics. */
  | { type: 'new-round'; height: number; round: number };
