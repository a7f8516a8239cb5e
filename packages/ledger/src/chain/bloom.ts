/** Ethereum's 2048-bit log bloom filter (Yellow Paper, section 4.3.1). */
import { keccak256 } from '@polis/core';
import type { Log } from './types.js';

/** Bytes in a logs bloom. */
export const BLOOM_BYTES = 256;

/** Sets the three bits of `value` in `bloom`: the low 11 bits of each of the first three byte pairs of keccak256(value). */
export function bloomAdd(bloom: Uint8Array, value: Uint8Array): void {
  const h = keccak256(value);
  for (let i = 0; i < 6; i += 2) {
    const bit = (((h[i] as number) << 8) | (h[i + 1] as number)) & 2047;
    // Bit 0 is the lowest bit of the last byte (the bloom is a big-endian 2048-bit number).
    const index = BLOOM_BYTES - 1 - (bit >> 3);
    bloom[index] = (bloom[index] as number) | (1 << (bit & 7));
  }
}

/** Whether `value` may be in `bloom` (false means certainly not). */
export function bloomMayContain(bloom: Uint8Array, value: Uint8Array): boolean {
  const probe = new Uint8Array(BLOOM_BYTES);
  bloomAdd(probe, value);
  for (let i = 0; i < BLOOM_BYTES; i++) {
    const p = probe[i] as number;
    if (p !== 0 && ((bloom[i] as number) & p) !== p) return false;
  }
  return true;
}

/** The bloom of some logs: each log's address and every topic. */
export function logsBloom(logs: readonly Log[]): Uint8Array {
  const bloom = new Uint8Array(BLOOM_BYTES);
  for (const log of logs) {
    bloomAdd(bloom, log.address);
    for (const t of log.topics) bloomAdd(bloom, t);
  }
  return bloom;
}

/** ORs `other` into `into`. */
export function bloomOr(into: Uint8Array, other: Uint8Array): void {
  for (let i = 0; i < BLOOM_BYTES; i++) into[i] = (into[i] as number) | (other[i] as number);
}
