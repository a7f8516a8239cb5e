/**
 * @polis/sdk: the client side of Polis. Depends on @polis/core only, so that what it checks is
 * computed by the same code the ledger uses, and nothing of the node comes along.
 */

export * from './actions/getAccount.js';
export * from './actions/getBalance.js';
export * from './actions/getBlockNumber.js';
export * from './actions/getCertificate.js';
export * from './actions/getRecord.js';
export * from './actions/getStorageAt.js';
export * from './actions/getTransactionReceipt.js';
export * from './client.js';
export * from './commit.js';
export * from './errors.js';
export * from './header.js';
export * from './proofs.js';
export * from './records.js';
export * from './sealed.js';
export * from './services.js';
export * from './verify/chain.js';
export * from './verify/errors.js';
