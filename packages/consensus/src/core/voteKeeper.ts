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

const emptyTally = (): VoteTally => ({ byValidator: new Map(), power: new Map(), total: 0 });

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
  tally.total += power;
  noteSender(keeper, vote.round, vote.validator, power);
  return 'added';
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
  return [...tallyOf(rv, type).byValidator.values()].filter((v) => tallyKey(v.valueId) === key);
}

/** All counted votes of the height, for re-gossip and snapshots. */
export function allVotes(keeper: VoteKeeper): Vote[] {
  const out: Vote[] = [];
  for (const rv of keeper.rounds.values()) out.push(...rv.prevotes.byValidator.values(), ...rv.precommits.byValidator.values());
  return out;
}
