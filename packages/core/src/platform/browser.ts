/**
 * The cryptographic primitives of `@polis/core` in browsers: audited pure-JS implementations
 * from `@noble` and the Web Crypto random source. Node.js gets `node.ts` instead, through the
 * `#platform` import of package.json; the two export the same functions and give the same bytes
 * (platform.test.ts runs both on the same inputs).
 */
import { ctr } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { scrypt as nobleScrypt } from '@noble/hashes/scrypt.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

/** keccak-256 of `data` (32 bytes). */
export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}

/** SHA-256 of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** `n` bytes from the Web Crypto secure random source. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let i = 0; i < n; i += 65_536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65_536)));
  return out;
}

/** Whether two byte strings are equal, in time that depends only on their length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** Whether `key` is 32 bytes, non-zero and below the secp256k1 group order. */
export function secpPrivateKeyVerify(key: Uint8Array): boolean {
  return key.length === 32 && secp256k1.utils.isValidSecretKey(key);
}

/** The public key of a valid private key: 65 bytes uncompressed or 33 compressed. */
export function secpPublicKeyCreate(key: Uint8Array, compressed: boolean): Uint8Array {
  return secp256k1.getPublicKey(key, compressed);
}

/** A public key re-encoded (33 <-> 65 bytes); throws on a point not on the curve. */
export function secpPublicKeyConvert(publicKey: Uint8Array, compressed: boolean): Uint8Array {
  return secp256k1.Point.fromBytes(publicKey).toBytes(compressed);
}

/** RFC 6979 low-s ECDSA over a 32-byte hash: `r || s` and the recovery id. */
export function secpSign(msgHash: Uint8Array, key: Uint8Array): { signature: Uint8Array; recovery: number } {
  // 'recovered' is the recovery byte followed by r || s; prehash off because msgHash is the hash.
  const sig = secp256k1.sign(msgHash, key, { prehash: false, lowS: true, format: 'recovered' });
  return { signature: sig.slice(1), recovery: sig[0] as number };
}

/** The uncompressed public key that produced `signature` (`r || s`); throws when none does. */
export function secpRecover(msgHash: Uint8Array, signature: Uint8Array, recovery: number): Uint8Array {
  const recovered = new Uint8Array(65);
  recovered[0] = recovery;
  recovered.set(signature, 1);
  const compressed = secp256k1.recoverPublicKey(recovered, msgHash, { prehash: false });
  return secp256k1.Point.fromBytes(compressed).toBytes(false);
}

/** Whether `signature` (`r || s`, low-s) over `msgHash` is by `publicKey`; throws on a malformed key. */
export function secpVerify(msgHash: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  secp256k1.Point.fromBytes(publicKey);
  return secp256k1.verify(signature, msgHash, publicKey, { prehash: false, lowS: true, format: 'compact' });
}

/** An Ed25519 signer for a 32-byte seed. */
export function edSigner(seed: Uint8Array): { publicKey: Uint8Array; sign(message: Uint8Array): Uint8Array } {
  const secret = Uint8Array.from(seed);
  return { publicKey: ed25519.getPublicKey(secret), sign: (message) => ed25519.sign(message, secret) };
}

/** Verifies an Ed25519 signature (RFC 8032); throws on a malformed public key. */
export function edVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  ed25519.Point.fromBytes(publicKey);
  // Strict RFC 8032 (as OpenSSL in node.ts), not the more permissive ZIP-215 rules.
  return ed25519.verify(signature, message, publicKey, { zip215: false });
}

/** scrypt (RFC 7914) of a password. */
export function scrypt(password: Uint8Array, salt: Uint8Array, n: number, r: number, p: number, dkLen: number): Uint8Array {
  return nobleScrypt(password, salt, { N: n, r, p, dkLen });
}

/** PBKDF2-HMAC-SHA256 of a password. */
export function pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, dkLen: number): Uint8Array {
  return pbkdf2(nobleSha256, password, salt, { c: iterations, dkLen });
}

/** AES-128-CTR of `data` (encryption and decryption are the same operation). */
export function aes128Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return ctr(key, iv).encrypt(data);
}

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of `data`, without a prefix. */
export function hexEncode(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i++) out += HEX_DIGITS[data[i] as number];
  return out;
}

/** The bytes of an even-length hex string without a prefix, already checked to be hex. */
export function hexDecode(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Whether two byte arrays of equal length hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic order of two byte arrays, shorter first on a common prefix. */
export function orderBytes(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** `n` bytes the caller overwrites in full. */
export function allocUnsafe(n: number): Uint8Array {
  return new Uint8Array(n);
}
