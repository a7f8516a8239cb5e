/**
 * JSON-RPC over WebSocket at `GET /v1/{appId}/{apiKey}` and `GET /v1/{appId}` (with
 * `Authorization: Bearer <apiKey>`), the paths of the HTTP JSON-RPC routes, plus `eth_subscribe`
 * (`newHeads`, `logs`, `newPendingTransactions`) and `eth_unsubscribe` fed by the ledger's
 * `LedgerFeed`.
 *
 * The key is checked before the upgrade, so a bad key gets a plain HTTP status and never a socket.
 * Every message is authorized again with its cost (the key may have been revoked, the app or key
 * may be over its limits) and metered like an HTTP request; notifications are charged as bytes
 * out. The messages of one socket are answered in order, one at a time. Everything a socket holds
 * is bounded: its subscriptions, its queued messages and its send buffer (a client that reads too
 * slowly is closed with 1013); and a key holds a bounded number of sockets.
 */
import { randomBytes } from 'node:crypto';
import websocket from '@fastify/websocket';
import type { Block } from '@polis/ledger';
import { blockHash, bloomMayContain } from '@polis/ledger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { invalidParams, RpcCode, RpcError } from '../rpc/errors.js';
import { formatBlock, formatLog } from '../rpc/format.js';
import { data, parseAddress, parseData } from '../rpc/hex.js';
import { authenticate, hasScope, isDenial, methodDenied, WRITE_METHODS } from './access.js';
import { auditRpc } from './audit.js';
import type { Authorized, Caller, GatewayContext, GatewayLedger } from './context.js';
import { retryAfterSeconds } from './context.js';
import type { CommittedEvent } from './feed.js';
import { FEED_LISTENERS_MAX } from './feed.js';
import { bearer } from './http.js';
import { dispatch, errorResponse, type JsonRpcId, type MethodResolver, requestCount, tooDeep } from './jsonrpc.js';

/** Subscriptions one socket may hold; one more is refused with -32005. */
export const WS_SUBSCRIPTIONS_PER_SOCKET_MAX = 100;
/** Sockets one API key may hold open at once; one more upgrade is refused with HTTP 429. */
export const WS_SOCKETS_PER_KEY_MAX = 100;
/**
 * Bytes a socket may have waiting to be sent. A client that reads slower than it is answered or
 * notified is closed with 1013 (try again later) beyond this, instead of buffering without end.
 */
export const WS_SEND_BUFFER_MAX_BYTES = 16 * 1024 * 1024;
/**
 * Messages of one socket that wait for the one being answered. The socket stops reading at this
 * many; a message that arrives anyway (it was already read) is refused with -32005.
 */
export const WS_QUEUED_MESSAGES_MAX = 64;
/**
 * Bytes of queued messages at which a socket stops reading. What was read already still queues,
 * so a socket holds at most this, one message (`bodyLimitBytes`) and one read of the network.
 */
export const WS_QUEUED_BYTES_MAX = 4 * 1024 * 1024;
/** Addresses, and topics per position, one `logs` filter may list. */
export const WS_LOG_FILTER_VALUES_MAX = 1_000;
/** On shutdown, time the clients get to answer the close frame before their sockets are cut. */
export const WS_CLOSE_GRACE_MS = 1_000;
/** WebSocket close codes (RFC 6455 section 7.4.1). */
export const WsCloseCode = {
  /** The node is shutting down. */
  GOING_AWAY: 1001,
  /** The key was revoked or may no longer use this app. */
  POLICY_VIOLATION: 1008,
  /** The server failed unexpectedly. */
  INTERNAL_ERROR: 1011,
  /** The client reads too slowly: try again later. */
  TRY_AGAIN_LATER: 1013,
} as const;

/** A close reason is at most 123 bytes (RFC 6455 section 5.5: control frames carry 125 bytes). */
const CLOSE_REASON_MAX_BYTES = 123;

const SUBSCRIPTION_KINDS = 'newHeads, logs or newPendingTransactions';

/** What the upgrade check found, handed from the preValidation hook to the socket handler. */
type Admitted = { appId: string; presented: string; caller: Caller; auth: Authorized; ledger: GatewayLedger };

