import { keccak256 as ethersKeccak256 } from 'ethers';
import { describe, expect, it } from 'vitest';
import { bytesToHex, keccak256, sha256, utf8ToBytes } from '../src/index.js';

// Known answers. keccak-256 is Ethereum's pre-standard Keccak (padding 0x01), so these differ
// from FIPS SHA3-256; the empty-string digest is Ethereum's KECCAK_EMPTY (the code hash of an
// account without code).
const KECCAK_VECTORS: Array<[string, string]> = [
  ['', '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'],
  ['abc', '0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45'],
  ['The quick brown fox jumps over the lazy dog', '0x4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15'],
];

// FIPS 180-2 appendix B.1 and the empty string.
const SHA256_VECTORS: Array<[string, string]> = [
  ['', '0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['abc', '0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  [
    'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
    '0x248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  ],
];

describe('keccak256', () => {
  it.each(KECCAK_VECTORS)('known answer for %j', (input, expected) => {
    expect(bytesToHex(keccak256(utf8ToBytes(input))), `keccak256(${JSON.stringify(input)})`).toBe(expected);
  });

  it('behavior: hashes a subarray view, not its whole backing buffer', () => {
    const backing = utf8ToBytes('xxabcxx');
    expect(bytesToHex(keccak256(backing.subarray(2, 5)))).toBe(KECCAK_VECTORS[1]?.[1]);
  });

  it('behavior: every length around the 136-byte rate, hashed one after another, agrees with an independent implementation', () => {
    // The sponge state is reused between calls: a leftover from one hash would show up in the next.
    const data = new Uint8Array(600).map((_, i) => (i * 131 + 7) & 0xff);
    for (const length of [0, 1, 31, 32, 33, 135, 136, 137, 271, 272, 273, 600]) {
      const input = data.subarray(0, length);
      expect(bytesToHex(keccak256(input)), `length ${length}`).toBe(ethersKeccak256(input));
    }
    const digest = keccak256(utf8ToBytes('abc'));
    keccak256(data);
    expect(bytesToHex(digest), 'a digest is not overwritten by the next hash').toBe(KECCAK_VECTORS[1]?.[1]);
  });
});

describe('sha256', () => {
  it.each(SHA256_VECTORS)('known answer for %j', (input, expected) => {
    expect(bytesToHex(sha256(utf8ToBytes(input))), `sha256(${JSON.stringify(input)})`).toBe(expected);
  });
});
