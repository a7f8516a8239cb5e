/**
 * The Tendermint consensus core: Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip
 * on BFT consensus" (arXiv 1807.04938). Comments `// L22` and so on cite the paper's lines.
 *
 * The core is pure: `apply(ctx, state, input)` mutates the plain-data `state` it is handed and
 * returns the outputs for the host to carry out. It has no clock (timeouts are outputs and come
 * back as inputs), no network (messages are outputs and inputs), no disk (the host logs every
 * input to the WAL before applying it) and no randomness. Signing is deterministic Ed25519 through
 * the injected signer, so replaying the same inputs yields the same signed votes.
 *
 * Rules are evaluated to a fixpoint after every input (`progress`). The "for the first time"
 * rules (L34, L36, L47) are guarded by one `once` set keyed by rule and round, so each fires at
 * most once per round by construction.
 *
 * Deviations from the paper, all liveness-only:
 * - A height starts in step `waiting` and calls StartRound(0) on `wake` (the ledger has work or
 *   its heartbeat is due) or on the first valid message of the height: idle ledgers make no
 *   blocks.
 * - After a decision the core waits for `start-height` instead of moving on itself (L52-L54),
 *   because the host must first execute and persist the block, and may change the validator set.
 * - Like CometBFT, the proposer also schedules timeoutPropose, so a slow application cannot stall it.
 */
import { equalsBytes } from '@polis/core';
import { createCertificate } from '../certificate.js';
import { proposalSignBytes, verifyProposal, verifyVote, voteSignBytes } from '../messages.js';
import { PROPOSALS_PER_ROUND_MAX, ROUND_LOOKAHEAD_MAX, type TimeoutParams } from '../params.js';
import type { ConsensusMessage, Input, Output, Proposal, Step, TimeoutKind, ValueId, Vote, VoteType } from '../types.js';
import { indexOfValidator, proposerIndex, type ValidatorSet } from '../validators.js';
import {
  addConflictingVote,
  addVote,
  createVoteKeeper,
  existingVote,
  hasVoteFor,
  NIL,
  noteSender,
  powerAny,
  powerFor,
  tallyKey,
  type VoteKeeper,
  votesFor,
} from './voteKeeper.js';

/** What the core is built with; none of it changes while it runs. */
export type CoreContext = {
  /** Domain-separates signatures: votes on one ledger are worthless on another. */
  readonly ledgerId: Uint8Array;
  readonly timeouts: TimeoutParams;
  /** id(v): the application's hash of a value (the block hash). Must be deterministic. */
  readonly valueIdOf: (value: Uint8Array) => ValueId;
  /** This replica's deterministic Ed25519 signer; null for an observer that never votes. */
  readonly signer: { readonly publicKey: Uint8Array; sign(bytes: Uint8Array): Uint8Array } | null;
};

/** A value with its id. */
export type ValueRef = { value: Uint8Array; valueId: ValueId };

/** The consensus state of one replica: plain data, owned by the caller. */
export type ConsensusState = {
  height: number;
  round: number;
  step: Step;
  /** decision_p[h_p] != nil: the height is decided and the core waits for `start-height`. */
  decided: boolean;
  validators: ValidatorSet;
  /** This replica's index in `validators`, or -1 when it is not a validator of this height. */
  self: number;
  locked: ValueRef | null;
  lockedRound: number;
  valid: ValueRef | null;
  validRound: number;
  /** Proposals by round, in arrival order; the first one of a round is the one L22/L28 use. */
  proposals: Map<number, Proposal[]>;
  votes: VoteKeeper;
  /** valid(v) per value, as answered by the application. */
  validity: Map<string, boolean>;
  /** Values whose validity was asked for and not yet answered. */
  validityAsked: Set<string>;
  /** Once-only rules that have fired, as `rule:round`. */
  once: Set<string>;
  /** The round for which this replica, as proposer, asked for a value and awaits it; -1 if none. */
  awaitingValue: number;
};

/** Creates the state for `height`, in step `waiting`. */
export function createConsensusState(ctx: CoreContext, height: number, validators: ValidatorSet): ConsensusState {
  return {
    height,
    round: 0,
    step: 'waiting',
    decided: false,
    validators,
    self: ctx.signer ? indexOfValidator(validators, ctx.signer.publicKey) : -1,
    locked: null,
    lockedRound: -1,
    valid: null,
    validRound: -1,
    proposals: new Map(),
    votes: createVoteKeeper(),
    validity: new Map(),
    validityAsked: new Set(),
    once: new Set(),
    awaitingValue: -1,
  };
}

