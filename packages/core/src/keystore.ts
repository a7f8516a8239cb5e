/**
 * Key files encrypted at rest, in the Ethereum keystore v3 format ("Web3 Secret Storage
 * Definition"): a KDF (scrypt or PBKDF2-HMAC-SHA256) derives 32 bytes from the password; the
 * first 16 are the AES-128-CTR key, and the MAC is keccak-256(derived[16..32] || ciphertext).
 *
 * Polis stores Ed25519 node keys in the same format. The only addition is an optional
 * `keyType` field (`"secp256k1"`, the default, or `"ed25519"`); for an Ed25519 key the
 * encrypted secret is the 32-byte RFC 8032 seed and `address` is absent. Tools that do not know
 * `keyType` ignore it, so secp256k1 files stay interchangeable with geth, ethers and Foundry.
 *
 * This module computes; it does not read or write files.
 */
import { aes128Ctr, constantTimeEqual, pbkdf2Sha256, randomBytes, scrypt } from '#platform';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from './bytes.js';
import { ED25519_SEED_LENGTH } from './ed25519.js';
import { PolisError } from './errors.js';
import { keccak256 } from './hash.js';
import { privateKeyToAddress } from './secp256k1.js';

/** Codes for keystore errors. */
export enum KeystoreErrorCode {
  /** The JSON is not a keystore v3 document, or uses a KDF or cipher we do not support. */
  MALFORMED = 'KEYSTORE_ERROR_MALFORMED',
  /** The MAC does not match: the password is wrong or the file was altered. */
  WRONG_PASSWORD = 'KEYSTORE_ERROR_WRONG_PASSWORD',
  /** The KDF parameters ask for more work or memory than we allow. */
  KDF_TOO_EXPENSIVE = 'KEYSTORE_ERROR_KDF_TOO_EXPENSIVE',
}

/** The payload of a `KeystoreError`. */
export type KeystoreErrorType =
  | { code: KeystoreErrorCode.MALFORMED; field: string }
  | { code: KeystoreErrorCode.WRONG_PASSWORD }
  | { code: KeystoreErrorCode.KDF_TOO_EXPENSIVE; kdf: string; cost: number; max: number };

/** An error while encrypting or decrypting a key file. */
export class KeystoreError extends PolisError<KeystoreErrorType> {
  override name = 'KeystoreError';
}

/** The kind of key a keystore holds. */
export type KeyType = 'secp256k1' | 'ed25519';

/** A keystore v3 document. */
export type KeystoreV3 = {
  version: 3;
  id: string;
  address?: string;
  keyType?: KeyType;
  crypto: {
    cipher: 'aes-128-ctr';
    cipherparams: { iv: string };
    ciphertext: string;
    kdf: 'scrypt' | 'pbkdf2';
    kdfparams: ScryptParams | Pbkdf2Params;
    mac: string;
  };
};

/** scrypt parameters as stored in a keystore (hex salt without `0x`). */
export type ScryptParams = { dklen: number; n: number; r: number; p: number; salt: string };
/** PBKDF2 parameters as stored in a keystore (hex salt without `0x`). */
export type Pbkdf2Params = { dklen: number; c: number; prf: 'hmac-sha256'; salt: string };

/** Options for `encryptKeystore`. */
export type EncryptKeystoreOptions = {
  keyType?: KeyType;
  /** The scrypt cost N (a power of two). geth's "standard" 262144 is the default. */
  scryptN?: number;
  /** The random source for the salt, IV and id; injectable for reproducible tests. */
  random?: (n: number) => Uint8Array;
};

/** geth's "standard" scrypt cost. */
export const SCRYPT_N_STANDARD = 262_144;
/** geth's "light" scrypt cost, for tests and throw-away dev keys. */
export const SCRYPT_N_LIGHT = 4_096;
// A file could otherwise make us spend minutes or gigabytes of memory deriving its key.
const SCRYPT_N_MAX = 1 << 20;
const PBKDF2_C_MAX = 10_000_000;

const strip = (bytes: Uint8Array): string => bytesToHex(bytes).slice(2);
const unstrip = (hex: string, field: string): Uint8Array => {
  if (typeof hex !== 'string') malformed(field);
  return hexToBytes(hex.startsWith('0x') ? hex : `0x${hex}`);
};

function malformed(field: string): never {
  throw new KeystoreError({ code: KeystoreErrorCode.MALFORMED, field }, `the key file has a missing or invalid "${field}"`, {
    hint: 'Use a keystore v3 file (scrypt or pbkdf2, aes-128-ctr) as written by polis, geth, ethers or Foundry',
  });
}

