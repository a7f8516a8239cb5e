/** @polis/node: a city node. `startNode` is its composition root. */
export * from './commit.js';
export * from './config.js';
export * from './gateway/access.js';
export * from './gateway/jsonrpc.js';
export * from './ledgerApp.js';
export * from './node.js';
export * from './rpc/errors.js';
export * from './rpc/eth.js';
export * from './setup.js';
export * from './system/follower.js';
export * from './system/host.js';
export * from './system/systemApp.js';
export * from './walFile.js';
