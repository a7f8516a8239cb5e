/**
 * Ed25519 (RFC 8032). Node keys and consensus votes use it. Keys are raw bytes: a 32-byte seed
 * (the RFC's "secret key") and a 32-byte public key. In Node.js it runs on `node:crypto`, in
 * browsers on `@noble/curves` (`platform/`).
 */
import { edSigner, edVerify, randomBytes } from '#platform';
import { KeyError, KeyErrorCode } from './keyError.js';

/** Length of an Ed25519 seed, public key and signature, in bytes. */
export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

function assertSeed(seed: Uint8Array): void {
  if (seed.length !== ED25519_SEED_LENGTH) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_PRIVATE_KEY, curve: 'ed25519' },
      `an Ed25519 seed is 32 bytes, got ${seed.length}`,
    );
  }
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
  assertSeed(seed);
  return edSigner(seed);
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
    return edVerify(publicKey, message, signature);
  } catch {
    return false;
  }
}
