/** Commit certificates: 2f+1 precommits (by power) for one value at one (height, round). */
import { equalsBytes, readBytes, readList, readUint, rlpDecode, rlpEncode } from '@polis/core';
import { verifyVote } from './messages.js';
import type { CommitCertificate, Vote } from './types.js';
import type { ValidatorSet } from './validators.js';

/** Why a certificate failed verification; `null` from `verifyCertificate` means it is valid. */
export type CertificateFault =
  | 'wrong-height'
  | 'unsorted-or-duplicate-validator'
  | 'unknown-validator'
  | 'bad-signature'
  | 'insufficient-power';

/** Builds a certificate from precommits for `valueId` (the caller collected them). */
export function createCertificate(
  height: number,
  round: number,
  valueId: Uint8Array,
  precommits: readonly Vote[],
): CommitCertificate {
  const signatures = precommits
    .filter(
      (v) => v.type === 'precommit' && v.height === height && v.round === round && v.valueId && equalsBytes(v.valueId, valueId),
    )
    .map((v) => ({ validator: v.validator, signature: v.signature }))
    .sort((a, b) => a.validator - b.validator);
  return { height, round, valueId, signatures };
}

/**
 * Verifies a certificate against the validator set of its height: every signature is a valid
 * precommit for (height, round, valueId) by a distinct validator, and together they hold more
 * than two thirds of the power. Returns null when valid, else the first fault found.
 */
export function verifyCertificate(
  ledgerId: Uint8Array,
  set: ValidatorSet,
  cert: CommitCertificate,
  expectedHeight?: number,
): CertificateFault | null {
  if (expectedHeight !== undefined && cert.height !== expectedHeight) return 'wrong-height';
  let power = 0;
  let previous = -1;
  for (const { validator, signature } of cert.signatures) {
    if (validator <= previous) return 'unsorted-or-duplicate-validator';
    previous = validator;
    const v = set.validators[validator];
    if (!v) return 'unknown-validator';
    const vote: Vote = { type: 'precommit', height: cert.height, round: cert.round, valueId: cert.valueId, validator, signature };
    if (!verifyVote(ledgerId, set, vote)) return 'bad-signature';
    power += v.power;
  }
  return power >= set.quorumPower ? null : 'insufficient-power';
}

/** Encodes a certificate (stored with its block). */
export function encodeCertificate(cert: CommitCertificate): Uint8Array {
  return rlpEncode([cert.height, cert.round, cert.valueId, cert.signatures.map((s) => [s.validator, s.signature])]);
}

/** Decodes a certificate; throws a `CodecError` on malformed input. */
export function decodeCertificate(bytes: Uint8Array): CommitCertificate {
  const [h, r, id, sigs] = readList(rlpDecode(bytes), 'certificate', 4);
  return {
    height: readUint(h, 'certificate.height'),
    round: readUint(r, 'certificate.round'),
    valueId: readBytes(id, 'certificate.valueId', 32),
    signatures: readList(sigs, 'certificate.signatures').map((s, i) => {
      const [validator, signature] = readList(s, `certificate.signatures[${i}]`, 2);
      return {
        validator: readUint(validator, `certificate.signatures[${i}].validator`),
        signature: readBytes(signature, `certificate.signatures[${i}].signature`, 64),
      };
    }),
  };
}
