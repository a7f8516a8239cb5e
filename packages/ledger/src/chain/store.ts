/**
 * The chain store: blocks, receipts, certificates and indexes in the ledger database.
 *
 * Tables (binary keys and values):
 * - `chain.headers`:  height (8 bytes BE) -> header
 * - `chain.txs`:      height -> rlp([raw tx...])
 * - `chain.receipts`: height -> rlp([receipt...])
 * - `chain.commits`:  height -> the consensus commit (proposal and certificate), opaque here
 * - `chain.hashes`:   block hash -> height
 * - `chain.txindex`:  tx hash -> rlp([height, index])
 * - `chain.meta`:     "head" -> height
 * - `chain.vupdates`: height -> the validator update that block carries (in force from height + 1)
 *
 * `writeBlock` runs inside the state store's block transaction, so a block, its receipts, its
 * indexes and its state land on disk together or not at all.
 */
import { readBytes, readList, readUint, rlpDecode, rlpEncode, utf8ToBytes } from '@polis/core';
import type { LedgerDatabase, LedgerTable, LedgerWriteTxn } from '../db.js';
import { corrupt } from '../errors.js';
import {
  blockHash,
  decodeHeader,
  decodeReceipt,
  decodeValidatorUpdate,
  encodeHeader,
  encodeReceipt,
  encodeValidatorUpdate,
  heightKey,
} from './codec.js';
import type { Block, BlockHeader, Receipt, TxLocation, ValidatorUpdate } from './types.js';

const HEAD_KEY = utf8ToBytes('head');

/** What one block commit writes besides the state. */
export type ChainWrite = {
  block: Block;
  receipts: Receipt[];
  /** Transaction hashes, in block order. */
  txHashes: Uint8Array[];
  /** The consensus commit (proposal and certificate), stored as given. */
  commit: Uint8Array;
};

/** Blocks and their indexes, read from the latest committed transaction. */
export class ChainStore {
  readonly #headers: LedgerTable;
  readonly #txs: LedgerTable;
  readonly #receipts: LedgerTable;
  readonly #commits: LedgerTable;
  readonly #hashes: LedgerTable;
  readonly #txIndex: LedgerTable;
  readonly #meta: LedgerTable;
  readonly #updates: LedgerTable;
  readonly #db: LedgerDatabase;
  /**
   * The head and its header as last decoded, with the database version they were read at: every
   * read request asks for them (several times), and they change only when a block commits.
   */
  #cachedHead: { version: number; height: number; header: BlockHeader | undefined } | undefined;

  constructor(db: LedgerDatabase) {
    this.#db = db;
    this.#headers = db.table('chain.headers');
    this.#txs = db.table('chain.txs');
    this.#receipts = db.table('chain.receipts');
    this.#commits = db.table('chain.commits');
    this.#hashes = db.table('chain.hashes');
    this.#txIndex = db.table('chain.txindex');
    this.#meta = db.table('chain.meta');
    this.#updates = db.table('chain.vupdates');
  }

  /** The highest stored block height, or 0 when only genesis state exists. */
  head(): number {
    const version = this.#db.readVersion();
    if (version !== undefined && this.#cachedHead?.version === version) return this.#cachedHead.height;
    const bytes = this.#meta.get(HEAD_KEY);
    const height = bytes === undefined ? 0 : readUint(rlpDecode(bytes), 'chain.head');
    if (version !== undefined) this.#cachedHead = { version, height, header: undefined };
    return height;
  }

  /** The header at `height` (the head's is decoded once per block; callers must not change it). */
  header(height: number): BlockHeader | undefined {
    const cached = this.#cachedHead;
    const head = cached !== undefined && cached.version === this.#db.readVersion() && cached.height === height;
    if (head && cached.header) return cached.header;
    const bytes = this.#headers.get(heightKey(height));
    const header = bytes === undefined ? undefined : decodeHeader(bytes);
    if (head && header) cached.header = Object.freeze(header);
    return header;
  }

  /** The raw transactions of the block at `height`. */
  txs(height: number): Uint8Array[] | undefined {
    const bytes = this.#txs.get(heightKey(height));
    if (bytes === undefined) return undefined;
    return readList(rlpDecode(bytes), 'chain.txs').map((t, i) => readBytes(t, `chain.txs[${i}]`));
  }

  /** The block at `height`. */
  block(height: number): Block | undefined {
    const header = this.header(height);
    const txs = this.txs(height);
    if (!header) return undefined;
    if (!txs) throw corrupt(`block ${height} has a header but no transactions`);
    const update = this.#updates.get(heightKey(height));
    return update === undefined ? { header, txs } : { header, txs, validatorUpdate: decodeValidatorUpdate(update) };
  }

  /** Every validator update in the chain, by the height of the block that carries it, in order. */
  validatorUpdates(): Array<{ height: number; update: ValidatorUpdate }> {
    const out: Array<{ height: number; update: ValidatorUpdate }> = [];
    for (const key of this.#updates.keys(heightKey(0), heightKey(Number.MAX_SAFE_INTEGER))) {
      const bytes = this.#updates.get(key);
      if (bytes === undefined) throw corrupt('a validator update vanished while it was read');
      out.push({
        height: Number(new DataView(key.buffer, key.byteOffset, 8).getBigUint64(0)),
        update: decodeValidatorUpdate(bytes),
      });
    }
    return out;
  }

  /** The receipts of the block at `height`. */
  receipts(height: number): Receipt[] | undefined {
    const bytes = this.#receipts.get(heightKey(height));
    if (bytes === undefined) return undefined;
    return readList(rlpDecode(bytes), 'chain.receipts').map((r, i) => decodeReceipt(readBytes(r, `chain.receipts[${i}]`)));
  }

  /** The consensus commit stored with the block at `height`. */
  commit(height: number): Uint8Array | undefined {
    return this.#commits.get(heightKey(height));
  }

  /** The height of the block with `hash`. */
  heightOf(hash: Uint8Array): number | undefined {
    const bytes = this.#hashes.get(hash);
    return bytes === undefined ? undefined : readUint(rlpDecode(bytes), 'chain.hashes');
  }

  /** Where the transaction with `txHash` was included. */
  txLocation(txHash: Uint8Array): TxLocation | undefined {
    const bytes = this.#txIndex.get(txHash);
    if (bytes === undefined) return undefined;
    const [h, i] = readList(rlpDecode(bytes), 'chain.txindex', 2);
    return { height: readUint(h, 'chain.txindex.height'), index: readUint(i, 'chain.txindex.index') };
  }

  /** Writes a block, its receipts, commit and indexes inside an open ledger transaction. */
  writeBlock(txn: LedgerWriteTxn, w: ChainWrite): void {
    const height = w.block.header.height;
    const key = heightKey(height);
    txn.put(this.#headers, key, encodeHeader(w.block.header));
    txn.put(this.#txs, key, rlpEncode(w.block.txs));
    txn.put(this.#receipts, key, rlpEncode(w.receipts.map(encodeReceipt)));
    txn.put(this.#commits, key, w.commit);
    if (w.block.validatorUpdate) txn.put(this.#updates, key, encodeValidatorUpdate(w.block.validatorUpdate));
    txn.put(this.#hashes, blockHash(w.block.header), rlpEncode(height));
    w.txHashes.forEach((hash, index) => {
      txn.put(this.#txIndex, hash, rlpEncode([height, index]));
    });
    txn.put(this.#meta, HEAD_KEY, rlpEncode(height));
  }
}
