/**
 * Executing blocks and calls on an app ledger: @ethereumjs/vm's `runTx` (which does the
 * transaction-level rules: nonce, intrinsic gas, access lists, EIP-2929 warm sets, refunds, contract
 * creation) over our journaled state overlay. Fees are zero: the base fee is 0 and so is the gas
 * price, so no account needs a balance to transact, but gas still meters and limits execution.
 */
import { createBlock } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { Address } from '@ethereumjs/util';
import { createVM, runTx, type VM } from '@ethereumjs/vm';
import { bytesToHex } from '@polis/core';
import { BLOOM_BYTES, bloomOr, type DecodedTx, type Log, type Receipt, type StateWriteSet } from '@polis/ledger';
import { installJumpAnalysisCache } from './jumpAnalysis.js';
import { BUILTIN_SERVICES, IDENTITY_ADDRESS, ServiceHost, senderPolicyRefusal } from './services/index.js';
import { type CommittedState, JournaledStateManager } from './state/journaledState.js';

/** The block context transactions run in. */
export type BlockEnv = {
  height: number;
  /** BFT time in milliseconds; the EVM's TIMESTAMP is this in seconds. */
  timeMs: number;
  gasLimit: bigint;
  /** The EVM's COINBASE: the proposer's address-sized id (fees are zero, so nothing is paid to it). */
  coinbase: Uint8Array;
};

/** What executing a block produced. `included` may be shorter than the input in `build` mode. */
export type BlockExecution = {
  included: DecodedTx[];
  receipts: Receipt[];
  gasUsed: bigint;
  logsBloom: Uint8Array;
  writeSet: StateWriteSet;
};

/** Why a proposed block is invalid. */
export type InvalidBlock = { invalid: string };

/** The result of `call`: the return data, gas, and whether it reverted. */
export type CallResult = { success: boolean; returnValue: Uint8Array; gasUsed: bigint; error?: string };

/** A message call that changes nothing (`eth_call`, `eth_estimateGas`). */
export type CallRequest = { from?: Uint8Array; to?: Uint8Array; data?: Uint8Array; value?: bigint; gas?: bigint };

const ZERO_ADDRESS = new Uint8Array(20);

/** The most call results `BlockExecutor` keeps for one block context, and their most bytes. */
export const CALL_CACHE_ENTRIES = 10_000;
export const CALL_CACHE_BYTES = 16 * 1024 * 1024;
/** Calls with more calldata than this are not cached (their keys would crowd out the rest). */
const CALL_CACHE_DATA_MAX = 4096;

/** What identifies a block context: calls in the same one see the same block and state. */
function blockKey(env: BlockEnv): string {
  return `${env.height}:${Math.floor(env.timeMs / 1000)}:${env.gasLimit}:${bytesToHex(env.coinbase)}`;
}

/** What identifies a call within a block context; undefined for one not worth caching. */
function callKey(req: CallRequest): string | undefined {
  if (req.data && req.data.length > CALL_CACHE_DATA_MAX) return undefined;
  const hex = (b: Uint8Array | undefined) => (b ? bytesToHex(b) : '-');
  return `${hex(req.from)}|${hex(req.to)}|${req.value ?? '-'}|${req.gas ?? '-'}|${hex(req.data)}`;
}

function toLogs(logs: [Uint8Array, Uint8Array[], Uint8Array][] | undefined): Log[] {
  return (logs ?? []).map(([address, topics, data]) => ({ address, topics, data }));
}

/** Executes blocks for one ledger on top of its committed state. */
export class BlockExecutor {
  readonly common: Common;
  readonly state: JournaledStateManager;
  readonly #vm: VM;
  readonly #services: ServiceHost;

  private constructor(common: Common, state: JournaledStateManager, vm: VM, services: ServiceHost) {
    this.common = common;
    this.state = state;
    this.#vm = vm;
    this.#services = services;
  }

  /** Creates an executor reading through to `committed`, with the built-in services installed. */
  static async create(options: { common: Common; committed: CommittedState }): Promise<BlockExecutor> {
    await installJumpAnalysisCache();
    const state = new JournaledStateManager({ state: options.committed });
    const services = new ServiceHost(BUILTIN_SERVICES);
    const vm = await createVM({
      common: options.common,
      stateManager: state,
      evmOpts: { customPrecompiles: services.precompiles() },
    });
    services.attach(vm.evm as never, state);
    return new BlockExecutor(options.common, state, vm, services);
  }

