/** Errors with keys and signatures, shared by the secp256k1, Ed25519 and keystore modules. */
import { PolisError } from './errors.js';

/** Codes for errors with keys and signatures. */
export enum KeyErrorCode {
  /** A private key is not 32 bytes, or not a valid scalar for its curve. */
  INVALID_PRIVATE_KEY = 'KEY_ERROR_INVALID_PRIVATE_KEY',
  /** A public key has the wrong length or is not a point on the curve. */
  INVALID_PUBLIC_KEY = 'KEY_ERROR_INVALID_PUBLIC_KEY',
  /** A signature has the wrong length or a recovery id outside 0..3. */
  INVALID_SIGNATURE = 'KEY_ERROR_INVALID_SIGNATURE',
  /** A message hash is not 32 bytes. */
  INVALID_MESSAGE_HASH = 'KEY_ERROR_INVALID_MESSAGE_HASH',
}

/** The payload of a `KeyError`. */
export type KeyErrorType =
  | { code: KeyErrorCode.INVALID_PRIVATE_KEY; curve: 'secp256k1' | 'ed25519' }
  | { code: KeyErrorCode.INVALID_PUBLIC_KEY; curve: 'secp256k1' | 'ed25519'; length: number }
  | { code: KeyErrorCode.INVALID_SIGNATURE; reason: string }
  | { code: KeyErrorCode.INVALID_MESSAGE_HASH; length: number };

/** An error with a key or a signature. */
export class KeyError extends PolisError<KeyErrorType> {
  override name = 'KeyError';
}
