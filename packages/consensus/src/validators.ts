/** Validator sets: voting power, quorum thresholds and round-robin proposer selection. */
import { bytesToHex, equalsBytes, PolisError, rlpEncode, sha256 } from '@polis/core';

/** A validator: its Ed25519 public key and voting power. */
export type Validator = { publicKey: Uint8Array; power: number };

/** Codes for validator-set errors. */
export enum ValidatorSetErrorCode {
  /** The set is empty, has a non-positive power, a malformed key or a duplicate key. */
  INVALID = 'VALIDATOR_SET_ERROR_INVALID',
}

/** The payload of a `ValidatorSetError`. */
export type ValidatorSetErrorType = { code: ValidatorSetErrorCode.INVALID; reason: string };

/** An invalid validator set. */
export class ValidatorSetError extends PolisError<ValidatorSetErrorType> {
  override name = 'ValidatorSetError';
}

/** An immutable validator set with its thresholds precomputed. */
export type ValidatorSet = {
  readonly validators: readonly Validator[];
  readonly totalPower: number;
  /** More than two thirds of the power: 2f+1 when every power is 1 and n = 3f+1. */
  readonly quorumPower: number;
  /** More than one third of the power: f+1 when every power is 1. */
  readonly oneThirdPower: number;
  /** sha256 of the canonical encoding; headers commit to it. */
  readonly hash: Uint8Array;
};

/** Builds a validator set; validators keep the given order, which fixes proposer rotation. */
export function createValidatorSet(validators: readonly Validator[]): ValidatorSet {
  const invalid = (reason: string) =>
    new ValidatorSetError({ code: ValidatorSetErrorCode.INVALID, reason }, `invalid validator set: ${reason}`, {
      hint: 'List each validator once, with a 32-byte Ed25519 key and a positive integer power',
    });
  if (validators.length === 0) throw invalid('it is empty');
  const seen = new Set<string>();
  let totalPower = 0;
  for (const [i, v] of validators.entries()) {
    if (v.publicKey.length !== 32) throw invalid(`validator ${i} has a ${v.publicKey.length}-byte key`);
    if (!Number.isSafeInteger(v.power) || v.power <= 0) throw invalid(`validator ${i} has power ${v.power}`);
    const key = bytesToHex(v.publicKey);
    if (seen.has(key)) throw invalid(`validator ${i} repeats key ${key}`);
    seen.add(key);
    totalPower += v.power;
  }
  if (!Number.isSafeInteger(totalPower * 2)) throw invalid('the total power is too large');
  return Object.freeze({
    validators: Object.freeze(validators.map((v) => Object.freeze({ publicKey: v.publicKey.slice(), power: v.power }))),
    totalPower,
    // "More than 2/3": the smallest integer above 2*total/3.
    quorumPower: Math.floor((2 * totalPower) / 3) + 1,
    oneThirdPower: Math.floor(totalPower / 3) + 1,
    hash: sha256(rlpEncode(validators.map((v) => [v.publicKey, v.power]))),
  });
}

/** proposer(h, r): round-robin over the set, shifted by height so that heights start with different proposers. */
export function proposerIndex(set: ValidatorSet, height: number, round: number): number {
  return (height + round) % set.validators.length;
}

/** The index of `publicKey` in the set, or -1. */
export function indexOfValidator(set: ValidatorSet, publicKey: Uint8Array): number {
  return set.validators.findIndex((v) => equalsBytes(v.publicKey, publicKey));
}

/** Evenly powered validators for tests and the simulator: keys from the given public keys. */
export function equalPowerSet(publicKeys: readonly Uint8Array[]): ValidatorSet {
  return createValidatorSet(publicKeys.map((publicKey) => ({ publicKey, power: 1 })));
}