  /** The block context of the last `#block` call: calls on the same block and second reuse it. */
  #lastBlock: { key: string; block: ReturnType<typeof createBlock> } | undefined;

  // Building an @ethereumjs block merges the chain's parameters again (about half the time of an
  // eth_call); the block context only changes with the height, the second and the coinbase.
  #block(env: BlockEnv) {
    const key = blockKey(env);
    if (this.#lastBlock?.key === key) return this.#lastBlock.block;
    const block = this.#buildBlock(env);
    this.#lastBlock = { key, block };
    return block;
  }

  #buildBlock(env: BlockEnv) {
    return createBlock(
      {
        header: {
          number: BigInt(env.height),
          timestamp: BigInt(Math.floor(env.timeMs / 1000)),
          gasLimit: env.gasLimit,
          baseFeePerGas: 0n,
          coinbase: new Address(env.coinbase.subarray(0, 20)),
        },
      },
      { common: this.common, skipConsensusFormatValidation: true },
    );
  }

  /**
   * Executes `txs` as one block on a fresh overlay. In `build` mode (the proposer) transactions
   * that cannot run (a nonce gap, the gas limit) are left out; in `verify` mode (a validator
   * checking a proposal) any such transaction makes the whole block invalid. The overlay keeps the
   * block's writes until `reset()`.
   */
  async executeBlock(env: BlockEnv, txs: readonly DecodedTx[], mode: 'build' | 'verify'): Promise<BlockExecution | InvalidBlock> {
    return this.#exclusive(() => this.#executeBlock(env, txs, mode));
  }

  // One overlay and one VM: an execution that started while another awaited would reset the
  // other's writes and journal mid-block (a node validating a proposal while it commits the same
  // block from sync computed a wrong state root and stopped). So executions queue, one at a time.
  #busy: Promise<unknown> = Promise.resolve();

  #exclusive<T>(run: () => Promise<T>): Promise<T> {
    const result = this.#busy.then(run);
    this.#busy = result.catch(() => undefined);
    return result;
  }

  async #executeBlock(
    env: BlockEnv,
    txs: readonly DecodedTx[],
    mode: 'build' | 'verify',
  ): Promise<BlockExecution | InvalidBlock> {
    this.state.reset();
    this.#services.env = env;
    const block = this.#block(env);
    const included: DecodedTx[] = [];
    const receipts: Receipt[] = [];
    const bloom = new Uint8Array(BLOOM_BYTES);
    let gasUsed = 0n;
    for (const [i, tx] of txs.entries()) {
      if (gasUsed + tx.gasLimit > env.gasLimit) {
        if (mode === 'verify') return { invalid: `transaction ${i} does not fit in the block gas limit` };
        continue;
      }
      // The app's account policy (identity service) is checked on the block's overlay, so that a
      // role or attestation granted or revoked earlier in the block counts; the mempool checks
      // the same on committed state, but a proposer may ignore it, so validators check again.
      const refusal = senderPolicyRefusal(
        (slot) => this.state.peekStorage(IDENTITY_ADDRESS, slot),
        tx.sender,
        env.timeMs,
        tx.tx.to?.bytes,
      );
      if (refusal !== undefined) {
        if (mode === 'verify') return { invalid: `transaction ${i} is refused by the account policy: ${refusal}` };
        continue;
      }
      let result: Awaited<ReturnType<typeof runTx>>;
      try {
        result = await runTx(this.#vm, { tx: tx.tx, block, blockGasUsed: gasUsed, skipHardForkValidation: true });
      } catch (err) {
        // runTx reverted its own checkpoint: the state is as before this transaction.
        if (mode === 'verify')
          return { invalid: `transaction ${i} cannot run: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
        continue;
      }
      gasUsed += result.totalGasSpent;
      const logs = toLogs(result.execResult.logs as [Uint8Array, Uint8Array[], Uint8Array][] | undefined);
      const failed = result.execResult.exceptionError !== undefined;
      // runTx has built the receipt's bloom from the same logs; building it again cost 2% of execution.
      const receiptBloom = result.bloom.bitvector;
      bloomOr(bloom, receiptBloom);
      included.push(tx);
      receipts.push({
        type: tx.tx.type,
        status: failed ? 0 : 1,
        cumulativeGasUsed: gasUsed,
        gasUsed: result.totalGasSpent,
        logsBloom: receiptBloom,
        logs,
        txHash: tx.hash,
        from: tx.sender,
        to: tx.tx.to ? tx.tx.to.bytes : null,
        contractAddress: !failed && result.createdAddress ? result.createdAddress.bytes : null,
        revertData: failed ? result.execResult.returnValue : new Uint8Array(0),
      });
    }
    return { included, receipts, gasUsed, logsBloom: bloom, writeSet: this.state.writeSet() };
  }

  /**
   * The results of calls in one block context (height, second, gas limit, coinbase): a call
   * changes nothing, and the committed state changes only with the height, so the same call in
   * the same context has the same result. Read-heavy apps repeat calls (a balance, a view) many
   * times a block; the cache is dropped when the context changes and bounded by `CALL_CACHE_*`.
   */
  #calls: { context: string; results: Map<string, Promise<CallResult>>; bytes: number } = {
    context: '',
    results: new Map(),
    bytes: 0,
  };

  /**
   * Runs a call against the committed state and discards its writes. The result may be shared
   * with other callers of the same call: do not change it.
   */
  call(env: BlockEnv, req: CallRequest): Promise<CallResult> {
    const key = callKey(req);
    if (key === undefined) return this.#exclusive(() => this.#call(env, req));
    const context = blockKey(env);
    const cache = this.#calls;
    if (cache.context !== context) {
      cache.context = context;
      cache.results.clear();
      cache.bytes = 0;
    }
    const hit = cache.results.get(key);
    if (hit) return hit;
    if (cache.results.size >= CALL_CACHE_ENTRIES || cache.bytes >= CALL_CACHE_BYTES) {
      cache.results.clear();
      cache.bytes = 0;
    }
    // The promise is cached, so calls that arrive while the first one runs wait for it.
    const result = this.#exclusive(() => this.#call(env, req));
    cache.results.set(key, result);
    cache.bytes += key.length + 64;
    result.then(
      (r) => {
        if (cache.results.get(key) === result) cache.bytes += r.returnValue.length;
      },
      () => {
        if (cache.results.get(key) === result) cache.results.delete(key);
      },
    );
    return result;
  }

  /** How many call results are cached (for tests of the bound). */
  get cachedCalls(): { entries: number; bytes: number } {
    return { entries: this.#calls.results.size, bytes: this.#calls.bytes };
  }

  async #call(env: BlockEnv, req: CallRequest): Promise<CallResult> {
    this.state.reset();
    // EIP-2929: every call starts cold, as a transaction does. `runCall` (unlike `runTx`) never
    // clears the journal's warm addresses and slots, so without this a call would be cheaper
    // for slots an earlier call read, and eth_estimateGas would answer too low.
    this.#vm.evm.journal.cleanJournal();
    this.#services.env = env;
    try {
      const block = this.#block(env);
      const gasLimit = req.gas ?? env.gasLimit;
      const result = await this.#vm.evm.runCall({
        caller: new Address(req.from ?? ZERO_ADDRESS),
        origin: new Address(req.from ?? ZERO_ADDRESS),
        ...(req.to ? { to: new Address(req.to) } : {}),
        data: req.data ?? new Uint8Array(0),
        value: req.value ?? 0n,
        gasLimit,
        gasPrice: 0n,
        block,
        skipBalance: true,
      } as Parameters<typeof this.vm.evm.runCall>[0]);
      const err = result.execResult.exceptionError;
      return {
        success: err === undefined,
        returnValue: result.execResult.returnValue,
        gasUsed: result.execResult.executionGasUsed,
        ...(err ? { error: err.error } : {}),
      };
    } finally {
      this.state.reset();
    }
  }

  /** The VM, for the few callers that need it (tests). */
  get vm(): VM {
    return this.#vm;
  }
}
