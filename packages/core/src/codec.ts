/**
 * The one canonical binary codec for consensus messages, headers and anything else that is
 * hashed or signed: RLP (Ethereum Yellow Paper, appendix B) through `@ethereumjs/rlp`.
 * See docs/adr/0001-toolchain.md for why RLP.
 *
 * Canonical means one value has exactly one encoding: integers have no leading zero bytes and
 * zero is the empty string, and the decoder rejects non-minimal lengths and trailing bytes.
 * The `read*` helpers below decode defensively: bytes from the network are hostile until each
 * field has been checked, and every failure is a `CodecError` naming the field.
 */
import { RLP } from '@ethereumjs/rlp';
import { bytesToBigInt, CodecError, CodecErrorCode } from './bytes.js';

/** An RLP item: a byte string or a list of items. */
export type RLPItem = Uint8Array | RLPItem[];
/** What `rlpEncode` accepts: bytes, nested lists, and unsigned integers (encoded minimally). */
export type RLPInput = Uint8Array | bigint | number | RLPInput[];

/** Encodes a value as canonical RLP. */
export function rlpEncode(input: RLPInput): Uint8Array {
  return RLP.encode(input as Parameters<typeof RLP.encode>[0]);
}

/**
 * Decodes canonical RLP. Trailing bytes, non-minimal lengths and single bytes that should not
 * have been prefixed are all rejected. Inputs over `maxBytes` are rejected before parsing.
 */
export function rlpDecode(bytes: Uint8Array, maxBytes = 16 * 1024 * 1024): RLPItem {
  if (bytes.length > maxBytes) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_RLP, reason: `input of ${bytes.length} bytes is over the ${maxBytes}-byte limit` },
      `RLP input of ${bytes.length} bytes is over the ${maxBytes}-byte limit`,
    );
  }
  try {
    return RLP.decode(bytes) as RLPItem;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new CodecError({ code: CodecErrorCode.INVALID_RLP, reason }, `invalid RLP: ${reason}`, { cause });
  }
}

function shapeError(field: string, expected: string): CodecError {
  return new CodecError({ code: CodecErrorCode.INVALID_SHAPE, field, expected }, `"${field}" should be ${expected}`);
}

/** Reads `item` as a list of exactly `length` items (or any length when omitted). */
export function readList(item: RLPItem | undefined, field: string, length?: number): RLPItem[] {
  if (!Array.isArray(item)) throw shapeError(field, 'a list');
  if (length !== undefined && item.length !== length) throw shapeError(field, `a list of ${length} items, got ${item.length}`);
  return item;
}

/** Reads `item` as a byte string, of exactly `length` bytes when given. */
export function readBytes(item: RLPItem | undefined, field: string, length?: number): Uint8Array {
  if (!(item instanceof Uint8Array)) throw shapeError(field, 'a byte string');
  if (length !== undefined && item.length !== length) throw shapeError(field, `${length} bytes, got ${item.length}`);
  return item;
}

/** Reads `item` as a canonical unsigned integer of at most `maxBytes` bytes. */
export function readBigUint(item: RLPItem | undefined, field: string, maxBytes = 32): bigint {
  const bytes = readBytes(item, field);
  if (bytes.length > maxBytes) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_INTEGER, field, reason: `more than ${maxBytes} bytes` },
      `"${field}" is an integer over ${maxBytes} bytes`,
    );
  }
  if (bytes.length > 0 && bytes[0] === 0) {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_INTEGER, field, reason: 'leading zero byte' },
      `"${field}" has a leading zero byte, so it is not canonical`,
    );
  }
  return bytesToBigInt(bytes);
}

/** Reads `item` as a canonical unsigned integer that fits in a JS number (below 2^53). */
export function readUint(item: RLPItem | undefined, field: string): number {
  const value = readBigUint(item, field, 7);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CodecError({ code: CodecErrorCode.INVALID_INTEGER, field, reason: 'above 2^53-1' }, `"${field}" is above 2^53-1`);
  }
  return Number(value);
}
