/**
 * Hash functions: keccak-256 (Ethereum's, not FIPS SHA3-256) and SHA-256. In Node.js they run on
 * the native `keccak` binding and `node:crypto`, in browsers on `@noble/hashes` (`platform/`).
 */
export { keccak256, sha256 } from '#platform';
