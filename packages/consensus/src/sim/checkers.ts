/**
 * The checkers, run on every simulated history. Each one takes plain data, so a test can hand it
 * a history that is wrong on purpose and see it fail.
 *
 * - agreement: no two honest nodes commit different values at one height (nor one node two
 *   different values at one height across its restarts);
 * - validity: every value an honest node committed was judged valid by some honest node's
 *   application (processProposal, or prepareProposal for the proposer's own block);
 * - certificates: every block in an honest node's store carries a certificate that
 *   `verifyCertificate` accepts, for that very block;
 * - liveness: after the final heal, every honest node reached the target height by the deadline;
 * - no double signing: no honest validator signed two different votes for one (height, round,
 *   type), nor two different proposals for one (height, round), judged from every message any
 *   node handed to the network (including those a crash kept from being sent);
 * - validator sets (reconfigure runs): every committed set is well formed and within the
 *   Byzantine bound, every honest node signed only at heights where it is a validator, and every
 *   honest engine ended on the set that the committed chain puts in force at its height.
 *
 * In reconfigure runs the set of height h is not given but derived from the committed chain:
 * the initial set, changed by every update committed below h. Certificates, votes and proposals
 * of height h are judged against that set, and validator indices map to nodes through it.
 */
import { bytesToHex, equalsBytes, rlpEncode, sha256 } from '@polis/core';
import { encodeCertificate, verifyCertificate } from '../certificate.js';
import type { CommittedBlock } from '../engine/types.js';
import { verifyProposal, verifyVote } from '../messages.js';
import type { ConsensusMessage, Proposal, Vote } from '../types.js';
import { equalPowerSet, type ValidatorSet } from '../validators.js';

/** The kinds of violation the checkers report. `engine` covers engine and application errors. */
export type ViolationKind = 'agreement' | 'validity' | 'certificate' | 'liveness' | 'double-sign' | 'validator-set' | 'engine';

/** Safety violations (the others are liveness or engine failures). */
export const SAFETY_KINDS: ReadonlySet<ViolationKind> = new Set([
  'agreement',
  'validity',
  'certificate',
  'double-sign',
  'validator-set',
]);

/** One thing a checker found wrong. */
export type Violation = { kind: ViolationKind; message: string };

/** A decision an engine reported. */
export type DecisionRecord = { node: number; height: number; valueId: Uint8Array; atMs: number };

/** Distinct votes (and proposals) per signer and slot; more than one is a conflict. Bounded by the run's length. */
export class SignatureWatch {
  private readonly votes = new Map<string, Vote>();
  private readonly proposals = new Map<string, Proposal>();
  readonly conflicts: Array<{ kind: 'vote'; a: Vote; b: Vote } | { kind: 'proposal'; a: Proposal; b: Proposal }> = [];
  /** Total distinct signed messages seen. */
  seen = 0;

  /** Records one message that some node handed to the network. */
  observe(m: ConsensusMessage): void {
    if (m.kind === 'vote') {
      const v = m.vote;
      const key = `${v.validator}/${v.height}/${v.round}/${v.type}`;
      const prev = this.votes.get(key);
      if (!prev) {
        this.votes.set(key, v);
        this.seen++;
      } else if (
        !sameVoteValue(prev, v) &&
        !this.conflicts.some((c) => c.kind === 'vote' && c.a === prev && sameVoteValue(c.b, v))
      ) {
        this.conflicts.push({ kind: 'vote', a: prev, b: v });
      }
      return;
    }
    const p = m.proposal;
    const key = `${p.validator}/${p.height}/${p.round}`;
    const prev = this.proposals.get(key);
    if (!prev) {
      this.proposals.set(key, p);
      this.seen++;
    } else if (!(equalsBytes(prev.valueId, p.valueId) && prev.polRound === p.polRound)) {
      if (!this.conflicts.some((c) => c.kind === 'proposal' && c.a === prev && equalsBytes(c.b.valueId, p.valueId))) {
        this.conflicts.push({ kind: 'proposal', a: prev, b: p });
      }
    }
  }
}

function sameVoteValue(a: Vote, b: Vote): boolean {
  if (a.valueId === null || b.valueId === null) return a.valueId === b.valueId;
  return equalsBytes(a.valueId, b.valueId);
}

