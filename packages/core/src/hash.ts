/**
 * Hash functions: keccak-256 (Ethereum's, not FIPS SHA3-256) through the native `keccak`
 * binding, and SHA-256 through `node:crypto`.
 */
import { hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** The `keccak` package's native sponge state. */
type KeccakState = {
  initialize(rate: number, capacity: number): void;
  absorb(data: Buffer): void;
  squeeze(bytes: number): Buffer;
};

// The native addon is loaded the way the `keccak` package loads it (node-gyp-build from its own
// directory), not through its main entry, which silently falls back to a slow pure-JS
// implementation when the addon is missing: we would rather fail loudly. Its stream wrapper is
// skipped too: building a Transform stream per hash cost about 2.5 µs of a 3.6 µs hash, and the
// state machine below is reused (hashing is synchronous, so calls never interleave).
const require = createRequire(import.meta.url);
const KECCAK_DIR = dirname(require.resolve('keccak/package.json'));
const loadAddon = require(require.resolve('node-gyp-build', { paths: [KECCAK_DIR] })) as (dir: string) => new () => KeccakState;
const keccakState = new (loadAddon(KECCAK_DIR))();
// keccak-256: rate 1088 bits, capacity 512, no domain suffix (Ethereum's, not FIPS SHA3-256).
const KECCAK256_RATE = 1088;
const KECCAK256_CAPACITY = 512;

/** keccak-256 of `data` (32 bytes). */
export function keccak256(data: Uint8Array): Uint8Array {
  keccakState.initialize(KECCAK256_RATE, KECCAK256_CAPACITY);
  keccakState.absorb(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const digest = keccakState.squeeze(32);
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** SHA-256 of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  // The one-shot crypto.hash (Node 20.12+) skips the Hash object createHash builds; the sparse
  // Merkle tree of the state commitment hashes tens of thousands of 65-byte nodes per block.
  const digest = hash('sha256', data, 'buffer');
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}
