/**
 * secp256k1 keys, signatures and public-key recovery. These are the keys of Ethereum accounts. In
 * Node.js they run on the native `secp256k1` binding (libsecp256k1), in browsers on
 * `@noble/curves` (`platform/`).
 */
import {
  randomBytes,
  secpPrivateKeyVerify,
  secpPublicKeyConvert,
  secpPublicKeyCreate,
  secpRecover,
  secpSign,
  secpVerify,
} from '#platform';
import { bytesToHex, type Hex, hexToBytes } from './bytes.js';
import { keccak256 } from './hash.js';
import { KeyError, KeyErrorCode } from './keyError.js';

/** A recoverable secp256k1 signature: 64 bytes `r || s` (low-s) and the recovery id. */
export type Secp256k1Signature = { r: Uint8Array; s: Uint8Array; recovery: 0 | 1 | 2 | 3; bytes: Uint8Array };

/** A 20-byte Ethereum address. */
export type Address = Uint8Array;

function assertHash(msgHash: Uint8Array): void {
  if (msgHash.length !== 32) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_MESSAGE_HASH, length: msgHash.length },
      `a message hash must be 32 bytes, got ${msgHash.length}`,
      { hint: 'Hash the message with keccak256 first' },
    );
  }
}

/** Whether `privateKey` is a valid secp256k1 private key. */
export function isSecp256k1PrivateKey(privateKey: Uint8Array): boolean {
  return secpPrivateKeyVerify(privateKey);
}

function assertPrivateKey(privateKey: Uint8Array): void {
  if (!isSecp256k1PrivateKey(privateKey)) {
    throw new KeyError({ code: KeyErrorCode.INVALID_PRIVATE_KEY, curve: 'secp256k1' }, 'invalid secp256k1 private key', {
      hint: 'A private key is 32 bytes, non-zero and below the curve order',
    });
  }
}

/** Creates a random secp256k1 private key; `random` is injectable for deterministic tests. */
export function generateSecp256k1PrivateKey(random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  for (let i = 0; i < 16; i++) {
    const key = new Uint8Array(random(32));
    if (isSecp256k1PrivateKey(key)) return key;
  }
  // Sixteen invalid draws in a row has probability ~2^-2000 with a real random source.
  throw new Error('random source produced no valid secp256k1 key in 16 draws');
}

/** The public key of `privateKey`: 65 bytes uncompressed (`0x04 || x || y`) or 33 compressed. */
export function secp256k1PublicKey(privateKey: Uint8Array, compressed = false): Uint8Array {
  assertPrivateKey(privateKey);
  return secpPublicKeyCreate(privateKey, compressed);
}

/** Signs a 32-byte hash; the signature is deterministic (RFC 6979) and low-s. */
export function secp256k1Sign(msgHash: Uint8Array, privateKey: Uint8Array): Secp256k1Signature {
  assertHash(msgHash);
  assertPrivateKey(privateKey);
  const { signature, recovery } = secpSign(msgHash, privateKey);
  return {
    r: signature.slice(0, 32),
    s: signature.slice(32, 64),
    recovery: recovery as 0 | 1 | 2 | 3,
    bytes: signature,
  };
}

/** Recovers the uncompressed public key (65 bytes) that produced a signature over `msgHash`. */
export function secp256k1Recover(msgHash: Uint8Array, signature: Uint8Array, recovery: number): Uint8Array {
  assertHash(msgHash);
  if (signature.length !== 64 || !Number.isInteger(recovery) || recovery < 0 || recovery > 3) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_SIGNATURE, reason: 'expected 64 bytes r||s and a recovery id 0..3' },
      'malformed secp256k1 signature',
      { hint: 'Pass the 64-byte r||s signature and its recovery id' },
    );
  }
  try {
    return secpRecover(msgHash, signature, recovery);
  } catch (cause) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_SIGNATURE, reason: 'no public key recovers from it' },
      'the secp256k1 signature does not recover to a public key',
      { cause },
    );
  }
}

/** Verifies a (non-recoverable) secp256k1 signature; returns false rather than throwing. */
export function secp256k1Verify(msgHash: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (msgHash.length !== 32 || signature.length !== 64) return false;
  try {
    return secpVerify(msgHash, signature, publicKey);
  } catch {
    return false;
  }
}

/** The Ethereum address of a public key: the last 20 bytes of keccak-256 of `x || y`. */
export function publicKeyToAddress(publicKey: Uint8Array): Address {
  let uncompressed = publicKey;
  if (publicKey.length === 33) uncompressed = secpPublicKeyConvert(publicKey, false);
  if (uncompressed.length !== 65 || uncompressed[0] !== 4) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_PUBLIC_KEY, curve: 'secp256k1', length: publicKey.length },
      `a secp256k1 public key is 33 or 65 bytes, got ${publicKey.length}`,
    );
  }
  return keccak256(uncompressed.subarray(1)).slice(12);
}

/** The Ethereum address of a private key. */
export function privateKeyToAddress(privateKey: Uint8Array): Address {
  return publicKeyToAddress(secp256k1PublicKey(privateKey));
}

/** EIP-55: the mixed-case checksum form of an address. */
export function toChecksumAddress(address: Address | Hex): Hex {
  const hex = (typeof address === 'string' ? bytesToHex(hexToBytes(address)) : bytesToHex(address)).slice(2);
  if (hex.length !== 40) {
    throw new KeyError(
      { code: KeyErrorCode.INVALID_PUBLIC_KEY, curve: 'secp256k1', length: hex.length / 2 },
      `an address is 20 bytes, got ${hex.length / 2}`,
    );
  }
  // EIP-55: upper-case a letter when the matching nibble of keccak256(lowercase hex) is >= 8.
  const hash = bytesToHex(keccak256(new TextEncoder().encode(hex))).slice(2);
  let out = '0x';
  for (let i = 0; i < 40; i++) {
    const c = hex[i] as string;
    out += Number.parseInt(hash[i] as string, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out as Hex;
}