/** What an honest node's engine and application held at the end of a reconfigure run. */
export type FinalSetRecord = {
  /** The engine's height. */
  height: number;
  /** The hash of the set the engine used at that height. */
  engineSetHash: Uint8Array;
  /** The application's height and its set for the height after it (pool nodes). */
  appHeight: number;
  appMembers: readonly number[];
};

/** The validator-set side of a reconfigure run's history. */
export type ReconfigHistory = {
  /** Public keys of the run's node pool, by node index. */
  poolKeys: readonly Uint8Array[];
  /** Pool nodes of the set of height 1. */
  initial: readonly number[];
  /** The set update a committed value carries (pool nodes), or null for none. */
  updateOf: (value: Uint8Array) => readonly number[] | null;
  /** Heights at which each node signed a vote or a proposal. */
  signedHeights: ReadonlyMap<number, ReadonlySet<number>>;
  /** Each node at the end of the run (absent when it was down). */
  final: ReadonlyMap<number, FinalSetRecord>;
};

/** A run's history, as the checkers need it. */
export type SimHistory = {
  ledgerId: Uint8Array;
  /** The validator set of every height; in reconfigure runs, the set of height 1. */
  validators: ValidatorSet;
  honest: ReadonlySet<number>;
  decisions: readonly DecisionRecord[];
  /** Each node's block store at the end of the run. */
  blocks: ReadonlyMap<number, readonly CommittedBlock[]>;
  /** The honest nodes that judged a value valid. */
  judgedValid: (valueId: Uint8Array) => ReadonlySet<number>;
  valueIdOf: (value: Uint8Array) => Uint8Array;
  signatures: SignatureWatch;
  /** Null when the run did not get to its final heal (then liveness is not judged). */
  liveness: { healMs: number; deadlineMs: number; targetHeight: number; reachedMs: ReadonlyMap<number, number | null> } | null;
  /** Errors the engines or applications reported (each is a bug). */
  engineErrors: readonly string[];
  /** Set in reconfigure runs. */
  reconfig?: ReconfigHistory;
};

const short = (id: Uint8Array) => bytesToHex(id).slice(0, 12);

/** The set in force at one height: the set and the node behind each validator index. */
export type SetInForce = { set: ValidatorSet; members: readonly number[] };

/** The committed chain's validator sets: one entry per change, the first from height 1. */
export type ChainSets = {
  changes: ReadonlyArray<{ from: number; members: readonly number[] }>;
  /** The highest height whose set the chain fixes (one above its top block). */
  knownTo: number;
  /** The set of `height`, or null above `knownTo`. */
  at(height: number): SetInForce | null;
};

/**
 * The sets the committed chain puts in force. The chain is the honest block stores merged by
 * height (agreement is checked separately); it stops at the first height no honest store holds.
 * Without reconfiguration every height has `h.validators`, and index i is node i.
 */
export function chainValidatorSets(h: SimHistory): ChainSets {
  const r = h.reconfig;
  if (!r) {
    const fixed: SetInForce = { set: h.validators, members: h.validators.validators.map((_, i) => i) };
    return { changes: [{ from: 1, members: fixed.members }], knownTo: Number.POSITIVE_INFINITY, at: () => fixed };
  }
  const chain = new Map<number, Uint8Array>();
  for (const [node, blocks] of [...h.blocks].sort((a, b) => a[0] - b[0])) {
    if (!h.honest.has(node)) continue;
    for (const b of blocks) if (!chain.has(b.height)) chain.set(b.height, b.value);
  }
  const changes: Array<{ from: number; members: readonly number[] }> = [{ from: 1, members: r.initial }];
  let top = 0;
  for (let height = 1; chain.has(height); height++) {
    top = height;
    const update = r.updateOf(chain.get(height) as Uint8Array);
    if (update && update.length > 0) changes.push({ from: height + 1, members: update });
  }
  const sets = new Map<string, ValidatorSet | null>();
  const setOf = (members: readonly number[]): ValidatorSet | null => {
    const key = members.join(',');
    if (!sets.has(key)) {
      const keys = members.map((m) => r.poolKeys[m]);
      // A malformed committed set (checked by checkValidatorSets) has no ValidatorSet.
      let set: ValidatorSet | null = null;
      try {
        if (keys.every((k) => k !== undefined)) set = equalPowerSet(keys as Uint8Array[]);
      } catch {
        set = null;
      }
      sets.set(key, set);
    }
    return sets.get(key) ?? null;
  };
  return {
    changes,
    knownTo: top + 1,
    at: (height) => {
      if (height < 1 || height > top + 1) return null;
      let members = r.initial;
      for (const c of changes) if (c.from <= height) members = c.members;
      const set = setOf(members);
      return set ? { set, members } : null;
    },
  };
}

