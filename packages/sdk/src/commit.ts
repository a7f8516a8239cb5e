/**
 * Checking a header against the validators' commit certificate, with nothing but the header, the
 * stored commit (`polis_getHeader`'s `commit`) and the validator set: more than two thirds of the
 * power must have signed a precommit for this header's hash at its height. The signing bytes are
 * the consensus engine's (packages/consensus/src/messages.ts); a test keeps the two in step.
 */
import {
  bytesToHex,
  ed25519Verify,
  type Hex,
  hexToBytes,
  type ProofVerification,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';
import { type HeaderJson, headerHash } from './header.js';

/** A validator as a client knows it: its Ed25519 public key and voting power. */
export type ValidatorInfo = { publicKey: Hex; power: number };

const VOTE_DOMAIN = utf8ToBytes('polis/vote/v1');
const PRECOMMIT = 2;

/** The bytes a validator signs when it precommits `valueId` at (height, round) on `ledgerId`. */
export function precommitSignBytes(ledgerId: Uint8Array, height: number, round: number, valueId: Uint8Array): Uint8Array {
  return rlpEncode([VOTE_DOMAIN, ledgerId, PRECOMMIT, height, round, valueId]);
}

/**
 * Whether `commit` certifies `header` under `validators` (the set of the header's height, in its
 * order: signatures name validators by index). The header's `validatorsHash` is not checked here;
 * a client that follows the chain knows the set from the previous header's update.
 */
export function verifyCommit(header: HeaderJson, commit: Hex, validators: readonly ValidatorInfo[]): ProofVerification {
  let height: number;
  let round: number;
  let valueId: Uint8Array;
  let signatures: Array<{ validator: number; signature: Uint8Array }>;
  try {
    const [, cert] = readList(rlpDecode(hexToBytes(commit)), 'commit', 2);
    const [h, r, id, sigs] = readList(rlpDecode(readBytes(cert, 'commit.certificate')), 'certificate', 4);
    height = readUint(h, 'certificate.height');
    round = readUint(r, 'certificate.round');
    valueId = readBytes(id, 'certificate.valueId', 32);
    signatures = readList(sigs, 'certificate.signatures').map((s, i) => {
      const [v, sig] = readList(s, `certificate.signatures[${i}]`, 2);
      return { validator: readUint(v, 'validator'), signature: readBytes(sig, 'signature', 64) };
    });
  } catch (err) {
    return { valid: false, reason: `malformed commit: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (BigInt(header.height) !== BigInt(height))
    return { valid: false, reason: `the commit is for block ${height}, not ${BigInt(header.height)}` };
  if (bytesToHex(valueId) !== bytesToHex(headerHash(header)))
    return { valid: false, reason: 'the commit certifies another block' };
  const total = validators.reduce((n, v) => n + v.power, 0);
  const quorum = Math.floor((2 * total) / 3) + 1;
  const bytes = precommitSignBytes(hexToBytes(header.ledgerId), height, round, valueId);
  let power = 0;
  let previous = -1;
  for (const { validator, signature } of signatures) {
    if (validator <= previous) return { valid: false, reason: 'the signatures are not in strictly ascending validator order' };
    previous = validator;
    const v = validators[validator];
    if (!v) return { valid: false, reason: `the commit names validator ${validator}, outside the set of ${validators.length}` };
    if (!ed25519Verify(hexToBytes(v.publicKey), bytes, signature)) {
      return { valid: false, reason: `validator ${validator}'s signature does not verify` };
    }
    power += v.power;
  }
  return power >= quorum
    ? { valid: true }
    : { valid: false, reason: `the commit holds ${power} of the ${quorum} voting power it needs` };
}
