/**
 * The chain store's head cache (every read request asks for the head and its header): it is
 * never stale after a block commits or a write aborts, and a write's own reads see its writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BlockHeader, ChainStore, type LedgerDatabase, openLedgerDatabase } from '../src/index.js';

let dir: string;
let db: LedgerDatabase;
let chain: ChainStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'polis-chain-store-'));
  db = openLedgerDatabase({ path: dir });
  chain = new ChainStore(db);
});

afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

function header(height: number): BlockHeader {
  return {
    ledgerId: new Uint8Array([1]),
    chainId: 31337n,
    height,
    time: 1_700_000_000_000 + height * 1000,
    parentHash: new Uint8Array(32),
    proposer: new Uint8Array(32).fill(9),
    validatorsHash: new Uint8Array(32),
    nextValidatorsHash: new Uint8Array(32),
    txRoot: new Uint8Array(32),
    receiptsRoot: new Uint8Array(32),
    stateRoot: new Uint8Array(32).fill(height),
    logsBloom: new Uint8Array(256),
    gasUsed: BigInt(height),
    gasLimit: 30_000_000n,
  };
}

const write = (height: number) => ({
  block: { header: header(height), txs: [] },
  receipts: [],
  txHashes: [],
  commit: new Uint8Array([height]),
});

describe('the head cache', () => {
  it('follows every committed block, with its header', async () => {
    expect(chain.head()).toBe(0);
    for (let h = 1; h <= 3; h++) {
      await db.write((txn) => chain.writeBlock(txn, write(h)));
      expect(chain.head()).toBe(h);
      expect(chain.header(chain.head())).toEqual(header(h));
      expect(chain.header(h - 1)?.height ?? 0).toBe(h - 1);
    }
  });

  it('lets a write read its own block, and an aborted write leaves the head where it was', async () => {
    await db.write((txn) => chain.writeBlock(txn, write(1)));
    expect(chain.header(chain.head())?.gasUsed).toBe(1n);
    await db.write((txn) => {
      chain.writeBlock(txn, write(2));
      expect(chain.head(), 'inside the write, its own head').toBe(2);
      expect(chain.header(2)?.gasUsed).toBe(2n);
    });
    await expect(
      db.write((txn) => {
        chain.writeBlock(txn, write(3));
        expect(chain.head()).toBe(3);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(chain.head(), 'the aborted block is not the head').toBe(2);
    expect(chain.header(3)).toBeUndefined();
    expect(chain.header(2)?.gasUsed).toBe(2n);
  });

  it('hands out the cached header frozen, so no caller can change what the next one reads', async () => {
    await db.write((txn) => chain.writeBlock(txn, write(1)));
    const h = chain.header(chain.head()) as BlockHeader;
    expect(chain.header(1)).toBe(h);
    expect(Object.isFrozen(h)).toBe(true);
  });
});
