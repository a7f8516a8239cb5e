import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  createEd25519Signer,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  generateEd25519Seed,
  hexToBytes,
  isPolisError,
  KeyErrorCode,
} from '../src/index.js';

// RFC 8032 section 7.1, TEST 1, TEST 2 and TEST 3.
const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    seed: '0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: '0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '0x',
    signature:
      '0xe5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    seed: '0x4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '0x3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '0x72',
    signature:
      '0x92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (two bytes)',
    seed: '0xc5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: '0xfc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: '0xaf82',
    signature:
      '0x6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

describe('ed25519', () => {
  it.each(RFC8032)('RFC 8032 $name: public key, signature and verification', (v) => {
    const seed = hexToBytes(v.seed);
    const message = hexToBytes(v.message);
    expect(bytesToHex(ed25519PublicKey(seed)), v.name).toBe(v.publicKey);
    expect(bytesToHex(ed25519Sign(seed, message)), v.name).toBe(v.signature);
    expect(ed25519Verify(hexToBytes(v.publicKey), message, hexToBytes(v.signature)), v.name).toBe(true);
  });

  it('behavior: a signer reuses its key and signs like the one-shot function', () => {
    const seed = generateEd25519Seed();
    const signer = createEd25519Signer(seed);
    const message = new Uint8Array([1, 2, 3]);
    expect(signer.sign(message)).toEqual(ed25519Sign(seed, message));
    expect(signer.publicKey).toEqual(ed25519PublicKey(seed));
  });

  it('behavior: one flipped bit in message, signature or key fails verification', () => {
    const v = RFC8032[1] as (typeof RFC8032)[number];
    const pub = hexToBytes(v.publicKey);
    const msg = hexToBytes(v.message);
    const sig = hexToBytes(v.signature);
    const flip = (b: Uint8Array, i: number) => {
      const c = b.slice();
      c[i] = (c[i] as number) ^ 1;
      return c;
    };
    expect(ed25519Verify(pub, flip(msg, 0), sig), 'message').toBe(false);
    for (const i of [0, 31, 32, 63]) expect(ed25519Verify(pub, msg, flip(sig, i)), `signature byte ${i}`).toBe(false);
    expect(ed25519Verify(flip(pub, 0), msg, sig), 'public key').toBe(false);
  });

  it('error: malformed keys and signatures give false, not an exception', () => {
    expect(ed25519Verify(new Uint8Array(31), new Uint8Array(), new Uint8Array(64))).toBe(false);
    expect(ed25519Verify(new Uint8Array(32), new Uint8Array(), new Uint8Array(63))).toBe(false);
    expect(ed25519Verify(new Uint8Array(32).fill(0xff), new Uint8Array(), new Uint8Array(64))).toBe(false);
  });

  it('error: a seed of the wrong length is a KeyError', () => {
    try {
      ed25519Sign(new Uint8Array(31), new Uint8Array());
      expect.fail('should throw');
    } catch (err) {
      expect(isPolisError(err, KeyErrorCode.INVALID_PRIVATE_KEY)).toBe(true);
    }
  });
});
