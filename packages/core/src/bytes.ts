/**
 * Byte and hex helpers. Everything binary in Polis is a `Uint8Array`; hex strings always carry
 * the `0x` prefix and use lower case when we produce them.
 */
import { hexDecode, hexEncode, orderBytes, sameBytes } from '#platform';
import { PolisError } from './errors.js';

/** A `0x`-prefixed hex string. */
export type Hex = `0x${string}`;

/** Codes for errors while encoding or decoding bytes. */
export enum CodecErrorCode {
  /** A string that should be hex is not: wrong prefix, odd length or a non-hex character. */
  INVALID_HEX = 'CODEC_ERROR_INVALID_HEX',
  /** Bytes that should be canonical RLP are not. */
  INVALID_RLP = 'CODEC_ERROR_INVALID_RLP',
  /** A decoded structure has the wrong shape: list length, field length or field type. */
  INVALID_SHAPE = 'CODEC_ERROR_INVALID_SHAPE',
  /** An integer is negative, too large, or has leading zero bytes. */
  INVALID_INTEGER = 'CODEC_ERROR_INVALID_INTEGER',
}

/** The payload of a `CodecError`. */
export type CodecErrorType =
  | { code: CodecErrorCode.INVALID_HEX; value: string }
  | { code: CodecErrorCode.INVALID_RLP; reason: string }
  | { code: CodecErrorCode.INVALID_SHAPE; field: string; expected: string }
  | { code: CodecErrorCode.INVALID_INTEGER; field: string; reason: string };

/** An error while encoding or decoding bytes. */
export class CodecError extends PolisError<CodecErrorType> {
  override name = 'CodecError';
}

const HEX_RE = /^0x[0-9a-fA-F]*$/;

/** Whether `value` is a `0x`-prefixed hex string of even length. */
export function isHex(value: unknown): value is Hex {
  return typeof value === 'string' && value.length % 2 === 0 && HEX_RE.test(value);
}

/** Whether `value` is a `Uint8Array` (a Node `Buffer` is one too). */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** Encodes bytes as lower-case `0x` hex. */
export function bytesToHex(bytes: Uint8Array): Hex {
  return `0x${hexEncode(bytes)}`;
}

/** Decodes `0x` hex into bytes; rejects odd lengths and non-hex characters. */
export function hexToBytes(hex: string): Uint8Array {
  if (!isHex(hex)) {
    const shown = hex.length > 80 ? `${hex.slice(0, 77)}...` : hex;
    throw new CodecError({ code: CodecErrorCode.INVALID_HEX, value: shown }, `"${shown}" is not valid hex`, {
      hint: 'Pass a 0x-prefixed string with an even number of hex digits (0-9, a-f)',
    });
  }
  return hexDecode(hex.slice(2));
}

/** Concatenates byte arrays into a new one. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Whether two byte arrays hold the same bytes. */
export function equalsBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sameBytes(a, b);
}

/** Orders byte arrays lexicographically, shorter first on a common prefix; returns -1, 0 or 1. */
export function compareBytes(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  return orderBytes(a, b);
}

/** Encodes a string as UTF-8. */
export function utf8ToBytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Decodes UTF-8 bytes; invalid sequences become U+FFFD. */
export function bytesToUtf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** The minimal big-endian bytes of a non-negative integer; zero is the empty array (as in RLP). */
export function bigIntToBytes(value: bigint): Uint8Array {
  if (value < 0n) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_INTEGER, field: 'value', reason: 'negative' },
      `cannot encode the negative integer ${value}`,
      { hint: 'Only unsigned integers are encoded' },
    );
  }
  if (value === 0n) return new Uint8Array(0);
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return hexDecode(hex);
}

/** Reads big-endian bytes as an unsigned integer; the empty array is zero. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt(bytesToHex(bytes));
}

/** The minimal big-endian bytes of a non-negative safe integer. */
export function intToBytes(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_INTEGER, field: 'value', reason: 'not a non-negative safe integer' },
      `cannot encode ${value} as an unsigned integer`,
      { hint: 'Pass a whole number between 0 and 2^53-1' },
    );
  }
  return bigIntToBytes(BigInt(value));
}

/** Left-pads `bytes` with zeros to `length`; throws if it is already longer. */
export function padBytes(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length > length) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_SHAPE, field: 'bytes', expected: `at most ${length} bytes` },
      `${bytes.length} bytes do not fit in ${length}`,
    );
  }
  if (bytes.length === length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}