/**
 * A parsed `logs` filter: lower-case 0x addresses and topics (an empty set or null matches any),
 * and the same as bytes in groups, one of each group must be in a block's bloom for it to match.
 */
type LogFilter = { addresses: Set<string>; topics: (Set<string> | null)[]; bloomGroups: Uint8Array[][] };

/** One subscription of a socket; `off` is set once it listens to the feed. */
type Subscription = { off?: () => void };

function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= CLOSE_REASON_MAX_BYTES) return reason;
  // Cut on a character boundary: decoding a cut multi-byte character would grow the string.
  let out = '';
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > CLOSE_REASON_MAX_BYTES - 3) break;
    out += ch;
  }
  return `${out}...`;
}

function idOf(item: unknown): JsonRpcId {
  if (typeof item !== 'object' || item === null || Array.isArray(item) || !('id' in item)) return null;
  const id = (item as { id: unknown }).id;
  const valid = id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  return valid ? (id as JsonRpcId) : null;
}

/** A JSON-RPC notification (a request without an id): never answered, not even with an error. */
function isNotification(item: unknown): boolean {
  return typeof item === 'object' && item !== null && !Array.isArray(item) && 'method' in item && !('id' in item);
}

/**
 * The same error for every request of a payload, with each request's id (notifications get none);
 * undefined when there is nothing to answer.
 */
function refuseAll(payload: unknown, parsed: boolean, code: number, message: string, extra?: unknown) {
  if (!parsed) return errorResponse(null, code, message, extra);
  if (!Array.isArray(payload)) return isNotification(payload) ? undefined : errorResponse(idOf(payload), code, message, extra);
  if (payload.length === 0) return errorResponse(null, code, message, extra);
  const out = payload.filter((item) => !isNotification(item)).map((item) => errorResponse(idOf(item), code, message, extra));
  return out.length > 0 ? out : undefined;
}

/** Parses a `logs` subscription filter; throws -32602 naming the field that is wrong. */
export function parseLogFilter(value: unknown): LogFilter {
  const filter: LogFilter = { addresses: new Set(), topics: [], bloomGroups: [] };
  if (value === undefined || value === null) return filter;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidParams('the logs filter must be an object such as {"address": "0x...", "topics": ["0x..."]}');
  }
  const f = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(f)) {
    if (k === 'address' || k === 'topics') continue;
    if (k === 'fromBlock' || k === 'toBlock') {
      // "From now on" is what a subscription does anyway; anything else asks for the past.
      if (v === undefined || v === null || v === 'latest' || v === 'pending') continue;
      throw invalidParams(
        `filter.${k}: a logs subscription delivers the logs of new blocks only; read past logs with eth_getLogs`,
      );
    }
    if (k === 'blockHash') {
      throw invalidParams('filter.blockHash: a logs subscription delivers the logs of new blocks only; use eth_getLogs');
    }
    throw invalidParams(`filter.${k} is not a field of a logs filter: use "address" and "topics"`);
  }
  if (f.address !== undefined && f.address !== null) {
    const list = Array.isArray(f.address) ? f.address : [f.address];
    if (list.length > WS_LOG_FILTER_VALUES_MAX) {
      throw invalidParams(`filter.address lists ${list.length} addresses; at most ${WS_LOG_FILTER_VALUES_MAX}`);
    }
    const bytes = list.map((a, i) => parseAddress(a, Array.isArray(f.address) ? `filter.address[${i}]` : 'filter.address'));
    for (const b of bytes) filter.addresses.add(data(b));
    if (bytes.length > 0) filter.bloomGroups.push(bytes);
  }
  if (f.topics !== undefined && f.topics !== null) {
    if (!Array.isArray(f.topics)) throw invalidParams('filter.topics must be an array of topics, arrays of topics or nulls');
    if (f.topics.length > 4) throw invalidParams(`filter.topics has ${f.topics.length} positions; a log has at most 4`);
    filter.topics = f.topics.map((t: unknown, i) => {
      if (t === null) return null;
      let bytes: Uint8Array[];
      if (typeof t === 'string') bytes = [parseData(t, `filter.topics[${i}]`, 32)];
      else if (Array.isArray(t)) {
        if (t.length > WS_LOG_FILTER_VALUES_MAX) {
          throw invalidParams(`filter.topics[${i}] lists ${t.length} topics; at most ${WS_LOG_FILTER_VALUES_MAX}`);
        }
        bytes = t.map((x: unknown, j) => parseData(x, `filter.topics[${i}][${j}]`, 32));
      } else {
        throw invalidParams(`filter.topics[${i}] must be a 32-byte topic, an array of topics, or null`);
      }
      // An empty list matches anything, as in eth_getLogs.
      if (bytes.length === 0) return null;
      filter.bloomGroups.push(bytes);
      return new Set(bytes.map((b) => data(b)));
    });
  }
  return filter;
}

