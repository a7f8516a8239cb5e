/** The p2p layer of a city node: an admitted-peers-only libp2p host with one channel per ledger. */
export * from './errors.js';
export * from './frame.js';
export * from './host.js';
export * from './limits.js';
export * from './params.js';
export * from './types.js';
