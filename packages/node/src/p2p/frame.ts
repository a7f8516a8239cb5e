/**
 * The wire format of `/polis/ledger/1.0.0`. A stream carries a sequence of frames:
 *
 *   frame = length (u32, big-endian) || body
 *   body  = version (u8, = 1) || ledgerIdLength (u8) || ledgerId (UTF-8) || message
 *
 * The length is checked against the host's bound before a single body byte is buffered, so a
 * huge length prefix costs nothing. The decoder buffers only the bytes it has actually received.
 */
import { FrameError, FrameErrorCode } from './errors.js';
import { FRAME_BODY_BYTES_MIN, FRAME_HEADER_BYTES, FRAME_VERSION, LEDGER_ID_BYTES_MAX } from './params.js';

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Encodes a ledger id for frames; returns undefined if it does not fit the format. */
export function ledgerIdToBytes(ledgerId: string): Uint8Array | undefined {
  const bytes = utf8.encode(ledgerId);
  return bytes.length >= 1 && bytes.length <= LEDGER_ID_BYTES_MAX ? bytes : undefined;
}

/** The body length of a frame for this ledger id and message. */
export function frameBodyBytes(ledgerId: Uint8Array, message: Uint8Array): number {
  return 2 + ledgerId.length + message.length;
}

/** Builds one frame (length prefix included) carrying `message` for the ledger `ledgerId`. */
export function encodeFrame(ledgerId: Uint8Array, message: Uint8Array): Uint8Array {
  const bodyLength = frameBodyBytes(ledgerId, message);
  const out = new Uint8Array(FRAME_HEADER_BYTES + bodyLength);
  new DataView(out.buffer).setUint32(0, bodyLength, false);
  out[4] = FRAME_VERSION;
  out[5] = ledgerId.length;
  out.set(ledgerId, 6);
  out.set(message, 6 + ledgerId.length);
  return out;
}

/** A parsed frame body. `message` is a view into the body, which the decoder owns no longer. */
export type FrameBody = { ledgerId: string; message: Uint8Array };

/** Parses a frame body; throws `FrameError` (MALFORMED) on anything but the format above. */
export function decodeFrameBody(body: Uint8Array): FrameBody {
  if (body.length < FRAME_BODY_BYTES_MIN) throw malformed(`a body of ${body.length} bytes is too short`);
  if (body[0] !== FRAME_VERSION) throw malformed(`unknown frame version ${body[0]}`);
  const idLength = body[1] ?? 0;
  if (idLength < 1 || idLength > LEDGER_ID_BYTES_MAX || 2 + idLength > body.length) {
    throw malformed(`a ledger id of ${idLength} bytes does not fit a ${body.length}-byte body`);
  }
  let ledgerId: string;
  try {
    ledgerId = utf8Strict.decode(body.subarray(2, 2 + idLength));
  } catch {
    throw malformed('the ledger id is not UTF-8');
  }
  return { ledgerId, message: body.subarray(2 + idLength) };
}

function malformed(detail: string): FrameError {
  return new FrameError({ code: FrameErrorCode.MALFORMED, detail }, `malformed frame: ${detail}`);
}

/**
 * Splits a byte stream into frame bodies. Feed it chunks in order with `push`; it calls
 * `onBody` with a fresh copy of every complete body, and throws `FrameError` (OVERSIZED) as soon
 * as a length prefix exceeds the bound. Memory held is at most one frame plus one chunk.
 */
export class FrameDecoder {
  private readonly frameBytesMax: number;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** The body length being waited for, or -1 while reading a length prefix. */
  private need = -1;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received that are not yet part of a complete frame; non-zero at end of stream means truncation. */
  get pendingBytes(): number {
    return this.buffered + (this.need >= 0 ? FRAME_HEADER_BYTES : 0);
  }

  /** Adds a chunk and emits every frame body it completes. */
  push(chunk: Uint8Array, onBody: (body: Uint8Array) => void): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        const header = this.take(FRAME_HEADER_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).getUint32(0, false);
        if (length > this.frameBytesMax) {
          throw new FrameError(
            { code: FrameErrorCode.OVERSIZED, detail: `${length} bytes > ${this.frameBytesMax}` },
            `a frame of ${length} bytes exceeds the bound of ${this.frameBytesMax}`,
          );
        }
        if (length < FRAME_BODY_BYTES_MIN) throw malformed(`a length prefix of ${length} is below the minimum body`);
        this.need = length;
      }
      if (this.buffered < this.need) return;
      const body = this.take(this.need);
      this.need = -1;
      onBody(body);
    }
  }

  /** Removes the first `n` buffered bytes and returns them as a fresh array. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      if (head === undefined) throw new Error('FrameDecoder.take: buffered count out of sync');
      const used = Math.min(n - filled, head.length);
      out.set(head.subarray(0, used), filled);
      filled += used;
      if (used === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(used);
    }
    this.buffered -= n;
    return out;
  }
}