// One block reaches every subscription of every socket: its JSON is built once.
const headJsonOf = new WeakMap<CommittedEvent, string>();
const hashOf = new WeakMap<Block, Uint8Array>();

function hashOfBlock(block: Block): Uint8Array {
  let h = hashOf.get(block);
  if (!h) {
    h = blockHash(block.header);
    hashOf.set(block, h);
  }
  return h;
}

/** A block header as `newHeads` delivers it: `eth_getBlockByNumber` without the transactions. */
function headJson(e: CommittedEvent): string {
  let json = headJsonOf.get(e);
  if (json === undefined) {
    const { transactions: _, ...head } = formatBlock(e.block, null, e.txHashes);
    json = JSON.stringify(head);
    headJsonOf.set(e, json);
  }
  return json;
}

function notification(subscription: string, resultJson: string): string {
  return `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"${subscription}","result":${resultJson}}}`;
}

/** One open socket: its key, its subscriptions and its queue of messages. */
class Session {
  readonly #ctx: GatewayContext;
  readonly #ws: WebSocket;
  readonly #admitted: Admitted;
  #auth: Authorized;
  /** The access records' version the key was last checked against. */
  #checkedVersion: number;
  readonly #subs = new Map<string, Subscription>();
  /** Subscriptions made by the message being answered: they listen once the answer is sent. */
  #toAttach: Array<() => void> = [];
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #busy = false;
  #closing = false;
  readonly #opened = Date.now();
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  constructor(ctx: GatewayContext, ws: WebSocket, admitted: Admitted) {
    this.#ctx = ctx;
    this.#ws = ws;
    this.#admitted = admitted;
    this.#auth = admitted.auth;
    this.#checkedVersion = ctx.access.current().version;
    this.closed = new Promise((done) => ws.once('close', () => done()));
    ws.on('message', (raw, isBinary) => this.#onMessage(raw, isBinary));
    ws.once('close', (code) => {
      this.#closing = true;
      this.#dropSubscriptions();
      this.#queue.length = 0;
      this.#queuedBytes = 0;
      ctx.logger.info(
        {
          transport: 'ws',
          app: admitted.appId,
          key: this.#auth.principal.key.id,
          ip: admitted.caller.ip,
          code,
          seconds: Math.round((Date.now() - this.#opened) / 1000),
        },
        'websocket closed',
      );
    });
  }

  get #keyId(): string {
    return this.#auth.principal.key.id;
  }

  /** Closes the socket: no more answers or notifications, and its subscriptions stop listening. */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#dropSubscriptions();
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    try {
      this.#ws.close(code, truncateReason(reason));
    } catch (err) {
      this.#ctx.logger.warn({ err: String(err), app: this.#admitted.appId, key: this.#keyId }, 'websocket close failed');
      this.#ws.terminate();
    }
  }

  /** Cuts the socket without a close handshake. */
  terminate(): void {
    this.#closing = true;
    this.#dropSubscriptions();
    this.#ws.terminate();
  }

  #dropSubscriptions(): void {
    for (const sub of this.#subs.values()) sub.off?.();
    this.#subs.clear();
    this.#toAttach = [];
  }

  /** Sends a text frame, charges its bytes, and closes a socket whose client does not keep up. */
  #send(text: string): void {
    if (this.#closing || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(text);
    this.#ctx.chargeOut(this.#auth, Buffer.byteLength(text));
    if (this.#ws.bufferedAmount > WS_SEND_BUFFER_MAX_BYTES) {
      this.#ctx.logger.warn(
        { transport: 'ws', app: this.#admitted.appId, key: this.#keyId, buffered: this.#ws.bufferedAmount },
        'websocket client reads too slowly; closing it',
      );
      this.close(
        WsCloseCode.TRY_AGAIN_LATER,
        `the client reads too slowly: over ${WS_SEND_BUFFER_MAX_BYTES} bytes waited to be sent`,
      );
    }
  }

  #onMessage(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.#closing) return;
    const buf = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    if (isBinary) {
      this.#send(
        JSON.stringify(errorResponse(null, RpcCode.INVALID_REQUEST, 'invalid request: send JSON-RPC as text frames, not binary')),
      );
      return;
    }
    if (this.#queue.length >= WS_QUEUED_MESSAGES_MAX) {
      // Read before the socket paused: refused, so that what a socket holds stays bounded.
      let payload: unknown;
      let parsed = true;
      try {
        payload = JSON.parse(buf.toString('utf8'));
      } catch {
        parsed = false;
      }
      const answer = refuseAll(
        payload,
        parsed,
        RpcCode.LIMIT_EXCEEDED,
        `this socket has ${WS_QUEUED_MESSAGES_MAX} messages waiting to be answered, the most it queues: wait for answers before sending more`,
      );
      if (answer) this.#send(JSON.stringify(answer));
      return;
    }
    this.#queue.push(buf);
    this.#queuedBytes += buf.length;
    if (this.#queue.length >= WS_QUEUED_MESSAGES_MAX || this.#queuedBytes >= WS_QUEUED_BYTES_MAX) this.#ws.pause();
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (!this.#closing) {
        const next = this.#queue.shift();
        if (next === undefined) break;
        this.#queuedBytes -= next.length;
        if (this.#ws.isPaused && this.#queue.length < WS_QUEUED_MESSAGES_MAX / 2 && this.#queuedBytes < WS_QUEUED_BYTES_MAX / 2) {
          this.#ws.resume();
        }
        try {
          await this.#answer(next);
        } catch (err) {
          // dispatch answers every method failure itself; this is a bug in this module.
          this.#ctx.logger.error({ err, app: this.#admitted.appId, key: this.#keyId }, 'websocket message failed');
          this.#send(JSON.stringify(errorResponse(null, RpcCode.INTERNAL_ERROR, 'internal error: see the node log')));
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  async #answer(buf: Buffer): Promise<void> {
    const ctx = this.#ctx;
    const { appId, presented, caller, ledger } = this.#admitted;
    const bytes = buf.length;
    let payload: unknown;
    let parsed = true;
    try {
      payload = JSON.parse(buf.toString('utf8'));
    } catch {
      parsed = false;
    }
    const n = parsed ? requestCount(payload) : 1;
    const auth = ctx.authorize(appId, presented, caller, { requests: n, txs: 0, bytesIn: bytes });
    if (!auth.ok) {
      const extra = auth.retryAfterMs !== undefined ? { retryAfter: retryAfterSeconds(auth.retryAfterMs) } : undefined;
      const answer = refuseAll(payload, parsed, auth.code, auth.message, extra);
      if (answer) this.#send(JSON.stringify(answer));
      // A key that is no longer good for this app stays so: the socket closes after the answer.
      if (auth.status !== 429) this.close(WsCloseCode.POLICY_VIOLATION, auth.message);
      return;
    }
    this.#auth = auth;
    this.#checkedVersion = ctx.access.current().version;
    ctx.meter.request(appId, auth.principal.key.id, n, bytes, 'ws');
    if (!parsed) {
      this.#send(JSON.stringify(errorResponse(null, RpcCode.PARSE_ERROR, 'parse error: the message is not valid JSON')));
      return;
    }
    if (tooDeep(payload, ctx.config.jsonDepthMax)) {
      this.#send(
        JSON.stringify(
          errorResponse(null, RpcCode.PARSE_ERROR, `the message nests deeper than ${ctx.config.jsonDepthMax} levels`),
        ),
      );
      return;
    }
    const audited = await auditRpc(ctx.audit, auth.principal.key, appId, payload, 'ws', WRITE_METHODS);
    if (!audited.ok) {
      const code = audited.status === 403 ? RpcCode.FORBIDDEN : RpcCode.INTERNAL_ERROR;
      const refused = refuseAll(payload, true, code, audited.message, undefined);
      if (refused) this.#send(JSON.stringify(refused));
      return;
    }
    const answer = await dispatch(this.#resolver(ledger, auth), payload, ctx.logger, {
      timeoutMs: ctx.config.requestTimeoutMs,
      batchMax: ctx.config.batchMax,
    });
    if (answer !== undefined) this.#send(JSON.stringify(answer));
    // The client knows the subscription ids now, so their notifications can follow.
    const attach = this.#toAttach;
    this.#toAttach = [];
    for (const fn of attach) {
      if (this.#closing) break;
      fn();
    }
  }

  /** The ledger's methods for this key, with eth_subscribe and eth_unsubscribe. */
  #resolver(ledger: GatewayLedger, auth: Authorized): MethodResolver {
    const base = this.#ctx.methodsFor(ledger, auth, 'ws');
    const key = auth.principal.key;
    return (name) => {
      if (name === 'eth_subscribe') {
        return (params) => {
          const denied = methodDenied(key, name);
          if (denied) throw new RpcError(RpcCode.FORBIDDEN, denied);
          return this.#subscribe(ledger, params);
        };
      }
      if (name === 'eth_unsubscribe') {
        return (params) => {
          // A key that may subscribe may always unsubscribe.
          const denied = methodDenied(key, name) && methodDenied(key, 'eth_subscribe');
          if (denied) throw new RpcError(RpcCode.FORBIDDEN, denied);
          const id = params[0];
          if (typeof id !== 'string') throw invalidParams('eth_unsubscribe takes the subscription id, a 0x string');
          const sub = this.#subs.get(id);
          if (!sub) return false;
          sub.off?.();
          this.#subs.delete(id);
          return true;
        };
      }
      return base(name);
    };
  }

