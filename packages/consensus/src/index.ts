/**
 * @polis/consensus: the Tendermint consensus core (pure), its message codec and certificates.
 * The consensus package never imports execution code: blocks are opaque values to it.
 */
export * from './certificate.js';
export * from './core/machine.js';
export * from './core/voteKeeper.js';
export * from './engine/engine.js';
export * from './engine/types.js';
export * from './engine/wal.js';
export * from './engine/wire.js';
export * from './messages.js';
export * from './params.js';
export * from './types.js';
export * from './validators.js';