/** Applies one input and returns the outputs, in the order the host must carry them out. */
export function apply(ctx: CoreContext, state: ConsensusState, input: Input): Output[] {
  const out: Output[] = [];
  switch (input.type) {
    case 'start-height':
      startHeight(ctx, state, input.height, input.validators ?? state.validators);
      break;
    case 'wake':
      if (state.step === 'waiting' && !state.decided) startRound(ctx, state, 0, out);
      break;
    case 'message':
      onMessage(ctx, state, input.message, out);
      break;
    case 'timeout':
      onTimeout(ctx, state, input.kind, input.height, input.round, out);
      break;
    case 'proposal-value':
      if (
        input.height === state.height &&
        input.round === state.round &&
        state.awaitingValue === input.round &&
        state.step === 'propose' &&
        !state.decided
      ) {
        state.awaitingValue = -1;
        // L17: broadcast ⟨PROPOSAL, h_p, round_p, proposal, validRound_p⟩ (validRound_p is -1 here).
        broadcastProposal(ctx, state, { value: input.value, valueId: input.valueId }, state.validRound, out);
      }
      break;
    case 'validity':
      if (input.height === state.height) {
        const key = tallyKey(input.valueId);
        state.validity.set(key, input.valid);
        state.validityAsked.delete(key);
      }
      break;
  }
  progress(ctx, state, out);
  return out;
}

function startHeight(ctx: CoreContext, state: ConsensusState, height: number, validators: ValidatorSet): void {
  // Only forward, and only once the previous height is decided (or on the very first height).
  if (height <= state.height && (state.decided || height < state.height)) return;
  // L53: reset locks, valid values and the message log. Messages that arrived early are held by
  // the host and fed in as ordinary inputs, so that the WAL replays exactly what was applied.
  Object.assign(state, createConsensusState(ctx, height, validators));
}

/** The height a message belongs to. */
export function messageHeight(m: ConsensusMessage): number {
  return m.kind === 'vote' ? m.vote.height : m.proposal.height;
}

/** The round a message belongs to. */
export function messageRound(m: ConsensusMessage): number {
  return m.kind === 'vote' ? m.vote.round : m.proposal.round;
}

function onMessage(ctx: CoreContext, state: ConsensusState, m: ConsensusMessage, out: Output[]): void {
  if (messageHeight(m) !== state.height || state.decided) return;
  const round = messageRound(m);
  if (round > state.round + ROUND_LOOKAHEAD_MAX) return;
  const accepted = m.kind === 'vote' ? acceptVote(ctx, state, m.vote, out) : acceptProposal(ctx, state, m.proposal, out);
  // Deviation (idle ledgers): the first valid message of a height means others have started it.
  if (accepted && state.step === 'waiting') startRound(ctx, state, 0, out);
}

function acceptVote(ctx: CoreContext, state: ConsensusState, vote: Vote, out: Output[]): boolean {
  const validator = state.validators.validators[vote.validator];
  if (!validator) return false;
  const existing = existingVote(state.votes, vote);
  // An identical vote is a gossip duplicate: skip the signature check.
  if (existing && tallyKey(existing.valueId) === tallyKey(vote.valueId) && equalsBytes(existing.signature, vote.signature)) {
    return false;
  }
  // A conflicting vote already counted: the evidence was reported when it first came.
  if (existing && hasVoteFor(state.votes, vote)) return false;
  if (!verifyVote(ctx.ledgerId, state.validators, vote)) return false;
  const result = addVote(state.votes, vote, validator.power);
  if (typeof result === 'object') {
    out.push({ type: 'evidence', evidence: { kind: 'duplicate-vote', a: result.conflict, b: vote } });
    // The paper counts messages per value, so the equivocator's vote counts for this value too
    // (quorum intersection still holds: two 2f+1 sets share an honest validator). Only nil and
    // values proposed in this height are admitted, which bounds what an equivocator can make us store.
    const admitted = vote.valueId === null || isProposedValue(state, vote.valueId);
    return admitted && addConflictingVote(state.votes, vote, validator.power);
  }
  return result === 'added';
}

function isProposedValue(state: ConsensusState, valueId: ValueId): boolean {
  for (const list of state.proposals.values()) if (list.some((p) => equalsBytes(p.valueId, valueId))) return true;
  return false;
}

