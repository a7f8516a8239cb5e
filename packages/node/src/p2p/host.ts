/**
 * The p2p host of a city node: libp2p over TCP with Noise and yamux, where only admitted nodes
 * may connect, and one channel per hosted ledger on top.
 *
 * - Identity: the libp2p key IS the node's Ed25519 key, so a peer's PeerId (checked by Noise)
 *   proves which node key it holds. Admission is by PeerId derived from the admitted keys.
 * - Admission is enforced three times: by the connection gater (dials and both directions of
 *   encrypted connections), on every inbound stream, and on every chunk read (so `setAdmitted`
 *   takes effect even on a stream that is mid-read).
 * - Each side writes to a peer on one long-lived outbound stream of `/polis/ledger/1.0.0`, fed by
 *   a bounded FIFO per peer, so messages to a peer keep their order. Frames carry the ledger id;
 *   see frame.ts.
 * - Incoming frames are bounded in size before any body byte is buffered, rate-limited per peer
 *   by two token buckets (frames/s, bytes/s), and parsed defensively: a bad frame resets only
 *   the stream it came on and is counted. Excess frames of a flooding peer are dropped, not
 *   queued, so a flood costs this node only the read.
 * - Every admitted peer with addresses is dialled, and redialled with capped exponential backoff
 *   and jitter. Both sides dial; libp2p reuses an open connection, and the rare duplicate from a
 *   simultaneous dial is harmless because streams are per direction.
 */
