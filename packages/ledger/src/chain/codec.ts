/**
 * Encodings of headers, blocks and receipts. Headers and blocks are canonical RLP (the block hash
 * is keccak-256 of the header's encoding); receipts use Ethereum's consensus encoding
 * (`type || rlp([status, cumulativeGasUsed, logsBloom, logs])`, the type byte omitted for legacy)
 * for the receipts root, and a fuller RLP form for storage.
 *
 * A receipt's bloom is by definition the bloom of its logs, so storage keeps it empty (it was half
 * of a stored ERC-20 receipt) and `decodeReceipt` computes it from the logs when it is first read.
 * Receipts stored with their bloom (before this) decode as they are.
 */
import {
  CodecError,
  CodecErrorCode,
  keccak256,
  merkleRoot,
  type RLPItem,
  readBigUint,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
} from '@polis/core';
import { BLOOM_BYTES, logsBloom } from './bloom.js';
import type { Block, BlockHeader, Log, Receipt, ValidatorUpdate } from './types.js';

/** The largest encoded block we accept, in bytes. */
export const BLOCK_BYTES_MAX = 8 * 1024 * 1024;

function headerFields(h: BlockHeader) {
  return [
    h.ledgerId,
    h.chainId,
    h.height,
    h.time,
    h.parentHash,
    h.proposer,
    h.validatorsHash,
    h.nextValidatorsHash,
    h.txRoot,
    h.receiptsRoot,
    h.stateRoot,
    h.logsBloom,
    h.gasUsed,
    h.gasLimit,
  ];
}

function readHeader(item: RLPItem | undefined): BlockHeader {
  const f = readList(item, 'header', 14);
  return {
    ledgerId: readBytes(f[0], 'header.ledgerId'),
    chainId: readBigUint(f[1], 'header.chainId'),
    height: readUint(f[2], 'header.height'),
    time: readUint(f[3], 'header.time'),
    parentHash: readBytes(f[4], 'header.parentHash', 32),
    proposer: readBytes(f[5], 'header.proposer', 32),
    validatorsHash: readBytes(f[6], 'header.validatorsHash', 32),
    nextValidatorsHash: readBytes(f[7], 'header.nextValidatorsHash', 32),
    txRoot: readBytes(f[8], 'header.txRoot', 32),
    receiptsRoot: readBytes(f[9], 'header.receiptsRoot', 32),
    stateRoot: readBytes(f[10], 'header.stateRoot', 32),
    logsBloom: readBytes(f[11], 'header.logsBloom', BLOOM_BYTES),
    gasUsed: readBigUint(f[12], 'header.gasUsed', 8),
    gasLimit: readBigUint(f[13], 'header.gasLimit', 8),
  };
}

/** Encodes a header. */
export function encodeHeader(h: BlockHeader): Uint8Array {
  return rlpEncode(headerFields(h));
}

/** Decodes a header; throws a `CodecError` naming the bad field. */
export function decodeHeader(bytes: Uint8Array): BlockHeader {
  return readHeader(rlpDecode(bytes));
}

/** The block hash: keccak-256 of the header's encoding. */
export function blockHash(h: BlockHeader): Uint8Array {
  return keccak256(encodeHeader(h));
}

function shapeError(field: string, expected: string): CodecError {
  return new CodecError({ code: CodecErrorCode.INVALID_SHAPE, field, expected }, `"${field}" should be ${expected}`);
}

/** Validators in a block allowed at most (a bound for decoding; sets are far smaller). */
export const BLOCK_VALIDATORS_MAX = 1_000;

function updateFields(u: ValidatorUpdate | undefined) {
  return u ? [u.epoch, u.validators.map((v) => [v.publicKey, v.power])] : [];
}

/** Encodes a validator update on its own (the chain store keeps them by height). */
export function encodeValidatorUpdate(u: ValidatorUpdate): Uint8Array {
  return rlpEncode(updateFields(u));
}

function readUpdate(item: RLPItem | undefined, field: string): ValidatorUpdate | undefined {
  const f = readList(item, field);
  if (f.length === 0) return undefined;
  if (f.length !== 2) throw shapeError(field, `empty or [epoch, validators], not ${f.length} items`);
  const validators = readList(f[1], `${field}.validators`);
  if (validators.length === 0 || validators.length > BLOCK_VALIDATORS_MAX) {
    throw shapeError(`${field}.validators`, `1 to ${BLOCK_VALIDATORS_MAX} validators, not ${validators.length}`);
  }
  return {
    epoch: readUint(f[0], `${field}.epoch`),
    validators: validators.map((v, i) => {
      const [k, p] = readList(v, `${field}.validators[${i}]`, 2);
      return {
        publicKey: readBytes(k, `${field}.validators[${i}].publicKey`, 32),
        power: readUint(p, `${field}.validators[${i}].power`),
      };
    }),
  };
}

/** Decodes a stored validator update. */
export function decodeValidatorUpdate(bytes: Uint8Array): ValidatorUpdate {
  const u = readUpdate(rlpDecode(bytes), 'validatorUpdate');
  if (!u) throw shapeError('validatorUpdate', 'an update, not an empty list');
  return u;
}