function deriveKey(password: string, kdf: string, params: ScryptParams | Pbkdf2Params): Uint8Array {
  const salt = unstrip(params.salt, 'crypto.kdfparams.salt');
  if (params.dklen !== 32) malformed('crypto.kdfparams.dklen');
  if (kdf === 'scrypt') {
    const { n, r, p } = params as ScryptParams;
    if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0 || !Number.isInteger(r) || r < 1 || !Number.isInteger(p) || p < 1) {
      malformed('crypto.kdfparams');
    }
    if (n * r * p > SCRYPT_N_MAX * 8) {
      throw new KeystoreError(
        { code: KeystoreErrorCode.KDF_TOO_EXPENSIVE, kdf, cost: n * r * p, max: SCRYPT_N_MAX * 8 },
        `the key file's scrypt cost n*r*p=${n * r * p} is above the limit ${SCRYPT_N_MAX * 8}`,
        { hint: 'Re-encrypt the key with a standard cost (n=262144, r=8, p=1)' },
      );
    }
    return scrypt(utf8ToBytes(password), salt, n, r, p, 32);
  }
  if (kdf === 'pbkdf2') {
    const { c, prf } = params as Pbkdf2Params;
    if (prf !== 'hmac-sha256') malformed('crypto.kdfparams.prf');
    if (!Number.isInteger(c) || c < 1) malformed('crypto.kdfparams.c');
    if (c > PBKDF2_C_MAX) {
      throw new KeystoreError(
        { code: KeystoreErrorCode.KDF_TOO_EXPENSIVE, kdf, cost: c, max: PBKDF2_C_MAX },
        `the key file's PBKDF2 iteration count ${c} is above the limit ${PBKDF2_C_MAX}`,
        { hint: 'Re-encrypt the key with at most 10,000,000 iterations' },
      );
    }
    return pbkdf2Sha256(utf8ToBytes(password), salt, c, 32);
  }
  return malformed('crypto.kdf');
}

function uuidV4(random: (n: number) => Uint8Array): string {
  const b = new Uint8Array(random(16));
  // RFC 4122 section 4.4: version 4, variant 10xx.
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = strip(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Encrypts a 32-byte secret (a secp256k1 private key or an Ed25519 seed) into a keystore v3 document. */
export function encryptKeystore(secret: Uint8Array, password: string, options: EncryptKeystoreOptions = {}): KeystoreV3 {
  const keyType = options.keyType ?? 'secp256k1';
  const random = options.random ?? randomBytes;
  const n = options.scryptN ?? SCRYPT_N_STANDARD;
  if (secret.length !== ED25519_SEED_LENGTH) malformed('secret');
  const kdfparams: ScryptParams = { dklen: 32, n, r: 8, p: 1, salt: strip(new Uint8Array(random(32))) };
  const derived = deriveKey(password, 'scrypt', kdfparams);
  const iv = new Uint8Array(random(16));
  const ciphertext = aes128Ctr(derived.subarray(0, 16), iv, secret);
  const mac = keccak256(concatBytes(derived.subarray(16, 32), ciphertext));
  return {
    version: 3,
    id: uuidV4(random),
    ...(keyType === 'secp256k1' ? { address: strip(privateKeyToAddress(secret)) } : {}),
    keyType,
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: strip(iv) },
      ciphertext: strip(ciphertext),
      kdf: 'scrypt',
      kdfparams,
      mac: strip(mac),
    },
  };
}

/** Decrypts a keystore v3 document (an object or its JSON text) and returns the secret and its type. */
export function decryptKeystore(keystore: unknown, password: string): { secret: Uint8Array; keyType: KeyType } {
  let doc = keystore;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc);
    } catch {
      malformed('json');
    }
  }
  if (typeof doc !== 'object' || doc === null) malformed('json');
  // Some writers (old geth) spell the field "Crypto".
  const d = doc as Partial<KeystoreV3> & { Crypto?: KeystoreV3['crypto'] };
  if (d.version !== 3) malformed('version');
  const crypto = d.crypto ?? d.Crypto;
  if (typeof crypto !== 'object' || crypto === null) malformed('crypto');
  if (crypto.cipher !== 'aes-128-ctr') malformed('crypto.cipher');
  if (typeof crypto.kdfparams !== 'object' || crypto.kdfparams === null) malformed('crypto.kdfparams');
  const keyType = d.keyType ?? 'secp256k1';
  if (keyType !== 'secp256k1' && keyType !== 'ed25519') malformed('keyType');

  const derived = deriveKey(password, crypto.kdf, crypto.kdfparams);
  const ciphertext = unstrip(crypto.ciphertext, 'crypto.ciphertext');
  const mac = unstrip(crypto.mac, 'crypto.mac');
  const expected = keccak256(concatBytes(derived.subarray(16, 32), ciphertext));
  if (mac.length !== 32 || !constantTimeEqual(mac, expected)) {
    throw new KeystoreError({ code: KeystoreErrorCode.WRONG_PASSWORD }, 'the password does not open this key file', {
      hint: 'Check the password (POLIS_PASSWORD or --password-file); if it is right, the file was altered',
    });
  }
  const iv = unstrip(crypto.cipherparams?.iv, 'crypto.cipherparams.iv');
  if (iv.length !== 16) malformed('crypto.cipherparams.iv');
  const secret = aes128Ctr(derived.subarray(0, 16), iv, ciphertext);
  if (secret.length !== 32) malformed('crypto.ciphertext');
  return { secret, keyType };
}
