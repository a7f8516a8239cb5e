/** Test helpers: temporary LMDB directories and a seeded generator of state writes. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bigIntToBytes, keccak256, seededRandom } from '@polis/core';
import { type AccountWrite, type CodeWrite, KECCAK256_NULL, type StorageWrite } from '../src/index.js';

/** A temporary directory and a function that removes it. */
export function tempDir(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'polis-ledger-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** `n` bytes from `next`. */
export function randomBytes(next: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** A canonical non-zero storage value below 2^64. */
export function randomValue(next: () => number): Uint8Array {
  return bigIntToBytes(BigInt(Math.floor(next() * 2 ** 48) + 1));
}

/** A seeded genesis: `accounts` EOAs, one contract with code and `slots` storage slots. */
export function genesis(seed: number, accounts: number, slots: number) {
  const next = rng(seed);
  const code = new Uint8Array([0x60, 0x00, 0x60, 0x00, 0xf3]);
  const codeHash = keccak256(code);
  const contract = randomBytes(next, 20);
  const accountWrites: AccountWrite[] = [{ address: contract, account: { nonce: 1n, balance: 0n, codeHash } }];
  for (let i = 0; i < accounts; i++) {
    accountWrites.push({
      address: randomBytes(next, 20),
      account: { nonce: BigInt(i % 7), balance: BigInt(Math.floor(next() * 1e12)), codeHash: KECCAK256_NULL },
    });
  }
  const storage: StorageWrite[] = [];
  for (let i = 0; i < slots; i++) storage.push({ address: contract, slot: randomBytes(next, 32), value: randomValue(next) });
  const codeWrites: CodeWrite[] = [{ codeHash, code }];
  return { contract, accounts: accountWrites, storage, code: codeWrites, next };
}

/** A copy of `items` in a seeded random order. */
export function shuffled<T>(items: T[], next: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A seeded PRNG, so that a failing case replays from its seed. */
export const rng = seededRandom;
