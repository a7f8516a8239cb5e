/**
 * Byzantine validators. A Byzantine node runs the ordinary engine with its own key, and lies on
 * the way out: its network endpoint passes every outgoing message through a filter that may
 * replace it, per recipient, with a conflicting message it signs itself.
 *
 * Behaviours (each switchable; a run picks them from the seed):
 * - `equivocate`: as proposer, send different proposals (different blocks) to different peers;
 * - `double-vote`: send conflicting votes for the same (height, round, type) to different peers;
 * - `invalid`: propose blocks marked invalid, and accept every block (so vote for invalid ones);
 *   this one lives in the node's application (app.ts), the filter only signs for it;
 * - `amnesia`: forget the lock before every input (the runner clears `locked` and `lockedRound`
 *   in the engine's core state). With f+1 such nodes the protocol's safety argument no longer
 *   holds, which is how the tests show that the checkers can fail.
 */
import { bytesToHex, type Ed25519Signer, sha256 } from '@polis/core';
import { decodeWire, encodeWire } from '../engine/wire.js';
import { proposalSignBytes, voteSignBytes } from '../messages.js';
import type { ConsensusMessage, Proposal, Vote } from '../types.js';
import { decodeSimBlock, encodeSimBlock } from './app.js';
import type { OutgoingFilter } from './network.js';
import type { Rng } from './rng.js';

/** The misbehaviours a Byzantine node can show. */
export type ByzantineBehaviour = 'equivocate' | 'double-vote' | 'invalid' | 'amnesia';
/** Every behaviour. */
export const BYZANTINE_BEHAVIOURS: readonly ByzantineBehaviour[] = ['equivocate', 'double-vote', 'invalid', 'amnesia'];

/** Plans a Byzantine node keeps (one per message it lied about), before old heights are forgotten. */
export const BYZANTINE_PLANS_MAX = 512;

/**
 * Colluding Byzantine validators share one plan per (height, round): which honest peers are on
 * side B, and the value side B is shown. Their lies then add up, instead of scattering: side A
 * sees one story, side B another. With f colluders that is the worst a split can do; with f+1 it
 * breaks agreement, which the tests use to show the checkers fire.
 */
export class Coalition {
  private readonly plans = new Map<string, { sideB: ReadonlySet<string>; altId: Uint8Array | null; height: number }>();

  constructor(
    private readonly rng: Rng,
    private readonly honestPeers: readonly string[],
  ) {}

  /** The plan for (height, round), made on first use. */
  plan(height: number, round: number): { sideB: ReadonlySet<string>; altId: Uint8Array | null } {
    const key = `${height}/${round}`;
    let p = this.plans.get(key);
    if (!p) {
      if (this.plans.size >= BYZANTINE_PLANS_MAX) {
        for (const [k, q] of this.plans) if (q.height < height - 1) this.plans.delete(k);
      }
      const shuffled = this.rng.shuffle(this.honestPeers);
      const cut = shuffled.length < 2 ? shuffled.length : this.rng.int(1, shuffled.length - 1);
      p = { sideB: new Set(shuffled.slice(0, cut)), altId: null, height };
      this.plans.set(key, p);
    }
    return p;
  }

  /** Records the value a colluding proposer showed side B at (height, round). */
  setAlt(height: number, round: number, altId: Uint8Array): void {
    const p = this.plan(height, round) as { altId: Uint8Array | null };
    p.altId = altId;
  }
}

/** Everything a Byzantine filter is built with. */
export type ByzantineOptions = {
  index: number;
  signer: Ed25519Signer;
  ledgerId: Uint8Array;
  rng: Rng;
  behaviours: ReadonlySet<ByzantineBehaviour>;
  peers: readonly string[];
  /** Chance that a given proposal or vote is equivocated. */
  lieRate: number;
  /** The id of a proposal this node knows for (height, round), used as the target of a conflicting vote. */
  knownProposalId: (height: number, round: number) => Uint8Array | null;
  /** Called whenever the filter signs a conflicting message, for the trace. */
  onLie?: (what: string) => void;
  /** When set, this node colludes: it always lies, to the side of honest peers the coalition picked. */
  coalition?: Coalition;
};

type Plan = { targets: ReadonlySet<string>; alt: Uint8Array; altId: Uint8Array | null; height: number } | null;