/** Agreement: per height, one value among honest nodes, from both decisions and block stores. */
export function checkAgreement(h: SimHistory): Violation[] {
  const out: Violation[] = [];
  const byHeight = new Map<number, { node: number; id: string }>();
  const note = (node: number, height: number, valueId: Uint8Array, where: string) => {
    if (!h.honest.has(node)) return;
    const id = bytesToHex(valueId);
    const first = byHeight.get(height);
    if (!first) byHeight.set(height, { node, id });
    else if (first.id !== id) {
      out.push({
        kind: 'agreement',
        message: `height ${height}: node ${first.node} committed ${first.id.slice(0, 12)} but node ${node} ${where} ${id.slice(0, 12)}`,
      });
    }
  };
  for (const d of h.decisions) note(d.node, d.height, d.valueId, 'decided');
  for (const [node, blocks] of [...h.blocks].sort((a, b) => a[0] - b[0])) {
    for (const b of blocks) note(node, b.height, h.valueIdOf(b.value), 'stored');
  }
  return out;
}

/** Validity: every value an honest node committed was judged valid by an honest application. */
export function checkValidity(h: SimHistory): Violation[] {
  const out: Violation[] = [];
  const checked = new Set<string>();
  for (const d of h.decisions) {
    if (!h.honest.has(d.node)) continue;
    const key = `${d.height}/${bytesToHex(d.valueId)}`;
    if (checked.has(key)) continue;
    checked.add(key);
    const judges = [...h.judgedValid(d.valueId)].filter((j) => h.honest.has(j));
    if (judges.length === 0) {
      out.push({
        kind: 'validity',
        message: `height ${d.height}: node ${d.node} committed ${short(d.valueId)}, which no honest application judged valid`,
      });
    }
  }
  return out;
}

/** Certificates: every block an honest node stored verifies, and certifies that very block. */
export function checkCertificates(h: SimHistory): Violation[] {
  const out: Violation[] = [];
  const sets = chainValidatorSets(h);
  const verified = new Map<string, ReturnType<typeof verifyCertificate>>();
  for (const [node, blocks] of [...h.blocks].sort((a, b) => a[0] - b[0])) {
    if (!h.honest.has(node)) continue;
    for (const b of blocks) {
      const where = `node ${node} height ${b.height}`;
      const id = h.valueIdOf(b.value);
      if (
        !equalsBytes(b.certificate.valueId, id) ||
        !equalsBytes(b.proposal.valueId, id) ||
        !equalsBytes(b.proposal.value, b.value)
      ) {
        out.push({
          kind: 'certificate',
          message: `${where}: the certificate or proposal is for another value than the stored block`,
        });
        continue;
      }
      // Replicas often store the same certificate; verify each distinct one once.
      const key = bytesToHex(sha256(rlpEncode([b.height, encodeCertificate(b.certificate)])));
      let fault = verified.get(key);
      if (fault === undefined) {
        // The set in force at the block's height, as the committed chain below it fixes it.
        const inForce = sets.at(b.height);
        if (!inForce) {
          out.push({ kind: 'certificate', message: `${where}: the committed chain gives no validator set for this height` });
          continue;
        }
        fault = verifyCertificate(h.ledgerId, inForce.set, b.certificate, b.height);
        verified.set(key, fault);
      }
      if (fault !== null) out.push({ kind: 'certificate', message: `${where}: certificate fails verification (${fault})` });
    }
  }
  return out;
}

/** Liveness: every honest node reached the target height by the deadline after the final heal. */
export function checkLiveness(h: SimHistory): Violation[] {
  const l = h.liveness;
  if (!l) return [];
  const out: Violation[] = [];
  for (const node of [...h.honest].sort((a, b) => a - b)) {
    const at = l.reachedMs.get(node) ?? null;
    if (at === null || at > l.deadlineMs) {
      out.push({
        kind: 'liveness',
        message: `node ${node} did not commit height ${l.targetHeight} within ${l.deadlineMs - l.healMs} ms after the final heal at ${l.healMs} ms`,
      });
    }
  }
  return out;
}

