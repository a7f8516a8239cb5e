/**
 * A tiny in-memory cluster for unit tests: replicas of the pure core wired by a FIFO queue, with
 * an application that accepts everything (or what `isValid` says). No faults; the simulator
 * covers those. Tests drive timeouts by hand.
 */
import { createEd25519Signer, sha256, utf8ToBytes } from '@polis/core';
import {
  apply,
  type ConsensusState,
  type CoreContext,
  createConsensusState,
  DEFAULT_TIMEOUTS,
  equalPowerSet,
  type Input,
  type Output,
  type ValidatorSet,
} from '../src/index.js';

export const LEDGER_ID = utf8ToBytes('test-ledger');

/** A deterministic seed for replica `i`. */
export function seedOf(i: number): Uint8Array {
  return sha256(utf8ToBytes(`validator-${i}`));
}

export type Replica = { ctx: CoreContext; state: ConsensusState; outputs: Output[] };

export function makeContext(i: number): CoreContext {
  return {
    ledgerId: LEDGER_ID,
    timeouts: DEFAULT_TIMEOUTS,
    valueIdOf: (v) => sha256(v),
    signer: i >= 0 ? createEd25519Signer(seedOf(i)) : null,
  };
}

export function makeValidatorSet(n: number): ValidatorSet {
  return equalPowerSet(Array.from({ length: n }, (_, i) => createEd25519Signer(seedOf(i)).publicKey));
}

export class Cluster {
  readonly replicas: Replica[];
  readonly validators: ValidatorSet;
  readonly queue: Array<{ to: number; input: Input }> = [];
  readonly decisions: Array<Map<number, string>>;
  isValid: (value: Uint8Array) => boolean = () => true;
  /** Replicas whose outgoing messages are dropped. */
  readonly muted = new Set<number>();

  constructor(n: number, height = 1) {
    this.validators = makeValidatorSet(n);
    this.replicas = Array.from({ length: n }, (_, i) => {
      const ctx = makeContext(i);
      return { ctx, state: createConsensusState(ctx, height, this.validators), outputs: [] };
    });
    this.decisions = this.replicas.map(() => new Map());
  }

  /** Applies `input` to replica `i` and routes its outputs; returns them. */
  feed(i: number, input: Input): Output[] {
    const r = this.replicas[i] as Replica;
    const outs = apply(r.ctx, r.state, input);
    r.outputs.push(...outs);
    for (const o of outs) this.route(i, o);
    return outs;
  }

  private route(from: number, o: Output): void {
    if (o.type === 'broadcast' && !this.muted.has(from)) {
      for (let j = 0; j < this.replicas.length; j++) {
        if (j !== from) this.queue.push({ to: j, input: { type: 'message', message: o.message } });
      }
    } else if (o.type === 'get-value') {
      const value = utf8ToBytes(`block h=${o.height} r=${o.round} by ${from}`);
      this.queue.push({
        to: from,
        input: { type: 'proposal-value', height: o.height, round: o.round, value, valueId: sha256(value) },
      });
    } else if (o.type === 'validate') {
      this.queue.push({
        to: from,
        input: { type: 'validity', height: o.height, valueId: o.valueId, valid: this.isValid(o.value) },
      });
    } else if (o.type === 'decide') {
      this.decisions[from]?.set(o.height, Buffer.from(o.value).toString());
    }
  }

  /** Delivers queued inputs until the queue is empty (or `max` steps). */
  run(max = 100_000): void {
    for (let n = 0; n < max && this.queue.length > 0; n++) {
      const next = this.queue.shift() as { to: number; input: Input };
      this.feed(next.to, next.input);
    }
  }

  wakeAll(): void {
    for (let i = 0; i < this.replicas.length; i++) this.feed(i, { type: 'wake' });
  }

  /** Fires the timeout that replica `i` scheduled most recently for its current round. */
  fireTimeout(i: number, kind: 'propose' | 'prevote' | 'precommit'): void {
    const s = (this.replicas[i] as Replica).state;
    this.feed(i, { type: 'timeout', kind, height: s.height, round: s.round });
  }
}
