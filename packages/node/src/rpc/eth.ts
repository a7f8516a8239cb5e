/**
 * The Ethereum JSON-RPC methods of one ledger. Every parameter is validated and a bad one gets
 * -32602 with what was expected; rejected transactions get -32000 with the mempool's message;
 * reverts get code 3 with the revert data, as geth and anvil answer.
 */
import { bytesToHex, equalsBytes, isPolisError, keccak256, merkleProof } from '@polis/core';
import type { BlockExecutor } from '@polis/execution';
import {
  type Block,
  type BlockHeader,
  blockHash,
  bloomMayContain,
  type ChainStore,
  type DecodedTx,
  decodeTx,
  encodeHeader,
  encodeReceiptEth,
  type Mempool,
  type Receipt,
  type StateProof,
  type StateStore,
} from '@polis/ledger';
import type { RpcMethods } from '../gateway/jsonrpc.js';
import type { LedgerParams } from '../ledgerApp.js';
import { invalidParams, RpcCode, RpcError } from './errors.js';
import { formatBlock, formatLog, formatReceipt, formatTx } from './format.js';
import { data, parseAddress, parseData, parseQuantity, quantity } from './hex.js';

/** What the methods read and call. */
export type EthContext = {
  params: LedgerParams;
  chain: ChainStore;
  state: StateStore;
  mempool: Mempool;
  /** A separate executor for calls, so that they never touch a block being built. */
  calls: BlockExecutor;
  /** Adds a raw transaction to the mempool and tells consensus there is work; returns its hash. */
  submit: (raw: Uint8Array) => Uint8Array;
  clientVersion: string;
};

/** Blocks an `eth_getLogs` query may span. */
export const LOGS_BLOCK_RANGE_MAX = 10_000;
/** Logs one `eth_getLogs` answer may hold. */
export const LOGS_RESULT_MAX = 10_000;
/** Blocks one `eth_feeHistory` may cover. */
const FEE_HISTORY_MAX = 1024;

const KEPT_STATE_HINT = 'this node keeps the state of the latest block only; query "latest"';

/** Storage slots one proof request may ask for. */
export const PROOF_SLOTS_MAX = 256;

/** Reads a storage key: hex of at most 32 bytes (EIP-1186 sends 32-byte data, some clients quantities), left-padded to 32 bytes. */
function parseSlot(value: unknown, name: string): Uint8Array {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(value)) {
    throw invalidParams(`${name} must be a storage key: 0x-prefixed hex of at most 32 bytes, got ${JSON.stringify(value)}`);
  }
  const slot = new Uint8Array(32);
  slot.set(Buffer.from(value.slice(2).padStart(64, '0'), 'hex'));
  return slot;
}

function revertError(returnValue: Uint8Array, fallback: string): RpcError {
  // Error(string): selector 0x08c379a0, then an ABI-encoded string.
  let reason: string | undefined;
  if (returnValue.length >= 68 && bytesToHex(returnValue.subarray(0, 4)) === '0x08c379a0') {
    const len = Number(BigInt(bytesToHex(returnValue.subarray(36, 68))));
    if (len <= returnValue.length - 68) reason = new TextDecoder().decode(returnValue.subarray(68, 68 + len));
  }
  const message =
    reason !== undefined ? `execution reverted: ${reason}` : returnValue.length > 0 ? 'execution reverted' : fallback;
  return new RpcError(RpcCode.EXECUTION_REVERTED, message, data(returnValue));
}

/** A header as JSON: every field the block hash covers, in the order the hash encodes them. */
function headerJson(header: BlockHeader) {
  return {
    ledgerId: data(header.ledgerId),
    chainId: quantity(header.chainId),
    height: quantity(header.height),
    time: quantity(header.time),
    parentHash: data(header.parentHash),
    proposer: data(header.proposer),
    validatorsHash: data(header.validatorsHash),
    nextValidatorsHash: data(header.nextValidatorsHash),
    txRoot: data(header.txRoot),
    receiptsRoot: data(header.receiptsRoot),
    stateRoot: data(header.stateRoot),
    logsBloom: data(header.logsBloom),
    gasUsed: quantity(header.gasUsed),
    gasLimit: quantity(header.gasLimit),
  };
}

/** Headers one `polis_getHeaders` answer holds at most. */
export const HEADERS_PER_CALL_MAX = 256;

