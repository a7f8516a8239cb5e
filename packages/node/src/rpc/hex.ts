/** Parsing and formatting of JSON-RPC quantities and data (Ethereum execution-apis conventions). */
import { bytesToHex, type Hex, hexToBytes, isHex } from '@polis/core';
import { invalidParams } from './errors.js';

/** A quantity: `0x`-prefixed hex with no leading zeros (`0x0` for zero). */
export function quantity(value: bigint | number): Hex {
  return `0x${value.toString(16)}`;
}

/** Data: `0x`-prefixed hex of the bytes. */
export function data(bytes: Uint8Array): Hex {
  return bytesToHex(bytes);
}

/** Reads a quantity parameter; throws -32602 naming `name` when it is not one. */
export function parseQuantity(value: unknown, name: string): bigint {
  if (typeof value === 'string' && /^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/.test(value)) return BigInt(value);
  // Some clients send quantities with leading zeros ("0x01"); accept them as long as they are hex.
  if (typeof value === 'string' && /^0x[0-9a-fA-F]+$/.test(value) && value.length <= 66) return BigInt(value);
  throw invalidParams(`${name} must be a hex quantity such as "0x1a", got ${JSON.stringify(value)}`);
}

/** Reads a data parameter of `length` bytes (any length when omitted). */
export function parseData(value: unknown, name: string, length?: number): Uint8Array {
  if (!isHex(value))
    throw invalidParams(`${name} must be 0x-prefixed hex with an even number of digits, got ${JSON.stringify(value)}`);
  const bytes = hexToBytes(value);
  if (length !== undefined && bytes.length !== length) {
    throw invalidParams(`${name} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Reads a 20-byte address. */
export function parseAddress(value: unknown, name: string): Uint8Array {
  return parseData(value, name, 20);
}
