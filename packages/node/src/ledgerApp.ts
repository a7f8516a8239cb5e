/**
 * The application side of one app ledger: the consensus `Application` and `BlockStore` seams,
 * implemented over the ledger's LMDB stores, mempool and EVM executor.
 *
 * Blocks are executed before they are voted on (same-block state roots, ADR 0002): the proposer
 * executes its block in `prepareProposal`, validators execute proposals in `processProposal`,
 * and the results are kept, by block hash, until the decision. Saving a decided block writes its
 * header, transactions, receipts, commit, indexes and state in one LMDB transaction, flushed to
 * disk before `save` resolves; so the block store and the application are one object, and
 * `finalizeBlock`/`commit` have nothing left to do.
 *
 * Validator sets (ADR 0006): a block may carry a validator update, in force from the next height.
 * The system ledger decides the change; the app ledger applies it in its own block, so every
 * replica switches at the same height. A proposer includes the update when the system ledger's
 * record of the app (`wantedValidators`) names a newer epoch and a different set than the ledger
 * has; a validator accepts a proposal's update only if its own view of the system ledger agrees.
 * A decided block is not checked against that view again: its certificate is the proof.
 */

import {
  type Application,
  type BlockStore,
  type CommittedBlock,
  createValidatorSet,
  type Validator,
  type ValidatorSet,
} from '@polis/consensus';
import { bytesToHex, equalsBytes, hexToBytes, utf8ToBytes } from '@polis/core';
import { type BlockExecution, type BlockExecutor, identityGenesisWrites, serviceGenesisWrites } from '@polis/execution';
import {
  BLOOM_BYTES,
  type Block,
  type BlockHeader,
  blockHash,
  type ChainStore,
  createStateWriteSet,
  type DecodedTx,
  decodeBlock,
  decodeTx,
  encodeBlock,
  KECCAK256_NULL,
  type Mempool,
  type Receipt,
  receiptsRoot,
  type StagedCommitment,
  type StateStore,
  txRoot,
  type ValidatorUpdate,
} from '@polis/ledger';
import { committedBlockAt, encodeCommit } from './commit.js';
import type { LedgerGenesis } from './config.js';

/** Static parameters of a ledger. */
export type LedgerParams = {
  ledgerId: Uint8Array;
  chainId: bigint;
  gasLimit: bigint;
  maxBlockTxs: number;
  maxBlockBytes: number;
};

/** The validator set the system ledger wants the ledger to have: its epoch and its members in order. */
export type WantedValidators = { epoch: number; validators: readonly Validator[] };

/** A validator set in force from height `from`, brought by the update of `epoch` (0: genesis). */
type SetEntry = { from: number; epoch: number; set: ValidatorSet };

/** A block executed and staged, waiting for the decision. */
type Executed = { block: Block; exec: BlockExecution; baseRoot: Uint8Array; staged: StagedCommitment };

/** Called with each committed block, after it is durable. */
export type BlockListener = (block: Block, receipts: Receipt[]) => void;

// Only the proposals of the current height are kept; a few rounds' worth is plenty.
const EXECUTED_MAX = 8;

