import { describe, expect, it } from 'vitest';
import * as browser from '../src/platform/browser.js';
import * as node from '../src/platform/node.js';
import { seededRandom } from '../src/random.js';

// The browser build must export exactly what the Node build exports, with the same types: this
// assignment fails to compile when one of them drifts.
const sameShape: typeof node = browser;
const sameShapeBack: typeof browser = node;

function bytesFrom(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

describe('platform: the browser build computes what the Node build computes', () => {
  const random = seededRandom(20261125);

  it('exports the same functions', () => {
    expect(Object.keys(sameShape).sort()).toEqual(Object.keys(node).sort());
    expect(Object.keys(sameShapeBack).sort()).toEqual(Object.keys(browser).sort());
  });

  it('hashes alike: keccak-256 and SHA-256 over lengths around the block sizes', () => {
    for (const n of [0, 1, 31, 32, 55, 56, 63, 64, 135, 136, 137, 1000]) {
      const data = bytesFrom(random, n);
      expect(browser.keccak256(data)).toEqual(node.keccak256(data));
      expect(browser.sha256(data)).toEqual(node.sha256(data));
    }
  });

  it('signs, recovers and verifies secp256k1 alike, and each verifies the other', () => {
    for (let i = 0; i < 20; i++) {
      const key = bytesFrom(random, 32);
      const hash = bytesFrom(random, 32);
      expect(browser.secpPrivateKeyVerify(key)).toBe(node.secpPrivateKeyVerify(key));
      const pub = node.secpPublicKeyCreate(key, false);
      expect(browser.secpPublicKeyCreate(key, false)).toEqual(pub);
      expect(browser.secpPublicKeyCreate(key, true)).toEqual(node.secpPublicKeyCreate(key, true));
      expect(browser.secpPublicKeyConvert(node.secpPublicKeyCreate(key, true), false)).toEqual(pub);
      const n = node.secpSign(hash, key);
      const b = browser.secpSign(hash, key);
      expect(b.signature).toEqual(n.signature);
      expect(b.recovery).toBe(n.recovery);
      expect(browser.secpRecover(hash, n.signature, n.recovery)).toEqual(pub);
      expect(browser.secpVerify(hash, n.signature, pub)).toBe(true);
      expect(node.secpVerify(hash, b.signature, pub)).toBe(true);
      const other = Uint8Array.from(hash);
      other[0] = (other[0] as number) ^ 1;
      expect(browser.secpVerify(other, n.signature, pub)).toBe(false);
      expect(node.secpVerify(other, n.signature, pub)).toBe(false);
    }
  });

  it('refuses the invalid secp256k1 keys that the Node build refuses', () => {
    const zero = new Uint8Array(32);
    const order = Uint8Array.from(Buffer.from('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141', 'hex'));
    for (const key of [zero, order, new Uint8Array(31).fill(1)]) {
      expect(browser.secpPrivateKeyVerify(key)).toBe(false);
      expect(node.secpPrivateKeyVerify(key)).toBe(false);
    }
    // About half of all x coordinates are on the curve: both builds must agree on which.
    const throws = (f: () => unknown) => {
      try {
        f();
        return false;
      } catch {
        return true;
      }
    };
    let offCurve = 0;
    for (let fill = 1; fill <= 16; fill++) {
      const point = new Uint8Array(33).fill(fill);
      point[0] = 2;
      const refused = throws(() => node.secpPublicKeyConvert(point, false));
      expect(throws(() => browser.secpPublicKeyConvert(point, false))).toBe(refused);
      if (refused) offCurve++;
    }
    expect(offCurve).toBeGreaterThan(0);
  });

  it('signs and verifies Ed25519 alike, and each verifies the other', () => {
    for (let i = 0; i < 20; i++) {
      const seed = bytesFrom(random, 32);
      const message = bytesFrom(random, i * 7);
      const n = node.edSigner(seed);
      const b = browser.edSigner(seed);
      expect(b.publicKey).toEqual(n.publicKey);
      const sig = n.sign(message);
      expect(b.sign(message)).toEqual(sig);
      expect(browser.edVerify(n.publicKey, message, sig)).toBe(true);
      const forged = Uint8Array.from(sig);
      forged[63] = (forged[63] as number) ^ 0x40;
      expect(browser.edVerify(n.publicKey, message, forged)).toBe(node.edVerify(n.publicKey, message, forged));
      expect(browser.edVerify(n.publicKey, message, forged)).toBe(false);
    }
  });

  it('derives keys and encrypts alike: scrypt, PBKDF2 and AES-128-CTR', () => {
    const password = new TextEncoder().encode('correct horse battery staple');
    const salt = bytesFrom(random, 32);
    expect(browser.scrypt(password, salt, 1024, 8, 1, 32)).toEqual(node.scrypt(password, salt, 1024, 8, 1, 32));
    expect(browser.pbkdf2Sha256(password, salt, 1000, 32)).toEqual(node.pbkdf2Sha256(password, salt, 1000, 32));
    const key = bytesFrom(random, 16);
    const iv = bytesFrom(random, 16);
    const data = bytesFrom(random, 77);
    const ct = node.aes128Ctr(key, iv, data);
    expect(browser.aes128Ctr(key, iv, data)).toEqual(ct);
    expect(browser.aes128Ctr(key, iv, ct)).toEqual(data);
  });

  it('draws random bytes of the asked length, over the 65,536-byte Web Crypto limit', () => {
    expect(browser.randomBytes(70_000)).toHaveLength(70_000);
    expect(node.randomBytes(16)).toHaveLength(16);
    expect(browser.randomBytes(32)).not.toEqual(browser.randomBytes(32));
    expect(browser.constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(browser.constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(node.constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3))).toBe(false);
  });
});

describe('platform: byte helpers', () => {
  const random = seededRandom(7);

  it('encode, decode, compare and allocate alike', () => {
    for (const n of [0, 1, 2, 31, 32, 65, 300]) {
      const a = bytesFrom(random, n);
      const hex = node.hexEncode(a);
      expect(browser.hexEncode(a)).toBe(hex);
      expect(browser.hexDecode(hex)).toEqual(a);
      expect(node.hexDecode(hex)).toEqual(a);
      const b = Uint8Array.from(a);
      expect(browser.sameBytes(a, b)).toBe(true);
      expect(browser.orderBytes(a, b)).toBe(0);
      if (n > 0) {
        b[n - 1] = ((b[n - 1] as number) + 1) & 0xff;
        expect(browser.sameBytes(a, b)).toBe(node.sameBytes(a, b));
        expect(browser.orderBytes(a, b)).toBe(node.orderBytes(a, b));
        expect(browser.orderBytes(b, a)).toBe(node.orderBytes(b, a));
        expect(browser.orderBytes(a.subarray(1), a)).toBe(node.orderBytes(a.subarray(1), a));
      }
      expect(browser.orderBytes(a, new Uint8Array([...a, 0]))).toBe(-1);
      expect(node.orderBytes(a, new Uint8Array([...a, 0]))).toBe(-1);
    }
    expect(browser.allocUnsafe(65)).toHaveLength(65);
    expect(node.allocUnsafe(65)).toHaveLength(65);
  });
});
