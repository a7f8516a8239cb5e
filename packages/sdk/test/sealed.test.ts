/**
 * Sealed payloads: a payload sealed for A and B opens for each of them and for no one else; every
 * byte of an envelope is protected (a flip anywhere is caught, by every recipient); the commitment
 * matches what a recipient reads, hides the plaintext, and catches a sender who commits to one
 * plaintext and encrypts another; keys derive as RFC 7748 and the seed derivation say; and every
 * bound is enforced on seal and on decode.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { bytesToHex, concatBytes, hexToBytes, isPolisError, rlpEncode, sha256, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeEnvelope,
  generateRecipientKey,
  openPayload,
  openPayloadWithOpening,
  payloadCommitment,
  recipientKeyFromSeed,
  recipientKeyId,
  recipientPublicKey,
  SEALED_ENVELOPE_BYTES_MAX,
  SEALED_PLAINTEXT_BYTES_MAX,
  SEALED_RECIPIENTS_MAX,
  type SealedEnvelope,
  SealedError,
  SealedErrorCode,
  sealPayload,
  verifyCommitment,
} from '../src/sealed.js';

const alice = recipientKeyFromSeed(sha256(utf8ToBytes('sealed test alice')));
const bob = recipientKeyFromSeed(sha256(utf8ToBytes('sealed test bob')));
const carol = recipientKeyFromSeed(sha256(utf8ToBytes('sealed test carol')));
const message = utf8ToBytes('shipment 42: 1,200 units of insulin, cold chain, invoice 9.81 EUR/unit');

/** Runs `fn` and returns the `SealedError` it throws; fails the test if it throws nothing else. */
function sealedErrorOf(fn: () => unknown, what: string): SealedError {
  try {
    fn();
  } catch (err) {
    expect(err, `${what}: threw a SealedError`).toBeInstanceOf(SealedError);
    return err as SealedError;
  }
  throw new Error(`${what}: expected a SealedError, but nothing was thrown`);
}

/** A reproducible randomness source: SHA-256 of a label and a counter. */
function seededBytes(label: string): (length: number) => Uint8Array {
  let counter = 0;
  return (length) => {
    let out: Uint8Array = new Uint8Array(0);
    while (out.length < length) out = concatBytes(out, sha256(utf8ToBytes(`${label}/${counter++}`)));
    return out.slice(0, length);
  };
}

/** A copy of `envelope` whose `path` field has byte `index` XORed with 0x01. */
function flipped(envelope: SealedEnvelope, path: string, index: number): SealedEnvelope {
  const copy: SealedEnvelope = {
    ...envelope,
    recipients: envelope.recipients.map((r) => ({ ...r })),
  };
  const [field, sub, name] = path.split('.') as [string, string?, string?];
  const flip = (bytes: Uint8Array) => {
    const out = bytes.slice();
    out[index] = (out[index] as number) ^ 0x01;
    return out;
  };
  if (field === 'recipients') {
    const r = copy.recipients[Number(sub)] as Record<string, Uint8Array>;
    r[name as string] = flip(r[name as string] as Uint8Array);
  } else {
    (copy as unknown as Record<string, Uint8Array>)[field] = flip(
      (envelope as unknown as Record<string, Uint8Array>)[field] as Uint8Array,
    );
  }
  return copy;
}

