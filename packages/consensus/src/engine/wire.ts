/**
 * The engine's wire format: consensus messages plus block sync. Everything a peer sends us goes
 * through `decodeWire`, which checks every field and throws a `CodecError` on anything malformed.
 */
import { CodecError, CodecErrorCode, readBytes, readList, readUint, rlpDecode, rlpEncode } from '@polis/core';
import { decodeCertificate, encodeCertificate } from '../certificate.js';
import { decodeMessage, encodeMessage, MESSAGE_BYTES_MAX } from '../messages.js';
import type { ConsensusMessage, Proposal } from '../types.js';
import type { CommittedBlock } from './types.js';

/** At most this many blocks go in one sync response. */
export const SYNC_BLOCKS_MAX = 16;

/** What engines send each other. */
export type WireMessage =
  | { kind: 'consensus'; message: ConsensusMessage }
  /** "I am at `height`: send me decided blocks from there." */
  | { kind: 'sync-request'; height: number }
  /** Decided blocks with their proposals and certificates, in height order. */
  | { kind: 'sync-response'; blocks: CommittedBlock[] };

const TAG_SYNC_REQUEST = 3;
const TAG_SYNC_RESPONSE = 4;

function encodeBlock(b: CommittedBlock): Uint8Array {
  return rlpEncode([b.height, encodeMessage({ kind: 'proposal', proposal: b.proposal }), encodeCertificate(b.certificate)]);
}

function decodeBlock(bytes: Uint8Array, field: string): CommittedBlock {
  const [h, p, c] = readList(rlpDecode(bytes, MESSAGE_BYTES_MAX), field, 3);
  const message = decodeMessage(readBytes(p, `${field}.proposal`));
  if (message.kind !== 'proposal') {
    throw new CodecError(
      { code: CodecErrorCode.INVALID_SHAPE, field: `${field}.proposal`, expected: 'a proposal' },
      'not a proposal',
    );
  }
  const proposal: Proposal = message.proposal;
  return {
    height: readUint(h, `${field}.height`),
    value: proposal.value,
    proposal,
    certificate: decodeCertificate(readBytes(c, `${field}.certificate`)),
  };
}

/** Encodes a wire message. */
export function encodeWire(m: WireMessage): Uint8Array {
  if (m.kind === 'consensus') return encodeMessage(m.message);
  if (m.kind === 'sync-request') return rlpEncode([TAG_SYNC_REQUEST, m.height]);
  return rlpEncode([TAG_SYNC_RESPONSE, m.blocks.map(encodeBlock)]);
}

/** Decodes a wire message, defensively. */
export function decodeWire(bytes: Uint8Array): WireMessage {
  const item = rlpDecode(bytes, MESSAGE_BYTES_MAX * (SYNC_BLOCKS_MAX + 1));
  const tag = readUint(readList(item, 'wire')[0], 'wire.tag');
  if (tag === TAG_SYNC_REQUEST) {
    const [, h] = readList(item, 'sync-request', 2);
    return { kind: 'sync-request', height: readUint(h, 'sync-request.height') };
  }
  if (tag === TAG_SYNC_RESPONSE) {
    const [, blocks] = readList(item, 'sync-response', 2);
    const list = readList(blocks, 'sync-response.blocks');
    if (list.length > SYNC_BLOCKS_MAX) {
      throw new CodecError(
        { code: CodecErrorCode.INVALID_SHAPE, field: 'sync-response.blocks', expected: `at most ${SYNC_BLOCKS_MAX} blocks` },
        `a sync response carries at most ${SYNC_BLOCKS_MAX} blocks`,
      );
    }
    return { kind: 'sync-response', blocks: list.map((b, i) => decodeBlock(readBytes(b, `blocks[${i}]`), `blocks[${i}]`)) };
  }
  return { kind: 'consensus', message: decodeMessage(bytes) };
}