// The polyfill first: libp2p's dependencies need it on Node 20.
import './polyfill.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys';
import type { Connection, IncomingStreamData, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { bytesToHex, isHex } from '@polis/core';
import { createLibp2p } from 'libp2p';
import { type Logger, pino } from 'pino';
import { FrameError, FrameErrorCode, P2PError, P2PErrorCode } from './errors.js';
import { decodeFrameBody, encodeFrame, FrameDecoder, frameBodyBytes, ledgerIdToBytes } from './frame.js';
import { FrameQueue, TokenBucket } from './limits.js';
import { FRAME_HEADER_BYTES, LEDGER_PROTOCOL, P2P_LIMITS_DEFAULT, type P2PLimits } from './params.js';
import type { AdmittedPeer, MessageHandler, P2PChannel, P2PHostOptions, P2PMetrics, P2PPeerCounters } from './types.js';

/** At most one warn-level log line per peer per this interval for bad frames. */
const BAD_FRAME_WARN_INTERVAL_MS = 60_000;

/** An admitted peer after validation. */
type ParsedPeer = { publicKey: string; peerId: PeerId; addrs: Multiaddr[] };

/** What the host knows and holds for one admitted peer. */
type PeerSession = ParsedPeer & {
  peerIdString: string;
  /** Set once the peer leaves the admitted set; every loop that holds the session checks it. */
  removed: boolean;
  connected: boolean;
  connectedAt: number;
  queue: FrameQueue;
  /** The outbound stream and the source feeding it, while one is open. */
  stream: Stream | undefined;
  writer: FrameSource | undefined;
  opening: boolean;
  streamFailures: number;
  dialing: boolean;
  redialAttempt: number;
  redialTimer: NodeJS.Timeout | undefined;
  streamTimer: NodeJS.Timeout | undefined;
  inbound: Set<Stream>;
  /** When a bad frame of this peer was last logged at warn level; logging is throttled per peer. */
  lastWarnMs: number;
  messageBucket: TokenBucket;
  byteBucket: TokenBucket;
  counters: P2PPeerCounters;
};

type Channel = P2PChannel & { handlers: Set<MessageHandler> };

function emptyPeerCounters(): P2PPeerCounters {
  return {
    framesIn: 0,
    bytesIn: 0,
    framesDelivered: 0,
    framesOut: 0,
    bytesOut: 0,
    droppedRateLimited: 0,
    droppedQueueFull: 0,
    droppedUnknownLedger: 0,
    framesRejected: 0,
  };
}

function emptyMetrics(): P2PMetrics {
  return {
    ...emptyPeerCounters(),
    framesOversized: 0,
    framesMalformed: 0,
    framesTruncated: 0,
    streamResets: 0,
    rejectedConnections: 0,
    rejectedStreams: 0,
    droppedNotConnected: 0,
    droppedUnknownPeer: 0,
    droppedOversizedOut: 0,
    handlerErrors: 0,
    dials: 0,
    dialFailures: 0,
    connectedPeers: 0,
  };
}

function invalid(field: string, value: string, message: string, hint: string): P2PError {
  return new P2PError({ code: P2PErrorCode.INVALID_OPTIONS, field, value }, message, { hint });
}

/** Normalises an Ed25519 public key to 0x-prefixed lower-case hex; throws on anything else. */
function normalizeKey(publicKey: string, field: string): string {
  const hex = publicKey.startsWith('0x') || publicKey.startsWith('0X') ? `0x${publicKey.slice(2)}` : `0x${publicKey}`;
  if (!isHex(hex) || hex.length !== 66) {
    throw invalid(
      field,
      publicKey,
      `${field} is not a 32-byte Ed25519 public key`,
      'Pass the node key as 64 hex digits, e.g. from identity.json',
    );
  }
  return hex.toLowerCase();
}

/** Validates an admitted list; skips `selfKey`. Throws before anything changes. */
function parseAdmitted(peers: AdmittedPeer[], selfKey: string): ParsedPeer[] {
  const out = new Map<string, ParsedPeer>();
  peers.forEach((p, i) => {
    const publicKey = normalizeKey(p.publicKey, `admitted[${i}].publicKey`);
    if (publicKey === selfKey) return;
    const peerId = peerIdFromPublicKey(publicKeyFromRaw(Buffer.from(publicKey.slice(2), 'hex')));
    const addrs = p.addrs.map((a, j) => {
      const field = `admitted[${i}].addrs[${j}]`;
      let ma: Multiaddr;
      try {
        ma = multiaddr(a);
      } catch (cause) {
        throw new P2PError({ code: P2PErrorCode.INVALID_OPTIONS, field, value: a }, `${field} is not a multiaddr: ${a}`, {
          hint: 'Write addresses as multiaddrs, e.g. /ip4/127.0.0.1/tcp/30333',
          cause,
        });
      }
      const inAddr = ma.getPeerId();
      if (inAddr === null) return ma.encapsulate(`/p2p/${peerId.toString()}`);
      if (inAddr !== peerId.toString()) {
        throw invalid(
          field,
          a,
          `${field} names peer ${inAddr}, not the peer of ${publicKey}`,
          'Drop the /p2p/ suffix or make it match the key',
        );
      }
      return ma;
    });
    out.set(publicKey, { publicKey, peerId, addrs });
  });
  return [...out.values()];
}

function validateLimits(limits: P2PLimits): void {
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isFinite(v) || v <= 0)
      throw invalid(`limits.${k}`, String(v), `limits.${k} must be a positive number`, 'Fix the limit');
  }
  if (limits.frameBytesMax > 0xffff_ffff) {
    throw invalid(
      'limits.frameBytesMax',
      String(limits.frameBytesMax),
      'limits.frameBytesMax must fit the 32-bit length prefix',
      'Lower it',
    );
  }
  // Otherwise a frame of the largest allowed size could never pass the bucket, or never fit the queue.
  if (limits.peerBytesBurst < limits.frameBytesMax) {
    throw invalid(
      'limits.peerBytesBurst',
      String(limits.peerBytesBurst),
      'limits.peerBytesBurst must be at least frameBytesMax',
      'Raise it',
    );
  }
  if (limits.peerQueueBytesMax < limits.frameBytesMax + FRAME_HEADER_BYTES) {
    throw invalid(
      'limits.peerQueueBytesMax',
      String(limits.peerQueueBytesMax),
      'limits.peerQueueBytesMax must hold one largest frame',
      'Raise it',
    );
  }
}

/**
 * The async source of a peer's outbound stream. Unlike an async generator parked on `await`, its
 * `return()` (what libp2p calls when the stream is aborted) ends a pending `next()` at once, so a
 * dead stream never leaves a writer hanging.
 */
class FrameSource implements AsyncIterableIterator<Uint8Array> {
  private waiting: ((r: IteratorResult<Uint8Array>) => void) | undefined;
  private ended = false;
  private readonly pull: () => Uint8Array | undefined;

