/**
 * Ed25519 (RFC 8032) through `node:crypto`. Node keys and consensus votes use it.
 *
 * Keys are handled as raw bytes: a 32-byte seed (the RFC's "secret key") and a 32-byte public key.
 * `node:crypto` wants DER, so we wrap the raw bytes in the fixed PKCS#8 and SPKI prefixes for the
 * Ed25519 OID 1.3.101.112 (RFC 8410).
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { concatBytes } from './bytes.js';
import { KeyError, KeyErrorCode } from './keyError.js';

// RFC 8410: PrivateKeyInfo { version 0, AlgorithmIdentifier { id-Ed25519 }, OCTET STRING { OCTET STRING seed } }.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
// RFC 8410: SubjectPublicKeyInfo { AlgorithmIdentifier { id-Ed25519 }, BIT STRING key }.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** Length of an Ed25519 seed, public key and signature, in bytes. */
export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

function seedToKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== ED25519_SEED_LENGTH) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_PRIVATE_KEY, curve: 'ed25519' },
      `an Ed25519 seed is 32 bytes, got ${seed.length}`,
    );
  }
  return createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, seed)), format: 'der', type: 'pkcs8' });
}

function publicKeyToKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(concatBytes(SPKI_PREFIX, publicKey)), format: 'der', type: 'spki' });
}

/** Creates a random Ed25519 seed; `random` is injectable for deterministic tests. */
export function generateEd25519Seed(random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  return new Uint8Array(random(ED25519_SEED_LENGTH));
}

/** A signer that holds a parsed Ed25519 key, so that signing many messages skips the DER parse. */
export type Ed25519Signer = {
  /** The 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** Signs `message` (64-byte signature). */
  sign(message: Uint8Array): Uint8Array;
};

/** Builds an `Ed25519Signer` from a 32-byte seed. */
export function createEd25519Signer(seed: Uint8Array): Ed25519Signer {
  const privateKey = seedToKeyObject(seed);
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  return {
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** The 32-byte public key of a seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return createEd25519Signer(seed).publicKey;
}

/** Signs `message` with a seed (64-byte signature). Build a signer instead when signing often. */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return createEd25519Signer(seed).sign(message);
}

/** Verifies an Ed25519 signature; malformed keys or signatures give false, never an exception. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  try {
    return verify(null, message, publicKeyToKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}
