/**
 * Verified reads, the header layer: a client that trusts nothing but a starting point (the app
 * ledger's genesis validators, or a checkpoint) walks the chain header by header. Each header must
 * hash to what the gateway says, extend the previous one, name the validator set the client
 * expects, and carry a commit signed by more than two thirds of that set; a header that brings a
 * validator update must carry the set its `nextValidatorsHash` commits to. So the client follows
 * every validator-set change the system ledger decided, as the app ledger applied it, and a
 * gateway can neither invent a header nor swap the validators.
 */
import { bytesToHex, type Hex, hexToBytes, rlpEncode, sha256 } from '@polis/core';
import { type ValidatorInfo, verifyCommit } from '../commit.js';
import { type HeaderJson, headerHash } from '../header.js';
import { VerificationError } from './errors.js';

/** Where a verifying client starts: the validator set in force at `height + 1`. */
export type TrustAnchor = {
  /** 0 for the ledger's genesis; else a checkpoint height the client trusts. */
  height: number;
  /** The set that certifies block `height + 1`, in the ledger's order. */
  validators: readonly ValidatorInfo[];
  /** The hash of the header at `height`, when known: block `height + 1` must extend it. */
  headerHash?: Hex;
};

/** A header as `polis_getHeader(s)` answers: its fields, its hash, its commit, its validator update. */
export type CertifiedHeaderJson = HeaderJson & {
  hash: Hex;
  commit: Hex;
  validatorUpdate: { epoch: Hex; validators: Array<{ publicKey: Hex; power: Hex }> } | null;
};

/** A header this client verified. */
export type VerifiedHeader = { height: number; hash: Hex; header: HeaderJson; validators: readonly ValidatorInfo[] };

/** Verified headers kept in memory, newest kept. */
export const VERIFIED_HEADERS_MAX = 4_096;

/** sha256 of the set's canonical encoding: what headers name as `validatorsHash` (as the consensus package computes it). */
export function validatorSetHash(validators: readonly ValidatorInfo[]): Hex {
  return bytesToHex(sha256(rlpEncode(validators.map((v) => [hexToBytes(v.publicKey), v.power]))));
}

/** Walks and verifies headers from a trust anchor. */
export class HeaderChain {
  readonly #fetch: (from: number, count: number) => Promise<CertifiedHeaderJson[]>;
  readonly #anchor: TrustAnchor;
  #height: number;
  #validators: readonly ValidatorInfo[];
  #lastHash: Hex | undefined;
  readonly #verified = new Map<number, VerifiedHeader>();
  #walking: Promise<void> = Promise.resolve();

  constructor(anchor: TrustAnchor, fetchHeaders: (from: number, count: number) => Promise<CertifiedHeaderJson[]>) {
    if (!Number.isSafeInteger(anchor.height) || anchor.height < 0)
      throw new RangeError('the trust anchor height must be a non-negative integer');
    if (anchor.validators.length === 0) throw new RangeError('the trust anchor needs the validator set');
    this.#anchor = anchor;
    this.#fetch = fetchHeaders;
    this.#height = anchor.height;
    this.#validators = anchor.validators;
    this.#lastHash = anchor.headerHash?.toLowerCase() as Hex | undefined;
  }

  /** The highest height verified so far (the anchor's until the first walk). */
  get height(): number {
    return this.#height;
  }

  /** The verified header at `height`, walking the chain up to it first. */
  async header(height: number): Promise<VerifiedHeader> {
    if (height <= this.#anchor.height) {
      throw new VerificationError(
        'before-trust-anchor',
        `block ${height} is at or before the trust anchor (${this.#anchor.height}); start from an earlier anchor to verify it`,
      );
    }
    await this.walkTo(height);
    const v = this.#verified.get(height);
    if (!v)
      throw new VerificationError(
        'before-trust-anchor',
        `block ${height} is no longer in the verified window; verify it again from a checkpoint`,
      );
    return v;
  }

  /** Verifies every header up to `height` (one walk at a time). */
  walkTo(height: number): Promise<void> {
    const run = this.#walking.then(() => this.#walk(height));
    this.#walking = run.catch(() => undefined);
    return run;
  }

  async #walk(target: number): Promise<void> {
    while (this.#height < target) {
      const from = this.#height + 1;
      const batch = await this.#fetch(from, Math.min(256, target - this.#height));
      if (batch.length === 0)
        throw new VerificationError('missing-header', `the gateway has no block ${from}, but claimed block ${target}`);
      for (const h of batch) {
        if (this.#height >= target) break;
        this.#accept(h);
      }
    }
  }

  #accept(h: CertifiedHeaderJson): void {
    const height = this.#height + 1;
    if (Number(BigInt(h.height)) !== height) {
      throw new VerificationError(
        'broken-chain',
        `the gateway sent block ${Number(BigInt(h.height))} where block ${height} belongs`,
      );
    }
    const hash = bytesToHex(headerHash(h));
    if (hash !== h.hash.toLowerCase()) {
      throw new VerificationError('header-mismatch', `block ${height}'s fields do not hash to the hash the gateway gave`);
    }
    if (this.#lastHash !== undefined && h.parentHash.toLowerCase() !== this.#lastHash) {
      throw new VerificationError('broken-chain', `block ${height} does not extend the verified block ${height - 1}`);
    }
    const expected = validatorSetHash(this.#validators);
    if (h.validatorsHash.toLowerCase() !== expected) {
      throw new VerificationError('wrong-validator-set', `block ${height} names a validator set other than the one in force`);
    }
    const commit = verifyCommit(h, h.commit, this.#validators);
    if (!commit.valid) throw new VerificationError('bad-commit', `block ${height}: ${commit.reason}`);
    let next = this.#validators;
    if (h.validatorUpdate) {
      next = h.validatorUpdate.validators.map((v) => ({
        publicKey: v.publicKey.toLowerCase() as Hex,
        power: Number(BigInt(v.power)),
      }));
      if (validatorSetHash(next) !== h.nextValidatorsHash.toLowerCase()) {
        throw new VerificationError(
          'bad-validator-update',
          `block ${height}'s validator update is not the set its header commits to`,
        );
      }
    } else if (h.nextValidatorsHash.toLowerCase() !== expected) {
      throw new VerificationError(
        'bad-validator-update',
        `block ${height} changes the validator set without carrying the new set`,
      );
    }
    const { hash: _hash, commit: _commit, validatorUpdate: _update, ...fields } = h;
    this.#verified.set(height, { height, hash, header: fields, validators: this.#validators });
    if (this.#verified.size > VERIFIED_HEADERS_MAX) this.#verified.delete(this.#verified.keys().next().value as number);
    this.#height = height;
    this.#lastHash = hash;
    this.#validators = next;
  }
}
