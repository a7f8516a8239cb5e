/**
 * Algorithm 1, rule by rule. One replica (index 0 of 4, so f = 1, 2f+1 = 3, f+1 = 2) is fed
 * hand-signed messages from the others, and its outputs are checked against the paper's lines.
 * Height 1: proposer(1, r) = (1 + r) mod 4, so replica 1 proposes round 0 and replica 0 round 3.
 */
import { createEd25519Signer, sha256, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import {
  apply,
  type ConsensusState,
  createConsensusState,
  DEFAULT_TIMEOUTS,
  type Input,
  type Output,
  type Proposal,
  proposalSignBytes,
  type Vote,
  type VoteType,
  verifyCertificate,
  voteSignBytes,
} from '../src/index.js';
import { LEDGER_ID, makeContext, makeValidatorSet, seedOf } from './cluster.js';

const N = 4;
const H = 1;
const set = makeValidatorSet(N);
const signers = Array.from({ length: N }, (_, i) => createEd25519Signer(seedOf(i)));
const A = utf8ToBytes('block A');
const B = utf8ToBytes('block B');
const idA = sha256(A);
const idB = sha256(B);

function vote(i: number, type: VoteType, round: number, valueId: Uint8Array | null, height = H): Input {
  const unsigned = { type, height, round, valueId };
  const v: Vote = { ...unsigned, validator: i, signature: signers[i]?.sign(voteSignBytes(LEDGER_ID, unsigned)) as Uint8Array };
  return { type: 'message', message: { kind: 'vote', vote: v } };
}

function proposal(i: number, round: number, value: Uint8Array, polRound = -1): Input {
  const unsigned = { height: H, round, polRound, value, valueId: sha256(value) };
  const p: Proposal = {
    ...unsigned,
    validator: i,
    signature: signers[i]?.sign(proposalSignBytes(LEDGER_ID, unsigned)) as Uint8Array,
  };
  return { type: 'message', message: { kind: 'proposal', proposal: p } };
}

const validity = (valueId: Uint8Array, valid = true): Input => ({ type: 'validity', height: H, valueId, valid });

/** A replica at index `self`, already in round 0 (woken), plus a feeder that returns outputs. */
function replica(self = 0) {
  const ctx = makeContext(self);
  const state: ConsensusState = createConsensusState(ctx, H, set);
  const feed = (...inputs: Input[]): Output[] => inputs.flatMap((input) => apply(ctx, state, input));
  return { ctx, state, feed };
}

const votesOut = (outs: Output[]) =>
  outs.flatMap((o) => (o.type === 'broadcast' && o.message.kind === 'vote' ? [o.message.vote] : []));
const voteOut = (outs: Output[], type: VoteType) => votesOut(outs).find((v) => v.type === type);
const hex = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('hex') : b);