  constructor(pull: () => Uint8Array | undefined) {
    this.pull = pull;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    const value = this.pull();
    if (value !== undefined) return Promise.resolve({ done: false, value });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  /** New frames were queued: hands one to a waiting `next()`. */
  notify(): void {
    if (this.waiting === undefined) return;
    const value = this.pull();
    if (value === undefined) return;
    const w = this.waiting;
    this.waiting = undefined;
    w({ done: false, value });
  }

  end(): void {
    this.ended = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ done: true, value: undefined });
  }
}

/** A city node's p2p host. Create it with `P2PHost.create`; stop it with `close`. */
export class P2PHost {
  /** This node's Ed25519 public key, 0x-prefixed lower-case hex. */
  readonly publicKey: string;
  /** This node's libp2p PeerId, derived from `publicKey`. */
  readonly peerId: string;
  readonly limits: Readonly<P2PLimits>;
  private readonly log: Logger;
  private node!: Libp2p;
  private closed = false;
  private readonly byKey = new Map<string, PeerSession>();
  private readonly byPeerId = new Map<string, PeerSession>();
  private readonly channels = new Map<string, Channel>();
  private readonly totals: P2PMetrics = emptyMetrics();

  private constructor(publicKey: string, peerId: string, limits: P2PLimits, log: Logger) {
    this.publicKey = publicKey;
    this.peerId = peerId;
    this.limits = limits;
    this.log = log;
  }

