/**
 * Hash functions: keccak-256 (Ethereum's, not FIPS SHA3-256) through the native `keccak`
 * binding, and SHA-256 through `node:crypto`.
 */
import { hash } from 'node:crypto';
// The bindings entry is imported on purpose: the package's main entry silently falls back to a
// slow pure-JS implementation when the native addon is missing, and we would rather fail loudly.
import createKeccakHash from 'keccak/bindings.js';

/** keccak-256 of `data` (32 bytes). */
export function keccak256(data: Uint8Array): Uint8Array {
  const digest = createKeccakHash('keccak256')
    .update(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    .digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** SHA-256 of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  // The one-shot crypto.hash (Node 20.12+) skips the Hash object createHash builds; the sparse
  // Merkle tree of the state commitment hashes tens of thousands of 65-byte nodes per block.
  const digest = hash('sha256', data, 'buffer');
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}
