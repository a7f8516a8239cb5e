/**
 * @polis/core: bytes, hashing, keys and signatures, Merkle trees and their proof verifiers, the canonical codec and typed
 * errors. Nothing in this package does I/O: no files, no network, no clock.
 */
export * from './bytes.js';
export * from './codec.js';
export * from './ed25519.js';
export * from './errors.js';
export * from './hash.js';
export * from './keyError.js';
export * from './keystore.js';
export * from './merkle.js';
export * from './random.js';
export * from './secp256k1.js';
export * from './sparseMerkle.js';