/** No honest validator signed two different votes for one slot, or two proposals for one round. */
export function checkNoDoubleSign(h: SimHistory): Violation[] {
  const out: Violation[] = [];
  const sets = chainValidatorSets(h);
  for (const c of h.signatures.conflicts) {
    // Validator indices are positions in the height's set; a height the chain does not reach has
    // no decided set, and a conflict there is judged against every set that could follow.
    const inForce = sets.at(c.a.height);
    const candidates = inForce ? [inForce] : sets.changes.flatMap((ch) => sets.at(ch.from) ?? []);
    for (const { set, members } of candidates) {
      const node = members[c.a.validator];
      if (node === undefined || !h.honest.has(node)) continue;
      // Only signatures that verify count: anyone can put an honest index on a forged message.
      const who = node === c.a.validator ? `honest validator ${node}` : `honest validator ${c.a.validator} (node ${node})`;
      if (c.kind === 'vote') {
        if (!verifyVote(h.ledgerId, set, c.a) || !verifyVote(h.ledgerId, set, c.b)) continue;
        const a = c.a.valueId ? short(c.a.valueId) : 'nil';
        const b = c.b.valueId ? short(c.b.valueId) : 'nil';
        out.push({
          kind: 'double-sign',
          message: `${who} signed ${c.a.type}s for ${a} and ${b} at height ${c.a.height} round ${c.a.round}`,
        });
      } else {
        if (!verifyProposal(h.ledgerId, set, c.a) || !verifyProposal(h.ledgerId, set, c.b)) continue;
        out.push({
          kind: 'double-sign',
          message: `${who} signed two proposals at height ${c.a.height} round ${c.a.round}`,
        });
      }
      break;
    }
  }
  return out;
}

/**
 * Validator sets (reconfigure runs): every set the chain commits is well formed and keeps its
 * Byzantine members below a third; every honest node signed only at heights where the chain
 * makes it a validator (a removed validator must go quiet, an observer must never sign); and
 * every honest node's engine ended on the set the chain puts in force at its height, with its
 * application agreeing.
 */
export function checkValidatorSets(h: SimHistory): Violation[] {
  const r = h.reconfig;
  if (!r) return [];
  const out: Violation[] = [];
  const sets = chainValidatorSets(h);
  const byzantine = new Set(r.poolKeys.map((_, i) => i).filter((i) => !h.honest.has(i)));
  for (const c of sets.changes) {
    const m = c.members;
    const where = `the set from height ${c.from} [${m.join(',')}]`;
    if (m.length === 0 || new Set(m).size !== m.length || m.some((x) => x >= r.poolKeys.length)) {
      out.push({ kind: 'validator-set', message: `${where} is malformed` });
    } else if (3 * m.filter((x) => byzantine.has(x)).length >= m.length) {
      out.push({ kind: 'validator-set', message: `${where} has a third or more Byzantine members` });
    }
  }
  for (const node of [...h.honest].sort((a, b) => a - b)) {
    for (const height of [...(r.signedHeights.get(node) ?? [])].sort((a, b) => a - b)) {
      const inForce = sets.at(height);
      if (inForce && !inForce.members.includes(node)) {
        out.push({
          kind: 'validator-set',
          message: `honest node ${node} signed at height ${height}, where the set is [${inForce.members.join(',')}]`,
        });
        break;
      }
    }
    const f = r.final.get(node);
    if (!f) continue;
    const engineSet = sets.at(f.height);
    if (engineSet && !equalsBytes(engineSet.set.hash, f.engineSetHash)) {
      out.push({
        kind: 'validator-set',
        message: `honest node ${node} ended at height ${f.height} with another set than the chain's [${engineSet.members.join(',')}]`,
      });
    }
    const appSet = sets.at(f.appHeight + 1);
    if (appSet && appSet.members.join(',') !== f.appMembers.join(',')) {
      out.push({
        kind: 'validator-set',
        message: `honest node ${node}'s application holds [${f.appMembers.join(',')}] for height ${f.appHeight + 1}, the chain [${appSet.members.join(',')}]`,
      });
    }
  }
  return out;
}

/** Engine and application errors are failures too. */
export function checkEngineErrors(h: SimHistory): Violation[] {
  return h.engineErrors.map((message) => ({ kind: 'engine', message }));
}

/** Runs every checker. */
export function runCheckers(h: SimHistory): Violation[] {
  return [
    ...checkAgreement(h),
    ...checkValidity(h),
    ...checkCertificates(h),
    ...checkNoDoubleSign(h),
    ...checkValidatorSets(h),
    ...checkLiveness(h),
    ...checkEngineErrors(h),
  ];
}