  /** Creates the libp2p node from the node key, listens, and starts dialling the admitted peers. */
  static async create(options: P2PHostOptions): Promise<P2PHost> {
    if (!(options.seed instanceof Uint8Array) || options.seed.length !== 32) {
      throw invalid(
        'seed',
        `${options.seed?.length ?? 0} bytes`,
        'the node seed must be 32 bytes',
        'Pass the decrypted Ed25519 node key',
      );
    }
    try {
      multiaddr(options.listen);
    } catch (cause) {
      throw new P2PError(
        { code: P2PErrorCode.INVALID_OPTIONS, field: 'listen', value: options.listen },
        `listen is not a multiaddr: ${options.listen}`,
        {
          hint: 'Use e.g. /ip4/127.0.0.1/tcp/30333',
          cause,
        },
      );
    }
    const limits = { ...P2P_LIMITS_DEFAULT, ...options.limits };
    validateLimits(limits);
    const privateKey = await generateKeyPairFromSeed('Ed25519', options.seed);
    const publicKey = bytesToHex(privateKey.publicKey.raw).toLowerCase();
    const peerId = peerIdFromPublicKey(privateKey.publicKey);
    const log = (options.logger ?? pino({ level: 'silent' })).child({ module: 'p2p' });
    const host = new P2PHost(publicKey, peerId.toString(), limits, log);
    for (const p of parseAdmitted(options.admitted, publicKey)) host.addSession(p);

    host.node = await createLibp2p({
      privateKey,
      addresses: { listen: [options.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: {
        denyDialPeer: (id) => host.denyConnection(id, 'dial'),
        denyInboundEncryptedConnection: (id) => host.denyConnection(id, 'inbound'),
        denyOutboundEncryptedConnection: (id) => host.denyConnection(id, 'outbound'),
      },
      // Redialling is ours (capped backoff per admitted peer), not libp2p's.
      // Inbound handshakes are also rate-limited per source IP by libp2p; a dev network puts every
      // node on 127.0.0.1, so the threshold is above libp2p's default of 5/s.
      connectionManager: { dialTimeout: limits.dialTimeoutMs, reconnectRetries: 0, inboundConnectionThreshold: 25 },
      start: false,
    });
    // The handler is registered before listening, so no early stream meets "protocol not supported".
    await host.node.handle(LEDGER_PROTOCOL, (data) => host.onInboundStream(data), {
      maxInboundStreams: limits.peerInboundStreamsMax,
      maxOutboundStreams: 2,
    });
    host.node.addEventListener('peer:connect', (evt) => host.onPeerConnect(evt.detail));
    host.node.addEventListener('peer:disconnect', (evt) => host.onPeerDisconnect(evt.detail));
    try {
      await host.node.start();
    } catch (cause) {
      host.closed = true;
      await Promise.resolve(host.node.stop()).catch(() => {});
      throw new P2PError(
        { code: P2PErrorCode.LISTEN_FAILED, listen: options.listen },
        `the p2p host cannot listen on ${options.listen}`,
        {
          hint: 'Check that the port is free and the address is local, or pick another p2p address in the node config',
          cause,
        },
      );
    }
    host.log.info({ peerId: host.peerId, addrs: host.addrs, peers: host.byKey.size }, 'p2p host started');
    for (const s of host.byKey.values()) void host.dial(s);
    return host;
  }

  /** The addresses this host listens on, each ending in `/p2p/<peerId>`. */
  get addrs(): string[] {
    return this.node.getMultiaddrs().map((m) => m.toString());
  }

  /** The underlying libp2p node, for diagnostics and tests; do not register protocols on it. */
  get libp2p(): Libp2p {
    return this.node;
  }

  /** The public keys of the admitted peers connected now. */
  connectedPeers(): string[] {
    return [...this.byKey.values()].filter((s) => s.connected).map((s) => s.publicKey);
  }

  /** A snapshot of the host's counters. */
  metrics(): P2PMetrics {
    return { ...this.totals, connectedPeers: this.connectedPeers().length };
  }

  /** A snapshot of one peer's counters, or undefined if the key is not admitted. */
  peerMetrics(publicKey: string): P2PPeerCounters | undefined {
    const s = this.byKey.get(publicKey.toLowerCase());
    return s ? { ...s.counters } : undefined;
  }

  /**
   * The channel of one ledger: the engine's `Network` and the way in. The same object is returned
   * for the same id.
   */
  channel(ledgerId: string): P2PChannel {
    const existing = this.channels.get(ledgerId);
    if (existing) return existing;
    const idBytes = ledgerIdToBytes(ledgerId);
    if (idBytes === undefined) {
      throw invalid(
        'ledgerId',
        ledgerId,
        `the ledger id "${ledgerId}" does not fit a frame`,
        'Ledger ids are 1 to 64 bytes of UTF-8',
      );
    }
    const handlers = new Set<MessageHandler>();
    const ch: Channel = {
      ledgerId,
      handlers,
      broadcast: (bytes) => {
        const frame = this.frameFor(idBytes, bytes);
        if (frame === undefined) return;
        for (const s of this.byKey.values()) this.enqueue(s, frame);
      },
      send: (peer, bytes) => {
        const s = this.byKey.get(peer.toLowerCase());
        if (s === undefined) {
          this.totals.droppedUnknownPeer++;
          return;
        }
        const frame = this.frameFor(idBytes, bytes);
        if (frame !== undefined) this.enqueue(s, frame);
      },
      onMessage: (handler) => {
        handlers.add(handler);
        return () => {
          handlers.delete(handler);
        };
      },
    };
    this.channels.set(ledgerId, ch);
    return ch;
  }

  /**
   * Replaces the admitted set. Removed peers are disconnected at once (the gater already refuses
   * them when this returns); added peers are dialled; changed addresses are dialled now.
   */
  async setAdmitted(peers: AdmittedPeer[]): Promise<void> {
    if (this.closed) throw new P2PError({ code: P2PErrorCode.CLOSED }, 'the p2p host is closed', { hint: 'Create a new host' });
    const next = parseAdmitted(peers, this.publicKey);
    const keep = new Set(next.map((p) => p.publicKey));
    const removed: PeerSession[] = [];
    for (const s of this.byKey.values()) {
      if (keep.has(s.publicKey)) continue;
      this.removeSession(s);
      removed.push(s);
    }
    for (const p of next) {
      const s = this.byKey.get(p.publicKey);
      if (s === undefined) {
        void this.dial(this.addSession(p));
        continue;
      }
      const changed = s.addrs.map(String).join() !== p.addrs.map(String).join();
      s.addrs = p.addrs;
      if (changed && !s.connected) {
        clearTimeout(s.redialTimer);
        s.redialTimer = undefined;
        void this.dial(s);
      }
    }
    this.log.info({ removed: removed.map((s) => s.publicKey), peers: this.byKey.size }, 'admitted set replaced');
    await Promise.all(removed.map((s) => this.node.hangUp(s.peerId).catch(() => {})));
  }

  /** Stops dialling, drops the queues and stops libp2p (closing every connection). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.byKey.values()) this.stopSession(s);
    await this.node.stop();
    this.log.info('p2p host stopped');
  }

  // --- admission ---------------------------------------------------------------------------

  private addSession(p: ParsedPeer): PeerSession {
    const l = this.limits;
    const s: PeerSession = {
      ...p,
      peerIdString: p.peerId.toString(),
      removed: false,
      connected: false,
      connectedAt: 0,
      queue: new FrameQueue({ framesMax: l.peerQueueFramesMax, bytesMax: l.peerQueueBytesMax }),
      stream: undefined,
      writer: undefined,
      opening: false,
      streamFailures: 0,
      dialing: false,
      redialAttempt: 0,
      redialTimer: undefined,
      streamTimer: undefined,
      inbound: new Set(),
      lastWarnMs: Number.NEGATIVE_INFINITY,
      messageBucket: new TokenBucket({ capacity: l.peerMessagesBurst, ratePerSecond: l.peerMessagesPerSecond }),
      byteBucket: new TokenBucket({ capacity: l.peerBytesBurst, ratePerSecond: l.peerBytesPerSecond }),
      counters: emptyPeerCounters(),
    };
    this.byKey.set(s.publicKey, s);
    this.byPeerId.set(s.peerIdString, s);
    return s;
  }

  private removeSession(s: PeerSession): void {
    // Off the maps first: from here on the gater refuses the peer and its frames are not read.
    this.byKey.delete(s.publicKey);
    this.byPeerId.delete(s.peerIdString);
    s.removed = true;
    this.stopSession(s);
    for (const stream of s.inbound) stream.abort(new Error('peer is no longer admitted'));
  }

  private stopSession(s: PeerSession): void {
    clearTimeout(s.redialTimer);
    clearTimeout(s.streamTimer);
    s.redialTimer = undefined;
    s.streamTimer = undefined;
    s.connected = false;
    s.writer?.end();
    s.writer = undefined;
    s.stream = undefined;
    s.queue.clear();
  }

  private denyConnection(id: PeerId, direction: 'dial' | 'inbound' | 'outbound'): boolean {
    const s = this.byPeerId.get(id.toString());
    let reason: string | undefined;
    if (this.closed) reason = 'host closed';
    else if (s === undefined) reason = 'not admitted';
    // Bounds what one admitted peer can hold; two connections are normal after a simultaneous dial.
    else if (direction === 'inbound' && this.node.getConnections(id).length >= this.limits.peerConnectionsMax)
      reason = 'too many connections';
    if (reason === undefined) return false;
    this.totals.rejectedConnections++;
    this.log.debug({ peerId: id.toString(), direction, reason }, 'connection refused');
    return true;
  }

  // --- connections and dialling ------------------------------------------------------------

  private isConnected(s: PeerSession): boolean {
    return this.node.getConnections(s.peerId).some((c: Connection) => c.status === 'open');
  }

  private onPeerConnect(id: PeerId): void {
    const s = this.byPeerId.get(id.toString());
    if (s !== undefined) {
      this.markConnected(s);
      return;
    }
    // Only a race with setAdmitted gets here (the gater refuses everyone else): close it too.
    this.totals.rejectedConnections++;
    void this.node.hangUp(id).catch(() => {});
  }

  private onPeerDisconnect(id: PeerId): void {
    const s = this.byPeerId.get(id.toString());
    if (s === undefined || !s.connected) return;
    s.connected = false;
    this.totals.droppedNotConnected += s.queue.clear();
    s.writer?.end();
    s.writer = undefined;
    s.stream = undefined;
    clearTimeout(s.streamTimer);
    s.streamTimer = undefined;
    // A connection that outlived the longest backoff was healthy: start the backoff afresh.
    // One that dropped at once (e.g. the remote refuses us) keeps growing it, so we never hammer.
    if (performance.now() - s.connectedAt >= this.limits.redialMaxMs) s.redialAttempt = 0;
    else s.redialAttempt++;
    this.log.info({ peer: s.publicKey }, 'peer disconnected');
    this.scheduleRedial(s);
  }

  private markConnected(s: PeerSession): void {
    if (this.closed || s.removed) return;
    if (!s.connected) {
      s.connected = true;
      s.connectedAt = performance.now();
      clearTimeout(s.redialTimer);
      s.redialTimer = undefined;
      this.log.info({ peer: s.publicKey }, 'peer connected');
    }
    void this.openStream(s);
  }

  private backoffMs(attempt: number, baseMs: number): number {
    const cap = Math.min(this.limits.redialMaxMs, baseMs * 2 ** Math.min(attempt, 30));
    // Jitter keeps two peers that lost each other from redialling in lockstep.
    return cap / 2 + (Math.random() * cap) / 2;
  }

  private scheduleRedial(s: PeerSession): void {
    if (this.closed || s.removed || s.connected || s.redialTimer !== undefined || s.addrs.length === 0) return;
    const delay = this.backoffMs(s.redialAttempt, this.limits.redialBaseMs);
    s.redialTimer = setTimeout(() => {
      s.redialTimer = undefined;
      void this.dial(s);
    }, delay);
    s.redialTimer.unref();
  }

  private async dial(s: PeerSession): Promise<void> {
    if (this.closed || s.removed || s.connected || s.dialing || s.addrs.length === 0) return;
    s.dialing = true;
    this.totals.dials++;
    let ok = false;
    try {
      await this.node.dial(s.addrs, { signal: AbortSignal.timeout(this.limits.dialTimeoutMs) });
      // The remote may have refused us after the handshake; only a connection still open counts.
      ok = this.isConnected(s);
    } catch (err) {
      this.log.debug({ peer: s.publicKey, err: (err as Error).message }, 'dial failed');
    } finally {
      s.dialing = false;
    }
    if (s.removed) {
      // Removed while the dial was in flight, possibly after the gater let it through.
      if (ok && !this.byPeerId.has(s.peerIdString)) void this.node.hangUp(s.peerId).catch(() => {});
    } else if (ok) {
      this.markConnected(s);
    } else if (!this.closed) {
      this.totals.dialFailures++;
      s.redialAttempt++;
      this.scheduleRedial(s);
    }
  }

  // --- outbound ----------------------------------------------------------------------------

  private frameFor(ledgerId: Uint8Array, message: Uint8Array): Uint8Array | undefined {
    if (this.closed) return undefined;
    if (frameBodyBytes(ledgerId, message) > this.limits.frameBytesMax) {
      this.totals.droppedOversizedOut++;
      this.log.warn({ bytes: message.length, max: this.limits.frameBytesMax }, 'outgoing message too large, dropped');
      return undefined;
    }
    return encodeFrame(ledgerId, message);
  }

  private enqueue(s: PeerSession, frame: Uint8Array): void {
    if (!s.connected) {
      this.totals.droppedNotConnected++;
      return;
    }
    const dropped = s.queue.push(frame);
    if (dropped > 0) {
      s.counters.droppedQueueFull += dropped;
      this.totals.droppedQueueFull += dropped;
    }
    s.writer?.notify();
  }

  private async openStream(s: PeerSession): Promise<void> {
    if (this.closed || s.removed || !s.connected || s.stream !== undefined || s.opening) return;
    s.opening = true;
    let stream: Stream | undefined;
    try {
      const conn = this.node.getConnections(s.peerId).find((c) => c.status === 'open');
      if (conn !== undefined)
        stream = await conn.newStream(LEDGER_PROTOCOL, { signal: AbortSignal.timeout(this.limits.dialTimeoutMs) });
    } catch (err) {
      this.log.debug({ peer: s.publicKey, err: (err as Error).message }, 'opening the ledger stream failed');
    } finally {
      s.opening = false;
    }
    if (stream === undefined) {
      this.retryStream(s);
      return;
    }
    if (this.closed || s.removed || !s.connected) {
      stream.abort(new Error('peer went away'));
      return;
    }
    s.streamFailures = 0;
    s.stream = stream;
    void this.runWriter(s, stream);
  }

  /** A connected peer without a working stream tries again, backing off, until it disconnects. */
  private retryStream(s: PeerSession): void {
    if (this.closed || s.removed || !s.connected || s.streamTimer !== undefined) return;
    s.streamFailures++;
    s.streamTimer = setTimeout(
      () => {
        s.streamTimer = undefined;
        void this.openStream(s);
      },
      this.backoffMs(s.streamFailures, 50),
    );
    s.streamTimer.unref();
  }

  private async runWriter(s: PeerSession, stream: Stream): Promise<void> {
    const writer = new FrameSource(() => {
      const chunk = s.queue.takeBatch(this.limits.writeBatchBytesMax);
      if (chunk === undefined) return undefined;
      s.counters.framesOut += chunk.frames;
      s.counters.bytesOut += chunk.bytes.length;
      this.totals.framesOut += chunk.frames;
      this.totals.bytesOut += chunk.bytes.length;
      return chunk.bytes;
    });
    s.writer = writer;
    try {
      await stream.sink(writer);
    } catch (err) {
      this.log.debug({ peer: s.publicKey, err: (err as Error).message }, 'ledger stream closed');
    }
    writer.end();
    if (s.stream !== stream) return;
    s.stream = undefined;
    s.writer = undefined;
    stream.abort(new Error('writer ended'));
    this.retryStream(s);
  }

  // --- inbound -----------------------------------------------------------------------------

  private onInboundStream({ stream, connection }: IncomingStreamData): void {
    const s = this.byPeerId.get(connection.remotePeer.toString());
    if (this.closed || s === undefined) {
      this.totals.rejectedStreams++;
      stream.abort(new Error('peer is not admitted'));
      return;
    }
    void this.readStream(s, stream);
  }

  private async readStream(s: PeerSession, stream: Stream): Promise<void> {
    s.inbound.add(stream);
    const decoder = new FrameDecoder(this.limits.frameBytesMax);
    const onBody = (body: Uint8Array) => this.onFrame(s, body);
    try {
      for await (const list of stream.source) {
        if (s.removed || this.closed) {
          this.totals.rejectedStreams++;
          stream.abort(new Error('peer is no longer admitted'));
          return;
        }
        for (const chunk of list) decoder.push(chunk, onBody);
      }
      if (decoder.pendingBytes > 0) {
        throw new FrameError(
          { code: FrameErrorCode.TRUNCATED, detail: `${decoder.pendingBytes} bytes` },
          `the stream ended inside a frame (${decoder.pendingBytes} bytes pending)`,
        );
      }
    } catch (err) {
      if (err instanceof FrameError) {
        s.counters.framesRejected++;
        this.totals.framesRejected++;
        if (err.code === FrameErrorCode.OVERSIZED) this.totals.framesOversized++;
        else if (err.code === FrameErrorCode.TRUNCATED) this.totals.framesTruncated++;
        else this.totals.framesMalformed++;
        this.totals.streamResets++;
        // A peer can open a stream per bad frame; the counters see every one, the log one a minute.
        const now = performance.now();
        const level = now - s.lastWarnMs >= BAD_FRAME_WARN_INTERVAL_MS ? 'warn' : 'debug';
        if (level === 'warn') s.lastWarnMs = now;
        this.log[level](
          { peer: s.publicKey, code: err.code, reason: err.shortMessage, rejected: s.counters.framesRejected },
          'bad frame, stream reset',
        );
        stream.abort(err);
      }
      // Anything else is the stream or connection going away under us: normal, nothing to count.
    } finally {
      s.inbound.delete(stream);
    }
  }

  /** One complete frame body from `s`. Throws `FrameError` only for a malformed body. */
  private onFrame(s: PeerSession, body: Uint8Array): void {
    s.counters.framesIn++;
    s.counters.bytesIn += body.length;
    this.totals.framesIn++;
    this.totals.bytesIn += body.length;
    const { ledgerId, message } = decodeFrameBody(body);
    // Both buckets must allow the frame; a refused frame takes no tokens from either.
    if (!s.messageBucket.has(1) || !s.byteBucket.has(body.length)) {
      s.counters.droppedRateLimited++;
      this.totals.droppedRateLimited++;
      return;
    }
    s.messageBucket.take(1);
    s.byteBucket.take(body.length);
    const ch = this.channels.get(ledgerId);
    // Broadcasts reach every admitted peer, including ones that host other ledgers, so a frame
    // for a ledger we do not host is normal traffic: dropped and counted, the stream stays.
    if (ch === undefined || ch.handlers.size === 0) {
      s.counters.droppedUnknownLedger++;
      this.totals.droppedUnknownLedger++;
      return;
    }
    s.counters.framesDelivered++;
    this.totals.framesDelivered++;
    for (const h of ch.handlers) {
      try {
        h(s.publicKey, message);
      } catch (err) {
        this.totals.handlerErrors++;
        this.log.error({ err, ledgerId }, 'a p2p message handler threw');
      }
    }
  }
}