  #subscribe(ledger: GatewayLedger, params: unknown[]): string {
    const [kind, options, ...rest] = params;
    if (this.#subs.size >= WS_SUBSCRIPTIONS_PER_SOCKET_MAX) {
      throw new RpcError(
        RpcCode.LIMIT_EXCEEDED,
        `this socket has ${WS_SUBSCRIPTIONS_PER_SOCKET_MAX} subscriptions, the most one socket may hold: eth_unsubscribe some, or open another socket`,
      );
    }
    if (ledger.feed.listeners >= FEED_LISTENERS_MAX) {
      throw new RpcError(
        RpcCode.LIMIT_EXCEEDED,
        `this ledger has ${FEED_LISTENERS_MAX} live subscriptions, the most it serves; try again later or another node`,
      );
    }
    if (rest.length > 0) throw invalidParams(`eth_subscribe takes at most 2 parameters, got ${params.length}`);
    const id = data(randomBytes(16));
    let listen: () => () => void;
    if (kind === 'newHeads') {
      if (options !== undefined && options !== null) throw invalidParams('newHeads takes no options');
      listen = () => ledger.feed.onBlock((e) => this.#deliver(() => this.#send(notification(id, headJson(e)))));
    } else if (kind === 'logs') {
      const filter = parseLogFilter(options);
      listen = () => ledger.feed.onBlock((e) => this.#deliver(() => this.#sendLogs(id, filter, e)));
    } else if (kind === 'newPendingTransactions') {
      if (options === true) {
        throw invalidParams(
          'newPendingTransactions delivers transaction hashes only; read a transaction with eth_getTransactionByHash',
        );
      }
      if (options !== undefined && options !== null && options !== false) {
        throw invalidParams('newPendingTransactions takes no options');
      }
      listen = () => ledger.feed.onPending((hash) => this.#deliver(() => this.#send(notification(id, `"${data(hash)}"`))));
    } else {
      throw invalidParams(`unknown subscription ${JSON.stringify(kind)}: use ${SUBSCRIPTION_KINDS}`);
    }
    const sub: Subscription = {};
    this.#subs.set(id, sub);
    this.#toAttach.push(() => {
      // Unsubscribed by a later request of the same batch: never listens.
      if (this.#subs.get(id) !== sub) return;
      try {
        sub.off = listen();
      } catch (err) {
        // The feed filled up between the check above and now.
        this.#subs.delete(id);
        this.#ctx.logger.warn({ err: String(err), app: this.#admitted.appId, key: this.#keyId }, 'subscription dropped');
      }
    });
    return id;
  }

  /** Runs a feed event's delivery, unless the key no longer holds; never throws into the feed. */
  #deliver(send: () => void): void {
    if (this.#closing) return;
    try {
      if (!this.#keyStillGood()) return;
      send();
    } catch (err) {
      this.#ctx.logger.error({ err, app: this.#admitted.appId, key: this.#keyId }, 'websocket notification failed');
    }
  }

  /**
   * Whether the socket's key is still good for its app, checked again whenever the access records
   * change: a socket that only listens stops hearing within `reloadMs` of a revocation.
   */
  #keyStillGood(): boolean {
    const snap = this.#ctx.access.current();
    if (snap.version === this.#checkedVersion) return true;
    const { appId, presented, caller } = this.#admitted;
    const p = authenticate(snap, appId, presented, caller);
    if (isDenial(p)) {
      this.close(WsCloseCode.POLICY_VIOLATION, p.message);
      return false;
    }
    this.#checkedVersion = snap.version;
    return true;
  }

  #sendLogs(id: string, filter: LogFilter, e: CommittedEvent): void {
    // The header's bloom rules out most blocks without looking at their logs.
    const bloom = e.block.header.logsBloom;
    if (filter.bloomGroups.some((group) => !group.some((v) => bloomMayContain(bloom, v)))) return;
    const hash = hashOfBlock(e.block);
    let logIndex = 0;
    for (const [txIndex, r] of e.receipts.entries()) {
      for (const log of r.logs) {
        if (this.#closing) return;
        if (logMatches(filter, log)) {
          const json = formatLog(log, { blockHash: hash, height: e.height, txHash: r.txHash, txIndex, logIndex });
          this.#send(notification(id, JSON.stringify(json)));
        }
        logIndex++;
      }
    }
  }
}

function logMatches(filter: LogFilter, log: { address: Uint8Array; topics: Uint8Array[] }): boolean {
  if (filter.addresses.size > 0 && !filter.addresses.has(data(log.address))) return false;
  for (const [i, options] of filter.topics.entries()) {
    if (options === null) continue;
    const t = log.topics[i];
    if (!t || !options.has(data(t))) return false;
  }
  return true;
}

/**
 * Registers the WebSocket endpoint on `app` (before it listens). Returns the function that closes
 * every open socket (1001) and so removes every feed listener they hold; sockets whose clients do
 * not answer the close within `WS_CLOSE_GRACE_MS` are cut.
 */
export async function registerWebSocket(app: FastifyInstance, ctx: GatewayContext): Promise<() => Promise<void>> {
  const { logger } = ctx;
  await app.register(websocket, {
    options: { maxPayload: ctx.config.bodyLimitBytes },
    errorHandler: (error, socket) => {
      // A client that vanishes mid-frame, a frame over maxPayload, ...: the client's problem, not ours.
      logger.warn({ transport: 'ws', err: error.message }, 'websocket error; closing the socket');
      socket.terminate();
    },
  });

  const sessions = new Set<Session>();
  /**
   * Open (and opening) sockets per key id; an entry goes when its count reaches zero, so it holds
   * at most one entry per open connection.
   */
  const socketsPerKey = new Map<string, number>();
  const admitted = new WeakMap<FastifyRequest, Admitted>();
  let shuttingDown = false;

  const refuse = (reply: FastifyReply, status: number, code: number, message: string, retryAfterMs?: number) => {
    if (retryAfterMs !== undefined) reply.header('retry-after', String(retryAfterSeconds(retryAfterMs)));
    return reply.code(status).send(errorResponse(null, code, message));
  };

  // Runs before the upgrade: a refused client gets a plain HTTP answer and no socket.
  const admit = async (req: FastifyRequest<{ Params: { app: string; key?: string } }>, reply: FastifyReply) => {
    if (!req.ws) {
      return reply
        .code(426)
        .header('upgrade', 'websocket')
        .send({
          error: {
            code: 'UPGRADE_REQUIRED',
            message: 'GET /v1/{appId}/{apiKey} opens a WebSocket (send "Upgrade: websocket"); send JSON-RPC over HTTP with POST',
          },
        });
    }
    if (shuttingDown) return refuse(reply, 503, RpcCode.LIMIT_EXCEEDED, 'the node is shutting down: connect to another node');
    const appId = req.params.app;
    const presented = req.params.key ?? bearer(req);
    const caller: Caller = { ip: req.ip, origin: req.headers.origin };
    const auth = ctx.authorize(appId, presented, caller, { requests: 1, txs: 0, bytesIn: 0 });
    if (!auth.ok) return refuse(reply, auth.status, auth.code, auth.message, auth.retryAfterMs);
    const key = auth.principal.key;
    if (!hasScope(key, 'read')) {
      return refuse(
        reply,
        403,
        RpcCode.FORBIDDEN,
        `the API key ${key.id} has scopes [${key.scopes.join(', ')}]; a WebSocket needs "read"`,
      );
    }
    const ledger = ctx.ledgers.get(appId);
    if (!ledger || presented === undefined) {
      // authorize refuses both; this keeps the types honest.
      return refuse(reply, 404, RpcCode.RESOURCE_NOT_FOUND, `this node serves no app "${appId}"`);
    }
    const open = socketsPerKey.get(key.id) ?? 0;
    if (open >= WS_SOCKETS_PER_KEY_MAX) {
      return refuse(
        reply,
        429,
        RpcCode.LIMIT_EXCEEDED,
        `the API key ${key.id} has ${WS_SOCKETS_PER_KEY_MAX} open WebSockets, the most one key may hold: close some, or use another key`,
        1_000,
      );
    }
    // The slot is held from now until the connection closes, whether or not the upgrade completes.
    socketsPerKey.set(key.id, open + 1);
    req.raw.socket.once('close', () => {
      const left = (socketsPerKey.get(key.id) ?? 1) - 1;
      if (left <= 0) socketsPerKey.delete(key.id);
      else socketsPerKey.set(key.id, left);
    });
    ctx.meter.request(appId, key.id, 1, 0, 'ws');
    admitted.set(req, { appId, presented, caller, auth, ledger });
  };

  const connect = (socket: WebSocket, req: FastifyRequest) => {
    const a = admitted.get(req);
    admitted.delete(req);
    if (!a) {
      // The route's preValidation hook always admits first; reaching here without it is a bug.
      logger.error({ route: req.routeOptions.url }, 'websocket opened without an admission check');
      socket.close(WsCloseCode.INTERNAL_ERROR, 'internal error');
      return;
    }
    if (shuttingDown) {
      socket.close(WsCloseCode.GOING_AWAY, 'the node is shutting down: connect to another node');
      return;
    }
    const session = new Session(ctx, socket, a);
    sessions.add(session);
    void session.closed.then(() => sessions.delete(session));
    logger.info(
      { transport: 'ws', route: req.routeOptions.url, app: a.appId, key: a.auth.principal.key.id, ip: a.caller.ip },
      'websocket opened',
    );
  };

  for (const path of ['/v1/:app/:key', '/v1/:app']) {
    app.get<{ Params: { app: string; key?: string } }>(path, { websocket: true, preValidation: admit }, connect);
  }

  return async () => {
    shuttingDown = true;
    const open = [...sessions];
    for (const s of open) s.close(WsCloseCode.GOING_AWAY, 'the node is shutting down: connect to another node');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((s) => s.closed)),
      new Promise<void>((done) => {
        timer = setTimeout(done, WS_CLOSE_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
    for (const s of sessions) s.terminate();
    await Promise.all(open.map((s) => s.closed));
  };
}
