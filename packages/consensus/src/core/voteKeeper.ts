/**
 * The vote keeper: tallies the votes of one height by round, type and value, and detects
 * equivocation. It stores each validator's first vote per (round, type); a second, different
 * one is evidence and is not counted. It is pure and knows nothing of steps or rules.
 */
import { bytesToHex } from '@polis/core';
import type { Vote, VoteType } from '../types.js';

/** Tally key of a value id: its hex, or "nil". */
export type TallyKey = string;
export const NIL: TallyKey = 'nil';

/** The key under which a value id is tallied. */
export function tallyKey(valueId: Uint8Array | null): TallyKey {
  return valueId === null ? NIL : bytesToHex(valueId);
}

/** The votes of one type in one round. */
export type VoteTally = {
  /** Each validator's counted vote. */
  readonly byValidator: Map<number, Vote>;
  /** Power per tally key. */
  readonly power: Map<TallyKey, number>;
  /**
   * Votes per tally key, by validator: each validator's first vote, plus the conflicting votes of
   * equivocators that `addConflictingVote` counted. The paper counts messages per value, so an
   * equivocator's vote counts for every value it signed; without that, an equivocator that shows
   * different peers different votes can leave honest replicas with views of a polka (or a commit)
   * that never converge.
   */
  readonly byValue: Map<TallyKey, Map<number, Vote>>;
  /** Power of all counted votes, any value. */
  total: number;
};

/** Everything a round has seen: its two tallies, and who sent anything at all (for L55). */
export type RoundVotes = {
  readonly prevotes: VoteTally;
  readonly precommits: VoteTally;
  /** Validators from which any message of this round arrived, and their power. */
  readonly senders: Set<number>;
  senderPower: number;
};

/** The result of adding a vote. */
export type AddVoteResult = 'added' | 'duplicate' | { conflict: Vote };

/** The votes of one height. */
export type VoteKeeper = { readonly rounds: Map<number, RoundVotes> };

/** An empty keeper. */
export function createVoteKeeper(): VoteKeeper {
  return { rounds: new Map() };
}

const emptyTally = (): VoteTally => ({ byValidator: new Map(), power: new Map(), byValue: new Map(), total: 0 });

/** The votes of `round`, created empty on first use. */
export function roundVotes(keeper: VoteKeeper, round: number): RoundVotes {
  let rv = keeper.rounds.get(round);
  if (!rv) {
    rv = { prevotes: emptyTally(), precommits: emptyTally(), senders: new Set(), senderPower: 0 };
    keeper.rounds.set(round, rv);
  }
  return rv;
}

/** Records that `validator` (with `power`) sent some message in `round`. */
export function noteSender(keeper: VoteKeeper, round: number, validator: number, power: number): void {
  const rv = roundVotes(keeper, round);
  if (!rv.senders.has(validator)) {
    rv.senders.add(validator);
    rv.senderPower += power;
  }
}

/** Whether this exact vote (or a conflicting one) is already stored; cheap, so it runs before signature checks. */
export function existingVote(keeper: VoteKeeper, vote: Pick<Vote, 'round' | 'type' | 'validator'>): Vote | undefined {
  const rv = keeper.rounds.get(vote.round);
  if (!rv) return undefined;
  return tallyOf(rv, vote.type).byValidator.get(vote.validator);
}

function tallyOf(rv: RoundVotes, type: VoteType): VoteTally {
  return type === 'prevote' ? rv.prevotes : rv.precommits;
}

/** Adds a verified vote with the voter's power. */
export function addVote(keeper: VoteKeeper, vote: Vote, power: number): AddVoteResult {
  const rv = roundVotes(keeper, vote.round);
  const tally = tallyOf(rv, vote.type);
  const previous = tally.byValidator.get(vote.validator);
  if (previous) {
    return tallyKey(previous.valueId) === tallyKey(vote.valueId) ? 'duplicate' : { conflict: previous };
  }
  tally.byValidator.set(vote.validator, vote);
  const key = tallyKey(vote.valueId);
  tally.power.set(key, (tally.power.get(key) ?? 0) + power);
  byValueOf(tally, key).set(vote.validator, vote);
  tally.total += power;
  noteSender(keeper, vote.round, vote.validator, power);
  return 'added';
}

function byValueOf(tally: VoteTally, key: TallyKey): Map<number, Vote> {
  let m = tally.byValue.get(key);
  if (!m) {
    m = new Map();
    tally.byValue.set(key, m);
  }
  return m;
}

/** Whether this validator's vote for this value is already counted (first or conflicting); cheap, so it runs before signature checks. */
export function hasVoteFor(keeper: VoteKeeper, vote: Pick<Vote, 'round' | 'type' | 'validator' | 'valueId'>): boolean {
  const rv = keeper.rounds.get(vote.round);
  if (!rv) return false;
  return tallyOf(rv, vote.type).byValue.get(tallyKey(vote.valueId))?.has(vote.validator) ?? false;
}

/**
 * Counts a verified vote that conflicts with the validator's first one, for its own value only:
 * `powerFor` and `votesFor` of that value include it; `powerAny` and the first vote do not change.
 * Returns whether it was new. The caller bounds which values it admits.
 */
export function addConflictingVote(keeper: VoteKeeper, vote: Vote, power: number): boolean {
  const tally = tallyOf(roundVotes(keeper, vote.round), vote.type);
  const key = tallyKey(vote.valueId);
  const votes = byValueOf(tally, key);
  if (votes.has(vote.validator)) return false;
  votes.set(vote.validator, vote);
  tally.power.set(key, (tally.power.get(key) ?? 0) + power);
  return true;
}

/** Power of `type` votes in `round` for `key` (a value or nil). */
export function powerFor(keeper: VoteKeeper, round: number, type: VoteType, key: TallyKey): number {
  const rv = keeper.rounds.get(round);
  return rv ? (tallyOf(rv, type).power.get(key) ?? 0) : 0;
}

/** Power of all `type` votes in `round`, whatever their value. */
export function powerAny(keeper: VoteKeeper, round: number, type: VoteType): number {
  const rv = keeper.rounds.get(round);
  return rv ? tallyOf(rv, type).total : 0;
}

/** The counted `type` votes in `round` for `key`. */
export function votesFor(keeper: VoteKeeper, round: number, type: VoteType, key: TallyKey): Vote[] {
  const rv = keeper.rounds.get(round);
  if (!rv) return [];
  return [...(tallyOf(rv, type).byValue.get(key)?.values() ?? [])];
}

/** All counted votes of the height, for re-gossip and snapshots. */
export function allVotes(keeper: VoteKeeper): Vote[] {
  const out: Vote[] = [];
  for (const rv of keeper.rounds.values()) out.push(...rv.prevotes.byValidator.values(), ...rv.precommits.byValidator.values());
  return out;
}
