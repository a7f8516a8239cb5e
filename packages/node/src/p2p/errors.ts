/** Errors of the p2p layer. Operating errors (bad frames, lost peers) are counted, not thrown. */
import { PolisError } from '@polis/core';

/** Codes of `P2PError`. */
export enum P2PErrorCode {
  /** The host was given an invalid option: a bad seed, key, address or limit. */
  INVALID_OPTIONS = 'P2P_ERROR_INVALID_OPTIONS',
  /** The host could not listen on its address (the port may be in use). */
  LISTEN_FAILED = 'P2P_ERROR_LISTEN_FAILED',
  /** The host is closed. */
  CLOSED = 'P2P_ERROR_CLOSED',
}

/** The payload of a `P2PError`. */
export type P2PErrorType =
  | { code: P2PErrorCode.INVALID_OPTIONS; field: string; value: string }
  | { code: P2PErrorCode.LISTEN_FAILED; listen: string }
  | { code: P2PErrorCode.CLOSED };

/** A programming or configuration error of the p2p host. */
export class P2PError extends PolisError<P2PErrorType> {
  override name = 'P2PError';
}

/** Why an incoming frame was rejected; the stream it came on is reset. */
export enum FrameErrorCode {
  /** The length prefix exceeds `frameBytesMax`. */
  OVERSIZED = 'FRAME_ERROR_OVERSIZED',
  /** The body does not parse: wrong version, bad ledger id, too short. */
  MALFORMED = 'FRAME_ERROR_MALFORMED',
  /** The stream ended in the middle of a frame. */
  TRUNCATED = 'FRAME_ERROR_TRUNCATED',
}

/** A frame that breaks the wire format. Thrown by the decoder, caught by the stream reader. */
export class FrameError extends PolisError<{ code: FrameErrorCode; detail: string }> {
  override name = 'FrameError';
}
