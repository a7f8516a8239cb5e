/**
 * The consensus write-ahead log. Every input is appended before the core applies it, and the
 * log is synced before any message this replica signed leaves the node. On restart the inputs
 * are replayed through the same pure core, which re-derives the same state and, because Ed25519
 * signing is deterministic, the same signed votes: a replica cannot sign two different votes for
 * one (height, round, step), even across a crash.
 *
 * Format: a sequence of frames `[u32 length][u32 crc32][payload]` (big-endian), where the
 * payload is one RLP-encoded input. A crash can leave a torn last frame; decoding stops at the
 * first frame that is short or fails its checksum, and everything after it is ignored.
 * The log holds one height: it is reset to a single `start-height` record when a height begins.
 */
import { crc32 } from 'node:zlib';
import { CodecError, CodecErrorCode, readBytes, readList, readUint, rlpDecode, rlpEncode } from '@polis/core';
import { decodeMessage, encodeMessage } from '../messages.js';
import type { Input, TimeoutKind } from '../types.js';

const FRAME_HEADER_BYTES = 8;
/** The largest WAL record; a proposal with its block is the biggest input. */
export const WAL_RECORD_BYTES_MAX = 16 * 1024 * 1024;

const TIMEOUT_KINDS: TimeoutKind[] = ['propose', 'prevote', 'precommit'];

/** Encodes one input as a WAL payload. `start-height` records its height only: validator sets come from the ledger. */
export function encodeWalInput(input: Input): Uint8Array {
  switch (input.type) {
    case 'start-height':
      return rlpEncode([0, input.height]);
    case 'wake':
      return rlpEncode([1]);
    case 'message':
      return rlpEncode([2, encodeMessage(input.message)]);
    case 'timeout':
      return rlpEncode([3, TIMEOUT_KINDS.indexOf(input.kind), input.height, input.round]);
    case 'proposal-value':
      return rlpEncode([4, input.height, input.round, input.value, input.valueId]);
    case 'validity':
      return rlpEncode([5, input.height, input.valueId, input.valid ? 1 : 0]);
  }
}

/** Decodes a WAL payload back into an input. */
export function decodeWalInput(bytes: Uint8Array): Input {
  const item = rlpDecode(bytes, WAL_RECORD_BYTES_MAX);
  const f = readList(item, 'wal');
  switch (readUint(f[0], 'wal.tag')) {
    case 0:
      return { type: 'start-height', height: readUint(f[1], 'wal.height') };
    case 1:
      return { type: 'wake' };
    case 2:
      return { type: 'message', message: decodeMessage(readBytes(f[1], 'wal.message')) };
    case 3: {
      const kind = TIMEOUT_KINDS[readUint(f[1], 'wal.kind')];
      if (!kind) break;
      return { type: 'timeout', kind, height: readUint(f[2], 'wal.height'), round: readUint(f[3], 'wal.round') };
    }
    case 4:
      return {
        type: 'proposal-value',
        height: readUint(f[1], 'wal.height'),
        round: readUint(f[2], 'wal.round'),
        value: readBytes(f[3], 'wal.value'),
        valueId: readBytes(f[4], 'wal.valueId', 32),
      };
    case 5:
      return {
        type: 'validity',
        height: readUint(f[1], 'wal.height'),
        valueId: readBytes(f[2], 'wal.valueId', 32),
        valid: readUint(f[3], 'wal.valid') === 1,
      };
  }
  throw new CodecError({ code: CodecErrorCode.INVALID_SHAPE, field: 'wal', expected: 'a known record' }, 'unknown WAL record');
}

/** Frames one payload: length, crc32, payload. */
export function frameWalRecord(payload: Uint8Array): Uint8Array {
  if (payload.length > WAL_RECORD_BYTES_MAX) throw new Error(`WAL record of ${payload.length} bytes exceeds the maximum`);
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length);
  view.setUint32(4, crc32(payload));
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Splits a log into payloads, stopping at the first torn or corrupt frame. `torn` says whether one was found. */
export function readWalRecords(log: Uint8Array): { records: Uint8Array[]; torn: boolean } {
  const records: Uint8Array[] = [];
  const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
  let offset = 0;
  while (offset < log.length) {
    if (offset + FRAME_HEADER_BYTES > log.length) return { records, torn: true };
    const length = view.getUint32(offset);
    const sum = view.getUint32(offset + 4);
    if (length > WAL_RECORD_BYTES_MAX || offset + FRAME_HEADER_BYTES + length > log.length) return { records, torn: true };
    const payload = log.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
    if (crc32(payload) !== sum) return { records, torn: true };
    records.push(payload);
    offset += FRAME_HEADER_BYTES + length;
  }
  return { records, torn: false };
}