describe('sealed payloads', () => {
  it('default: a payload sealed for A and B opens for A and for B, also after encoding', () => {
    const envelope = sealPayload(message, [alice.publicKey, bob.publicKey]);
    expect(envelope.version).toBe(1);
    expect(envelope.recipients.map((r) => bytesToHex(r.keyId))).toEqual([bytesToHex(alice.keyId), bytesToHex(bob.keyId)]);
    expect(openPayload(envelope, alice.privateKey)).toEqual(message);
    expect(openPayload(envelope, bob.privateKey)).toEqual(message);

    const bytes = encodeEnvelope(envelope);
    const decoded = decodeEnvelope(bytes);
    expect(decoded).toEqual(envelope);
    expect(encodeEnvelope(decoded)).toEqual(bytes);
    expect(openPayload(decoded, alice.privateKey)).toEqual(message);
    expect(openPayload(decoded, bob.privateKey)).toEqual(message);
    // Neither the plaintext nor a recipient's public key appears in the bytes.
    expect(Buffer.from(bytes).includes(Buffer.from(message.subarray(0, 16)))).toBe(false);
    expect(Buffer.from(bytes).includes(Buffer.from(alice.publicKey))).toBe(false);
  });

  it('behavior: an empty payload and a single recipient work', () => {
    const envelope = decodeEnvelope(encodeEnvelope(sealPayload(new Uint8Array(0), [carol.publicKey])));
    expect(openPayload(envelope, carol.privateKey)).toEqual(new Uint8Array(0));
  });

  it('error: a key that is not a recipient cannot open it, and the error says so', () => {
    const envelope = sealPayload(message, [alice.publicKey, bob.publicKey]);
    const err = sealedErrorOf(() => openPayload(envelope, carol.privateKey), 'carol opens');
    expect(err.type).toEqual({ code: SealedErrorCode.NOT_A_RECIPIENT, keyId: bytesToHex(carol.keyId) });
    expect(err.message).toMatch(/not a recipient/);
    // A freshly generated key is no better.
    const stranger = generateRecipientKey();
    expect(sealedErrorOf(() => openPayload(envelope, stranger.privateKey), 'stranger opens').code).toBe(
      SealedErrorCode.NOT_A_RECIPIENT,
    );
  });

  it("error: a non-recipient who claims a recipient's key id still cannot open it", () => {
    // Carol rewrites Alice's key id to her own: the id matches, but the wrapped key is not hers.
    const envelope = sealPayload(message, [alice.publicKey, bob.publicKey]);
    const forged: SealedEnvelope = {
      ...envelope,
      recipients: envelope.recipients.map((r, i) => (i === 0 ? { ...r, keyId: carol.keyId } : r)),
    };
    expect(sealedErrorOf(() => openPayload(forged, carol.privateKey), 'carol with a forged id').type).toEqual({
      code: SealedErrorCode.TAMPERED,
      part: 'wrapped key',
    });
  });

  it('behavior: flipping any byte of the ciphertext, a wrapped key, an ephemeral key, a key id, the nonce or the commitment is detected by every recipient', () => {
    const envelope = sealPayload(message, [alice.publicKey, bob.publicKey]);
    const fields: [string, number][] = [
      ['ciphertext', envelope.ciphertext.length],
      ['nonce', envelope.nonce.length],
      ['commitment', envelope.commitment.length],
    ];
    for (const i of [0, 1]) {
      for (const name of ['keyId', 'ephemeralPublicKey', 'wrappedKey'] as const) {
        fields.push([`recipients.${i}.${name}`, (envelope.recipients[i] as Record<string, Uint8Array>)[name]?.length as number]);
      }
    }
    let cases = 0;
    for (const [path, length] of fields) {
      for (let index = 0; index < length; index++) {
        const bad = flipped(envelope, path, index);
        for (const [who, key] of [
          ['alice', alice],
          ['bob', bob],
        ] as const) {
          const err = sealedErrorOf(() => openPayload(bad, key.privateKey), `${who} opens with ${path}[${index}] flipped`);
          // A recipient whose own key id was changed no longer finds itself; everything else is
          // caught by a GCM tag.
          const ownKeyId = path === `recipients.${who === 'alice' ? 0 : 1}.keyId`;
          expect(err.code, `${who}, ${path}[${index}]`).toBe(
            ownKeyId ? SealedErrorCode.NOT_A_RECIPIENT : SealedErrorCode.TAMPERED,
          );
          cases++;
        }
      }
    }
    expect(cases).toBe(2 * (envelope.ciphertext.length + 12 + 32 + 2 * (32 + 32 + 48)));
  });

  it('behavior: flipping any byte of the encoded envelope is caught by decode or by open', () => {
    const bytes = encodeEnvelope(sealPayload(message, [alice.publicKey, bob.publicKey]));
    const counts = { decode: 0, open: 0 };
    for (let index = 0; index < bytes.length; index++) {
      const bad = bytes.slice();
      bad[index] = (bad[index] as number) ^ 0x80;
      let envelope: SealedEnvelope;
      try {
        envelope = decodeEnvelope(bad);
      } catch (err) {
        expect(isPolisError(err, SealedErrorCode.INVALID_ENVELOPE), `byte ${index}: decode fails as INVALID_ENVELOPE`).toBe(true);
        counts.decode++;
        continue;
      }
      for (const key of [alice, bob]) {
        expect(() => openPayload(envelope, key.privateKey), `byte ${index}`).toThrow(SealedError);
      }
      counts.open++;
    }
    // Both layers take part: the RLP headers and the version break decoding, the rest opening.
    expect(counts.decode).toBeGreaterThan(0);
    expect(counts.open).toBeGreaterThan(counts.decode);
    expect(counts.decode + counts.open).toBe(bytes.length);
  });

  it('behavior: the commitment matches what a recipient reads, and the salt proves it to anyone', () => {
    const envelope = sealPayload(message, [alice.publicKey, bob.publicKey]);
    const opening = openPayloadWithOpening(envelope, bob.privateKey);
    expect(opening.plaintext).toEqual(message);
    expect(opening.commitment).toEqual(envelope.commitment);
    expect(payloadCommitment(message, opening.salt)).toEqual(envelope.commitment);
    expect(verifyCommitment(envelope.commitment, message, opening.salt)).toBe(true);
    // A recipient cannot claim it read something else, nor use another salt.
    const other = utf8ToBytes('shipment 42: 1,200 units of insulin, cold chain, invoice 1.00 EUR/unit');
    expect(verifyCommitment(envelope.commitment, other, opening.salt)).toBe(false);
    expect(verifyCommitment(envelope.commitment, message, new Uint8Array(32))).toBe(false);
    expect(verifyCommitment(envelope.commitment, message, opening.salt.subarray(0, 31))).toBe(false);
    // Alice learns the same salt, so both recipients prove the same thing.
    expect(openPayloadWithOpening(envelope, alice.privateKey).salt).toEqual(opening.salt);
  });

  it('behavior: the commitment does not reveal the plaintext: two seals of the same payload commit differently', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const envelope = sealPayload(message, [alice.publicKey]);
      seen.add(bytesToHex(envelope.commitment));
      // Nor is it a plain hash of the payload that a guesser could recompute.
      expect(envelope.commitment, `seal ${i}`).not.toEqual(sha256(message));
    }
    expect(seen.size).toBe(8);
  });

  it('error: a sender who commits to one payload and encrypts another is caught', () => {
    // Inject the randomness so the test knows the content key the way a hostile sender would,
    // then re-encrypt a different body under the same header.
    const random = seededBytes('hostile sender');
    const envelope = sealPayload(message, [alice.publicKey, bob.publicKey], { randomBytes: random });
    const replay = seededBytes('hostile sender');
    const contentKey = replay(32);
    const header = rlpEncode([
      utf8ToBytes('polis/sealed/v1/header'),
      1,
      envelope.commitment,
      envelope.recipients.map((r) => [r.keyId, r.ephemeralPublicKey, r.wrappedKey]),
    ]);
    // The header layout is this module's; the honest envelope must decrypt with it, or the test
    // below would pass for the wrong reason.
    expect(gcm(contentKey, envelope.nonce, header).decrypt(envelope.ciphertext).subarray(32)).toEqual(message);
    const lie = utf8ToBytes('something else entirely');
    const forged = {
      ...envelope,
      ciphertext: gcm(contentKey, envelope.nonce, header).encrypt(concatBytes(new Uint8Array(32), lie)),
    };
    expect(sealedErrorOf(() => openPayload(forged, alice.privateKey), 'alice opens the forgery').type).toEqual({
      code: SealedErrorCode.COMMITMENT_MISMATCH,
      commitment: bytesToHex(envelope.commitment),
    });
  });

  it('behavior: with injected randomness a seal is reproducible, and the default randomness is not', () => {
    const a = encodeEnvelope(sealPayload(message, [alice.publicKey], { randomBytes: seededBytes('r') }));
    const b = encodeEnvelope(sealPayload(message, [alice.publicKey], { randomBytes: seededBytes('r') }));
    expect(a).toEqual(b);
    expect(encodeEnvelope(sealPayload(message, [alice.publicKey]))).not.toEqual(
      encodeEnvelope(sealPayload(message, [alice.publicKey])),
    );
    expect(() => sealPayload(message, [alice.publicKey], { randomBytes: () => new Uint8Array(8) })).toThrow(/returned 8 bytes/);
  });
});

