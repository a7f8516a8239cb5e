/**
 * The cryptographic primitives of `@polis/core` in Node.js: native keccak and libsecp256k1
 * bindings and `node:crypto`. Browsers get `browser.ts` instead, through the `#platform` import
 * of package.json; the two export the same functions and give the same bytes (platform.test.ts).
 */
import {
  createCipheriv,
  createPrivateKey,
  createPublicKey,
  hash,
  type KeyObject,
  randomBytes as nodeRandomBytes,
  pbkdf2Sync,
  scryptSync,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { scrypt as nobleScrypt } from '@noble/hashes/scrypt.js';
import secp from 'secp256k1/bindings.js';

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

function bytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** keccak-256 of `data` (32 bytes). */
export function keccak256(data: Uint8Array): Uint8Array {
  keccakState.initialize(KECCAK256_RATE, KECCAK256_CAPACITY);
  keccakState.absorb(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return bytes(keccakState.squeeze(32));
}

/** SHA-256 of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  // The one-shot crypto.hash (Node 20.12+) skips the Hash object createHash builds; the sparse
  // Merkle tree of the state commitment hashes tens of thousands of 65-byte nodes per block.
  return bytes(hash('sha256', data, 'buffer'));
}

/** `n` bytes from the operating system's secure random source. */
export function randomBytes(n: number): Uint8Array {
  return bytes(nodeRandomBytes(n));
}

/** Whether two byte strings are equal, in time that depends only on their length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether `key` is 32 bytes, non-zero and below the secp256k1 group order. */
export function secpPrivateKeyVerify(key: Uint8Array): boolean {
  return key.length === 32 && secp.privateKeyVerify(key);
}

/** The public key of a valid private key: 65 bytes uncompressed or 33 compressed. */
export function secpPublicKeyCreate(key: Uint8Array, compressed: boolean): Uint8Array {
  return secp.publicKeyCreate(key, compressed);
}

/** A public key re-encoded (33 <-> 65 bytes); throws on a point not on the curve. */
export function secpPublicKeyConvert(publicKey: Uint8Array, compressed: boolean): Uint8Array {
  return secp.publicKeyConvert(publicKey, compressed);
}

/** RFC 6979 low-s ECDSA over a 32-byte hash: `r || s` and the recovery id. */
export function secpSign(msgHash: Uint8Array, key: Uint8Array): { signature: Uint8Array; recovery: number } {
  const { signature, recid } = secp.ecdsaSign(msgHash, key);
  return { signature, recovery: recid };
}

/** The uncompressed public key that produced `signature` (`r || s`); throws when none does. */
export function secpRecover(msgHash: Uint8Array, signature: Uint8Array, recovery: number): Uint8Array {
  return secp.ecdsaRecover(signature, recovery, msgHash, false);
}

/** Whether `signature` (`r || s`, low-s) over `msgHash` is by `publicKey`; throws on a malformed key. */
export function secpVerify(msgHash: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  return secp.ecdsaVerify(signature, msgHash, publicKey);
}

// RFC 8410: PrivateKeyInfo { version 0, AlgorithmIdentifier { id-Ed25519 }, OCTET STRING { OCTET STRING seed } }.
// node:crypto wants DER, so the raw 32-byte seed and public key are wrapped in these fixed prefixes.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
// RFC 8410: SubjectPublicKeyInfo { AlgorithmIdentifier { id-Ed25519 }, BIT STRING key }.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

function withPrefix(prefix: Uint8Array, key: Uint8Array): Buffer {
  const der = Buffer.alloc(prefix.length + key.length);
  der.set(prefix, 0);
  der.set(key, prefix.length);
  return der;
}

/** An Ed25519 signer for a 32-byte seed that keeps the parsed key, so that signing many messages skips the DER parse. */
export function edSigner(seed: Uint8Array): { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array } {
  const privateKey: KeyObject = createPrivateKey({ key: withPrefix(PKCS8_PREFIX, seed), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return {
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** Verifies an Ed25519 signature (RFC 8032); throws on a malformed public key. */
export function edVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verify(null, message, edPublicKey(publicKey), signature);
}

/** Parsed Ed25519 public keys: a node verifies the same few validators' votes all day. */
const ED_KEYS_MAX = 1024;
const edKeys = new Map<string, KeyObject>();

/** The key object of a raw public key (OpenSSL parses one in about 20 µs), from a bounded cache. */
function edPublicKey(publicKey: Uint8Array): KeyObject {
  const id = hexEncode(publicKey);
  let key = edKeys.get(id);
  if (!key) {
    key = createPublicKey({ key: withPrefix(SPKI_PREFIX, publicKey), format: 'der', type: 'spki' });
    if (edKeys.size >= ED_KEYS_MAX) edKeys.clear();
    edKeys.set(id, key);
  }
  return key;
}

/** scrypt (RFC 7914) of a password. */
export function scrypt(password: Uint8Array, salt: Uint8Array, n: number, r: number, p: number, dkLen: number): Uint8Array {
  // OpenSSL refuses N >= 2^(16r) (RFC 7914 asks N < 2^(128r/8)), yet real key files use such
  // parameters, the keystore v3 test vector among them; those fall back to @noble/hashes.
  if (n >= 2 ** (16 * r)) return nobleScrypt(password, salt, { N: n, r, p, dkLen });
  return bytes(scryptSync(password, salt, dkLen, { N: n, r, p, maxmem: 128 * (n + 2) * r + 128 * r * p + 1024 * 1024 }));
}

/** PBKDF2-HMAC-SHA256 of a password. */
export function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, dkLen: number): Uint8Array {
  return bytes(pbkdf2Sync(password, salt, iterations, dkLen, 'sha256'));
}

/** AES-128-CTR of `data` (encryption and decryption are the same operation). */
export function aes128Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return bytes(Buffer.concat([cipher.update(data), cipher.final()]));
}

/** Lower-case hex of `data`, without a prefix. */
export function hexEncode(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

/** The bytes of an even-length hex string without a prefix, already checked to be hex. */
export function hexDecode(hex: string): Uint8Array {
  return bytes(Buffer.from(hex, 'hex'));
}

/** Whether two byte arrays of equal length hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Lexicographic order of two byte arrays, shorter first on a common prefix. */
export function orderBytes(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).compare(b) as -1 | 0 | 1;
}

/**
 * `n` bytes the caller overwrites in full. V8 gives typed arrays over 64 bytes their own off-heap
 * backing store, slow to make and to collect; Buffer.allocUnsafe carves small ones out of a pool.
 */
export function allocUnsafe(n: number): Uint8Array {
  return Buffer.allocUnsafe(n);
}