/** One ledger's application: builds, checks, executes and stores blocks. */
export class LedgerApp implements Application, BlockStore {
  readonly params: LedgerParams;
  readonly #state: StateStore;
  readonly #chain: ChainStore;
  readonly #mempool: Mempool;
  readonly #executor: BlockExecutor;
  /** The ledger's validator sets in order: one entry per change, so the history is as long as the changes. */
  readonly #sets: SetEntry[];
  readonly #wanted: (() => WantedValidators | undefined) | undefined;
  readonly #executed = new Map<string, Executed>();
  readonly #listeners = new Set<BlockListener>();
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: {
    params: LedgerParams;
    state: StateStore;
    chain: ChainStore;
    mempool: Mempool;
    executor: BlockExecutor;
    /** The genesis validator set. */
    validators: ValidatorSet;
    /** The set the system ledger wants, when a system ledger governs this one; without it the set never changes. */
    wantedValidators?: () => WantedValidators | undefined;
  }) {
    this.params = options.params;
    this.#state = options.state;
    this.#chain = options.chain;
    this.#mempool = options.mempool;
    this.#executor = options.executor;
    this.#wanted = options.wantedValidators;
    this.#sets = [{ from: 1, epoch: 0, set: options.validators }];
    for (const { height, update } of this.#chain.validatorUpdates()) {
      this.#sets.push({ from: height + 1, epoch: update.epoch, set: createValidatorSet(update.validators) });
    }
  }

  /** The validator set of `height` (consensus asks once `height - 1` is committed). */
  validatorSet(height: number): ValidatorSet {
    for (let i = this.#sets.length - 1; i > 0; i--) {
      const e = this.#sets[i] as SetEntry;
      if (e.from <= height) return e.set;
    }
    return (this.#sets[0] as SetEntry).set;
  }

  /** The set in force after the last committed block, with its epoch. */
  get currentValidators(): { epoch: number; set: ValidatorSet } {
    return this.#sets[this.#sets.length - 1] as SetEntry;
  }

  /** The update a proposer should include now: the system's wanted set, if newer and different. */
  #pendingUpdate(): ValidatorUpdate | undefined {
    const want = this.#wanted?.();
    const current = this.currentValidators;
    if (!want || want.epoch <= current.epoch || sameMembers(want.validators, current.set.validators)) return undefined;
    return { epoch: want.epoch, validators: want.validators.map((v) => ({ publicKey: v.publicKey, power: v.power })) };
  }

  /** Subscribes to committed blocks; returns the unsubscribe function. */
  onBlock(listener: BlockListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** id(v): the block hash, which is the hash of the header. */
  valueIdOf(value: Uint8Array): Uint8Array {
    return blockHash(decodeBlock(value).header);
  }

  #parent(height: number): { hash: Uint8Array; time: number } {
    // Height 0 is the genesis block, written when the ledger is created.
    const header = this.#chain.header(height - 1);
    if (!header) throw new Error(`ledger: block ${height - 1} is missing while building ${height}`);
    return { hash: blockHash(header), time: header.time };
  }

  /**
   * Runs `fn` after every earlier call of it has finished. The engine asks for proposals and
   * validity without waiting for the answers, and all of them execute on the one overlay of the
   * executor, so they must not interleave at their awaits.
   */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  prepareProposal(req: { height: number; round: number; time: number; proposer: number }): Promise<Uint8Array> {
    return this.#serial(() => this.#prepare(req));
  }

  processProposal(req: { height: number; round: number; value: Uint8Array }): Promise<boolean> {
    return this.#serial(() => this.#process(req, false));
  }

  // BlockStore.save: the decided block, executed and written with its state in one transaction.
  save(decided: CommittedBlock): Promise<void> {
    return this.#serial(() => this.#save(decided));
  }

  async #prepare(req: { height: number; round: number; time: number; proposer: number }): Promise<Uint8Array> {
    const p = this.params;
    const parent = this.#parent(req.height);
    const validators = this.validatorSet(req.height);
    const proposer = validators.validators[req.proposer]?.publicKey ?? new Uint8Array(32);
    const validatorUpdate = this.#pendingUpdate();
    // BFT time must increase from block to block, even if this proposer's clock is behind.
    const time = Math.max(req.time, parent.time + 1);
    const candidates = this.#mempool.select({ maxTxs: p.maxBlockTxs, maxBytes: p.maxBlockBytes, maxGas: p.gasLimit });
    const env = { height: req.height, timeMs: time, gasLimit: p.gasLimit, coinbase: proposer.subarray(0, 20) };
    const exec = await this.#executor.executeBlock(env, candidates, 'build');
    if ('invalid' in exec) throw new Error(`building block ${req.height}: ${exec.invalid}`);
    if (exec.included.length < candidates.length) {
      // The selection fits the block's gas, so the builder left these out only because the EVM
      // refused to run them; kept, they would never leave the pool and would wake consensus for
      // empty blocks without end.
      const included = new Set(exec.included);
      this.#mempool.drop(candidates.filter((t) => !included.has(t)));
    }
    const txs = exec.included.map((t) => t.raw);
    const baseRoot = this.#state.stateRoot;
    const staged = await this.#state.commitment.stage(baseRoot, exec.writeSet, this.#state);
    const header: BlockHeader = {
      ledgerId: p.ledgerId,
      chainId: p.chainId,
      height: req.height,
      time,
      parentHash: parent.hash,
      proposer,
      validatorsHash: validators.hash,
      nextValidatorsHash: validatorUpdate ? createValidatorSet(validatorUpdate.validators).hash : validators.hash,
      txRoot: txRoot(txs),
      receiptsRoot: receiptsRoot(exec.receipts),
      stateRoot: staged.root,
      logsBloom: exec.logsBloom,
      gasUsed: exec.gasUsed,
      gasLimit: p.gasLimit,
    };
    const block: Block = validatorUpdate ? { header, txs, validatorUpdate } : { header, txs };
    this.#remember({ block, exec, baseRoot, staged });
    return encodeBlock(block);
  }

  /** A block's next set: unchanged without an update; with one, a valid set of a later epoch that the system ledger wants. */
  #checkUpdate(block: Block, validators: ValidatorSet, decided: boolean): boolean {
    const u = block.validatorUpdate;
    if (!u) return equalsBytes(block.header.nextValidatorsHash, validators.hash);
    let next: ValidatorSet;
    try {
      next = createValidatorSet(u.validators);
    } catch {
      return false;
    }
    if (u.epoch <= this.currentValidators.epoch || !equalsBytes(block.header.nextValidatorsHash, next.hash)) return false;
    if (decided) return true;
    const pending = this.#pendingUpdate();
    return pending !== undefined && pending.epoch === u.epoch && sameMembers(pending.validators, next.validators);
  }

  #remember(e: Executed): void {
    if (this.#executed.size >= EXECUTED_MAX) {
      const oldest = this.#executed.keys().next().value as string;
      this.#executed.delete(oldest);
    }
    this.#executed.set(bytesToHex(blockHash(e.block.header)), e);
  }

  /** valid(v). `decided`: the block is certified, so its validator update is not checked against this node's view of the system ledger. */
  async #process(req: { height: number; round: number; value: Uint8Array }, decided: boolean): Promise<boolean> {
    let block: Block;
    try {
      block = decodeBlock(req.value);
    } catch {
      return false;
    }
    const key = bytesToHex(blockHash(block.header));
    if (this.#executed.has(key)) return true;
    const h = block.header;
    const p = this.params;
    const parent = this.#parent(req.height);
    const validators = this.validatorSet(req.height);
    if (
      h.height !== req.height ||
      h.chainId !== p.chainId ||
      !equalsBytes(h.ledgerId, p.ledgerId) ||
      !equalsBytes(h.parentHash, parent.hash) ||
      h.time <= parent.time ||
      h.gasLimit !== p.gasLimit ||
      !equalsBytes(h.validatorsHash, validators.hash) ||
      !validators.validators.some((v) => equalsBytes(v.publicKey, h.proposer)) ||
      block.txs.length > p.maxBlockTxs ||
      !equalsBytes(h.txRoot, txRoot(block.txs)) ||
      !this.#checkUpdate(block, validators, decided)
    ) {
      return false;
    }
    const txs: DecodedTx[] = [];
    for (const raw of block.txs) {
      // A transaction this node already checked into its mempool is not decoded and verified again.
      const pooled = this.#mempool.getByRaw(raw);
      if (pooled) {
        txs.push(pooled);
        continue;
      }
      try {
        txs.push(decodeTx(raw, this.#executor.common));
      } catch {
        return false;
      }
    }
    const env = { height: h.height, timeMs: h.time, gasLimit: h.gasLimit, coinbase: h.proposer.subarray(0, 20) };
    const exec = await this.#executor.executeBlock(env, txs, 'verify');
    if ('invalid' in exec) return false;
    const baseRoot = this.#state.stateRoot;
    const staged = await this.#state.commitment.stage(baseRoot, exec.writeSet, this.#state);
    const ok =
      equalsBytes(staged.root, h.stateRoot) &&
      equalsBytes(receiptsRoot(exec.receipts), h.receiptsRoot) &&
      equalsBytes(exec.logsBloom, h.logsBloom) &&
      exec.gasUsed === h.gasUsed;
    if (ok) this.#remember({ block, exec, baseRoot, staged });
    return ok;
  }

  async #save(decided: CommittedBlock): Promise<void> {
    const key = bytesToHex(decided.certificate.valueId);
    let e = this.#executed.get(key);
    if (!e || !equalsBytes(e.baseRoot, this.#state.stateRoot)) {
      // Not executed here yet (a block decided from sync before validation finished is impossible,
      // since L49 needs valid(v); but a restart empties this cache): execute it now.
      if (!(await this.#process({ height: decided.height, round: decided.certificate.round, value: decided.value }, true))) {
        throw new Error(
          `block ${decided.height} was certified but does not execute to its header; this node's state has diverged`,
        );
      }
      e = this.#executed.get(key) as Executed;
    }
    const { block, exec, baseRoot, staged } = e;
    const commit = encodeCommit(decided.proposal, decided.certificate);
    await this.#state.commitBlock({
      height: block.header.height,
      writes: exec.writeSet,
      staged: { baseRoot, staged },
      write: (txn) =>
        this.#chain.writeBlock(txn, { block, receipts: exec.receipts, txHashes: exec.included.map((t) => t.hash), commit }),
    });
    this.#executed.clear();
    if (block.validatorUpdate) {
      this.#sets.push({
        from: block.header.height + 1,
        epoch: block.validatorUpdate.epoch,
        set: createValidatorSet(block.validatorUpdate.validators),
      });
    }
    this.#mempool.prune(exec.included.map((t) => t.sender));
    for (const listener of this.#listeners) listener(block, exec.receipts);
  }

  async get(height: number): Promise<CommittedBlock | undefined> {
    return committedBlockAt(this.#chain, height);
  }

  async height(): Promise<number> {
    return this.#chain.head();
  }

  // The block is durable once `save` resolves: nothing is left for these two.
  async finalizeBlock(): Promise<void> {}
  async commit(): Promise<void> {}

  async info(): Promise<{ height: number }> {
    return { height: this.#chain.head() };
  }

  hasWork(): boolean {
    return this.#mempool.hasReady();
  }
}

/** Whether two validator lists are the same validators with the same powers in the same order. */
function sameMembers(a: readonly Validator[], b: readonly Validator[]): boolean {
  return a.length === b.length && a.every((v, i) => v.power === b[i]?.power && equalsBytes(v.publicKey, b[i].publicKey));
}

/** Writes the genesis block (height 0) and genesis state, if the ledger is new. */
export async function writeLedgerGenesis(
  state: StateStore,
  chain: ChainStore,
  g: LedgerGenesis,
  genesisTime: number,
  validators: ValidatorSet,
): Promise<void> {
  if (state.head !== undefined) return;
  // The built-in services' accounts come last: their reserved addresses cannot be allocated.
  const services = serviceGenesisWrites();
  const writes = createStateWriteSet({
    accounts: [
      ...g.alloc.map((a) => ({
        address: hexToBytes(a.address),
        account: { nonce: 0n, balance: BigInt(a.balance), codeHash: KECCAK256_NULL },
      })),
      ...services.accounts,
    ],
    code: services.code,
    // The owner administers the app's identity service (roles, the account policy).
    storage: g.owner ? identityGenesisWrites(hexToBytes(g.owner)) : [],
  });
  const baseRoot = state.stateRoot;
  const staged = await state.commitment.stage(baseRoot, writes, state);
  const block = {
    header: {
      ledgerId: utf8ToBytes(g.id),
      chainId: BigInt(g.chainId),
      height: 0,
      time: genesisTime,
      parentHash: new Uint8Array(32),
      proposer: new Uint8Array(32),
      validatorsHash: validators.hash,
      nextValidatorsHash: validators.hash,
      txRoot: txRoot([]),
      receiptsRoot: receiptsRoot([]),
      stateRoot: staged.root,
      logsBloom: new Uint8Array(BLOOM_BYTES),
      gasUsed: 0n,
      gasLimit: BigInt(g.gasLimit),
    },
    txs: [],
  };
  await state.commitBlock({
    height: 0,
    writes,
    staged: { baseRoot, staged },
    write: (txn) => chain.writeBlock(txn, { block, receipts: [], txHashes: [], commit: new Uint8Array(0) }),
  });
}