describe('recipient keys', () => {
  it("default: X25519 public keys are RFC 7748's (section 6.1 test vector)", () => {
    const privateKey = hexToBytes('0x77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    expect(bytesToHex(recipientPublicKey(privateKey))).toBe('0x8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  });

  it('default: a generated key is fresh and consistent', () => {
    const a = generateRecipientKey();
    const b = generateRecipientKey();
    expect(a.privateKey).not.toEqual(b.privateKey);
    expect(a.publicKey).toEqual(recipientPublicKey(a.privateKey));
    expect(a.keyId).toEqual(recipientKeyId(a.publicKey));
    expect(a.keyId).toEqual(sha256(concatBytes(utf8ToBytes('polis/sealed/v1/key-id'), a.publicKey)));
  });

  it('behavior: a key from a seed is deterministic, and contexts give unrelated keys', () => {
    const seed = sha256(utf8ToBytes('a wallet secret'));
    expect(recipientKeyFromSeed(seed)).toEqual(recipientKeyFromSeed(seed));
    expect(recipientKeyFromSeed(seed, 'app-1').privateKey).not.toEqual(recipientKeyFromSeed(seed, 'app-2').privateKey);
    expect(recipientKeyFromSeed(seed, 'app-1').privateKey).not.toEqual(recipientKeyFromSeed(seed).privateKey);
    // The derived key is not the seed itself.
    expect(recipientKeyFromSeed(seed).privateKey).not.toEqual(seed);
    const envelope = sealPayload(message, [recipientKeyFromSeed(seed, 'app-1').publicKey]);
    expect(openPayload(envelope, recipientKeyFromSeed(seed, 'app-1').privateKey)).toEqual(message);
    expect(sealedErrorOf(() => recipientKeyFromSeed(new Uint8Array(16)), 'short seed').code).toBe(SealedErrorCode.INVALID_KEY);
  });
});

describe('bounds', () => {
  it('error: no recipients, too many, or one twice', () => {
    expect(sealedErrorOf(() => sealPayload(message, []), 'none').code).toBe(SealedErrorCode.INVALID_RECIPIENTS);
    const many = Array.from(
      { length: SEALED_RECIPIENTS_MAX + 1 },
      (_, i) => recipientKeyFromSeed(sha256(utf8ToBytes(`r${i}`))).publicKey,
    );
    expect(sealedErrorOf(() => sealPayload(message, many), 'too many').code).toBe(SealedErrorCode.INVALID_RECIPIENTS);
    expect(sealedErrorOf(() => sealPayload(message, [alice.publicKey, bob.publicKey, alice.publicKey]), 'twice').message).toMatch(
      /listed twice/,
    );
  });

  it('error: keys of the wrong length, and low-order public keys, are refused', () => {
    expect(sealedErrorOf(() => sealPayload(message, [alice.publicKey.subarray(0, 31)]), 'short public key').code).toBe(
      SealedErrorCode.INVALID_KEY,
    );
    // u = 0 and u = 1 are points of small order: the shared secret would be known to anyone.
    for (const u of [0, 1]) {
      const lowOrder = new Uint8Array(32);
      lowOrder[0] = u;
      expect(sealedErrorOf(() => sealPayload(message, [lowOrder]), `u=${u}`).code, `u=${u}`).toBe(SealedErrorCode.INVALID_KEY);
    }
    const envelope = sealPayload(message, [alice.publicKey]);
    expect(sealedErrorOf(() => openPayload(envelope, new Uint8Array(33)), 'long private key').code).toBe(
      SealedErrorCode.INVALID_KEY,
    );
  });

  it('error: a plaintext over the limit is refused; the largest one fits the envelope limit', () => {
    const big = new Uint8Array(SEALED_PLAINTEXT_BYTES_MAX + 1);
    expect(sealedErrorOf(() => sealPayload(big, [alice.publicKey]), 'too large').type).toEqual({
      code: SealedErrorCode.PLAINTEXT_TOO_LARGE,
      bytes: SEALED_PLAINTEXT_BYTES_MAX + 1,
      max: SEALED_PLAINTEXT_BYTES_MAX,
    });
    const keys = Array.from({ length: SEALED_RECIPIENTS_MAX }, (_, i) => recipientKeyFromSeed(sha256(utf8ToBytes(`max ${i}`))));
    const largest = big.subarray(1).fill(7);
    const bytes = encodeEnvelope(
      sealPayload(
        largest,
        keys.map((k) => k.publicKey),
      ),
    );
    expect(bytes.length).toBeLessThanOrEqual(SEALED_ENVELOPE_BYTES_MAX);
    const last = keys[SEALED_RECIPIENTS_MAX - 1]?.privateKey as Uint8Array;
    expect(openPayload(decodeEnvelope(bytes), last)).toEqual(largest);
  });

  it('error: decode refuses oversized, truncated, trailing, wrong-version and wrong-shape bytes', () => {
    const envelope = sealPayload(message, [alice.publicKey]);
    const bytes = encodeEnvelope(envelope);
    const reasonOf = (b: Uint8Array, what: string) => {
      const err = sealedErrorOf(() => decodeEnvelope(b), what);
      expect(err.code, what).toBe(SealedErrorCode.INVALID_ENVELOPE);
      return (err.type as { reason: string }).reason;
    };
    expect(reasonOf(new Uint8Array(SEALED_ENVELOPE_BYTES_MAX + 1), 'oversized')).toMatch(/over the .*-byte limit/);
    reasonOf(bytes.subarray(0, bytes.length - 1), 'truncated');
    reasonOf(concatBytes(bytes, new Uint8Array([0])), 'trailing byte');
    const asList = (version: number, recipients: Uint8Array[][]) =>
      rlpEncode([version, envelope.commitment, recipients, envelope.nonce, envelope.ciphertext]);
    const stanza = [
      envelope.recipients[0]?.keyId,
      envelope.recipients[0]?.ephemeralPublicKey,
      envelope.recipients[0]?.wrappedKey,
    ] as Uint8Array[];
    expect(decodeEnvelope(asList(1, [stanza]))).toEqual(envelope);
    expect(reasonOf(asList(2, [stanza]), 'version 2')).toMatch(/version 2/);
    expect(reasonOf(asList(1, []), 'no recipients')).toMatch(/0 recipients/);
    expect(
      reasonOf(
        asList(
          1,
          Array.from({ length: SEALED_RECIPIENTS_MAX + 1 }, () => stanza),
        ),
        'too many',
      ),
    ).toMatch(/33 recipients/);
    expect(reasonOf(asList(1, [[stanza[0] as Uint8Array, stanza[1] as Uint8Array]]), 'short stanza')).toMatch(/recipients\[0\]/);
    expect(
      reasonOf(rlpEncode([1, envelope.commitment, [stanza], envelope.nonce, new Uint8Array(47)]), 'short ciphertext'),
    ).toMatch(/ciphertext of 47 bytes/);
  });
});
