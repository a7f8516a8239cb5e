/**
 * @polis/sdk: the client side of Polis. Depends on @polis/core only, so that what it checks is
 * computed by the same code the ledger uses, and nothing of the node comes along.
 */
export * from './client.js';
export * from './commit.js';
export * from './errors.js';
export * from './header.js';
export * from './proofs.js';
export * from './records.js';
export * from './services.js';
