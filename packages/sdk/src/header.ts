/**
 * Block headers as the node serves them (`polis_getHeader`, and inside `polis_getReceiptProof`),
 * and their hash: keccak-256 of the RLP list of the fields in this order. The ledger computes the
 * same hash (packages/ledger/src/chain/codec.ts); a test keeps the two in step.
 */
import { type Hex, hexToBytes, keccak256, rlpEncode } from '@polis/core';

/** A header's fields as JSON: data as hex, quantities as hex quantities. */
export type HeaderJson = {
  ledgerId: Hex;
  chainId: Hex;
  height: Hex;
  time: Hex;
  parentHash: Hex;
  proposer: Hex;
  validatorsHash: Hex;
  nextValidatorsHash: Hex;
  txRoot: Hex;
  receiptsRoot: Hex;
  stateRoot: Hex;
  logsBloom: Hex;
  gasUsed: Hex;
  gasLimit: Hex;
};

const quantity = (q: Hex) => BigInt(q);

/** The block hash of a header: keccak-256 of its RLP encoding. */
export function headerHash(h: HeaderJson): Uint8Array {
  return keccak256(
    rlpEncode([
      hexToBytes(h.ledgerId),
      quantity(h.chainId),
      quantity(h.height),
      quantity(h.time),
      hexToBytes(h.parentHash),
      hexToBytes(h.proposer),
      hexToBytes(h.validatorsHash),
      hexToBytes(h.nextValidatorsHash),
      hexToBytes(h.txRoot),
      hexToBytes(h.receiptsRoot),
      hexToBytes(h.stateRoot),
      hexToBytes(h.logsBloom),
      quantity(h.gasUsed),
      quantity(h.gasLimit),
    ]),
  );
}
