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
 *   node handed to the network (including those a crash kept from being sent).
 */
import { bytesToHex, equalsBytes, rlpEncode, sha256 } from '@polis/core';
import { encodeCertificate, verifyCertificate } from '../certificate.js';
import type { CommittedBlock } from '../engine/types.js';
import { verifyProposal, verifyVote } from '../messages.js';
import type { ConsensusMessage, Proposal, Vote } from '../types.js';
import type { ValidatorSet } from '../validators.js';

/** The kinds of violation the checkers report. `engine` covers engine and application errors. */
export type ViolationKind = 'agreement' | 'validity' | 'certificate' | 'liveness' | 'double-sign' | 'engine';

/** Safety violations (the others are liveness or engine failures). */
export const SAFETY_KINDS: ReadonlySet<ViolationKind> = new Set(['agreement', 'validity', 'certificate', 'double-sign']);

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

/** A run's history, as the checkers need it. */
export type SimHistory = {
  ledgerId: Uint8Array;
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
};

const short = (id: Uint8Array) => bytesToHex(id).slice(0, 12);

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
        fault = verifyCertificate(h.ledgerId, h.validators, b.certificate, b.height);
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
  for (const c of h.signatures.conflicts) {
    if (!h.honest.has(c.a.validator)) continue;
    // Only signatures that verify count: anyone can put an honest index on a forged message.
    if (c.kind === 'vote') {
      if (!verifyVote(h.ledgerId, h.validators, c.a) || !verifyVote(h.ledgerId, h.validators, c.b)) continue;
      const a = c.a.valueId ? short(c.a.valueId) : 'nil';
      const b = c.b.valueId ? short(c.b.valueId) : 'nil';
      out.push({
        kind: 'double-sign',
        message: `honest validator ${c.a.validator} signed ${c.a.type}s for ${a} and ${b} at height ${c.a.height} round ${c.a.round}`,
      });
    } else {
      if (!verifyProposal(h.ledgerId, h.validators, c.a) || !verifyProposal(h.ledgerId, h.validators, c.b)) continue;
      out.push({
        kind: 'double-sign',
        message: `honest validator ${c.a.validator} signed two proposals at height ${c.a.height} round ${c.a.round}`,
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
    ...checkLiveness(h),
    ...checkEngineErrors(h),
  ];
}
