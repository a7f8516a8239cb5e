/**
 * The binary sparse Merkle tree's hashing rules and pure proof verifier live in @polis/core
 * (`sparseMerkle.ts`), so that the SDK checks proofs with the very code the ledger builds them with.
 */
export {
  fromQuantity,
  isEmptySubtree,
  SMT_INNER_PREFIX,
  SMT_LEAF_PREFIX,
  SMT_MAX_DEPTH,
  smtAccountKey,
  smtInnerNode,
  smtKeyBit,
  smtLeafNode,
  smtPathBytes,
  smtStorageKey,
  toQuantity,
  verifyPolisAccountProof,
  verifySMTPath,
} from '@polis/core';
