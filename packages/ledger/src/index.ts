/**
 * @polis/ledger: the ledger database (one LMDB environment per node) and the state store of an
 * app ledger: flat accounts, storage and code, with a Merkle commitment and its proofs.
 */

export * from './chain/bloom.js';
export * from './chain/codec.js';
export * from './chain/mempool.js';
export * from './chain/store.js';
export * from './chain/transactions.js';
export * from './chain/types.js';
export * from './db.js';
export * from './errors.js';
export { decodeAccount, encodeAccount, storageKey, stripZeros } from './state/codec.js';
export * from './state/commitment.js';
export * from './state/constructors.js';
export { MPTCommitment, type MPTCommitmentOptions } from './state/mpt.js';
export { verifyEthAccountProof } from './state/mptProof.js';
export * from './state/params.js';
export { verifyStateProof } from './state/proof.js';
export { SMTCommitment } from './state/smt.js';
export {
  fromQuantity,
  smtAccountKey,
  smtPathBytes,
  smtStorageKey,
  toQuantity,
  verifyPolisAccountProof,
  verifySMTPath,
} from './state/smtProof.js';
export { type CommitBlockOptions, type CommitBlockResult, NONCE_CACHE_MAX, StateStore } from './state/store.js';
export * from './state/types.js';
export { createStateWriteSet, validateWriteSet, writeSetSize } from './state/writeSet.js';
