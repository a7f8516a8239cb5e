/** Consensus constants and default parameters. */

/** Timeouts of Algorithm 1; each grows linearly with the round (`base + round * delta`). */
export type TimeoutParams = {
  proposeMs: number;
  proposeDeltaMs: number;
  prevoteMs: number;
  prevoteDeltaMs: number;
  precommitMs: number;
  precommitDeltaMs: number;
};

/** CometBFT's defaults, which suit a LAN or a region; WAN deployments raise them. */
export const DEFAULT_TIMEOUTS: TimeoutParams = {
  proposeMs: 3000,
  proposeDeltaMs: 500,
  prevoteMs: 1000,
  prevoteDeltaMs: 500,
  precommitMs: 1000,
  precommitDeltaMs: 500,
};

/**
 * How many rounds above its own a replica keeps votes for. Votes further ahead are dropped:
 * without the bound a Byzantine validator could make us store a vote for every round number.
 * Honest replicas move through rounds at similar speeds, so a gap this large does not occur.
 */
export const ROUND_LOOKAHEAD_MAX = 64;

/** Distinct proposals kept per round (an equivocating proposer can sign many). */
export const PROPOSALS_PER_ROUND_MAX = 4;

/** Messages for the next height that an engine buffers until it gets there. */
export const FUTURE_MESSAGES_MAX = 1024;

/** Domain tags, so that a signature over one kind of message cannot pass as another. */
export const VOTE_DOMAIN = 'polis/vote/v1';
export const PROPOSAL_DOMAIN = 'polis/proposal/v1';