describe('Algorithm 1', () => {
  describe('StartRound (L11-L21)', () => {
    it('L18/L21: a non-proposer schedules timeoutPropose, which grows with the round', () => {
      const { feed } = replica(0);
      const outs = feed({ type: 'wake' });
      expect(outs).toContainEqual({
        type: 'schedule-timeout',
        kind: 'propose',
        height: H,
        round: 0,
        durationMs: DEFAULT_TIMEOUTS.proposeMs,
      });
      expect(outs.some((o) => o.type === 'get-value')).toBe(false);
      const later = feed(
        { type: 'timeout', kind: 'propose', height: H, round: 0 },
        { type: 'timeout', kind: 'precommit', height: H, round: 0 },
      );
      expect(later).toContainEqual({
        type: 'schedule-timeout',
        kind: 'propose',
        height: H,
        round: 1,
        durationMs: DEFAULT_TIMEOUTS.proposeMs + DEFAULT_TIMEOUTS.proposeDeltaMs,
      });
    });

    it('L16-L17: the proposer without a valid value asks getValue and proposes it with vr = -1', () => {
      const { feed } = replica(1);
      const outs = feed({ type: 'wake' });
      expect(outs).toContainEqual({ type: 'get-value', height: H, round: 0 });
      const sent = feed({ type: 'proposal-value', height: H, round: 0, value: A, valueId: idA });
      const p = sent.find((o) => o.type === 'broadcast' && o.message.kind === 'proposal');
      expect(p?.type === 'broadcast' && p.message.kind === 'proposal' && p.message.proposal.polRound).toBe(-1);
    });

    it('L14-L15: the proposer re-proposes its valid value with validRound', () => {
      // Replica 2 proposes round 1. In round 0 it sees A get 2f+1 prevotes (L36: validValue = A, validRound = 0).
      const { feed, state } = replica(2);
      feed({ type: 'wake' }, proposal(1, 0, A), validity(idA), vote(0, 'prevote', 0, idA), vote(1, 'prevote', 0, idA));
      expect(hex(state.valid?.valueId)).toBe(hex(idA));
      const outs = feed({ type: 'timeout', kind: 'precommit', height: H, round: 0 });
      const p = outs.find((o) => o.type === 'broadcast' && o.message.kind === 'proposal');
      expect(
        p?.type === 'broadcast' && p.message.kind === 'proposal'
          ? [hex(p.message.proposal.valueId), p.message.proposal.polRound]
          : null,
      ).toEqual([hex(idA), 0]);
      expect(outs.some((o) => o.type === 'get-value')).toBe(false);
    });
  });

  describe('L22-L27: a proposal with vr = -1', () => {
    it('prevotes id(v) for a valid value when unlocked', () => {
      const { feed } = replica();
      const outs = feed({ type: 'wake' }, proposal(1, 0, A), validity(idA));
      expect(hex(voteOut(outs, 'prevote')?.valueId)).toBe(hex(idA));
    });

    it('waits for the application before prevoting', () => {
      const { feed, state } = replica();
      const outs = feed({ type: 'wake' }, proposal(1, 0, A));
      expect(outs.some((o) => o.type === 'validate')).toBe(true);
      expect(voteOut(outs, 'prevote')).toBeUndefined();
      expect(state.step).toBe('propose');
    });

    it('prevotes nil for an invalid value', () => {
      const { feed } = replica();
      const outs = feed({ type: 'wake' }, proposal(1, 0, A), validity(idA, false));
      expect(voteOut(outs, 'prevote')?.valueId).toBeNull();
    });

    it('prevotes nil when locked on a different value', () => {
      const { feed, state } = replica();
      // Lock on A in round 0 (L36), then move to round 1 where replica 2 proposes B with vr = -1.
      feed({ type: 'wake' }, proposal(1, 0, A), validity(idA), vote(1, 'prevote', 0, idA), vote(2, 'prevote', 0, idA));
      expect([hex(state.locked?.valueId), state.lockedRound]).toEqual([hex(idA), 0]);
      feed({ type: 'timeout', kind: 'precommit', height: H, round: 0 });
      const outs = feed(proposal(2, 1, B), validity(idB));
      expect(voteOut(outs, 'prevote')?.valueId).toBeNull();
    });

    it('prevotes the locked value when it is proposed again', () => {
      const { feed } = replica();
      feed({ type: 'wake' }, proposal(1, 0, A), validity(idA), vote(1, 'prevote', 0, idA), vote(2, 'prevote', 0, idA));
      feed({ type: 'timeout', kind: 'precommit', height: H, round: 0 });
      const outs = feed(proposal(2, 1, A));
      expect(hex(voteOut(outs, 'prevote')?.valueId)).toBe(hex(idA));
    });

    it('ignores a proposal from a validator that is not the round proposer', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' });
      const outs = feed(proposal(3, 0, A), validity(idA));
      expect(voteOut(outs, 'prevote')).toBeUndefined();
      expect(state.proposals.size).toBe(0);
    });
  });

  describe('L28-L33: a proposal with vr >= 0', () => {
    function lockedOnAInRound1() {
      // Round 0: nothing. Round 1 (proposer 2): lock on A. Round 2 (proposer 3) re-proposes.
      const r = replica();
      r.feed(
        { type: 'wake' },
        { type: 'timeout', kind: 'propose', height: H, round: 0 },
        { type: 'timeout', kind: 'precommit', height: H, round: 0 },
      );
      r.feed(proposal(2, 1, A), validity(idA), vote(1, 'prevote', 1, idA), vote(2, 'prevote', 1, idA));
      expect([hex(r.state.locked?.valueId), r.state.lockedRound]).toEqual([hex(idA), 1]);
      r.feed({ type: 'timeout', kind: 'precommit', height: H, round: 1 });
      expect(r.state.round).toBe(2);
      return r;
    }

    it('prevotes the locked value re-proposed with the round of its polka', () => {
      // lockedRound = vr = 1 with a different value would need two polkas in one round, which the
      // vote keeper makes impossible (a second vote is evidence, not counted); so this is the same value.
      const { feed } = lockedOnAInRound1();
      const outs = feed(vote(1, 'prevote', 1, idA), proposal(3, 2, A, 1));
      expect(hex(voteOut(outs, 'prevote')?.valueId)).toBe(hex(idA));
    });

    it('prevotes a different value whose polka round is at or after the lock', () => {
      // Locked on A in round 0, then B gets a polka in round 1 that this replica did not see in time.
      const r = replica();
      r.feed({ type: 'wake' }, proposal(1, 0, A), validity(idA), vote(1, 'prevote', 0, idA), vote(2, 'prevote', 0, idA));
      r.feed({ type: 'timeout', kind: 'precommit', height: H, round: 0 });
      r.feed(
        { type: 'timeout', kind: 'propose', height: H, round: 1 },
        { type: 'timeout', kind: 'prevote', height: H, round: 1 },
      );
      r.feed({ type: 'timeout', kind: 'precommit', height: H, round: 1 });
      expect(r.state.round).toBe(2);
      const outs = r.feed(
        vote(1, 'prevote', 1, idB),
        vote(2, 'prevote', 1, idB),
        vote(3, 'prevote', 1, idB),
        proposal(3, 2, B, 1),
        validity(idB),
      );
      expect(hex(voteOut(outs, 'prevote')?.valueId)).toBe(hex(idB));
    });

    it('prevotes nil when locked after vr on a different value', () => {
      const { feed } = lockedOnAInRound1();
      // B with a polka in round 0 (< lockedRound 1) and a different value: nil.
      const outs = feed(
        vote(1, 'prevote', 0, idB),
        vote(2, 'prevote', 0, idB),
        vote(3, 'prevote', 0, idB),
        proposal(3, 2, B, 0),
        validity(idB),
      );
      expect(voteOut(outs, 'prevote')?.valueId).toBeNull();
    });

    it('waits without 2f+1 prevotes for the value in round vr', () => {
      const { feed, state } = lockedOnAInRound1();
      const outs = feed(proposal(3, 2, B, 0), validity(idB), vote(1, 'prevote', 0, idB));
      expect(voteOut(outs, 'prevote')).toBeUndefined();
      expect(state.step).toBe('propose');
    });
  });

  describe('L34-L35 and L47-L48: timers on any 2f+1', () => {
    it('schedules timeoutPrevote once on 2f+1 mixed prevotes', () => {
      const { feed } = replica();
      const outs = feed(
        { type: 'wake' },
        { type: 'timeout', kind: 'propose', height: H, round: 0 },
        vote(1, 'prevote', 0, idA),
        vote(2, 'prevote', 0, null),
        vote(3, 'prevote', 0, idB),
      );
      expect(outs.filter((o) => o.type === 'schedule-timeout' && o.kind === 'prevote').length).toBe(1);
    });

    it('schedules timeoutPrecommit once on 2f+1 mixed precommits', () => {
      const { feed } = replica();
      const outs = feed(
        { type: 'wake' },
        vote(1, 'precommit', 0, idA),
        vote(2, 'precommit', 0, null),
        vote(3, 'precommit', 0, idB),
      );
      expect(outs.filter((o) => o.type === 'schedule-timeout' && o.kind === 'precommit').length).toBe(1);
    });
  });

  describe('L36-L43: a polka for a valid proposal', () => {
    it('in step prevote: locks, precommits id(v) and records the valid value', () => {
      const { feed, state } = replica();
      const outs = feed(
        { type: 'wake' },
        proposal(1, 0, A),
        validity(idA),
        vote(1, 'prevote', 0, idA),
        vote(2, 'prevote', 0, idA),
      );
      expect(hex(voteOut(outs, 'precommit')?.valueId)).toBe(hex(idA));
      expect(state.step).toBe('precommit');
      expect([hex(state.locked?.valueId), state.lockedRound, hex(state.valid?.valueId), state.validRound]).toEqual([
        hex(idA),
        0,
        hex(idA),
        0,
      ]);
    });

    it('in step precommit: records the valid value but does not lock or vote again', () => {
      const { feed, state } = replica();
      // Prevote nil on timeout, see two prevotes for A (no proposal yet), time out into precommit nil.
      feed(
        { type: 'wake' },
        { type: 'timeout', kind: 'propose', height: H, round: 0 },
        vote(1, 'prevote', 0, idA),
        vote(2, 'prevote', 0, idA),
      );
      feed({ type: 'timeout', kind: 'prevote', height: H, round: 0 });
      expect(state.step).toBe('precommit');
      // Now the proposal and a third prevote for A arrive.
      const outs = feed(proposal(1, 0, A), validity(idA), vote(3, 'prevote', 0, idA));
      expect(voteOut(outs, 'precommit')).toBeUndefined();
      expect([state.lockedRound, hex(state.valid?.valueId), state.validRound]).toEqual([-1, hex(idA), 0]);
    });

    it('does nothing for a value the application rejected', () => {
      const { feed, state } = replica();
      const outs = feed(
        { type: 'wake' },
        proposal(1, 0, A),
        validity(idA, false),
        vote(1, 'prevote', 0, idA),
        vote(2, 'prevote', 0, idA),
        vote(3, 'prevote', 0, idA),
      );
      expect(voteOut(outs, 'precommit')).toBeUndefined();
      expect(state.lockedRound).toBe(-1);
    });
  });

  describe('L44-L46: a nil polka', () => {
    it('precommits nil', () => {
      const { feed, state } = replica();
      const outs = feed(
        { type: 'wake' },
        { type: 'timeout', kind: 'propose', height: H, round: 0 },
        vote(1, 'prevote', 0, null),
        vote(2, 'prevote', 0, null),
      );
      expect(voteOut(outs, 'precommit')?.valueId).toBeNull();
      expect(state.step).toBe('precommit');
    });
  });

  describe('L49-L54: decision', () => {
    it('decides on a proposal and 2f+1 precommits, with a certificate anyone can verify', () => {
      const { feed, state } = replica();
      const outs = feed(
        { type: 'wake' },
        proposal(1, 0, A),
        validity(idA),
        vote(1, 'precommit', 0, idA),
        vote(2, 'precommit', 0, idA),
        vote(3, 'precommit', 0, idA),
      );
      const d = outs.find((o) => o.type === 'decide');
      expect(d?.type === 'decide' && hex(d.value)).toBe(hex(A));
      expect(d?.type === 'decide' && verifyCertificate(LEDGER_ID, set, d.certificate, H)).toBeNull();
      expect(state.decided).toBe(true);
      // Nothing more happens in a decided height.
      expect(feed(vote(1, 'prevote', 1, idB), { type: 'timeout', kind: 'precommit', height: H, round: 0 })).toEqual([]);
    });

    it('decides for a round other than the current one', () => {
      const { feed, state } = replica();
      feed(
        { type: 'wake' },
        { type: 'timeout', kind: 'propose', height: H, round: 0 },
        { type: 'timeout', kind: 'precommit', height: H, round: 0 },
      );
      expect(state.round).toBe(1);
      const outs = feed(
        proposal(1, 0, A),
        validity(idA),
        vote(1, 'precommit', 0, idA),
        vote(2, 'precommit', 0, idA),
        vote(3, 'precommit', 0, idA),
      );
      expect(outs.some((o) => o.type === 'decide')).toBe(true);
    });

    it('does not decide before the application says the value is valid', () => {
      const { feed, state } = replica();
      feed(
        { type: 'wake' },
        proposal(1, 0, A),
        vote(1, 'precommit', 0, idA),
        vote(2, 'precommit', 0, idA),
        vote(3, 'precommit', 0, idA),
      );
      expect(state.decided).toBe(false);
      expect(feed(validity(idA)).some((o) => o.type === 'decide')).toBe(true);
    });

    it('does not decide on 2f precommits', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' }, proposal(1, 0, A), validity(idA), vote(1, 'precommit', 0, idA), vote(2, 'precommit', 0, idA));
      expect(state.decided).toBe(false);
    });
  });

  describe('L55-L56: round skip', () => {
    it('starts round r on f+1 messages of round r > round_p', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' }, vote(1, 'prevote', 5, null));
      expect(state.round).toBe(0);
      const outs = feed(vote(2, 'precommit', 5, idA));
      expect(state.round).toBe(5);
      expect(outs).toContainEqual({ type: 'new-round', height: H, round: 5 });
    });

    it('does not count one validator twice', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' }, vote(1, 'prevote', 5, null), vote(1, 'precommit', 5, null));
      expect(state.round).toBe(0);
    });
  });

  describe('L57-L67: timeouts', () => {
    it('OnTimeoutPropose prevotes nil, OnTimeoutPrevote precommits nil, OnTimeoutPrecommit starts the next round', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' });
      expect(voteOut(feed({ type: 'timeout', kind: 'propose', height: H, round: 0 }), 'prevote')?.valueId).toBeNull();
      expect(state.step).toBe('prevote');
      expect(voteOut(feed({ type: 'timeout', kind: 'prevote', height: H, round: 0 }), 'precommit')?.valueId).toBeNull();
      expect(state.step).toBe('precommit');
      feed({ type: 'timeout', kind: 'precommit', height: H, round: 0 });
      expect([state.round, state.step]).toEqual([1, 'propose']);
    });

    it('ignores stale timeouts (other height, round or step)', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' }, { type: 'timeout', kind: 'propose', height: H, round: 0 });
      expect(feed({ type: 'timeout', kind: 'propose', height: H, round: 0 })).toEqual([]);
      expect(feed({ type: 'timeout', kind: 'precommit', height: H, round: 3 })).toEqual([]);
      expect(feed({ type: 'timeout', kind: 'prevote', height: H + 1, round: 0 })).toEqual([]);
      expect([state.round, state.step]).toEqual([0, 'prevote']);
    });
  });

  describe('messages', () => {
    it('ignores votes with bad signatures and reports equivocation as evidence', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' });
      const forged = vote(1, 'prevote', 0, idA);
      if (forged.type === 'message' && forged.message.kind === 'vote') forged.message.vote.signature = new Uint8Array(64);
      feed(forged);
      expect(state.votes.rounds.get(0)?.prevotes.byValidator.size ?? 0).toBe(0);
      feed(vote(1, 'prevote', 0, idA));
      const outs = feed(vote(1, 'prevote', 0, idB));
      expect(outs.some((o) => o.type === 'evidence' && o.evidence.kind === 'duplicate-vote')).toBe(true);
      expect(state.votes.rounds.get(0)?.prevotes.power.get(hex(idB) ? `0x${hex(idB)}` : '')).toBeUndefined();
    });

    it('rejects a proposal whose value does not hash to its id', () => {
      const { feed, state } = replica();
      feed({ type: 'wake' });
      const p = proposal(1, 0, A);
      if (p.type === 'message' && p.message.kind === 'proposal') p.message.proposal.value = B;
      feed(p);
      expect(state.proposals.size).toBe(0);
    });

    it('an idle height waits: no timers until wake or a message', () => {
      const { feed, state } = replica();
      expect(feed({ type: 'timeout', kind: 'propose', height: H, round: 0 })).toEqual([]);
      expect(state.step).toBe('waiting');
      feed(vote(1, 'prevote', 0, null));
      expect(state.step).toBe('propose');
    });
  });
});
