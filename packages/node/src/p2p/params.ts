/**
 * Constants and default limits of the p2p layer. Every queue, buffer and rate has a bound here;
 * `P2PHost` takes overrides through `P2PHostOptions.limits`.
 */

/** The libp2p protocol that carries ledger messages. One long-lived stream per peer and direction. */
export const LEDGER_PROTOCOL = '/polis/ledger/1.0.0';

/** The version byte that starts every frame body; a different value is a malformed frame. */
export const FRAME_VERSION = 1;

/** Bytes of the big-endian length prefix in front of every frame body. */
export const FRAME_HEADER_BYTES = 4;

/** The smallest valid body: version, ledger id length and a one-byte ledger id. */
export const FRAME_BODY_BYTES_MIN = 3;

/** Ledger ids are at most 63 characters (config.ts), so 64 bytes of UTF-8 is a safe bound. */
export const LEDGER_ID_BYTES_MAX = 64;

const MiB = 1024 * 1024;

/** The limits a host enforces. All of them are per host unless the name says per peer. */
export type P2PLimits = {
  /**
   * The largest frame body accepted or sent. Larger incoming frames reset the stream; larger
   * outgoing messages are dropped and counted, so an honest node never trips its peer's bound.
   * The consensus engine's own MESSAGE_BYTES_MAX is 8 MiB.
   */
  frameBytesMax: number;
  /** Frames waiting to be written to one peer; when full, the oldest are dropped. */
  peerQueueFramesMax: number;
  /** Bytes waiting to be written to one peer; when full, the oldest frames are dropped. */
  peerQueueBytesMax: number;
  /** Sustained incoming frames per second from one peer. */
  peerMessagesPerSecond: number;
  /** Incoming frames one peer may send in a burst. */
  peerMessagesBurst: number;
  /** Sustained incoming bytes per second from one peer. */
  peerBytesPerSecond: number;
  /** Incoming bytes one peer may send in a burst; at least `frameBytesMax`. */
  peerBytesBurst: number;
  /**
   * Inbound ledger streams one peer may hold open per connection (libp2p counts per connection).
   * With `peerConnectionsMax`, it bounds the decoder memory one peer can pin: 2 x 3 x frameBytesMax.
   */
  peerInboundStreamsMax: number;
  /** Connections one peer may hold open at once; two are normal when both sides dial together. */
  peerConnectionsMax: number;
  /** How long one dial may take. */
  dialTimeoutMs: number;
  /** The first redial delay; it doubles per failed attempt. */
  redialBaseMs: number;
  /** The largest redial delay. */
  redialMaxMs: number;
  /** Bytes of queued frames written to a stream in one chunk. */
  writeBatchBytesMax: number;
};

/** The default limits of a city node. */
export const P2P_LIMITS_DEFAULT: Readonly<P2PLimits> = Object.freeze({
  frameBytesMax: 16 * MiB,
  peerQueueFramesMax: 4096,
  peerQueueBytesMax: 64 * MiB,
  // A proposal of up to 8 MiB is re-gossiped every gossipMs per ledger, so the byte rate is generous;
  // the message rate is what stops a flood of small frames.
  peerMessagesPerSecond: 5_000,
  peerMessagesBurst: 10_000,
  peerBytesPerSecond: 64 * MiB,
  peerBytesBurst: 128 * MiB,
  peerInboundStreamsMax: 2,
  peerConnectionsMax: 3,
  dialTimeoutMs: 5_000,
  redialBaseMs: 250,
  redialMaxMs: 10_000,
  writeBatchBytesMax: 1 * MiB,
});