/** Builds the outgoing filter of one Byzantine node. Plans live across incarnations, as a liar's memory would. */
export function createByzantineFilter(o: ByzantineOptions): OutgoingFilter {
  const plans = new Map<string, Plan>();
  const self = String(o.index);
  const others = o.peers.filter((p) => p !== self);

  const pickTargets = (): Set<string> => {
    // A non-empty proper subset, so that both versions are seen.
    const shuffled = o.rng.shuffle(others);
    return new Set(shuffled.slice(0, o.rng.int(1, Math.max(1, shuffled.length - 1))));
  };

  const forget = (height: number) => {
    if (plans.size < BYZANTINE_PLANS_MAX) return;
    for (const [k, p] of plans) if (!p || p.height < height - 1) plans.delete(k);
    if (plans.size >= BYZANTINE_PLANS_MAX) plans.clear();
  };

  const planProposal = (p: Proposal): Plan => {
    if (!o.behaviours.has('equivocate') || (!o.coalition && !o.rng.chance(o.lieRate))) return null;
    let value: Uint8Array;
    try {
      const block = decodeSimBlock(p.value);
      // A different block: another nonce, maybe fewer transactions, maybe marked invalid.
      value = encodeSimBlock({
        ...block,
        nonce: block.nonce + 1 + o.rng.int(0, 1000),
        txs: o.rng.chance(0.5) ? block.txs.slice(0, o.rng.int(0, block.txs.length)) : block.txs,
        invalid: o.behaviours.has('invalid') && o.rng.chance(0.5),
      });
    } catch {
      value = o.rng.bytes(64);
    }
    const valueId = sha256(value);
    const unsigned = { height: p.height, round: p.round, polRound: p.polRound, value, valueId };
    const alt: Proposal = { ...unsigned, validator: o.index, signature: o.signer.sign(proposalSignBytes(o.ledgerId, unsigned)) };
    o.onLie?.(`equivocate h=${p.height} r=${p.round} alt=${bytesToHex(valueId).slice(0, 10)}`);
    o.coalition?.setAlt(p.height, p.round, valueId);
    const targets = o.coalition ? o.coalition.plan(p.height, p.round).sideB : pickTargets();
    return {
      targets,
      alt: encodeWire({ kind: 'consensus', message: { kind: 'proposal', proposal: alt } }),
      altId: valueId,
      height: p.height,
    };
  };

  const planVote = (v: Vote): Plan => {
    if (!o.behaviours.has('double-vote')) return null;
    if (o.coalition) return planCoalitionVote(v, o.coalition);
    if (!o.rng.chance(o.lieRate)) return null;
    // Prefer a value we proposed to some peers, then one we know, else nil (or a fresh id if we voted nil).
    const proposed = plans.get(`p/${v.height}/${v.round}`);
    let valueId: Uint8Array | null = proposed?.altId ?? null;
    if (!valueId) valueId = o.knownProposalId(v.height, v.round);
    if (v.valueId !== null && valueId && bytesToHex(valueId) === bytesToHex(v.valueId)) valueId = null;
    if (v.valueId === null && valueId === null) valueId = sha256(o.rng.bytes(16));
    const unsigned = { type: v.type, height: v.height, round: v.round, valueId };
    const alt: Vote = { ...unsigned, validator: o.index, signature: o.signer.sign(voteSignBytes(o.ledgerId, unsigned)) };
    o.onLie?.(`double-vote h=${v.height} r=${v.round} ${v.type}`);
    return {
      targets: pickTargets(),
      alt: encodeWire({ kind: 'consensus', message: { kind: 'vote', vote: alt } }),
      altId: null,
      height: v.height,
    };
  };

  // Side B is shown a vote for the value the coalition's proposer showed it, or nil.
  const planCoalitionVote = (v: Vote, coalition: Coalition): Plan => {
    const plan = coalition.plan(v.height, v.round);
    const valueId = plan.altId && !(v.valueId && bytesToHex(v.valueId) === bytesToHex(plan.altId)) ? plan.altId : null;
    if (valueId === null && v.valueId === null) return null;
    const unsigned = { type: v.type, height: v.height, round: v.round, valueId };
    const alt: Vote = { ...unsigned, validator: o.index, signature: o.signer.sign(voteSignBytes(o.ledgerId, unsigned)) };
    o.onLie?.(`collude h=${v.height} r=${v.round} ${v.type}`);
    return {
      targets: plan.sideB,
      alt: encodeWire({ kind: 'consensus', message: { kind: 'vote', vote: alt } }),
      altId: null,
      height: v.height,
    };
  };

  return (peer, bytes) => {
    let message: ConsensusMessage;
    try {
      const wire = decodeWire(bytes);
      if (wire.kind !== 'consensus') return [bytes];
      message = wire.message;
    } catch {
      return [bytes];
    }
    let key: string;
    if (message.kind === 'proposal') {
      if (message.proposal.validator !== o.index) return [bytes];
      key = `p/${message.proposal.height}/${message.proposal.round}`;
    } else {
      if (message.vote.validator !== o.index) return [bytes];
      key = `v/${message.vote.height}/${message.vote.round}/${message.vote.type}`;
    }
    let plan = plans.get(key);
    if (plan === undefined) {
      const height = message.kind === 'proposal' ? message.proposal.height : message.vote.height;
      forget(height);
      plan = message.kind === 'proposal' ? planProposal(message.proposal) : planVote(message.vote);
      plans.set(key, plan);
    }
    if (!plan?.targets.has(peer)) return [bytes];
    return [plan.alt];
  };
}
