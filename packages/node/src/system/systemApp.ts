/**
 * The system ledger's application (ADR 0006): blocks of governance transactions, applied by the
 * pure state transition of `@polis/governance`, on the same consensus engine, block format and
 * chain store as app ledgers. Its state (the registries) lives in the table `gov.state` as the
 * sorted key/value records whose Merkle root is the block's state root, and the receipts of its
 * transactions in `gov.receipts`. A block, its receipts and its state changes are written in one
 * durable LMDB transaction, so a restart finds them together or not at all.
 */
import type { CommittedBlock, ValidatorSet } from '@polis/consensus';
import {
  bytesToHex,
  bytesToUtf8,
  equalsBytes,
  merkleRoot,
  readBytes,
  readList,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';
import {
  applyGovTx,
  decodeGovTx,
  decodeState,
  encodeState,
  GovernanceTxError,
  GovernanceTxErrorCode,
  type GovReceipt,
  type GovState,
  type GovTx,
  govTxHash,
  nonceOf,
  type StatePair,
  stateRootOfPairs,
  verifyGovTxSignature,
} from '@polis/governance';
import {
  BLOOM_BYTES,
  type Block,
  type BlockHeader,
  blockHash,
  type ChainStore,
  decodeBlock,
  encodeBlock,
  type LedgerDatabase,
  type LedgerTable,
  txRoot,
} from '@polis/ledger';
import { committedBlockAt, encodeCommit } from '../commit.js';

/** The system ledger's id: it names its URL, its p2p channels and domain-separates its votes. */
export const SYSTEM_LEDGER_ID = 'system';

/** Governance transactions waiting at most; a full pool refuses more. */
export const GOV_MEMPOOL_MAX = 10_000;
/** How far past its next nonce a signer may queue transactions. */
export const GOV_NONCE_AHEAD_MAX = 64;
/** Transactions one block holds at most. */
export const GOV_BLOCK_TXS_MAX = 1_000;
// Only the proposals of the current height are kept; a few rounds' worth is plenty.
const EXECUTED_MAX = 8;

/** A committed system block as listeners see it. */
export type SystemBlockEvent = { height: number; time: number; state: GovState; receipts: GovReceipt[]; txHashes: Uint8Array[] };

type Executed = { block: Block; state: GovState; pairs: StatePair[]; receipts: GovReceipt[]; txHashes: Uint8Array[] };

/** A receipt's stored and hashed form: rlp([status, error code, error message, events as JSON]). */
export function encodeGovReceipt(r: GovReceipt): Uint8Array {
  return rlpEncode([
    utf8ToBytes(r.status),
    utf8ToBytes(r.error?.code ?? ''),
    utf8ToBytes(r.error?.message ?? ''),
    utf8ToBytes(JSON.stringify(r.events)),
  ]);
}

export function decodeGovReceipt(bytes: Uint8Array): GovReceipt {
  const f = readList(rlpDecode(bytes), 'receipt', 4);
  const status = bytesToUtf8(readBytes(f[0], 'receipt.status'));
  const code = bytesToUtf8(readBytes(f[1], 'receipt.error.code'));
  const message = bytesToUtf8(readBytes(f[2], 'receipt.error.message'));
  const events = JSON.parse(bytesToUtf8(readBytes(f[3], 'receipt.events'))) as GovReceipt['events'];
  return { status: status === 'ok' ? 'ok' : 'failed', ...(code ? { error: { code, message } } : {}), events };
}

function receiptsRootOf(receipts: readonly GovReceipt[]): Uint8Array {
  return merkleRoot(receipts.map(encodeGovReceipt));
}

/** Waiting governance transactions, checked for form, chain, signature and nonce range. */
export class GovMempool {
  readonly #byHash = new Map<string, { raw: Uint8Array; tx: GovTx; signer: string }>();
  readonly #chainId: number;

  constructor(chainId: number) {
    this.#chainId = chainId;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** Adds a raw transaction; returns its hash, or throws a `GovernanceTxError` saying why not. */
  add(raw: Uint8Array, state: GovState): Uint8Array {
    const tx = decodeGovTx(raw);
    const hash = govTxHash(tx);
    if (this.#byHash.has(bytesToHex(hash))) return hash;
    if (tx.chainId !== this.#chainId) {
      throw new GovernanceTxError(
        { code: GovernanceTxErrorCode.WRONG_CHAIN, expected: this.#chainId, got: tx.chainId },
        `the transaction is for chain ${tx.chainId}, but this system ledger is chain ${this.#chainId}`,
        { hint: "Sign it again with this network's system chain id" },
      );
    }
    const signer = verifyGovTxSignature(tx);
    const next = nonceOf(state, signer.id);
    if (tx.nonce < next || tx.nonce >= next + GOV_NONCE_AHEAD_MAX) {
      throw new GovernanceTxError(
        { code: GovernanceTxErrorCode.BAD_NONCE, signer: signer.id, expected: next, got: tx.nonce },
        `nonce ${tx.nonce} is not usable for ${signer.id}: its next nonce is ${next}`,
        { hint: 'Read the next nonce with gov_getNonce and sign again' },
      );
    }
    if (this.#byHash.size >= GOV_MEMPOOL_MAX) {
      throw new Error(`the governance mempool holds ${GOV_MEMPOOL_MAX} transactions, its limit; try again shortly`);
    }
    this.#byHash.set(bytesToHex(hash), { raw, tx, signer: signer.id });
    return hash;
  }

  /** The waiting transactions, each signer's in nonce order, signers in order of arrival. */
  select(max: number): Uint8Array[] {
    const bySigner = new Map<string, Array<{ raw: Uint8Array; nonce: number }>>();
    for (const e of this.#byHash.values()) {
      const list = bySigner.get(e.signer) ?? [];
      list.push({ raw: e.raw, nonce: e.tx.nonce });
      bySigner.set(e.signer, list);
    }
    const out: Uint8Array[] = [];
    for (const list of bySigner.values()) {
      for (const e of list.sort((a, b) => a.nonce - b.nonce)) {
        if (out.length >= max) return out;
        out.push(e.raw);
      }
    }
    return out;
  }

  /** Drops what was included and what can never be included any more (nonces now used). */
  prune(included: readonly Uint8Array[], state: GovState): void {
    for (const h of included) this.#byHash.delete(bytesToHex(h));
    for (const [key, e] of this.#byHash) {
      if (e.tx.nonce < nonceOf(state, e.signer)) this.#byHash.delete(key);
    }
  }

  hasWork(): boolean {
    return this.#byHash.size > 0;
  }
}

/** The system ledger's `Application` and `BlockStore`. */
export class SystemApp {
  readonly chainId: number;
  readonly mempool: GovMempool;
  readonly #ledgerId = utf8ToBytes(SYSTEM_LEDGER_ID);
  readonly #db: LedgerDatabase;
  readonly #chain: ChainStore;
  readonly #stateTable: LedgerTable;
  readonly #receiptsTable: LedgerTable;
  readonly #validators: ValidatorSet;
  readonly #executed = new Map<string, Executed>();
  readonly #listeners = new Set<(e: SystemBlockEvent) => void>();
  #state: GovState;
  #pairs: StatePair[];
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(o: {
    db: LedgerDatabase;
    chain: ChainStore;
    validators: ValidatorSet;
    state: GovState;
    pairs: StatePair[];
  }) {
    this.#db = o.db;
    this.#chain = o.chain;
    this.#validators = o.validators;
    this.#state = o.state;
    this.#pairs = o.pairs;
    this.chainId = o.state.chainId;
    this.mempool = new GovMempool(o.state.chainId);
    this.#stateTable = o.db.table('gov.state');
    this.#receiptsTable = o.db.table('gov.receipts');
  }

  /**
   * Opens the system ledger on `db`: its stored state, or `genesis` written as block 0 when the
   * ledger is new.
   */
  static async open(o: {
    db: LedgerDatabase;
    chain: ChainStore;
    validators: ValidatorSet;
    genesis: GovState;
    genesisTime: number;
  }) {
    const table = o.db.table('gov.state');
    if (o.chain.header(0)) {
      const pairs: StatePair[] = [];
      for (const key of table.keys(new Uint8Array(0), new Uint8Array(64).fill(0xff))) {
        pairs.push([key, table.get(key) as Uint8Array]);
      }
      const app = new SystemApp({ ...o, state: decodeState(pairs), pairs });
      const stored = o.chain.header(o.chain.head())?.stateRoot;
      if (!stored || !equalsBytes(stored, stateRootOfPairs(pairs))) {
        throw new Error('the system ledger state on disk does not match its latest block; the data directory is damaged');
      }
      return app;
    }
    const pairs = encodeState(o.genesis);
    const app = new SystemApp({ ...o, state: o.genesis, pairs });
    const header: BlockHeader = {
      ledgerId: utf8ToBytes(SYSTEM_LEDGER_ID),
      chainId: BigInt(o.genesis.chainId),
      height: 0,
      time: o.genesisTime,
      parentHash: new Uint8Array(32),
      proposer: new Uint8Array(32),
      validatorsHash: o.validators.hash,
      nextValidatorsHash: o.validators.hash,
      txRoot: txRoot([]),
      receiptsRoot: receiptsRootOf([]),
      stateRoot: stateRootOfPairs(pairs),
      logsBloom: new Uint8Array(BLOOM_BYTES),
      gasUsed: 0n,
      gasLimit: 0n,
    };
    await o.db.write((txn) => {
      o.chain.writeBlock(txn, { block: { header, txs: [] }, receipts: [], txHashes: [], commit: new Uint8Array(0) });
      for (const [k, v] of pairs) txn.put(table, k, v);
    });
    return app;
  }

  /** The committed governance state. */
  get state(): GovState {
    return this.#state;
  }

  get chain(): ChainStore {
    return this.#chain;
  }

  /** The stored receipt of a committed transaction. */
  receipt(txHash: Uint8Array): GovReceipt | undefined {
    const bytes = this.#receiptsTable.get(txHash);
    return bytes ? decodeGovReceipt(bytes) : undefined;
  }

  /** Subscribes to committed blocks (after they are durable); returns the unsubscribe function. */
  onBlock(fn: (e: SystemBlockEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Adds a raw transaction to the mempool; returns its hash or throws a `GovernanceTxError`. */
  submit(raw: Uint8Array): Uint8Array {
    return this.mempool.add(raw, this.#state);
  }

  valueIdOf(value: Uint8Array): Uint8Array {
    return blockHash(decodeBlock(value).header);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #parent(height: number): { hash: Uint8Array; time: number } {
    const header = this.#chain.header(height - 1);
    if (!header) throw new Error(`system ledger: block ${height - 1} is missing while building ${height}`);
    return { hash: blockHash(header), time: header.time };
  }

  /** Applies `raws` in order from the committed state; `strict` refuses a block with a transaction that cannot be included. */
  #execute(raws: readonly Uint8Array[], height: number, time: number, strict: boolean) {
    let state = this.#state;
    const included: Uint8Array[] = [];
    const receipts: GovReceipt[] = [];
    for (const raw of raws) {
      try {
        const r = applyGovTx(state, raw, { height, time, chainId: this.chainId });
        state = r.state;
        receipts.push(r.receipt);
        included.push(raw);
      } catch (err) {
        if (strict || !(err instanceof GovernanceTxError)) return undefined;
      }
    }
    return { state, included, receipts, pairs: encodeState(state) };
  }

  prepareProposal(req: { height: number; round: number; time: number; proposer: number }): Promise<Uint8Array> {
    return this.#serial(async () => {
      const parent = this.#parent(req.height);
      const time = Math.max(req.time, parent.time + 1);
      const exec = this.#execute(this.mempool.select(GOV_BLOCK_TXS_MAX), req.height, time, false);
      if (!exec) throw new Error(`building system block ${req.height} failed`);
      const header: BlockHeader = {
        ledgerId: this.#ledgerId,
        chainId: BigInt(this.chainId),
        height: req.height,
        time,
        parentHash: parent.hash,
        proposer: this.#validators.validators[req.proposer]?.publicKey ?? new Uint8Array(32),
        validatorsHash: this.#validators.hash,
        // The system ledger's validators are fixed by its genesis (ADR 0006).
        nextValidatorsHash: this.#validators.hash,
        txRoot: txRoot(exec.included),
        receiptsRoot: receiptsRootOf(exec.receipts),
        stateRoot: stateRootOfPairs(exec.pairs),
        logsBloom: new Uint8Array(BLOOM_BYTES),
        gasUsed: 0n,
        gasLimit: 0n,
      };
      const block = { header, txs: exec.included };
      this.#remember({
        block,
        state: exec.state,
        pairs: exec.pairs,
        receipts: exec.receipts,
        txHashes: exec.included.map((t) => govTxHash(t)),
      });
      return encodeBlock(block);
    });
  }

  processProposal(req: { height: number; round: number; value: Uint8Array }): Promise<boolean> {
    return this.#serial(async () => this.#process(req));
  }

  #process(req: { height: number; value: Uint8Array }): boolean {
    let block: Block;
    try {
      block = decodeBlock(req.value);
    } catch {
      return false;
    }
    if (this.#executed.has(bytesToHex(blockHash(block.header)))) return true;
    const h = block.header;
    const parent = this.#parent(req.height);
    if (
      h.height !== req.height ||
      h.chainId !== BigInt(this.chainId) ||
      !equalsBytes(h.ledgerId, this.#ledgerId) ||
      !equalsBytes(h.parentHash, parent.hash) ||
      h.time <= parent.time ||
      !equalsBytes(h.validatorsHash, this.#validators.hash) ||
      !equalsBytes(h.nextValidatorsHash, this.#validators.hash) ||
      block.validatorUpdate !== undefined ||
      !this.#validators.validators.some((v) => equalsBytes(v.publicKey, h.proposer)) ||
      block.txs.length > GOV_BLOCK_TXS_MAX ||
      !equalsBytes(h.txRoot, txRoot(block.txs))
    ) {
      return false;
    }
    const exec = this.#execute(block.txs, h.height, h.time, true);
    if (!exec) return false;
    const ok =
      equalsBytes(h.stateRoot, stateRootOfPairs(exec.pairs)) && equalsBytes(h.receiptsRoot, receiptsRootOf(exec.receipts));
    if (ok)
      this.#remember({
        block,
        state: exec.state,
        pairs: exec.pairs,
        receipts: exec.receipts,
        txHashes: block.txs.map((t) => govTxHash(t)),
      });
    return ok;
  }

  #remember(e: Executed): void {
    if (this.#executed.size >= EXECUTED_MAX) this.#executed.delete(this.#executed.keys().next().value as string);
    this.#executed.set(bytesToHex(blockHash(e.block.header)), e);
  }

  save(decided: CommittedBlock): Promise<void> {
    return this.#serial(async () => {
      const key = bytesToHex(decided.certificate.valueId);
      if (!this.#executed.has(key) && !this.#process({ height: decided.height, value: decided.value })) {
        throw new Error(
          `system block ${decided.height} was certified but does not apply to its header; this node's state has diverged`,
        );
      }
      const e = this.#executed.get(key) as Executed;
      const commit = encodeCommit(decided.proposal, decided.certificate);
      const before = new Map(this.#pairs.map(([k, v]) => [bytesToHex(k), v]));
      const after = new Set<string>();
      await this.#db.write((txn) => {
        this.#chain.writeBlock(txn, { block: e.block, receipts: [], txHashes: e.txHashes, commit });
        e.receipts.forEach((r, i) => {
          txn.put(this.#receiptsTable, e.txHashes[i] as Uint8Array, encodeGovReceipt(r));
        });
        for (const [k, v] of e.pairs) {
          const hex = bytesToHex(k);
          after.add(hex);
          const old = before.get(hex);
          if (!old || !equalsBytes(old, v)) txn.put(this.#stateTable, k, v);
        }
        for (const [hex] of before) if (!after.has(hex)) txn.remove(this.#stateTable, hexKey(hex));
      });
      this.#state = e.state;
      this.#pairs = e.pairs;
      this.#executed.clear();
      this.mempool.prune(e.txHashes, e.state);
      const event = {
        height: decided.height,
        time: e.block.header.time,
        state: e.state,
        receipts: e.receipts,
        txHashes: e.txHashes,
      };
      for (const fn of this.#listeners) fn(event);
    });
  }

  async get(height: number): Promise<CommittedBlock | undefined> {
    return committedBlockAt(this.#chain, height);
  }

  async height(): Promise<number> {
    return this.#chain.head();
  }

  async finalizeBlock(): Promise<void> {}
  async commit(): Promise<void> {}

  async info(): Promise<{ height: number }> {
    return { height: this.#chain.head() };
  }

  hasWork(): boolean {
    return this.mempool.hasWork();
  }
}

function hexKey(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'));
}
