import { describe, expect, it } from 'vitest';
import {
  bigIntToBytes,
  bytesToHex,
  generateSecp256k1PrivateKey,
  hexToBytes,
  isPolisError,
  KeyErrorCode,
  padBytes,
  privateKeyToAddress,
  publicKeyToAddress,
  secp256k1PublicKey,
  secp256k1Recover,
  secp256k1Sign,
  secp256k1Verify,
  toChecksumAddress,
} from '../src/index.js';

// EIP-155's worked example: private key 0x4646..46 signs a transfer on chain id 1. The signing
// hash, r, s and v = 37 are quoted from the EIP; v = 37 means recovery id 37 - 35 - 2*1 = 0.
const EIP155 = {
  privateKey: `0x${'46'.repeat(32)}`,
  signingHash: '0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53',
  r: 18515461264373351373200002665853028612451056578545711640558177340181847433846n,
  s: 46948507304638947509940763649030358759909902576025900602547168820602576006531n,
  recovery: 0,
  address: '0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F',
};

// EIP-55's published checksum examples.
const EIP55 = [
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
];

describe('secp256k1', () => {
  it('known answer: the EIP-155 example signature', () => {
    const sig = secp256k1Sign(hexToBytes(EIP155.signingHash), hexToBytes(EIP155.privateKey));
    expect(bytesToHex(sig.r)).toBe(bytesToHex(padBytes(bigIntToBytes(EIP155.r), 32)));
    expect(bytesToHex(sig.s)).toBe(bytesToHex(padBytes(bigIntToBytes(EIP155.s), 32)));
    expect(sig.recovery).toBe(EIP155.recovery);
  });

  it('known answer: the EIP-155 sender address, recovered from the signature', () => {
    const sigBytes = new Uint8Array([...padBytes(bigIntToBytes(EIP155.r), 32), ...padBytes(bigIntToBytes(EIP155.s), 32)]);
    const pub = secp256k1Recover(hexToBytes(EIP155.signingHash), sigBytes, EIP155.recovery);
    expect(toChecksumAddress(publicKeyToAddress(pub))).toBe(EIP155.address);
    expect(toChecksumAddress(privateKeyToAddress(hexToBytes(EIP155.privateKey)))).toBe(EIP155.address);
  });

  it.each(EIP55)('known answer: EIP-55 checksum of %s', (address) => {
    expect(toChecksumAddress(address.toLowerCase() as `0x${string}`)).toBe(address);
  });

  it('behavior: sign, verify and recover round-trip with a random key', () => {
    const key = generateSecp256k1PrivateKey();
    const hash = new Uint8Array(32).fill(7);
    const sig = secp256k1Sign(hash, key);
    const pub = secp256k1PublicKey(key);
    expect(secp256k1Verify(hash, sig.bytes, pub)).toBe(true);
    expect(secp256k1Recover(hash, sig.bytes, sig.recovery)).toEqual(pub);
    const other = new Uint8Array(32).fill(8);
    expect(secp256k1Verify(other, sig.bytes, pub)).toBe(false);
    expect(secp256k1Recover(other, sig.bytes, sig.recovery)).not.toEqual(pub);
  });

  it('behavior: compressed public keys give the same address', () => {
    const key = generateSecp256k1PrivateKey();
    expect(publicKeyToAddress(secp256k1PublicKey(key, true))).toEqual(privateKeyToAddress(key));
  });

  it('error: zero and over-order private keys are rejected with a KeyError', () => {
    const order = hexToBytes('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
    for (const [name, key] of [
      ['zero', new Uint8Array(32)],
      ['curve order', order],
      ['31 bytes', new Uint8Array(31).fill(1)],
    ] as const) {
      try {
        secp256k1PublicKey(key);
        expect.fail(`${name} should throw`);
      } catch (err) {
        expect(isPolisError(err, KeyErrorCode.INVALID_PRIVATE_KEY), name).toBe(true);
      }
    }
  });

  it('error: a bad hash length or recovery id is a KeyError', () => {
    const key = generateSecp256k1PrivateKey();
    expect(() => secp256k1Sign(new Uint8Array(31), key)).toThrow(/32 bytes/);
    expect(() => secp256k1Recover(new Uint8Array(32), new Uint8Array(64), 4)).toThrow(/malformed/);
  });
});
