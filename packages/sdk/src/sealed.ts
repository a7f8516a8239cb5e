/**
 * Sealed payloads: data encrypted for a chosen set of recipients (participants and, when an app's
 * policy says so, a regulator), so the ledger can hold it while only those recipients read it.
 * See docs/adr/0009-sealed-payloads.md for the construction and why.
 *
 * In short, in the style of age and HPKE's base mode (RFC 9180):
 * - a random 32-byte content key encrypts `salt || plaintext` with AES-256-GCM (NIST SP 800-38D),
 *   with the envelope's header (version, commitment, recipients) as associated data, so changing
 *   any byte of the header, the nonce or the ciphertext makes every recipient's open fail;
 * - for each recipient, a fresh ephemeral X25519 key (RFC 7748) agrees a secret with the
 *   recipient's public key; HKDF-SHA256 (RFC 5869) turns it into a one-time AES-256-GCM key and
 *   nonce that wrap the content key;
 * - the commitment is SHA-256 of a domain tag, a random 32-byte salt and the plaintext. The salt
 *   travels inside the ciphertext, so the commitment reveals nothing of the plaintext, and a
 *   recipient can show `(plaintext, salt)` to prove what they read is what the ledger committed.
 *
 * The primitives are the audited, pure-JS `@noble/*` libraries, so this runs in browsers too.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes as secureRandomBytes } from '@noble/hashes/utils.js';
import {
  bytesToHex,
  concatBytes,
  equalsBytes,
  type Hex,
  PolisError,
  type RLPItem,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';

/** The envelope format version this code writes and reads. */
export const SEALED_VERSION = 1;
/** The most recipients one envelope may have. Opening costs one lookup per recipient. */
export const SEALED_RECIPIENTS_MAX = 32;
/** The largest plaintext `sealPayload` accepts (64 KiB). Larger data belongs off the ledger. */
export const SEALED_PLAINTEXT_BYTES_MAX = 64 * 1024;
/** Bytes of an X25519 key, private or public. */
export const SEALED_KEY_BYTES = 32;
/** Bytes of a recipient's key id and of a commitment (SHA-256). */
export const SEALED_HASH_BYTES = 32;
/** Bytes of the salt that makes the commitment hiding. */
export const SEALED_SALT_BYTES = 32;
/** Bytes of an AES-GCM nonce. */
export const SEALED_NONCE_BYTES = 12;
/** Bytes of an AES-GCM authentication tag. */
const TAG_BYTES = 16;
/** Bytes of a wrapped content key: the 32-byte key and its tag. */
const WRAPPED_KEY_BYTES = SEALED_KEY_BYTES + TAG_BYTES;
/**
 * The largest encoded envelope: the body (salt, plaintext, tag), up to 128 bytes per recipient
 * (key id, ephemeral key and wrapped key are 112 bytes, plus RLP headers), and 128 bytes for the
 * version, commitment, nonce and list headers. A test seals the largest case and checks it fits.
 */
export const SEALED_ENVELOPE_BYTES_MAX =
  SEALED_SALT_BYTES + SEALED_PLAINTEXT_BYTES_MAX + TAG_BYTES + SEALED_RECIPIENTS_MAX * 128 + 128;

// Domain tags keep each hash and key derivation of this format apart from every other use of the
// same primitives (and of the same X25519 keys, should someone reuse one elsewhere).
const DOMAIN_HEADER = utf8ToBytes('polis/sealed/v1/header');
const DOMAIN_COMMITMENT = utf8ToBytes('polis/sealed/v1/commitment');
const DOMAIN_KEY_ID = utf8ToBytes('polis/sealed/v1/key-id');
const DOMAIN_WRAP = utf8ToBytes('polis/sealed/v1/wrap');
const DOMAIN_SEED = utf8ToBytes('polis/sealed/v1/x25519-from-seed');