function acceptProposal(ctx: CoreContext, state: ConsensusState, p: Proposal, out: Output[]): boolean {
  if (p.validator !== proposerIndex(state.validators, state.height, p.round)) return false;
  // vr must be -1 or a past round (L28 requires vr < round_p; a proposal can never justify itself).
  if (p.polRound < -1 || p.polRound >= p.round) return false;
  const list = state.proposals.get(p.round) ?? [];
  if (list.some((q) => equalsBytes(q.valueId, p.valueId) && q.polRound === p.polRound)) return false;
  if (list.length >= PROPOSALS_PER_ROUND_MAX) return false;
  if (!verifyProposal(ctx.ledgerId, state.validators, p)) return false;
  // The signature covers id(v); check that v really hashes to it.
  if (!equalsBytes(ctx.valueIdOf(p.value), p.valueId)) return false;
  const first = list[0];
  if (first) out.push({ type: 'evidence', evidence: { kind: 'duplicate-proposal', a: first, b: p } });
  list.push(p);
  state.proposals.set(p.round, list);
  const validator = state.validators.validators[p.validator];
  if (validator) noteSender(state.votes, p.round, p.validator, validator.power);
  const key = tallyKey(p.valueId);
  if (!state.validity.has(key) && !state.validityAsked.has(key)) {
    state.validityAsked.add(key);
    out.push({ type: 'validate', height: state.height, round: p.round, value: p.value, valueId: p.valueId });
  }
  return true;
}

function timeoutMs(ctx: CoreContext, kind: TimeoutKind, round: number): number {
  const t = ctx.timeouts;
  if (kind === 'propose') return t.proposeMs + round * t.proposeDeltaMs;
  if (kind === 'prevote') return t.prevoteMs + round * t.prevoteDeltaMs;
  return t.precommitMs + round * t.precommitDeltaMs;
}

function schedule(ctx: CoreContext, state: ConsensusState, kind: TimeoutKind, out: Output[]): void {
  out.push({
    type: 'schedule-timeout',
    kind,
    height: state.height,
    round: state.round,
    durationMs: timeoutMs(ctx, kind, state.round),
  });
}

// L11-L21: StartRound(round).
function startRound(ctx: CoreContext, state: ConsensusState, round: number, out: Output[]): void {
  state.round = round; // L12
  state.step = 'propose'; // L13
  state.awaitingValue = -1;
  out.push({ type: 'new-round', height: state.height, round });
  if (proposerIndex(state.validators, state.height, round) === state.self && state.self >= 0) {
    // L14
    if (state.valid) {
      // L15: re-propose the valid value with its round.
      broadcastProposal(ctx, state, state.valid, state.validRound, out);
    } else {
      // L17: getValue() is the application's prepareProposal; its answer comes back as an input.
      state.awaitingValue = round;
      out.push({ type: 'get-value', height: state.height, round });
    }
  }
  // L21 (and, as in CometBFT, also for the proposer).
  schedule(ctx, state, 'propose', out);
}

function broadcastProposal(ctx: CoreContext, state: ConsensusState, v: ValueRef, polRound: number, out: Output[]): void {
  const signer = ctx.signer;
  if (!signer || state.self < 0) return;
  const unsigned = { height: state.height, round: state.round, polRound, value: v.value, valueId: v.valueId };
  const proposal: Proposal = {
    ...unsigned,
    validator: state.self,
    signature: signer.sign(proposalSignBytes(ctx.ledgerId, unsigned)),
  };
  // The proposer built (or already validated) this value, so it is valid to it.
  state.validity.set(tallyKey(v.valueId), true);
  acceptProposal(ctx, state, proposal, out);
  out.push({ type: 'broadcast', message: { kind: 'proposal', proposal } });
}

function castVote(ctx: CoreContext, state: ConsensusState, type: VoteType, valueId: ValueId | null, out: Output[]): void {
  const signer = ctx.signer;
  if (!signer || state.self < 0) return;
  const unsigned = { type, height: state.height, round: state.round, valueId };
  const vote: Vote = { ...unsigned, validator: state.self, signature: signer.sign(voteSignBytes(ctx.ledgerId, unsigned)) };
  const power = state.validators.validators[state.self]?.power ?? 0;
  addVote(state.votes, vote, power);
  out.push({ type: 'broadcast', message: { kind: 'vote', vote } });
}

function firstTime(state: ConsensusState, rule: string, round: number): boolean {
  const key = `${rule}:${round}`;
  if (state.once.has(key)) return false;
  state.once.add(key);
  return true;
}

function onTimeout(
  ctx: CoreContext,
  state: ConsensusState,
  kind: TimeoutKind,
  height: number,
  round: number,
  out: Output[],
): void {
  if (height !== state.height || round !== state.round || state.decided) return;
  if (kind === 'propose' && state.step === 'propose') {
    // L57-L60: OnTimeoutPropose.
    castVote(ctx, state, 'prevote', null, out);
    state.step = 'prevote';
  } else if (kind === 'prevote' && state.step === 'prevote') {
    // L61-L64: OnTimeoutPrevote.
    castVote(ctx, state, 'precommit', null, out);
    state.step = 'precommit';
  } else if (kind === 'precommit') {
    // L65-L67: OnTimeoutPrecommit.
    startRound(ctx, state, state.round + 1, out);
  }
}

