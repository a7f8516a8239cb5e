/**
 * Checking what a gateway says against a header: account and storage proofs against its
 * `stateRoot` (`polis_getProof`, the sparse Merkle tree of ADR 0003), and receipt proofs against
 * its `receiptsRoot` (an RFC 6962 audit path). The header itself is tied to its block hash here;
 * checking that hash against the validators' commit certificate is the next layer (verified reads).
 */
import {
  bytesToHex,
  type Hex,
  hexToBytes,
  type PolisAccountProof,
  type ProofVerification,
  verifyMerkleProof,
  verifyPolisAccountProof,
} from '@polis/core';
import { type HeaderJson, headerHash } from './header.js';

/** A `polis_getProof` answer: the proof plus the block it was taken at. */
export type PolisProofAnswer = PolisAccountProof & { blockNumber: Hex; blockHash: Hex };

/** A `polis_getReceiptProof` answer. */
export type ReceiptProofAnswer = {
  transactionHash: Hex;
  blockNumber: Hex;
  blockHash: Hex;
  receipt: Hex;
  index: Hex;
  count: Hex;
  proof: Hex[];
  header: HeaderJson;
};

/** Whether `header` hashes to `blockHash` and is the header of `blockNumber`. */
export function verifyHeader(header: HeaderJson, blockHash: Hex, blockNumber?: Hex): ProofVerification {
  if (bytesToHex(headerHash(header)) !== blockHash.toLowerCase())
    return { valid: false, reason: 'the header does not hash to the block hash' };
  if (blockNumber !== undefined && BigInt(header.height) !== BigInt(blockNumber)) {
    return { valid: false, reason: `the header is of block ${BigInt(header.height)}, not ${BigInt(blockNumber)}` };
  }
  return { valid: true };
}

/** Checks an account proof (and its storage slots) against a header whose hash is `blockHash`. */
export function verifyAccountProof(header: HeaderJson, answer: PolisProofAnswer): ProofVerification {
  const h = verifyHeader(header, answer.blockHash, answer.blockNumber);
  if (!h.valid) return h;
  return verifyPolisAccountProof(hexToBytes(header.stateRoot), answer);
}

/** Checks a receipt proof: the header matches its hash, and the receipt is at its index under `receiptsRoot`. */
export function verifyReceiptProof(answer: ReceiptProofAnswer): ProofVerification {
  const h = verifyHeader(answer.header, answer.blockHash, answer.blockNumber);
  if (!h.valid) return h;
  try {
    const ok = verifyMerkleProof(
      hexToBytes(answer.header.receiptsRoot),
      hexToBytes(answer.receipt),
      Number(BigInt(answer.index)),
      Number(BigInt(answer.count)),
      answer.proof.map(hexToBytes),
    );
    return ok ? { valid: true } : { valid: false, reason: 'the receipt is not under the receipts root' };
  } catch (err) {
    return { valid: false, reason: `malformed receipt proof: ${err instanceof Error ? err.message : String(err)}` };
  }
}