/** Codes for errors while sealing or opening a payload. */
export enum SealedErrorCode {
  /** The key is not one of the envelope's recipients. */
  NOT_A_RECIPIENT = 'SEALED_ERROR_NOT_A_RECIPIENT',
  /** An AES-GCM tag did not verify: the envelope was altered after sealing. */
  TAMPERED = 'SEALED_ERROR_TAMPERED',
  /** The decrypted plaintext does not match the envelope's commitment: the sender cheated. */
  COMMITMENT_MISMATCH = 'SEALED_ERROR_COMMITMENT_MISMATCH',
  /** Envelope bytes that do not decode, have an unknown version or break a bound. */
  INVALID_ENVELOPE = 'SEALED_ERROR_INVALID_ENVELOPE',
  /** A key of the wrong length, or a public key of low order. */
  INVALID_KEY = 'SEALED_ERROR_INVALID_KEY',
  /** No recipients, too many, or one listed twice. */
  INVALID_RECIPIENTS = 'SEALED_ERROR_INVALID_RECIPIENTS',
  /** The plaintext is over `SEALED_PLAINTEXT_BYTES_MAX`. */
  PLAINTEXT_TOO_LARGE = 'SEALED_ERROR_PLAINTEXT_TOO_LARGE',
}

/** The payload of a `SealedError`. */
export type SealedErrorType =
  | { code: SealedErrorCode.NOT_A_RECIPIENT; keyId: Hex }
  | { code: SealedErrorCode.TAMPERED; part: 'wrapped key' | 'ciphertext' }
  | { code: SealedErrorCode.COMMITMENT_MISMATCH; commitment: Hex }
  | { code: SealedErrorCode.INVALID_ENVELOPE; reason: string }
  | { code: SealedErrorCode.INVALID_KEY; reason: string }
  | { code: SealedErrorCode.INVALID_RECIPIENTS; reason: string }
  | { code: SealedErrorCode.PLAINTEXT_TOO_LARGE; bytes: number; max: number };

/** An error while sealing or opening a payload. */
export class SealedError extends PolisError<SealedErrorType> {
  override name = 'SealedError';
}

/** A recipient's X25519 key pair and the id envelopes list it by. */
export type RecipientKey = {
  /** The 32-byte X25519 private key. Keep it secret; whoever holds it reads the payloads. */
  privateKey: Uint8Array;
  /** The 32-byte X25519 public key, which senders seal to. */
  publicKey: Uint8Array;
  /** `recipientKeyId(publicKey)`. */
  keyId: Uint8Array;
};

/** The content key wrapped for one recipient. */
export type SealedRecipient = {
  /** `recipientKeyId` of the recipient's public key (32 bytes). */
  keyId: Uint8Array;
  /** The public half of the ephemeral X25519 key used for this recipient only (32 bytes). */
  ephemeralPublicKey: Uint8Array;
  /** The content key under AES-256-GCM with the key derived for this recipient (48 bytes). */
  wrappedKey: Uint8Array;
};

/** A sealed payload. `encodeEnvelope` turns it into bytes for the ledger. */
export type SealedEnvelope = {
  version: typeof SEALED_VERSION;
  /** SHA-256 of the commitment domain tag, the salt and the plaintext (32 bytes). */
  commitment: Uint8Array;
  /** One entry per recipient, 1 to `SEALED_RECIPIENTS_MAX`. */
  recipients: SealedRecipient[];
  /** The AES-GCM nonce of the body (12 bytes). */
  nonce: Uint8Array;
  /** AES-256-GCM of `salt || plaintext` under the content key, with its 16-byte tag. */
  ciphertext: Uint8Array;
};

/** Options of `sealPayload`. */
export type SealPayloadOptions = {
  /**
   * The source of randomness (content key, ephemeral keys, salt, nonce). Defaults to the
   * platform's CSPRNG (`crypto.getRandomValues`); inject one only for reproducible tests.
   */
  randomBytes?: (length: number) => Uint8Array;
};

/** What `openPayloadWithOpening` returns: the plaintext and what proves it matches the commitment. */
export type PayloadOpening = {
  plaintext: Uint8Array;
  /** The salt of the commitment. Revealing it with the plaintext proves the commitment's content. */
  salt: Uint8Array;
  commitment: Uint8Array;
};

function invalidKey(reason: string, cause?: unknown): SealedError {
  return new SealedError({ code: SealedErrorCode.INVALID_KEY, reason }, `invalid X25519 key: ${reason}`, {
    hint: 'Pass a 32-byte X25519 key, for example from generateRecipientKey() or recipientKeyFromSeed()',
    cause,
  });
}