/** Evaluates the upon-rules until none fires. Each iteration fires at most one state-changing rule. */
function progress(ctx: CoreContext, state: ConsensusState, out: Output[]): void {
  for (let guard = 0; ; guard++) {
    // Each rule either changes step or round, or is once-guarded, so this terminates quickly.
    if (guard > 10_000) throw new Error('consensus core: rule evaluation did not reach a fixpoint');
    if (state.decided || state.step === 'waiting') return;
    if (tryDecide(state, out)) return;
    if (trySkipRound(ctx, state, out)) continue;
    if (!fireRoundRules(ctx, state, out)) return;
  }
}

// L49-L54: a proposal for some round r and 2f+1 precommits for its value decide the height.
function tryDecide(state: ConsensusState, out: Output[]): boolean {
  const quorum = state.validators.quorumPower;
  for (const [round, proposals] of state.proposals) {
    for (const p of proposals) {
      const key = tallyKey(p.valueId);
      if (powerFor(state.votes, round, 'precommit', key) < quorum) continue;
      // L50: only a valid value is decided; until the application answers, wait.
      if (state.validity.get(key) !== true) continue;
      state.decided = true; // L51
      const certificate = createCertificate(state.height, round, p.valueId, votesFor(state.votes, round, 'precommit', key));
      out.push({ type: 'decide', height: state.height, value: p.value, proposal: p, certificate });
      return true;
    }
  }
  return false;
}

// L55-L56: f+1 messages of a higher round mean an honest replica is there: join it.
function trySkipRound(ctx: CoreContext, state: ConsensusState, out: Output[]): boolean {
  let target = -1;
  for (const [round, rv] of state.votes.rounds) {
    if (round > state.round && round > target && rv.senderPower >= state.validators.oneThirdPower) target = round;
  }
  if (target < 0) return false;
  startRound(ctx, state, target, out);
  return true;
}

/** Fires the first enabled rule of the current round; returns whether one fired. */
function fireRoundRules(ctx: CoreContext, state: ConsensusState, out: Output[]): boolean {
  const { round } = state;
  const quorum = state.validators.quorumPower;
  const proposals = state.proposals.get(round) ?? [];

  if (state.step === 'propose') {
    for (const p of proposals) {
      const key = tallyKey(p.valueId);
      const valid = state.validity.get(key);
      if (valid === undefined) continue;
      if (p.polRound === -1) {
        // L22-L27
        const ok = valid && (state.lockedRound === -1 || (state.locked !== null && equalsBytes(state.locked.valueId, p.valueId)));
        castVote(ctx, state, 'prevote', ok ? p.valueId : null, out);
        state.step = 'prevote';
        return true;
      }
      if (p.polRound < round && powerFor(state.votes, p.polRound, 'prevote', key) >= quorum) {
        // L28-L33
        const ok =
          valid && (state.lockedRound <= p.polRound || (state.locked !== null && equalsBytes(state.locked.valueId, p.valueId)));
        castVote(ctx, state, 'prevote', ok ? p.valueId : null, out);
        state.step = 'prevote';
        return true;
      }
    }
  }

  // L34-L35: 2f+1 prevotes of any kind: start the prevote timer, once per round.
  if (state.step === 'prevote' && powerAny(state.votes, round, 'prevote') >= quorum && firstTime(state, 'L34', round)) {
    schedule(ctx, state, 'prevote', out);
  }

  // L36-L43: a valid proposal and 2f+1 prevotes for it, in step prevote or later, once per round.
  if (state.step === 'prevote' || state.step === 'precommit') {
    for (const p of proposals) {
      const key = tallyKey(p.valueId);
      if (state.validity.get(key) !== true || powerFor(state.votes, round, 'prevote', key) < quorum) continue;
      if (!firstTime(state, 'L36', round)) break;
      const v = { value: p.value, valueId: p.valueId };
      let changed = false;
      if (state.step === 'prevote') {
        state.locked = v; // L38
        state.lockedRound = round; // L39
        castVote(ctx, state, 'precommit', p.valueId, out); // L40
        state.step = 'precommit'; // L41
        changed = true;
      }
      state.valid = v; // L42
      state.validRound = round; // L43
      if (changed) return true;
      break;
    }
  }

  // L44-L46: 2f+1 prevotes for nil.
  if (state.step === 'prevote' && powerFor(state.votes, round, 'prevote', NIL) >= quorum) {
    castVote(ctx, state, 'precommit', null, out);
    state.step = 'precommit';
    return true;
  }

  // L47-L48: 2f+1 precommits of any kind: start the precommit timer, once per round.
  if (powerAny(state.votes, round, 'precommit') >= quorum && firstTime(state, 'L47', round)) {
    schedule(ctx, state, 'precommit', out);
  }
  return false;
}
