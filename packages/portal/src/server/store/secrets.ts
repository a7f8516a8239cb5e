/**
 * Secrets sealed at rest with AES-256-GCM, for the apps' owner keys: the portal signs governance
 * transactions for a developer's apps, so it keeps each app's secp256k1 key, encrypted under a
 * master key that lives outside the database. The associated data binds a sealed value to its
 * record (for example `app:<appId>:owner-key`), so a value copied into another row does not open.
 *
 * Format: `v1.` + base64url(iv (12 bytes) || ciphertext || tag (16 bytes)). The version prefix
 * lets a later release change the cipher or rotate master keys while reading old rows.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { invalidInput, PortalError, PortalErrorCode } from './errors.js';

const VERSION_PREFIX = 'v1.';
const KEY_BYTES = 32;
// 96-bit random IVs: NIST SP 800-38D allows 2^32 messages per key with random IVs, far above the
// number of apps one portal seals.
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Owner keys are 32 bytes; the bound only stops a caller from sealing something unreasonable.
const PLAINTEXT_BYTES_MAX = 64 * 1024;

function checkKey(masterKey: Uint8Array): void {
  if (!(masterKey instanceof Uint8Array) || masterKey.length !== KEY_BYTES) {
    throw invalidInput('masterKey', `must be ${KEY_BYTES} bytes`);
  }
}

function tampered(cause?: unknown): PortalError {
  return new PortalError({ code: PortalErrorCode.SECRET_TAMPERED }, 'a sealed secret does not open', {
    hint: 'It was altered, copied from another record, or sealed under another master key: restore the row or the key from a backup',
    cause,
  });
}

/** Encrypts `plaintext` under `masterKey`, bound to `aad`; returns text to store. */
export function sealSecret(masterKey: Uint8Array, plaintext: Uint8Array, aad: string): string {
  checkKey(masterKey);
  if (plaintext.length > PLAINTEXT_BYTES_MAX) throw invalidInput('plaintext', `must be at most ${PLAINTEXT_BYTES_MAX} bytes`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return VERSION_PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Decrypts what `sealSecret` returned; throws SECRET_TAMPERED when it does not authenticate. */
export function openSecret(masterKey: Uint8Array, sealed: string, aad: string): Uint8Array {
  checkKey(masterKey);
  if (!sealed.startsWith(VERSION_PREFIX)) throw tampered();
  const text = sealed.slice(VERSION_PREFIX.length);
  const raw = Buffer.from(text, 'base64url');
  // Node's base64 decoder skips characters it does not know; a text that does not round-trip was altered.
  if (raw.length < IV_BYTES + TAG_BYTES || raw.toString('base64url') !== text) throw tampered();
  const iv = raw.subarray(0, IV_BYTES);
  const tag = raw.subarray(raw.length - TAG_BYTES);
  const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch (cause) {
    throw tampered(cause);
  }
}