function invalidEnvelope(reason: string, cause?: unknown): SealedError {
  return new SealedError({ code: SealedErrorCode.INVALID_ENVELOPE, reason }, `invalid sealed envelope: ${reason}`, {
    hint: 'The bytes are not an envelope written by sealPayload/encodeEnvelope of this version, or were cut short',
    cause,
  });
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== SEALED_KEY_BYTES) {
    throw invalidKey(
      `the ${what} should be ${SEALED_KEY_BYTES} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`,
    );
  }
}

/** The id an envelope lists a recipient by: SHA-256 of a domain tag and the X25519 public key. */
export function recipientKeyId(publicKey: Uint8Array): Uint8Array {
  checkKey(publicKey, 'public key');
  return sha256(concatBytes(DOMAIN_KEY_ID, publicKey));
}

/** The X25519 public key of `privateKey`. */
export function recipientPublicKey(privateKey: Uint8Array): Uint8Array {
  checkKey(privateKey, 'private key');
  try {
    return x25519.getPublicKey(privateKey);
  } catch (cause) {
    throw invalidKey('the private key gives no valid public key', cause);
  }
}

function keyFromPrivate(privateKey: Uint8Array): RecipientKey {
  const publicKey = recipientPublicKey(privateKey);
  return { privateKey, publicKey, keyId: recipientKeyId(publicKey) };
}

/** A new random recipient key pair, from the platform's CSPRNG. */
export function generateRecipientKey(): RecipientKey {
  return keyFromPrivate(secureRandomBytes(SEALED_KEY_BYTES));
}

/**
 * A recipient key pair derived from a secret seed (at least 32 bytes of entropy, for example a
 * wallet's private key or a signature only its holder can produce) with HKDF-SHA256. The same
 * seed and `context` always give the same key; different contexts give unrelated keys, so one
 * seed can serve several apps without linking their keys.
 */
export function recipientKeyFromSeed(seed: Uint8Array, context = ''): RecipientKey {
  if (!(seed instanceof Uint8Array) || seed.length < SEALED_KEY_BYTES) {
    throw invalidKey(
      `the seed should be at least ${SEALED_KEY_BYTES} bytes, got ${seed instanceof Uint8Array ? seed.length : typeof seed}`,
    );
  }
  return keyFromPrivate(hkdf(sha256, seed, DOMAIN_SEED, utf8ToBytes(context), SEALED_KEY_BYTES));
}

/** The commitment to `plaintext` with `salt`: SHA-256(domain tag || salt || plaintext). */
export function payloadCommitment(plaintext: Uint8Array, salt: Uint8Array): Uint8Array {
  if (salt.length !== SEALED_SALT_BYTES) {
    throw new SealedError(
      { code: SealedErrorCode.INVALID_ENVELOPE, reason: `salt of ${salt.length} bytes` },
      `a commitment salt is ${SEALED_SALT_BYTES} bytes, got ${salt.length}`,
    );
  }
  // The tag and the salt have fixed lengths, so the concatenation is unambiguous.
  return sha256(concatBytes(DOMAIN_COMMITMENT, salt, plaintext));
}

/** Whether `plaintext` and `salt`, revealed by a recipient, are what `commitment` commits to. */
export function verifyCommitment(commitment: Uint8Array, plaintext: Uint8Array, salt: Uint8Array): boolean {
  return salt.length === SEALED_SALT_BYTES && equalsBytes(payloadCommitment(plaintext, salt), commitment);
}

/** The associated data of the body: everything in the envelope except the nonce and ciphertext. */
function headerAAD(version: number, commitment: Uint8Array, recipients: SealedRecipient[]): Uint8Array {
  return rlpEncode([DOMAIN_HEADER, version, commitment, recipients.map((r) => [r.keyId, r.ephemeralPublicKey, r.wrappedKey])]);
}

/**
 * The one-time key and nonce that wrap the content key for one recipient. Both public keys go
 * into the HKDF salt, binding the wrap to this recipient and this ephemeral key (as HPKE's
 * `kem_context` does). Each ephemeral key is used once, so the derived nonce never repeats.
 */
