/** Ethereum JSON-RPC shapes of our blocks, transactions, receipts and logs (execution-apis). */
import { bytesToHex, type Hex, keccak256, rlpEncode } from '@polis/core';
import type { Block, DecodedTx, Log, Receipt } from '@polis/ledger';
import { blockHash, encodeBlock } from '@polis/ledger';
import { data, quantity } from './hex.js';

// keccak256(rlp([])): the ommers hash of every post-merge block.
const EMPTY_UNCLES_HASH = bytesToHex(keccak256(rlpEncode([])));
const ZERO32 = `0x${'00'.repeat(32)}` as Hex;

/** Where a transaction sits, for its JSON. */
export type TxPlace = { blockHash: Uint8Array; height: number; index: number } | null;

/** A transaction as `eth_getTransactionByHash` returns it. */
export function formatTx(d: DecodedTx, place: TxPlace): Record<string, unknown> {
  const tx = d.tx;
  const json = tx.toJSON() as Record<string, unknown>;
  const out: Record<string, unknown> = {
    hash: data(d.hash),
    nonce: quantity(d.nonce),
    blockHash: place ? data(place.blockHash) : null,
    blockNumber: place ? quantity(place.height) : null,
    transactionIndex: place ? quantity(place.index) : null,
    from: data(d.sender),
    to: tx.to ? data(tx.to.bytes) : null,
    value: quantity(tx.value),
    gas: quantity(tx.gasLimit),
    input: data(tx.data),
    type: quantity(tx.type),
    v: quantity(tx.v ?? 0n),
    r: quantity(tx.r ?? 0n),
    s: quantity(tx.s ?? 0n),
  };
  if (tx.type === 0) {
    out.gasPrice = quantity((tx as { gasPrice: bigint }).gasPrice);
    out.chainId = quantity(tx.common.chainId());
  } else {
    out.chainId = json.chainId;
    out.accessList = json.accessList ?? [];
    out.yParity = quantity(tx.v ?? 0n);
    if (tx.type === 1) out.gasPrice = quantity((tx as { gasPrice: bigint }).gasPrice);
    else {
      out.maxFeePerGas = quantity((tx as { maxFeePerGas: bigint }).maxFeePerGas);
      out.maxPriorityFeePerGas = quantity((tx as { maxPriorityFeePerGas: bigint }).maxPriorityFeePerGas);
      // With a zero base fee, the effective gas price is the priority fee capped by the max fee.
      out.gasPrice = out.maxPriorityFeePerGas;
    }
  }
  return out;
}

/** A log as `eth_getLogs` and receipts return it. */
export function formatLog(
  log: Log,
  ctx: { blockHash: Uint8Array; height: number; txHash: Uint8Array; txIndex: number; logIndex: number },
) {
  return {
    address: data(log.address),
    topics: log.topics.map(data),
    data: data(log.data),
    blockNumber: quantity(ctx.height),
    blockHash: data(ctx.blockHash),
    transactionHash: data(ctx.txHash),
    transactionIndex: quantity(ctx.txIndex),
    logIndex: quantity(ctx.logIndex),
    removed: false,
  };
}

/** A receipt as `eth_getTransactionReceipt` returns it. `firstLogIndex` is the block-wide index of its first log. */
export function formatReceipt(r: Receipt, ctx: { blockHash: Uint8Array; height: number; index: number; firstLogIndex: number }) {
  return {
    transactionHash: data(r.txHash),
    transactionIndex: quantity(ctx.index),
    blockHash: data(ctx.blockHash),
    blockNumber: quantity(ctx.height),
    from: data(r.from),
    to: r.to ? data(r.to) : null,
    cumulativeGasUsed: quantity(r.cumulativeGasUsed),
    gasUsed: quantity(r.gasUsed),
    effectiveGasPrice: '0x0',
    contractAddress: r.contractAddress ? data(r.contractAddress) : null,
    logs: r.logs.map((log, i) =>
      formatLog(log, {
        blockHash: ctx.blockHash,
        height: ctx.height,
        txHash: r.txHash,
        txIndex: ctx.index,
        logIndex: ctx.firstLogIndex + i,
      }),
    ),
    logsBloom: data(r.logsBloom),
    status: quantity(r.status),
    type: quantity(r.type),
  };
}

/** A block as `eth_getBlockBy*` returns it; `txs` are the decoded transactions when `full`. */
export function formatBlock(block: Block, txs: DecodedTx[] | null, txHashes: Uint8Array[]) {
  const h = block.header;
  const hash = blockHash(h);
  return {
    number: quantity(h.height),
    hash: data(hash),
    parentHash: data(h.parentHash),
    nonce: '0x0000000000000000',
    sha3Uncles: EMPTY_UNCLES_HASH,
    logsBloom: data(h.logsBloom),
    transactionsRoot: data(h.txRoot),
    stateRoot: data(h.stateRoot),
    receiptsRoot: data(h.receiptsRoot),
    // There is no miner; the proposer is a node key, not an account. Its first 20 bytes identify it.
    miner: data(h.proposer.subarray(0, 20)),
    difficulty: '0x0',
    totalDifficulty: '0x0',
    extraData: '0x',
    size: quantity(encodeBlock(block).length),
    gasLimit: quantity(h.gasLimit),
    gasUsed: quantity(h.gasUsed),
    timestamp: quantity(Math.floor(h.time / 1000)),
    baseFeePerGas: '0x0',
    mixHash: ZERO32,
    transactions: txs
      ? txs.map((t, index) => formatTx(t, { blockHash: hash, height: h.height, index }))
      : txHashes.map((x) => data(x)),
    uncles: [],
  };
}
