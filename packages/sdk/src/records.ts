/**
 * Offline proof of a record of the built-in records service: given the record's hash, a header,
 * its commit and a `polis_getProof` of the record's storage words at that header's state, a client
 * learns who recorded it, in which block and when, trusting only the validators' signatures.
 * The slot layout is the service's (packages/execution/src/services/records.ts); a test keeps the
 * two in step.
 */
import { bytesToHex, concatBytes, type Hex, hexToBytes, keccak256, type ProofVerification, utf8ToBytes } from '@polis/core';
import { type ValidatorInfo, verifyCommit } from './commit.js';
import type { HeaderJson } from './header.js';
import { type PolisProofAnswer, verifyAccountProof } from './proofs.js';

/** The records service's address on every app ledger. */
export const RECORDS_ADDRESS: Hex = '0x00000000000000000000000000000000504c0002';

/** The three storage slots of the record of `hash`. */
export function recordSlots(hash: Hex): [Hex, Hex, Hex] {
  const base = BigInt(bytesToHex(keccak256(concatBytes(utf8ToBytes('record'), hexToBytes(hash)))));
  const slot = (n: bigint) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
  return [slot(base), slot(base + 1n), slot(base + 2n)];
}

/** What a gateway returns for `GET /api/v1/apps/{id}/records/{hash}/proof`. */
export type RecordProof = {
  hash: Hex;
  header: HeaderJson;
  /** The commit stored with the header's block (its proposal and certificate, RLP). */
  commit: Hex;
  /** `polis_getProof(RECORDS_ADDRESS, recordSlots(hash))` at the header's block. */
  proof: PolisProofAnswer;
};

/** A record, proven. */
export type ProvenRecord = {
  hash: Hex;
  submitter: Hex;
  blockNumber: number;
  timestampMs: number;
  /** keccak-256 of the metadata, or 32 zero bytes for none. */
  metaHash: Hex;
  tag: Hex;
  /** The certified block the proof was taken at. */
  provenAt: number;
};

const word = (v: Hex): Uint8Array => {
  const n = BigInt(v);
  return hexToBytes(`0x${n.toString(16).padStart(64, '0')}`);
};

/**
 * Verifies a record proof against the validator set of the header's height. Fails, with the
 * reason, if the commit does not certify the header, the header does not match the proof, the
 * proof is not of the record's slots, the words are not in the state, or there is no record.
 */
export function verifyRecordProof(
  bundle: RecordProof,
  validators: readonly ValidatorInfo[],
): { valid: true; record: ProvenRecord } | Extract<ProofVerification, { valid: false }> {
  const certified = verifyCommit(bundle.header, bundle.commit, validators);
  if (!certified.valid) return certified;
  const proven = verifyAccountProof(bundle.header, bundle.proof);
  if (!proven.valid) return proven;
  if (bundle.proof.address.toLowerCase() !== RECORDS_ADDRESS)
    return { valid: false, reason: 'the proof is not of the records service' };
  const slots = recordSlots(bundle.hash);
  const keys = bundle.proof.storageProof.map((s) => bytesToHex(word(s.key)));
  if (keys.length !== 3 || keys.some((k, i) => k !== slots[i]))
    return { valid: false, reason: "the proof is not of this record's slots" };
  const record = decodeRecordWords(bundle.proof.storageProof.map((s) => BigInt(s.value)));
  if (!record) return { valid: false, reason: 'the state holds no record of this hash' };
  return {
    valid: true,
    record: { hash: bundle.hash.toLowerCase() as Hex, ...record, provenAt: Number(BigInt(bundle.header.height)) },
  };
}

/** A record's fields from its three storage words; undefined when the first is zero (no record). */
export function decodeRecordWords(
  words: readonly bigint[],
): { submitter: Hex; blockNumber: number; timestampMs: number; metaHash: Hex; tag: Hex } | undefined {
  const [head, metaHash, tag] = words.map((w) => word(`0x${w.toString(16)}`));
  if (!head || !metaHash || !tag || head.every((b) => b === 0)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, 32);
  return {
    submitter: bytesToHex(head.subarray(0, 20)),
    blockNumber: view.getUint16(20) * 2 ** 32 + view.getUint32(22),
    timestampMs: view.getUint16(26) * 2 ** 32 + view.getUint32(28),
    metaHash: bytesToHex(metaHash),
    tag: bytesToHex(tag),
  };
}