function wrapCipher(sharedSecret: Uint8Array, ephemeralPublicKey: Uint8Array, recipientPublicKey: Uint8Array) {
  const okm = hkdf(sha256, sharedSecret, concatBytes(ephemeralPublicKey, recipientPublicKey), DOMAIN_WRAP, 44);
  return gcm(okm.subarray(0, SEALED_KEY_BYTES), okm.subarray(SEALED_KEY_BYTES));
}

function checkedRandom(randomBytes: (length: number) => Uint8Array, length: number): Uint8Array {
  const bytes = randomBytes(length);
  // An injected source that returns the wrong length would silently weaken every key below it.
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new Error(
      `sealPayload: randomBytes(${length}) returned ${bytes instanceof Uint8Array ? bytes.length : typeof bytes} bytes`,
    );
  }
  return bytes;
}

/**
 * Encrypts `plaintext` so that only the holders of the private keys of `recipients` (X25519 public
 * keys) can read it. Include the regulator's key among the recipients when the app's policy
 * grants it access. The envelope's `commitment` can be stored on the ledger in the clear.
 */
export function sealPayload(plaintext: Uint8Array, recipients: Uint8Array[], options: SealPayloadOptions = {}): SealedEnvelope {
  const random = options.randomBytes ?? secureRandomBytes;
  if (plaintext.length > SEALED_PLAINTEXT_BYTES_MAX) {
    throw new SealedError(
      { code: SealedErrorCode.PLAINTEXT_TOO_LARGE, bytes: plaintext.length, max: SEALED_PLAINTEXT_BYTES_MAX },
      `a sealed payload holds at most ${SEALED_PLAINTEXT_BYTES_MAX} bytes, not ${plaintext.length}`,
      { hint: 'Store large data off the ledger and seal its hash and location instead' },
    );
  }
  if (recipients.length === 0 || recipients.length > SEALED_RECIPIENTS_MAX) {
    const reason = `${recipients.length} recipients; an envelope has 1 to ${SEALED_RECIPIENTS_MAX}`;
    throw new SealedError({ code: SealedErrorCode.INVALID_RECIPIENTS, reason }, `cannot seal for ${reason}`);
  }
  const seen = new Set<string>();
  for (const publicKey of recipients) {
    checkKey(publicKey, 'recipient public key');
    const hex = bytesToHex(publicKey);
    if (seen.has(hex)) {
      const reason = `recipient ${hex} is listed twice`;
      throw new SealedError({ code: SealedErrorCode.INVALID_RECIPIENTS, reason }, `cannot seal: ${reason}`, {
        hint: 'List each recipient key once',
      });
    }
    seen.add(hex);
  }

  const contentKey = checkedRandom(random, SEALED_KEY_BYTES);
  const salt = checkedRandom(random, SEALED_SALT_BYTES);
  const nonce = checkedRandom(random, SEALED_NONCE_BYTES);
  const commitment = payloadCommitment(plaintext, salt);
  const wrapped: SealedRecipient[] = recipients.map((publicKey) => {
    const ephemeralPrivateKey = checkedRandom(random, SEALED_KEY_BYTES);
    let ephemeralPublicKey: Uint8Array;
    let shared: Uint8Array;
    try {
      ephemeralPublicKey = x25519.getPublicKey(ephemeralPrivateKey);
      shared = x25519.getSharedSecret(ephemeralPrivateKey, publicKey);
    } catch (cause) {
      // noble rejects the low-order points, whose shared secret would be known to anyone.
      throw invalidKey(`recipient ${bytesToHex(publicKey)} is not a usable X25519 public key`, cause);
    }
    ephemeralPrivateKey.fill(0);
    const wrappedKey = wrapCipher(shared, ephemeralPublicKey, publicKey).encrypt(contentKey);
    return { keyId: recipientKeyId(publicKey), ephemeralPublicKey, wrappedKey };
  });
  const ciphertext = gcm(contentKey, nonce, headerAAD(SEALED_VERSION, commitment, wrapped)).encrypt(concatBytes(salt, plaintext));
  contentKey.fill(0);
  return { version: SEALED_VERSION, commitment, recipients: wrapped, nonce, ciphertext };
}

