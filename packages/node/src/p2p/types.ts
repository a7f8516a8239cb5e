/** Types of the p2p layer. */
import type { Network } from '@polis/consensus';
import type { Logger } from 'pino';
import type { P2PLimits } from './params.js';

/** A node allowed to connect: its Ed25519 node key and where to dial it. */
export type AdmittedPeer = {
  /** The 32-byte Ed25519 public key, 0x-prefixed hex. Its libp2p PeerId is derived from it. */
  publicKey: string;
  /** Multiaddrs to dial, e.g. `/ip4/127.0.0.1/tcp/30333`; a `/p2p/<id>` suffix is optional and checked. Empty: never dialled, only accepted. */
  addrs: string[];
};

/** Options of `P2PHost.create`. */
export type P2PHostOptions = {
  /** The node's 32-byte Ed25519 seed (the node key). The libp2p identity is derived from it. */
  seed: Uint8Array;
  /** The multiaddr to listen on, e.g. `/ip4/127.0.0.1/tcp/0` (port 0 picks a free port). */
  listen: string;
  /** The admitted nodes; the host's own key may be listed and is skipped. */
  admitted: AdmittedPeer[];
  /** Overrides of `P2P_LIMITS_DEFAULT`. */
  limits?: Partial<P2PLimits>;
  logger?: Logger;
};

/** Receives a ledger message; `peer` is the sender's Ed25519 public key, 0x-prefixed lower-case hex. */
export type MessageHandler = (peer: string, bytes: Uint8Array) => void;

/**
 * One ledger's view of the network: the consensus engine's `Network` plus a way to receive.
 * `broadcast` reaches every connected admitted peer; `send` one peer by public key. Messages to a
 * peer that is not connected are dropped (and counted): the engine's gossip repeats what matters.
 */
export interface P2PChannel extends Network {
  readonly ledgerId: string;
  /** Registers a handler for this ledger's incoming messages; returns a function that removes it. */
  onMessage(handler: MessageHandler): () => void;
}

/** Counters kept per peer. */
export type P2PPeerCounters = {
  /** Complete frames received (before rate limiting). */
  framesIn: number;
  bytesIn: number;
  /** Frames handed to a channel's handlers. */
  framesDelivered: number;
  /** Frames written to the peer's stream. */
  framesOut: number;
  bytesOut: number;
  /** Incoming frames dropped by the peer's token buckets. */
  droppedRateLimited: number;
  /** Outgoing frames dropped because the peer's queue was full (the oldest go first). */
  droppedQueueFull: number;
  /** Incoming frames for a ledger this host has no channel handler for. */
  droppedUnknownLedger: number;
  /** Incoming frames that broke the wire format (oversized, malformed, truncated); each resets its stream. */
  framesRejected: number;
};

/** The host's counters: totals over all peers, plus host-wide events. */
export type P2PMetrics = P2PPeerCounters & {
  framesOversized: number;
  framesMalformed: number;
  framesTruncated: number;
  /** Streams this host reset because of a bad frame. */
  streamResets: number;
  /** Connections the gater refused: peers not admitted, or over the per-peer connection bound. */
  rejectedConnections: number;
  /** Inbound streams refused because their peer is not (or no longer) admitted. */
  rejectedStreams: number;
  /** Outgoing frames for a peer that is not connected. */
  droppedNotConnected: number;
  /** `send` to a public key that is not admitted. */
  droppedUnknownPeer: number;
  /** Outgoing messages larger than `frameBytesMax`. */
  droppedOversizedOut: number;
  /** Handlers that threw; the frame still counts as delivered to the others. */
  handlerErrors: number;
  dials: number;
  dialFailures: number;
  connectedPeers: number;
};