/** Builds the `eth_*`, `net_*` and `web3_*` methods of one ledger. */
export function createEthMethods(ctx: EthContext): RpcMethods {
  const { chain, state, mempool, params } = ctx;

  const head = () => chain.head();

  /** A header with its hash, its commit and the validator update it carries (null when none). */
  const certifiedHeader = (h: number) => {
    const block = chain.block(h);
    if (!block) return null;
    const { header, validatorUpdate: u } = block;
    return {
      ...headerJson(header),
      hash: data(blockHash(header)),
      commit: data(chain.commit(h) ?? new Uint8Array(0)),
      validatorUpdate: u
        ? {
            epoch: quantity(u.epoch),
            validators: u.validators.map((v) => ({ publicKey: data(v.publicKey), power: quantity(v.power) })),
          }
        : null,
    };
  };

  /** Resolves a block tag or number to a height (throws -32602 for a malformed tag). */
  const heightOf = (tag: unknown, name = 'block'): number => {
    if (tag === undefined || tag === 'latest' || tag === 'pending' || tag === 'safe' || tag === 'finalized') return head();
    if (tag === 'earliest') return 0;
    if (typeof tag === 'object' && tag !== null && 'blockHash' in tag) {
      const h = chain.heightOf(parseData((tag as { blockHash: unknown }).blockHash, `${name}.blockHash`, 32));
      if (h === undefined)
        throw new RpcError(RpcCode.RESOURCE_NOT_FOUND, `block ${(tag as { blockHash: string }).blockHash} not found`);
      return h;
    }
    if (typeof tag === 'object' && tag !== null && 'blockNumber' in tag)
      return heightOf((tag as { blockNumber: unknown }).blockNumber, name);
    const n = parseQuantity(tag, name);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidParams(`${name} is too large`);
    return Number(n);
  };

  /** State reads are served for the latest block only; other heights are refused, not answered wrongly. */
  const requireLatestState = (tag: unknown, name = 'block'): void => {
    const h = heightOf(tag, name);
    if (h !== head()) throw new RpcError(RpcCode.INVALID_INPUT, `the state at block ${h} is not available: ${KEPT_STATE_HINT}`);
  };

  const txHashesOf = (height: number): Uint8Array[] => (chain.txs(height) ?? []).map((raw) => keccak256(raw));

  const blockJson = (height: number, full: unknown) => {
    const block = chain.block(height);
    if (!block) return null;
    if (typeof full !== 'boolean' && full !== undefined)
      throw invalidParams('the second parameter (full transactions) must be a boolean');
    const decoded = full ? block.txs.map((raw) => decodeTx(raw, ctx.calls.common)) : null;
    return formatBlock(block, decoded, txHashesOf(height));
  };

  const callRequest = (raw: unknown) => {
    if (typeof raw !== 'object' || raw === null) throw invalidParams('the call object must be an object with to, data, ...');
    const o = raw as Record<string, unknown>;
    const input = o.input ?? o.data;
    return {
      ...(o.from !== undefined && o.from !== null ? { from: parseAddress(o.from, 'from') } : {}),
      ...(o.to !== undefined && o.to !== null ? { to: parseAddress(o.to, 'to') } : {}),
      ...(input !== undefined && input !== null ? { data: parseData(input, 'data') } : {}),
      ...(o.value !== undefined && o.value !== null ? { value: parseQuantity(o.value, 'value') } : {}),
      ...(o.gas !== undefined && o.gas !== null ? { gas: parseQuantity(o.gas, 'gas') } : {}),
    };
  };

  const env = () => {
    const h = chain.header(head());
    return {
      height: head() + 1,
      timeMs: Math.max(Date.now(), (h?.time ?? 0) + 1),
      gasLimit: params.gasLimit,
      coinbase: new Uint8Array(20),
    };
  };

  const receiptPlace = (txHash: Uint8Array) => {
    const loc = chain.txLocation(txHash);
    if (!loc) return undefined;
    const receipts = chain.receipts(loc.height);
    const header = chain.header(loc.height);
    const receipt = receipts?.[loc.index];
    if (!receipts || !header || !receipt) return undefined;
    let firstLogIndex = 0;
    for (let i = 0; i < loc.index; i++) firstLogIndex += receipts[i]?.logs.length ?? 0;
    return { receipt, header, loc, firstLogIndex, hash: blockHash(header) };
  };

  const getLogs = (filter: unknown) => {
    if (typeof filter !== 'object' || filter === null) throw invalidParams('the filter must be an object');
    const f = filter as Record<string, unknown>;
    let from: number;
    let to: number;
    if (f.blockHash !== undefined) {
      if (f.fromBlock !== undefined || f.toBlock !== undefined)
        throw invalidParams('use either blockHash or fromBlock/toBlock, not both');
      const h = chain.heightOf(parseData(f.blockHash, 'blockHash', 32));
      if (h === undefined) throw new RpcError(RpcCode.RESOURCE_NOT_FOUND, `block ${String(f.blockHash)} not found`);
      from = h;
      to = h;
    } else {
      from = heightOf(f.fromBlock ?? 'latest', 'fromBlock');
      to = Math.min(heightOf(f.toBlock ?? 'latest', 'toBlock'), head());
    }
    if (from > to) return [];
    if (to - from + 1 > LOGS_BLOCK_RANGE_MAX) {
      throw new RpcError(
        RpcCode.LIMIT_EXCEEDED,
        `query spans ${to - from + 1} blocks; at most ${LOGS_BLOCK_RANGE_MAX} per request`,
      );
    }
    const addresses =
      f.address === undefined || f.address === null
        ? []
        : Array.isArray(f.address)
          ? f.address.map((a, i) => parseAddress(a, `address[${i}]`))
          : [parseAddress(f.address, 'address')];
    if (f.topics !== undefined && f.topics !== null && !Array.isArray(f.topics)) throw invalidParams('topics must be an array');
    const topics = ((f.topics as unknown[] | undefined) ?? []).map((t, i) => {
      if (t === null) return null;
      if (Array.isArray(t)) return t.map((x, j) => parseData(x, `topics[${i}][${j}]`, 32));
      return [parseData(t, `topics[${i}]`, 32)];
    });
    if (topics.length > 4) throw invalidParams('at most 4 topic positions');
    const addressKeys = new Set(addresses.map((a) => bytesToHex(a)));
    const matches = (log: { address: Uint8Array; topics: Uint8Array[] }) => {
      if (addressKeys.size > 0 && !addressKeys.has(bytesToHex(log.address))) return false;
      for (const [i, options] of topics.entries()) {
        if (options === null || options.length === 0) continue;
        const t = log.topics[i];
        if (!t || !options.some((o) => bytesToHex(o) === bytesToHex(t))) return false;
      }
      return true;
    };
    const out: ReturnType<typeof formatLog>[] = [];
    for (let h = from; h <= to; h++) {
      const header = chain.header(h);
      if (!header) continue;
      // The header's bloom rules out most blocks without reading their receipts.
      if (addresses.length > 0 && !addresses.some((a) => bloomMayContain(header.logsBloom, a))) continue;
      if (topics.some((o) => o !== null && o.length > 0 && !o.some((t) => bloomMayContain(header.logsBloom, t)))) continue;
      const receipts = chain.receipts(h) ?? [];
      const hash = blockHash(header);
      let logIndex = 0;
      receipts.forEach((r: Receipt, txIndex: number) => {
        for (const log of r.logs) {
          if (matches(log)) {
            if (out.length >= LOGS_RESULT_MAX) {
              throw new RpcError(
                RpcCode.LIMIT_EXCEEDED,
                `query returns more than ${LOGS_RESULT_MAX} logs; narrow the block range or filter`,
              );
            }
            out.push(formatLog(log, { blockHash: hash, height: h, txHash: r.txHash, txIndex, logIndex }));
          }
          logIndex++;
        }
      });
    }
    return out;
  };

  const account = (address: Uint8Array) => state.getAccount(address);

  /**
   * Proves an account and slots against the state root of the block `tag` names. The SMT keeps
   * one tree (ADR 0003), so it proves the latest block only; the MPT keeps every root's nodes.
   */
  const proveAt = async (p: unknown[]): Promise<{ proof: StateProof; height: number }> => {
    const address = parseAddress(p[0], 'address');
    const keys = p[1] === undefined || p[1] === null ? [] : p[1];
    if (!Array.isArray(keys)) throw invalidParams('storageKeys must be an array of storage keys');
    if (keys.length > PROOF_SLOTS_MAX)
      throw invalidParams(`storageKeys holds ${keys.length} keys; at most ${PROOF_SLOTS_MAX} per request`);
    const slots = keys.map((k, i) => parseSlot(k, `storageKeys[${i}]`));
    const height = heightOf(p[2], 'block');
    const header = chain.header(height);
    if (!header) throw new RpcError(RpcCode.RESOURCE_NOT_FOUND, `block ${height} not found`);
    if (height !== head()) {
      if (state.commitment.kind !== 'mpt')
        throw new RpcError(RpcCode.INVALID_INPUT, `the state at block ${height} is not provable: ${KEPT_STATE_HINT}`);
      return { proof: await state.commitment.prove(header.stateRoot, address, slots, state), height };
    }
    const proof = await state.prove(address, slots);
    // A block committed while the proof was built would make it prove a newer root than `height`'s.
    if (!equalsBytes(state.stateRoot, header.stateRoot))
      throw new RpcError(RpcCode.INVALID_INPUT, 'a block was committed during the request; retry it');
    return { proof, height };
  };
  const kind = state.commitment.kind;
  const otherProofMethod = (name: string, use: string) => () => {
    throw new RpcError(
      RpcCode.METHOD_NOT_FOUND,
      `the method ${name} is not supported: this ledger's state commitment is "${kind}" (docs/adr/0003-state-commitment.md); use ${use}`,
    );
  };

  return {
    web3_clientVersion: () => ctx.clientVersion,
    web3_sha3: (p) => data(keccak256(parseData(p[0], 'data'))),
    net_version: () => params.chainId.toString(),
    net_listening: () => true,
    net_peerCount: () => '0x0',
    eth_chainId: () => quantity(params.chainId),
    eth_blockNumber: () => quantity(head()),
    eth_syncing: () => false,
    eth_mining: () => false,
    eth_hashrate: () => '0x0',
    eth_accounts: () => [],
    eth_gasPrice: () => '0x0',
    eth_maxPriorityFeePerGas: () => '0x0',
    eth_blobBaseFee: () => '0x0',
    eth_feeHistory: (p) => {
      // Some clients send blockCount as a JSON number.
      const count = typeof p[0] === 'number' ? p[0] : Number(parseQuantity(p[0], 'blockCount'));
      if (!Number.isInteger(count) || count < 1 || count > FEE_HISTORY_MAX)
        throw invalidParams(`blockCount must be 1..${FEE_HISTORY_MAX}`);
      const newest = Math.min(heightOf(p[1], 'newestBlock'), head());
      const oldest = Math.max(0, newest - count + 1);
      const percentiles = Array.isArray(p[2]) ? p[2] : [];
      const gasUsedRatio: number[] = [];
      for (let h = oldest; h <= newest; h++) {
        const header = chain.header(h);
        gasUsedRatio.push(header && header.gasLimit > 0n ? Number(header.gasUsed) / Number(header.gasLimit) : 0);
      }
      const n = newest - oldest + 1;
      return {
        oldestBlock: quantity(oldest),
        baseFeePerGas: Array.from({ length: n + 1 }, () => '0x0'),
        gasUsedRatio,
        ...(percentiles.length > 0 ? { reward: Array.from({ length: n }, () => percentiles.map(() => '0x0')) } : {}),
      };
    },
    eth_getBlockByNumber: (p) => {
      const h = heightOf(p[0]);
      return h > head() ? null : blockJson(h, p[1]);
    },
    eth_getBlockByHash: (p) => {
      const h = chain.heightOf(parseData(p[0], 'blockHash', 32));
      return h === undefined ? null : blockJson(h, p[1]);
    },
    eth_getBlockTransactionCountByNumber: (p) => {
      const txs = chain.txs(heightOf(p[0]));
      return txs ? quantity(txs.length) : null;
    },
    eth_getBlockTransactionCountByHash: (p) => {
      const h = chain.heightOf(parseData(p[0], 'blockHash', 32));
      const txs = h === undefined ? undefined : chain.txs(h);
      return txs ? quantity(txs.length) : null;
    },
    eth_getUncleCountByBlockNumber: () => '0x0',
    eth_getUncleCountByBlockHash: () => '0x0',
    eth_getTransactionByHash: (p) => {
      const hash = parseData(p[0], 'transactionHash', 32);
      const pooled = mempool.get(hash);
      if (pooled) return formatTx(pooled, null);
      const loc = chain.txLocation(hash);
      if (!loc) return null;
      const raw = chain.txs(loc.height)?.[loc.index];
      const header = chain.header(loc.height);
      if (!raw || !header) return null;
      return formatTx(decodeTx(raw, ctx.calls.common), { blockHash: blockHash(header), height: loc.height, index: loc.index });
    },
    eth_getTransactionByBlockNumberAndIndex: (p) => {
      const h = heightOf(p[0]);
      const index = Number(parseQuantity(p[1], 'index'));
      const block: Block | undefined = chain.block(h);
      const raw = block?.txs[index];
      if (!block || !raw) return null;
      const d: DecodedTx = decodeTx(raw, ctx.calls.common);
      return formatTx(d, { blockHash: blockHash(block.header), height: h, index });
    },
    eth_getTransactionReceipt: (p) => {
      const place = receiptPlace(parseData(p[0], 'transactionHash', 32));
      if (!place) return null;
      return formatReceipt(place.receipt, {
        blockHash: place.hash,
        height: place.loc.height,
        index: place.loc.index,
        firstLogIndex: place.firstLogIndex,
      });
    },
    eth_getBlockReceipts: (p) => {
      const h = heightOf(p[0]);
      const receipts = chain.receipts(h);
      const header = chain.header(h);
      if (!receipts || !header) return null;
      const hash = blockHash(header);
      let firstLogIndex = 0;
      return receipts.map((r, index) => {
        const json = formatReceipt(r, { blockHash: hash, height: h, index, firstLogIndex });
        firstLogIndex += r.logs.length;
        return json;
      });
    },
    eth_getTransactionCount: (p) => {
      const address = parseAddress(p[0], 'address');
      if (p[1] === 'pending') return quantity(mempool.pendingNonce(address));
      requireLatestState(p[1]);
      return quantity(account(address)?.nonce ?? 0n);
    },
    eth_getBalance: (p) => {
      const address = parseAddress(p[0], 'address');
      requireLatestState(p[1]);
      return quantity(account(address)?.balance ?? 0n);
    },
    eth_getCode: (p) => {
      const address = parseAddress(p[0], 'address');
      requireLatestState(p[1]);
      const a = account(address);
      return data((a && state.getCode(a.codeHash)) ?? new Uint8Array(0));
    },
    eth_getStorageAt: (p) => {
      const address = parseAddress(p[0], 'address');
      const slotRaw = parseQuantity(p[1], 'slot');
      requireLatestState(p[2]);
      const slot = new Uint8Array(32);
      const hex = slotRaw.toString(16).padStart(64, '0');
      slot.set(Buffer.from(hex, 'hex'));
      const value = state.getStorage(address, slot);
      const word = new Uint8Array(32);
      word.set(value, 32 - value.length);
      return data(word);
    },
    eth_call: async (p) => {
      const req = callRequest(p[0]);
      requireLatestState(p[1]);
      const result = await ctx.calls.call(env(), req);
      if (!result.success) throw revertError(result.returnValue, `execution failed: ${result.error ?? 'unknown error'}`);
      return data(result.returnValue);
    },
    eth_estimateGas: async (p) => {
      const req = callRequest(p[0]);
      if (p[1] !== undefined) requireLatestState(p[1]);
      const e = env();
      const cap = req.gas ?? params.gasLimit;
      const full = await ctx.calls.call(e, { ...req, gas: cap });
      if (!full.success)
        throw revertError(full.returnValue, `gas required exceeds allowance (${cap}) or execution failed: ${full.error ?? ''}`);
      // Intrinsic gas (EIP-2028 calldata, EIP-3860 initcode) plus what the call used, then a
      // binary search for the least limit that still succeeds (refunds and the 63/64 rule make
      // the used amount a lower bound only).
      const input = req.data ?? new Uint8Array(0);
      let intrinsic = 21_000n;
      // EIP-7623 (Prague): a transaction pays at least 10 gas per calldata token.
      let tokens = 0n;
      for (const b of input) {
        intrinsic += b === 0 ? 4n : 16n;
        tokens += b === 0 ? 1n : 4n;
      }
      if (!req.to) intrinsic += 32_000n + 2n * BigInt(Math.ceil(input.length / 32));
      // EIP-2930: 2400 gas per listed address and 1900 per listed storage key.
      const accessList = (p[0] as { accessList?: unknown }).accessList;
      if (Array.isArray(accessList)) {
        for (const item of accessList as { storageKeys?: unknown }[]) {
          intrinsic += 2_400n + 1_900n * BigInt(Array.isArray(item?.storageKeys) ? item.storageKeys.length : 0);
        }
      }
      const floor = 21_000n + 10n * tokens;
      let lo = full.gasUsed;
      let hi = cap - intrinsic;
      if ((await ctx.calls.call(e, { ...req, gas: lo })).success) hi = lo;
      while (lo + 1n < hi) {
        const mid = (lo + hi) / 2n;
        if ((await ctx.calls.call(e, { ...req, gas: mid })).success) hi = mid;
        else lo = mid;
      }
      return quantity(hi + intrinsic > floor ? hi + intrinsic : floor);
    },
    eth_sendRawTransaction: (p) => {
      const raw = parseData(p[0], 'transaction');
      try {
        return data(ctx.submit(raw));
      } catch (err) {
        if (isPolisError(err)) throw new RpcError(RpcCode.INVALID_INPUT, err.message, { code: err.code });
        throw err;
      }
    },
    eth_getLogs: (p) => getLogs(p[0]),
    // EIP-1186 when the state is a Merkle-Patricia trie; the binary SMT (ADR 0003) answers polis_getProof instead.
    eth_getProof:
      kind === 'mpt'
        ? async (p) => {
            const { proof } = await proveAt(p);
            if (proof.kind !== 'mpt') throw new Error('the MPT commitment returned another kind of proof');
            return proof.proof;
          }
        : otherProofMethod('eth_getProof', 'polis_getProof, which takes the same parameters'),
    /**
     * `polis_getProof(address, storageKeys, block)`: the account and slots with their SMT paths to
     * the state root (format and verification: docs/adr/0003-state-commitment.md), plus the
     * `blockNumber` and `blockHash` whose header's `stateRoot` they verify against.
     */
    polis_getProof:
      kind === 'smt'
        ? async (p) => {
            const { proof, height } = await proveAt(p);
            if (proof.kind !== 'smt') throw new Error('the SMT commitment returned another kind of proof');
            const header = chain.header(height);
            if (!header) throw new RpcError(RpcCode.RESOURCE_NOT_FOUND, `block ${height} not found`);
            return { ...proof.proof, blockNumber: quantity(height), blockHash: data(blockHash(header)) };
          }
        : otherProofMethod('polis_getProof', 'eth_getProof (EIP-1186)'),
    /**
     * `polis_getReceiptProof(txHash)`: a receipt's Ethereum consensus encoding, its index among
     * the block's `count` receipts and its RFC 6962 audit path to the header's `receiptsRoot`
     * (`verifyMerkleProof` in @polis/core), with the header: its fields, its RLP and its hash
     * (keccak-256 of the RLP), which the block's commit certificate signs. Null for an unknown
     * or pending transaction.
     */
    /**
     * `polis_getHeader(block)`: the header of a block, field by field, with its hash (keccak-256
     * of the header's RLP, which the commit certificate signs) and the stored commit (the
     * proposal and the certificate, RLP) so that a client can check the certificate itself.
     * `validatorUpdate` is the set the block brings in from the next height (its hash is the
     * header's `nextValidatorsHash`), or null: a client follows the validators block by block.
     */
    polis_getHeader: (p) => certifiedHeader(heightOf(p[0])),
    /**
     * `polis_getHeaders(fromBlock, count)`: up to HEADERS_PER_CALL_MAX consecutive headers as
     * `polis_getHeader` gives them, from `fromBlock` up to the latest: how a verifying client
     * walks the chain and its validator sets.
     */
    polis_getHeaders: (p) => {
      const from = heightOf(p[0], 'fromBlock');
      const count = p[1] === undefined ? HEADERS_PER_CALL_MAX : Number(parseQuantity(p[1], 'count'));
      if (!Number.isSafeInteger(count) || count < 1 || count > HEADERS_PER_CALL_MAX) {
        throw invalidParams(`count must be 1 to ${HEADERS_PER_CALL_MAX}`);
      }
      const out: unknown[] = [];
      for (let h = from; h <= Math.min(head(), from + count - 1); h++) out.push(certifiedHeader(h));
      return out;
    },
    polis_getReceiptProof: (p) => {
      const txHash = parseData(p[0], 'transactionHash', 32);
      const loc = chain.txLocation(txHash);
      if (!loc) return null;
      const receipts = chain.receipts(loc.height);
      const header = chain.header(loc.height);
      if (!receipts || !header || !receipts[loc.index]) return null;
      const leaves = receipts.map(encodeReceiptEth);
      return {
        transactionHash: data(txHash),
        blockNumber: quantity(loc.height),
        blockHash: data(blockHash(header)),
        receipt: data(leaves[loc.index] as Uint8Array),
        index: quantity(loc.index),
        count: quantity(leaves.length),
        proof: merkleProof(leaves, loc.index).map(data),
        header: headerJson(header),
        headerRlp: data(encodeHeader(header)),
      };
    },
  };
}