/**
 * Decrypts `envelope` with a recipient's private key and checks the plaintext against the
 * commitment, returning the plaintext with the salt that proves it.
 * Throws `SealedError` NOT_A_RECIPIENT, TAMPERED or COMMITMENT_MISMATCH.
 */
export function openPayloadWithOpening(envelope: SealedEnvelope, recipientPrivateKey: Uint8Array): PayloadOpening {
  checkEnvelope(envelope);
  const me = keyFromPrivate(recipientPrivateKey);
  const mine = envelope.recipients.filter((r) => equalsBytes(r.keyId, me.keyId));
  if (mine.length === 0) {
    const keyId = bytesToHex(me.keyId);
    throw new SealedError(
      { code: SealedErrorCode.NOT_A_RECIPIENT, keyId },
      `this key (id ${keyId}) is not a recipient of the envelope, which was sealed for ${envelope.recipients.length} other key(s)`,
      { hint: 'Only the keys the sender sealed to can open it; ask the sender to seal it for your public key' },
    );
  }
  let contentKey: Uint8Array | undefined;
  let lastCause: unknown;
  // Normally one entry matches; a key listed twice by a hostile sender is tried entry by entry.
  for (const r of mine) {
    try {
      const shared = x25519.getSharedSecret(me.privateKey, r.ephemeralPublicKey);
      contentKey = wrapCipher(shared, r.ephemeralPublicKey, me.publicKey).decrypt(r.wrappedKey);
      break;
    } catch (cause) {
      lastCause = cause;
    }
  }
  if (!contentKey) {
    throw new SealedError(
      { code: SealedErrorCode.TAMPERED, part: 'wrapped key' },
      'the content key wrapped for this recipient does not decrypt: the envelope was altered',
      { hint: 'Fetch the envelope again from the ledger; do not trust this copy', cause: lastCause },
    );
  }
  let body: Uint8Array;
  try {
    body = gcm(contentKey, envelope.nonce, headerAAD(envelope.version, envelope.commitment, envelope.recipients)).decrypt(
      envelope.ciphertext,
    );
  } catch (cause) {
    throw new SealedError(
      { code: SealedErrorCode.TAMPERED, part: 'ciphertext' },
      'the sealed payload does not decrypt: its ciphertext, nonce, commitment or recipient list was altered',
      { hint: 'Fetch the envelope again from the ledger; do not trust this copy', cause },
    );
  } finally {
    contentKey.fill(0);
  }
  const salt = body.slice(0, SEALED_SALT_BYTES);
  const plaintext = body.slice(SEALED_SALT_BYTES);
  // AES-GCM does not commit to its key, so a hostile sender could give two recipients keys that
  // decrypt to different plaintexts. The commitment pins one plaintext for all of them.
  if (!verifyCommitment(envelope.commitment, plaintext, salt)) {
    const commitment = bytesToHex(envelope.commitment);
    throw new SealedError(
      { code: SealedErrorCode.COMMITMENT_MISMATCH, commitment },
      `the decrypted payload does not match the envelope's commitment ${commitment}: the sender sealed something else than it committed to`,
      { hint: 'Treat the payload as invalid and report the sender' },
    );
  }
  return { plaintext, salt, commitment: envelope.commitment };
}

/**
 * Decrypts `envelope` with a recipient's private key; the plaintext is checked against the
 * envelope's commitment. Throws `SealedError` NOT_A_RECIPIENT, TAMPERED or COMMITMENT_MISMATCH.
 */
export function openPayload(envelope: SealedEnvelope, recipientPrivateKey: Uint8Array): Uint8Array {
  return openPayloadWithOpening(envelope, recipientPrivateKey).plaintext;
}

