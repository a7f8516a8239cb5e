/**
 * The records (notary) service: proof that a record (a hash of a contract, a certificate, a
 * supply-chain event) existed, unaltered, at a given time. A record is written once and never
 * changes. Reading it by hash gives the block, the time and the submitter; its storage words are
 * in the state root, so `polis_getProof` on them, checked against a certified header, proves the
 * record offline (the SDK's `verifyRecordProof`).
 *
 * Storage, per record hash h (slot = keccak256("record" || h) and the two after it):
 * - word 0: submitter (20 bytes) | block height (6 bytes) | block time in ms (6 bytes);
 * - word 1: keccak-256 of the metadata (zero for none);
 * - word 2: the tag (zero for none).
 * Lookup by submitter and by tag is by the `Recorded` log's indexed topics (`eth_getLogs`).
 */
import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import { type Hex, hexToBytes, parseAbi, toEventSelector } from 'viem';
import {
  addressWord,
  encodeSingleBytes,
  SERVICE_GAS,
  type ServiceCall,
  type ServiceDefinition,
  ServiceRevert,
  ServiceStore,
} from './host.js';

/** The records service's address. */
export const RECORDS_ADDRESS = hexToBytes('0x00000000000000000000000000000000504c0002');

/** Records one `recordBatch` call may hold. */
export const RECORD_BATCH_MAX = 1_000;
/** Metadata bytes one record may carry (it is logged, not stored: only its hash is). */
export const RECORD_META_BYTES_MAX = 4 * 1024;

/** The records service's ABI. */
export const RECORDS_ABI = parseAbi([
  'function record(bytes32 hash, bytes meta)',
  'function recordWithTag(bytes32 hash, bytes32 tag, bytes meta)',
  'function recordBatch(bytes32[] hashes, bytes32 tag, bytes[] metas)',
  'function getRecord(bytes32 hash) view returns (bool exists, address submitter, uint64 blockNumber, uint64 timestampMs, bytes32 metaHash, bytes32 tag)',
  'function recordSlot(bytes32 hash) pure returns (bytes32)',
  'event Recorded(bytes32 indexed hash, address indexed submitter, bytes32 indexed tag, bytes meta)',
]);

const PREFIX = utf8ToBytes('record');
const ZERO = new Uint8Array(32);

/** The first storage slot of the record with `hash` (the next two follow it). */
export function recordSlot(hash: Uint8Array): Uint8Array {
  return ServiceStore.slot(PREFIX, hash);
}

/** The three storage slots of a record (the first, plus 1 and 2, wrapping at 2^256), for proofs. */
export function recordSlots(hash: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const base = recordSlot(hash);
  return [base, plus(base, 1), plus(base, 2)];
}

/** `word + n` for a small n, wrapping at 2^256. */
function plus(word: Uint8Array, n: number): Uint8Array {
  const out = word.slice();
  let carry = n;
  for (let i = 31; i >= 0 && carry > 0; i--) {
    const v = (out[i] as number) + carry;
    out[i] = v & 0xff;
    carry = v >> 8;
  }
  return out;
}

/** A stored record, decoded from its three words. */
export type StoredRecord = {
  submitter: Uint8Array;
  blockNumber: number;
  timestampMs: number;
  metaHash: Uint8Array;
  tag: Uint8Array;
};

/** Packs word 0 of a record. */
export function recordHeadWord(submitter: Uint8Array, blockNumber: number, timestampMs: number): Uint8Array {
  const w = new Uint8Array(32);
  w.set(submitter, 0);
  const view = new DataView(w.buffer);
  view.setUint16(20, Math.floor(blockNumber / 2 ** 32));
  view.setUint32(22, blockNumber % 2 ** 32);
  view.setUint16(26, Math.floor(timestampMs / 2 ** 32));
  view.setUint32(28, timestampMs % 2 ** 32);
  return w;
}

/** Decodes the three words of a record; undefined when word 0 is zero (no record). */
export function decodeRecordWords(words: readonly Uint8Array[]): StoredRecord | undefined {
  const [head, metaHash, tag] = words;
  if (!head || !metaHash || !tag || head.every((b) => b === 0)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, 32);
  return {
    submitter: head.slice(0, 20),
    blockNumber: view.getUint16(20) * 2 ** 32 + view.getUint32(22),
    timestampMs: view.getUint16(26) * 2 ** 32 + view.getUint32(28),
    metaHash: metaHash.slice(),
    tag: tag.slice(),
  };
}

