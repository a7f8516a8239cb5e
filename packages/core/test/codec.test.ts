import { describe, expect, it } from 'vitest';
import {
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  CodecErrorCode,
  hexToBytes,
  isPolisError,
  readBigUint,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '../src/index.js';

const s = utf8ToBytes;

// The examples of the Ethereum wiki's RLP page and the Yellow Paper, appendix B.
const RLP_VECTORS: Array<[string, Parameters<typeof rlpEncode>[0], string]> = [
  ['the string "dog"', s('dog'), '0x83646f67'],
  ['the list ["cat", "dog"]', [s('cat'), s('dog')], '0xc88363617483646f67'],
  ['the empty string', new Uint8Array(), '0x80'],
  ['the empty list', [], '0xc0'],
  ['the integer 0', 0, '0x80'],
  ['the byte 0x00', new Uint8Array([0]), '0x00'],
  ['the integer 15', 15, '0x0f'],
  ['the integer 1024', 1024, '0x820400'],
  ['the set-theoretic three', [[], [[]], [[], [[]]]], '0xc7c0c1c0c3c0c1c0'],
  [
    'a 56-byte string',
    s('Lorem ipsum dolor sit amet, consectetur adipisicing elit'),
    '0xb8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974',
  ],
];

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isPolisError(err) ? err.code : `non-Polis error: ${String(err)}`;
  }
  return undefined;
}

describe('hex', () => {
  it('default: round-trips bytes', () => {
    expect(bytesToHex(hexToBytes('0x00ff10'))).toBe('0x00ff10');
    expect(hexToBytes('0x')).toEqual(new Uint8Array());
  });

  it.each(['00ff', '0x0', '0xzz', '0x 1'])('error: rejects %j', (bad) => {
    expect(codeOf(() => hexToBytes(bad))).toBe(CodecErrorCode.INVALID_HEX);
  });
});

describe('integers', () => {
  it.each([0n, 1n, 255n, 256n, 2n ** 64n, 2n ** 256n - 1n])('round-trips %s minimally', (n) => {
    const bytes = bigIntToBytes(n);
    expect(bytesToBigInt(bytes)).toBe(n);
    expect(bytes[0], 'no leading zero').not.toBe(0);
  });
});

describe('RLP', () => {
  it.each(RLP_VECTORS)('known answer: %s', (_name, input, expected) => {
    const encoded = rlpEncode(input);
    expect(bytesToHex(encoded)).toBe(expected);
    expect(rlpEncode(rlpDecode(encoded))).toEqual(encoded);
  });

  it.each([
    ['a single byte below 0x80 with a prefix', '0x8100'],
    ['trailing bytes', '0x83646f6700'],
    ['a long-form length under 56', '0xb80161'],
    ['a length with a leading zero', '0xb900380000'],
    ['a string shorter than its length', '0x83646f'],
    ['a list shorter than its length', '0xc883636174'],
  ])('error: rejects %s', (_name, hex) => {
    expect(codeOf(() => rlpDecode(hexToBytes(hex)))).toBe(CodecErrorCode.INVALID_RLP);
  });

  it('error: rejects input over the size limit before parsing', () => {
    expect(codeOf(() => rlpDecode(new Uint8Array(100), 99))).toBe(CodecErrorCode.INVALID_RLP);
  });

  it('behavior: the read helpers check shape and canonical integers', () => {
    const item = rlpDecode(rlpEncode([s('ab'), 300, [1, 2]]));
    const [a, n, l] = readList(item, 'msg', 3);
    expect(readBytes(a, 'a', 2)).toEqual(s('ab'));
    expect(readUint(n, 'n')).toBe(300);
    expect(readList(l, 'l').length).toBe(2);
    expect(codeOf(() => readList(item, 'msg', 4))).toBe(CodecErrorCode.INVALID_SHAPE);
    expect(codeOf(() => readBytes(l, 'l'))).toBe(CodecErrorCode.INVALID_SHAPE);
    expect(codeOf(() => readBytes(a, 'a', 3))).toBe(CodecErrorCode.INVALID_SHAPE);
    expect(codeOf(() => readUint(new Uint8Array([0, 1]), 'n'))).toBe(CodecErrorCode.INVALID_INTEGER);
    expect(codeOf(() => readUint(new Uint8Array(8).fill(0xff), 'n'))).toBe(CodecErrorCode.INVALID_INTEGER);
    expect(codeOf(() => readBigUint(new Uint8Array(33).fill(1), 'n'))).toBe(CodecErrorCode.INVALID_INTEGER);
  });
});