/** Encodes a block: `rlp([header, [tx...], update])`, the update `[]` or `[epoch, [[key, power]...]]`. */
export function encodeBlock(b: Block): Uint8Array {
  return rlpEncode([headerFields(b.header), b.txs, updateFields(b.validatorUpdate)]);
}

/** Decodes a block defensively; throws a `CodecError` naming the bad field. */
export function decodeBlock(bytes: Uint8Array): Block {
  const [h, txs, update] = readList(rlpDecode(bytes, BLOCK_BYTES_MAX), 'block', 3);
  const block: Block = { header: readHeader(h), txs: readList(txs, 'block.txs').map((t, i) => readBytes(t, `block.txs[${i}]`)) };
  const validatorUpdate = readUpdate(update, 'block.validatorUpdate');
  if (validatorUpdate) block.validatorUpdate = validatorUpdate;
  return block;
}

/** The transactions root of a block. */
export function txRoot(txs: readonly Uint8Array[]): Uint8Array {
  return merkleRoot(txs);
}

function logFields(l: Log) {
  return [l.address, l.topics, l.data];
}

function readLog(item: RLPItem | undefined, field: string): Log {
  const [a, t, d] = readList(item, field, 3);
  return {
    address: readBytes(a, `${field}.address`, 20),
    topics: readList(t, `${field}.topics`).map((x, i) => readBytes(x, `${field}.topics[${i}]`, 32)),
    data: readBytes(d, `${field}.data`),
  };
}

/** Ethereum's consensus encoding of a receipt (EIP-2718 typed envelope for types 1 and 2). */
export function encodeReceiptEth(r: Receipt): Uint8Array {
  const body = rlpEncode([r.status === 1 ? 1 : new Uint8Array(0), r.cumulativeGasUsed, r.logsBloom, r.logs.map(logFields)]);
  if (r.type === 0) return body;
  const out = new Uint8Array(body.length + 1);
  out[0] = r.type;
  out.set(body, 1);
  return out;
}

/** The receipts root of a block. */
export function receiptsRoot(receipts: readonly Receipt[]): Uint8Array {
  return merkleRoot(receipts.map(encodeReceiptEth));
}

/** The storage encoding of a receipt (every field for the JSON-RPC, but the bloom, which its logs determine). */
export function encodeReceipt(r: Receipt): Uint8Array {
  return rlpEncode([
    r.type,
    r.status,
    r.cumulativeGasUsed,
    r.gasUsed,
    new Uint8Array(0),
    r.logs.map(logFields),
    r.txHash,
    r.from,
    r.to ?? new Uint8Array(0),
    r.contractAddress ?? new Uint8Array(0),
    r.revertData,
  ]);
}

/** Decodes a stored receipt. */
export function decodeReceipt(bytes: Uint8Array): Receipt {
  const f = readList(rlpDecode(bytes), 'receipt', 11);
  const to = readBytes(f[8], 'receipt.to');
  const created = readBytes(f[9], 'receipt.contractAddress');
  const status = readUint(f[1], 'receipt.status');
  const storedBloom = readBytes(f[4], 'receipt.logsBloom');
  if (storedBloom.length !== 0 && storedBloom.length !== BLOOM_BYTES) {
    const expected = `empty or ${BLOOM_BYTES} bytes, got ${storedBloom.length}`;
    throw new CodecError(
      { code: CodecErrorCode.INVALID_SHAPE, field: 'receipt.logsBloom', expected },
      `"receipt.logsBloom" should be ${expected}`,
    );
  }
  const receipt: Receipt = {
    type: readUint(f[0], 'receipt.type'),
    status: status === 1 ? 1 : 0,
    cumulativeGasUsed: readBigUint(f[2], 'receipt.cumulativeGasUsed', 8),
    gasUsed: readBigUint(f[3], 'receipt.gasUsed', 8),
    logsBloom: storedBloom,
    logs: readList(f[5], 'receipt.logs').map((l, i) => readLog(l, `receipt.logs[${i}]`)),
    txHash: readBytes(f[6], 'receipt.txHash', 32),
    from: readBytes(f[7], 'receipt.from', 20),
    to: to.length === 0 ? null : to,
    contractAddress: created.length === 0 ? null : created,
    revertData: readBytes(f[10], 'receipt.revertData'),
  };
  if (storedBloom.length === 0) lazyBloom(receipt);
  return receipt;
}

/** Makes `logsBloom` computed from the logs on first read (most reads of a receipt, such as eth_getLogs, never ask). */
function lazyBloom(receipt: Receipt): void {
  Object.defineProperty(receipt, 'logsBloom', {
    configurable: true,
    enumerable: true,
    get(this: Receipt): Uint8Array {
      const bloom = logsBloom(this.logs);
      Object.defineProperty(this, 'logsBloom', { value: bloom, writable: true, enumerable: true, configurable: true });
      return bloom;
    },
    set(this: Receipt, value: Uint8Array) {
      Object.defineProperty(this, 'logsBloom', { value, writable: true, enumerable: true, configurable: true });
    },
  });
}

/** Big-endian 8-byte key for a height, so that LMDB orders heights numerically. */
export function heightKey(height: number): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, BigInt(height));
  return key;
}