async function put(call: ServiceCall, hash: Uint8Array, tag: Uint8Array, meta: Uint8Array): Promise<void> {
  if (meta.length > RECORD_META_BYTES_MAX) {
    throw new ServiceRevert(
      `records: metadata of ${meta.length} bytes is over ${RECORD_META_BYTES_MAX}; store a hash of it instead`,
    );
  }
  if (hash.every((b) => b === 0)) throw new ServiceRevert('records: the zero hash cannot be recorded');
  const [s0, s1, s2] = recordSlots(hash);
  const head = await call.store.word(s0);
  if (head.some((b) => b !== 0)) {
    const existing = decodeRecordWords([head, ZERO, ZERO]);
    throw new ServiceRevert(`records: ${bytesToHex(hash)} was already recorded in block ${existing?.blockNumber}`);
  }
  await call.store.setWord(s0, recordHeadWord(call.caller, call.env.height, call.env.timeMs));
  if (meta.length > 0) {
    call.charge(Math.ceil(meta.length / 32) * SERVICE_GAS.hashWord);
    await call.store.setWord(s1, keccak256(meta));
  }
  if (tag.some((b) => b !== 0)) await call.store.setWord(s2, tag);
  // Recorded(bytes32 indexed hash, address indexed submitter, bytes32 indexed tag, bytes meta)
  call.logEncoded([RECORDED, hash, addressWord(call.caller), tag], encodeSingleBytes(meta));
}

const RECORDED = hexToBytes(toEventSelector('Recorded(bytes32,address,bytes32,bytes)'));
const b = (hex: unknown) => hexToBytes(hex as Hex);

/** Checks a batch's shape, as `recordBatch` has always checked it (the same order and messages). */
function checkBatch(count: number, metas: number): void {
  if (count === 0 || count > RECORD_BATCH_MAX) {
    throw new ServiceRevert(`records: a batch holds 1 to ${RECORD_BATCH_MAX} records, not ${count}`);
  }
  if (metas !== 0 && metas !== count) {
    throw new ServiceRevert(`records: give one metadata per hash (${count}) or none, not ${metas}`);
  }
}

/**
 * `recordBatch` without metadata, the records service's bulk path, read straight from the
 * calldata: viem's decoder and the hex strings it makes cost more than recording. Only the
 * canonical encoding (the one every ABI encoder produces: the hashes right after the three head
 * words, then an empty metas array, and nothing more) is taken; anything else goes the ABI way.
 */
async function recordBatchRaw(args: Uint8Array, call: ServiceCall): Promise<Uint8Array | undefined> {
  if (args.length < 160 || args.length % 32 !== 0) return undefined;
  const view = new DataView(args.buffer, args.byteOffset, args.byteLength);
  // A head word that holds a small number: 28 zero bytes, then the number.
  const small = (at: number): number | undefined => {
    for (let i = at; i < at + 28; i++) if (args[i] !== 0) return undefined;
    return view.getUint32(at + 28);
  };
  const count = small(96);
  if (small(0) !== 96 || count === undefined) return undefined;
  const metasAt = 128 + count * 32;
  if (small(64) !== metasAt || small(metasAt) !== 0 || args.length !== metasAt + 32) return undefined;
  checkBatch(count, 0);
  const tag = args.slice(32, 64);
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const hash = args.slice(128 + i * 32, 160 + i * 32);
    const hex = bytesToHex(hash);
    if (seen.has(hex)) throw new ServiceRevert(`records: hash ${hex} appears twice in the batch`);
    seen.add(hex);
    await put(call, hash, tag, NO_META);
  }
  return NO_META;
}

const NO_META = new Uint8Array(0);

/** The records service. */
export const recordsService: ServiceDefinition = {
  name: 'records',
  address: RECORDS_ADDRESS,
  abi: RECORDS_ABI,
  writes: new Set(['record', 'recordWithTag', 'recordBatch']),
  handlers: {
    record: async ([hash, meta], call) => put(call, b(hash), ZERO, b(meta)),
    recordWithTag: async ([hash, tag, meta], call) => put(call, b(hash), b(tag), b(meta)),
    recordBatch: async ([hashes, tag, metas], call) => {
      const hs = hashes as Hex[];
      const ms = metas as Hex[];
      checkBatch(hs.length, ms.length);
      const seen = new Set<string>();
      for (const [i, h] of hs.entries()) {
        if (seen.has(h)) throw new ServiceRevert(`records: hash ${h} appears twice in the batch`);
        seen.add(h);
        await put(call, b(h), b(tag), ms.length > 0 ? b(ms[i]) : new Uint8Array(0));
      }
    },
    getRecord: async ([hash], call) => {
      const words = await Promise.all(recordSlots(b(hash)).map((s) => call.store.word(s)));
      const r = decodeRecordWords(words);
      if (!r) return [false, bytesToHex(new Uint8Array(20)), 0n, 0n, bytesToHex(ZERO), bytesToHex(ZERO)];
      return [
        true,
        bytesToHex(r.submitter),
        BigInt(r.blockNumber),
        BigInt(r.timestampMs),
        bytesToHex(r.metaHash),
        bytesToHex(r.tag),
      ];
    },
    recordSlot: ([hash]) => bytesToHex(recordSlot(b(hash))),
  },
  raw: { recordBatch: recordBatchRaw },
};