/** Asserts the bounds and field lengths of an envelope, on both encode and decode. */
function checkEnvelope(envelope: SealedEnvelope): void {
  if (envelope.version !== SEALED_VERSION)
    throw invalidEnvelope(`version ${envelope.version}; this code reads version ${SEALED_VERSION}`);
  if (envelope.commitment.length !== SEALED_HASH_BYTES)
    throw invalidEnvelope(`commitment of ${envelope.commitment.length} bytes`);
  if (envelope.nonce.length !== SEALED_NONCE_BYTES) throw invalidEnvelope(`nonce of ${envelope.nonce.length} bytes`);
  const n = envelope.recipients.length;
  if (n === 0 || n > SEALED_RECIPIENTS_MAX)
    throw invalidEnvelope(`${n} recipients; an envelope has 1 to ${SEALED_RECIPIENTS_MAX}`);
  for (const [i, r] of envelope.recipients.entries()) {
    if (r.keyId.length !== SEALED_HASH_BYTES) throw invalidEnvelope(`recipient ${i}: key id of ${r.keyId.length} bytes`);
    if (r.ephemeralPublicKey.length !== SEALED_KEY_BYTES) {
      throw invalidEnvelope(`recipient ${i}: ephemeral key of ${r.ephemeralPublicKey.length} bytes`);
    }
    if (r.wrappedKey.length !== WRAPPED_KEY_BYTES)
      throw invalidEnvelope(`recipient ${i}: wrapped key of ${r.wrappedKey.length} bytes`);
  }
  const bodyMax = SEALED_SALT_BYTES + SEALED_PLAINTEXT_BYTES_MAX + TAG_BYTES;
  const bodyMin = SEALED_SALT_BYTES + TAG_BYTES;
  if (envelope.ciphertext.length < bodyMin || envelope.ciphertext.length > bodyMax) {
    throw invalidEnvelope(`ciphertext of ${envelope.ciphertext.length} bytes; it is ${bodyMin} to ${bodyMax}`);
  }
}

/** The canonical bytes of an envelope (RLP), to store on the ledger: as record metadata or calldata. */
export function encodeEnvelope(envelope: SealedEnvelope): Uint8Array {
  checkEnvelope(envelope);
  return rlpEncode([
    envelope.version,
    envelope.commitment,
    envelope.recipients.map((r) => [r.keyId, r.ephemeralPublicKey, r.wrappedKey]),
    envelope.nonce,
    envelope.ciphertext,
  ]);
}

/** Decodes envelope bytes written by `encodeEnvelope`, checking every field and bound. */
export function decodeEnvelope(bytes: Uint8Array): SealedEnvelope {
  if (bytes.length > SEALED_ENVELOPE_BYTES_MAX) {
    throw invalidEnvelope(`${bytes.length} bytes, over the ${SEALED_ENVELOPE_BYTES_MAX}-byte limit`);
  }
  let envelope: SealedEnvelope;
  try {
    const fields = readList(rlpDecode(bytes, SEALED_ENVELOPE_BYTES_MAX), 'envelope', 5);
    const version = readUint(fields[0], 'version');
    const items = readList(fields[2], 'recipients');
    // Bound the list before decoding its entries.
    if (items.length === 0 || items.length > SEALED_RECIPIENTS_MAX) {
      throw new Error(`${items.length} recipients; an envelope has 1 to ${SEALED_RECIPIENTS_MAX}`);
    }
    const recipients = items.map((item: RLPItem, i) => {
      const [keyId, ephemeralPublicKey, wrappedKey] = readList(item, `recipients[${i}]`, 3);
      return {
        keyId: readBytes(keyId, `recipients[${i}].keyId`, SEALED_HASH_BYTES),
        ephemeralPublicKey: readBytes(ephemeralPublicKey, `recipients[${i}].ephemeralPublicKey`, SEALED_KEY_BYTES),
        wrappedKey: readBytes(wrappedKey, `recipients[${i}].wrappedKey`, WRAPPED_KEY_BYTES),
      };
    });
    envelope = {
      version: version as typeof SEALED_VERSION,
      commitment: readBytes(fields[1], 'commitment', SEALED_HASH_BYTES),
      recipients,
      nonce: readBytes(fields[3], 'nonce', SEALED_NONCE_BYTES),
      ciphertext: readBytes(fields[4], 'ciphertext'),
    };
  } catch (cause) {
    throw invalidEnvelope(cause instanceof Error ? cause.message : String(cause), cause);
  }
  checkEnvelope(envelope);
  return envelope;
}
