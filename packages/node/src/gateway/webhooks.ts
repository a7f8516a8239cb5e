/**
 * Webhooks: durable, signed, retried deliveries of ledger events to an app's `notifyUrl`.
 *
 * An app's admin key subscribes a URL to one kind of event (rest/webhooks.ts): the logs that
 * match an `eth_getLogs`-style filter, every committed block, or the outcome of transactions.
 * For each committed block the matching events become deliveries, one per log, block or
 * transaction, stored in LMDB (`<gateway dataDir>/webhooks`) in the same durable write as the
 * ledger's cursor (the last height whose events were enqueued). So a delivery is never lost to a
 * crash, and none is made twice: its id is derived from the event, `<hookId>:<height>:<index>`
 * (index: the block-wide log index, the transaction index, or 0 for a block), and a block's
 * events are enqueued exactly when the cursor moves past it. On `open`, pending deliveries resume
 * and the blocks committed while the gateway was down are caught up, from cursor+1 to the head.
 *
 * A delivery is `POST notifyUrl` with the JSON body
 * `{"id", "hookId", "app", "type": "logs"|"blocks"|"tx", "createdAt": <unix ms>, "data": {...}}`:
 * - logs: the log as `eth_getLogs` returns it;
 * - blocks: `{number, hash, parentHash, timestamp (seconds), txCount, gasUsed}`;
 * - tx: `{hash, status: "success"|"failed", blockNumber, blockHash, transactionIndex, gasUsed,
 *   from, to, contractAddress}`.
 * Numbers in `data` are 0x-hex quantities, as in JSON-RPC. The body of a delivery is fixed when it
 * is enqueued: every attempt sends the same bytes.
 *
 * Headers, so a receiver can check that a delivery comes from this gateway and is fresh:
 * - `content-type: application/json`
 * - `x-polis-delivery: <delivery id>` (the same on every retry: deduplicate on it)
 * - `x-polis-timestamp: <unix ms of this attempt>`
 * - `x-polis-signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>`, where the key is
 *   the hook's `secret` string exactly as it was returned on creation (its UTF-8 bytes), timestamp
 *   is the header's decimal text and body is the exact raw request body. Compare in constant time
 *   and refuse stale timestamps; `verifyWebhookSignature` does both.
 *
 * A 2xx answer ends a delivery (`delivered`). Anything else (another status, including redirects,
 * which are not followed; no answer within `timeoutMs`; a connection error) is retried after
 * `retryBaseMs * 2^(attempt-1)`, capped at `retryMaxMs`, until `maxAttempts` tries, after which the
 * delivery is kept as `failed`. Delivery is at least once: an attempt cut short by a shutdown, or a
 * crash between the receiver's answer and its record, is sent again after the restart.
 *
 * Deliveries to one hook go out in order and one at a time: a failing delivery holds back the
 * hook's later ones until it is delivered or fails, and a slow receiver holds back only its own
 * hooks. Every queue is bounded: hooks per app, pending deliveries per hook (events beyond are
 * dropped, counted and shown in the deliveries list), finished deliveries kept per hook, and
 * requests in flight across all hooks.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdirSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import { bytesToHex, bytesToUtf8, utf8ToBytes } from '@polis/core';
import { type Block, blockHash, type LedgerDatabase, type LedgerTable, openLedgerDatabase, type Receipt } from '@polis/ledger';
import type { Logger } from 'pino';
import { formatLog } from '../rpc/format.js';
import { data, quantity } from '../rpc/hex.js';
import type { GatewayContext, GatewayLedger } from './context.js';
import type { CommittedEvent } from './feed.js';
import { type AnyRoute, RestError } from './rest/route.js';
import {
  type CreateWebhookBody,
  type DeliveriesJson,
  type DeliveryJson,
  HOOKS_PER_APP_MAX,
  type WebhookEvents,
  type WebhookJson,
  type WebhookService,
  webhookRoutes,
} from './rest/webhooks.js';

export { HOOKS_PER_APP_MAX } from './rest/webhooks.js';

/** Deliveries waiting per hook; events beyond are dropped and counted, so a dead receiver cannot fill the disk. */
export const PENDING_PER_HOOK_MAX = 1_000;
/** Finished (delivered or failed) deliveries kept per hook for the deliveries list; older ones are removed. */
export const FINISHED_PER_HOOK_MAX = 100;
/** Requests in flight across all hooks. */
export const IN_FLIGHT_MAX = 32;
/** Blocks enqueued per LMDB transaction while catching up. */
export const SCAN_BATCH_BLOCKS = 64;
/** The cursor is written at least every this many blocks, even when no event matched. */
export const CURSOR_PERSIST_BLOCKS = 128;
/** Committed blocks from the feed kept until the scanner enqueues them (older ones are read from the chain store). */
export const RECENT_BLOCKS_MAX = 64;
/** Characters of an error kept in a delivery record. */
const ERROR_TEXT_MAX = 300;
/** How old (or how far in the future) `verifyWebhookSignature` accepts a timestamp by default. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

// Fixed-width decimal parts make the LMDB key order the event order.
const HEIGHT_DIGITS = 12;
const INDEX_DIGITS = 6;
const INDEX_LIMIT = 10 ** INDEX_DIGITS;

/** Limits of `Webhooks.open`; tests lower them to reach them quickly. */
export type WebhooksOptions = {
  /** At most `PENDING_PER_HOOK_MAX`. */
  pendingPerHookMax?: number;
};

type EventType = WebhookEvents['type'];
type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** A hook as stored. The secret is kept because every delivery is signed with it. */
type HookRecord = {
  id: string;
  app: string;
  notifyUrl: string;
  events: WebhookEvents;
  description?: string;
  secret: string;
  createdAt: number;
  fromHeight: number;
  dropped: number;
  lastDroppedAt: number | null;
};

/** A delivery as stored; `body` is the exact request body of every attempt. */
type DeliveryRecord = {
  id: string;
  hookId: string;
  type: EventType;
  height: number;
  createdAt: number;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  finishedAt: number | null;
};

type Matcher =
  | { type: 'logs'; addresses: Set<string> | null; topics: (Set<string> | null)[] }
  | { type: 'blocks' }
  | { type: 'tx'; hashes: Set<string> | null; from: string | null; to: string | null };

type HookState = {
  hook: HookRecord;
  matcher: Matcher;
  /** Origin of the notify URL, for logs (the path or query may hold a receiver's token). */
  origin: string;
  pending: number;
  finished: number;
  busy: boolean;
  deleted: boolean;
  timer: NodeJS.Timeout | undefined;
  abort: AbortController | undefined;
};

type LedgerState = {
  ledger: GatewayLedger;
  cursor: number;
  persisted: number;
  scanning: boolean;
  again: boolean;
  recent: Map<number, CommittedEvent>;
  unsubscribe: () => void;
};

type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/** A block and its receipts, from the feed or the chain store. */
type BlockData = { height: number; block: Block; receipts: Receipt[] };

type NewDelivery = { st: HookState; height: number; index: number; type: EventType; data: unknown };

/** The `x-polis-signature` value of a delivery: `sha256=` and the hex HMAC-SHA256 of `timestamp.body` keyed with the secret. */
export function signWebhook(secret: string, timestamp: number | string, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

/** What `verifyWebhookSignature` checks. */
export type VerifyWebhookParameters = {
  /** The hook's secret, as returned when it was created. */
  secret: string;
  /** The `x-polis-timestamp` header. */
  timestamp: string | undefined;
  /** The exact raw request body. */
  body: string | Uint8Array;
  /** The `x-polis-signature` header. */
  signature: string | undefined;
  /** How far the timestamp may be from `now` (default `SIGNATURE_TOLERANCE_MS`; Infinity to skip). */
  toleranceMs?: number;
  now?: number;
};

/** Whether a delivery's signature is the gateway's over its timestamp and exact body, and its timestamp is fresh. */
export function verifyWebhookSignature(p: VerifyWebhookParameters): boolean {
  if (p.timestamp === undefined || p.signature === undefined || !/^\d{1,16}$/.test(p.timestamp)) return false;
  const age = Math.abs((p.now ?? Date.now()) - Number(p.timestamp));
  if (age > (p.toleranceMs ?? SIGNATURE_TOLERANCE_MS)) return false;
  const expected = Buffer.from(signWebhook(p.secret, p.timestamp, p.body));
  const given = Buffer.from(p.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The exponential backoff before try `attempt + 1`, after `attempt` (>= 1) failed ones. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 52));
}

const encode = (value: unknown) => utf8ToBytes(JSON.stringify(value));
const decode = <T>(bytes: Uint8Array): T => JSON.parse(bytesToUtf8(bytes)) as T;

function deliveryKey(hookId: string, height: number, index: number): Uint8Array {
  if (!(index >= 0 && index < INDEX_LIMIT)) throw new Error(`event index ${index} is out of range for a delivery key`);
  return utf8ToBytes(`${hookId}/${String(height).padStart(HEIGHT_DIGITS, '0')}/${String(index).padStart(INDEX_DIGITS, '0')}`);
}

/** The key range of one hook's deliveries: `<hookId>/` up to `<hookId>0` ('0' follows '/'). */
function hookRange(hookId: string): [Uint8Array, Uint8Array] {
  return [utf8ToBytes(`${hookId}/`), utf8ToBytes(`${hookId}0`)];
}

const ALL: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array([0xff])];

function lower(values: string | string[] | undefined): Set<string> | null {
  if (values === undefined) return null;
  return new Set((Array.isArray(values) ? values : [values]).map((v) => v.toLowerCase()));
}

function matcherOf(events: WebhookEvents): Matcher {
  switch (events.type) {
    case 'logs':
      return {
        type: 'logs',
        addresses: lower(events.address),
        topics: (events.topics ?? []).map((t) => (t === null ? null : lower(t))),
      };
    case 'blocks':
      return { type: 'blocks' };
    case 'tx':
      return {
        type: 'tx',
        hashes: lower(events.hashes),
        from: events.from?.toLowerCase() ?? null,
        to: events.to?.toLowerCase() ?? null,
      };
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

function errorText(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = e?.cause?.code ?? e?.cause?.message;
  const text = cause ? `cannot reach the receiver: ${cause}` : `cannot reach the receiver: ${e?.message ?? String(err)}`;
  return text.slice(0, ERROR_TEXT_MAX);
}

function deliveryJson(r: DeliveryRecord): DeliveryJson {
  return {
    id: r.id,
    type: r.type,
    height: r.height,
    status: r.status,
    attempts: r.attempts,
    createdAt: r.createdAt,
    lastAttemptAt: r.lastAttemptAt,
    lastStatus: r.lastStatus,
    lastError: r.lastError,
    nextAttemptAt: r.nextAttemptAt,
    finishedAt: r.finishedAt,
  };
}

/** The events of `b` that `m` matches, in block order, with their block-wide index. */
function matchEvents(m: Matcher, b: BlockData, hash: Uint8Array): { index: number; type: EventType; data: unknown }[] {
  const out: { index: number; type: EventType; data: unknown }[] = [];
  const h = b.block.header;
  if (m.type === 'blocks') {
    out.push({
      index: 0,
      type: 'blocks',
      data: {
        number: quantity(h.height),
        hash: data(hash),
        parentHash: data(h.parentHash),
        timestamp: quantity(Math.floor(h.time / 1000)),
        txCount: quantity(b.block.txs.length),
        gasUsed: quantity(h.gasUsed),
      },
    });
    return out;
  }
  if (m.type === 'tx') {
    b.receipts.forEach((r, txIndex) => {
      if (m.hashes && !m.hashes.has(bytesToHex(r.txHash))) return;
      if (m.from && bytesToHex(r.from) !== m.from) return;
      if (m.to && (r.to === null || bytesToHex(r.to) !== m.to)) return;
      out.push({
        index: txIndex,
        type: 'tx',
        data: {
          hash: data(r.txHash),
          status: r.status === 1 ? 'success' : 'failed',
          blockNumber: quantity(b.height),
          blockHash: data(hash),
          transactionIndex: quantity(txIndex),
          gasUsed: quantity(r.gasUsed),
          from: data(r.from),
          to: r.to ? data(r.to) : null,
          contractAddress: r.contractAddress ? data(r.contractAddress) : null,
        },
      });
    });
    return out;
  }
  let logIndex = 0;
  b.receipts.forEach((r, txIndex) => {
    for (const log of r.logs) {
      const matches =
        (!m.addresses || m.addresses.has(bytesToHex(log.address))) &&
        m.topics.every((options, i) => {
          if (options === null) return true;
          const t = log.topics[i];
          return t !== undefined && options.has(bytesToHex(t));
        });
      if (matches) {
        out.push({
          index: logIndex,
          type: 'logs',
          data: formatLog(log, { blockHash: hash, height: b.height, txHash: r.txHash, txIndex, logIndex }),
        });
      }
      logIndex++;
    }
  });
  return out;
}

/** The gateway's webhooks: their REST routes, their store and the delivery of their events. */
export class Webhooks implements WebhookService {
  readonly routes: AnyRoute[];
  readonly #ctx: GatewayContext;
  readonly #log: Logger;
  readonly #db: LedgerDatabase;
  readonly #hooksTable: LedgerTable;
  readonly #pendingTable: LedgerTable;
  readonly #finishedTable: LedgerTable;
  readonly #cursorsTable: LedgerTable;
  readonly #pendingMax: number;
  readonly #hooks = new Map<string, HookState>();
  readonly #byApp = new Map<string, Set<string>>();
  readonly #ledgers = new Map<string, LedgerState>();
  /** Attempts and scans under way, which `close` waits for. */
  readonly #tasks = new Set<Promise<void>>();
  #slots = IN_FLIGHT_MAX;
  /** Hooks waiting for a request slot; each hook waits at most once, so the hooks bound it. */
  readonly #waiting: Array<() => void> = [];
  #closed = false;

  private constructor(ctx: GatewayContext, db: LedgerDatabase, options: WebhooksOptions) {
    this.#ctx = ctx;
    this.#log = ctx.logger.child({ module: 'webhooks' });
    this.#db = db;
    this.#hooksTable = db.table('webhooks.hooks');
    this.#pendingTable = db.table('webhooks.pending');
    this.#finishedTable = db.table('webhooks.finished');
    this.#cursorsTable = db.table('webhooks.cursors');
    this.#pendingMax = options.pendingPerHookMax ?? PENDING_PER_HOOK_MAX;
    if (!(Number.isInteger(this.#pendingMax) && this.#pendingMax >= 1 && this.#pendingMax <= PENDING_PER_HOOK_MAX)) {
      throw new Error(`pendingPerHookMax must be an integer from 1 to ${PENDING_PER_HOOK_MAX}, got ${this.#pendingMax}`);
    }
    this.routes = webhookRoutes(this);
  }

  /**
   * Opens the store at `<ctx.dataDir>/webhooks`, resumes the pending deliveries and starts
   * catching up on the blocks committed since the cursor of each ledger.
   */
  static async open(ctx: GatewayContext, options: WebhooksOptions = {}): Promise<Webhooks> {
    const dir = join(ctx.dataDir, 'webhooks');
    mkdirSync(dir, { recursive: true });
    const db = openLedgerDatabase({ path: dir, maxTables: 8 });
    let w: Webhooks | undefined;
    try {
      w = new Webhooks(ctx, db, options);
      await w.#load();
      return w;
    } catch (err) {
      if (w) await w.close();
      else await db.close();
      throw err;
    }
  }

  async #load(): Promise<void> {
    for (const key of this.#hooksTable.keys(...ALL)) {
      const bytes = this.#hooksTable.get(key);
      if (bytes) this.#addHook(decode<HookRecord>(bytes));
    }
    // Count each hook's deliveries; those of a hook that no longer exists are removed.
    const orphans: Array<[LedgerTable, Uint8Array]> = [];
    for (const [table, field] of [
      [this.#pendingTable, 'pending'],
      [this.#finishedTable, 'finished'],
    ] as const) {
      for (const key of table.keys(...ALL)) {
        const hookId = bytesToUtf8(key).split('/')[0] ?? '';
        const st = this.#hooks.get(hookId);
        if (st) st[field]++;
        else orphans.push([table, key]);
      }
    }
    const cursors = new Map<string, number>();
    for (const ledger of this.#ctx.ledgers.values()) {
      const stored = this.#cursorsTable.get(utf8ToBytes(ledger.id));
      // A ledger seen for the first time starts at its head: hooks receive only what comes after them.
      cursors.set(ledger.id, stored ? decode<number>(stored) : ledger.chain.head());
    }
    await this.#db.write((txn) => {
      for (const [table, key] of orphans) txn.remove(table, key);
      for (const [id, cursor] of cursors) txn.put(this.#cursorsTable, utf8ToBytes(id), encode(cursor));
    });
    for (const ledger of this.#ctx.ledgers.values()) this.#startFollowing(ledger, cursors.get(ledger.id) ?? 0);
    for (const st of this.#hooks.values()) this.#pump(st);
    this.#log.info(
      { hooks: this.#hooks.size, pending: [...this.#hooks.values()].reduce((n, s) => n + s.pending, 0) },
      'webhooks opened',
    );
  }

  /**
   * Follows a ledger the node starts hosting after the gateway opened (one the system ledger
   * assigned): from its stored cursor, or from its head the first time. Returns the function that
   * stops following it; its cursor is saved then, and its hooks' deliveries wait until it is back.
   */
  async follow(ledger: GatewayLedger): Promise<() => Promise<void>> {
    this.#assertOpen();
    if (this.#ledgers.has(ledger.id)) throw new Error(`webhooks already follow ledger "${ledger.id}"`);
    const key = utf8ToBytes(ledger.id);
    const stored = this.#cursorsTable.get(key);
    const cursor = stored ? decode<number>(stored) : ledger.chain.head();
    if (!stored) await this.#db.write((txn) => txn.put(this.#cursorsTable, key, encode(cursor)));
    const ls = this.#startFollowing(ledger, cursor);
    for (const id of this.#byApp.get(ledger.id) ?? []) {
      const st = this.#hooks.get(id);
      if (st) this.#pump(st);
    }
    return async () => {
      if (this.#ledgers.get(ledger.id) !== ls) return;
      ls.unsubscribe();
      this.#ledgers.delete(ledger.id);
      if (!this.#closed && ls.cursor > ls.persisted) {
        await this.#db.write((txn) => txn.put(this.#cursorsTable, key, encode(ls.cursor)));
      }
    };
  }

  #startFollowing(ledger: GatewayLedger, cursor: number): LedgerState {
    const ls: LedgerState = {
      ledger,
      cursor,
      persisted: cursor,
      scanning: false,
      again: false,
      recent: new Map(),
      unsubscribe: () => {},
    };
    ls.unsubscribe = ledger.feed.onBlock((e) => {
      ls.recent.set(e.height, e);
      if (ls.recent.size > RECENT_BLOCKS_MAX) {
        const oldest = ls.recent.keys().next();
        if (!oldest.done) ls.recent.delete(oldest.value);
      }
      this.#scan(ls);
    });
    this.#ledgers.set(ledger.id, ls);
    // Catches up on the blocks committed while the gateway was down, then follows the feed.
    this.#scan(ls);
    return ls;
  }

  #addHook(hook: HookRecord): HookState {
    const st: HookState = {
      hook,
      matcher: matcherOf(hook.events),
      origin: originOf(hook.notifyUrl),
      pending: 0,
      finished: 0,
      busy: false,
      deleted: false,
      timer: undefined,
      abort: undefined,
    };
    this.#hooks.set(hook.id, st);
    let ids = this.#byApp.get(hook.app);
    if (!ids) {
      ids = new Set();
      this.#byApp.set(hook.app, ids);
    }
    ids.add(hook.id);
    return st;
  }

  #track(p: Promise<void>): void {
    this.#tasks.add(p);
    void p.finally(() => this.#tasks.delete(p));
  }

  // ---- Enqueueing: committed blocks -> pending deliveries ----

  /** Starts the ledger's scanner, or asks the running one to look again. */
  #scan(ls: LedgerState): void {
    if (this.#closed) return;
    if (ls.scanning) {
      ls.again = true;
      return;
    }
    ls.scanning = true;
    this.#track(
      this.#scanLoop(ls)
        .catch((err) => {
          // A failed write leaves the cursor where it was: the next block retries the same heights.
          this.#log.error({ err, ledger: ls.ledger.id, cursor: ls.cursor }, 'cannot enqueue webhook deliveries');
        })
        .finally(() => {
          ls.scanning = false;
        }),
    );
  }

  async #scanLoop(ls: LedgerState): Promise<void> {
    do {
      ls.again = false;
      while (!this.#closed) {
        const head = ls.ledger.chain.head();
        if (ls.cursor >= head) break;
        await this.#enqueueBlocks(ls, ls.cursor + 1, Math.min(head, ls.cursor + SCAN_BATCH_BLOCKS));
      }
    } while (ls.again && !this.#closed);
  }

  #blockData(ls: LedgerState, height: number): BlockData | undefined {
    const e = ls.recent.get(height);
    if (e) return e;
    const block = ls.ledger.chain.block(height);
    const receipts = ls.ledger.chain.receipts(height);
    return block && receipts ? { height, block, receipts } : undefined;
  }

  /** Enqueues the events of blocks `from..to` and moves the cursor to `to`, in one durable write. */
  async #enqueueBlocks(ls: LedgerState, from: number, to: number): Promise<void> {
    const appId = ls.ledger.id;
    const hooks = [...(this.#byApp.get(appId) ?? [])]
      .map((id) => this.#hooks.get(id))
      .filter((s): s is HookState => s !== undefined && s.hook.fromHeight <= to);
    const found: NewDelivery[] = [];
    // Events beyond a hook's free room are only counted, so a batch never holds more than the bound.
    const room = new Map(hooks.map((s) => [s.hook.id, this.#pendingMax - s.pending]));
    const dropped = new Map<HookState, number>();
    if (hooks.length > 0) {
      for (let height = from; height <= to; height++) {
        const b = this.#blockData(ls, height);
        if (!b) {
          this.#log.error({ ledger: appId, height }, 'a committed block is missing from the chain store; its events are skipped');
          continue;
        }
        const hash = blockHash(b.block.header);
        for (const st of hooks) {
          if (st.hook.fromHeight > height) continue;
          for (const ev of matchEvents(st.matcher, b, hash)) {
            const left = room.get(st.hook.id) ?? 0;
            if (left > 0) {
              room.set(st.hook.id, left - 1);
              found.push({ st, height, ...ev });
            } else {
              dropped.set(st, (dropped.get(st) ?? 0) + 1);
            }
          }
        }
      }
    }
    for (let height = from; height <= to; height++) ls.recent.delete(height);
    if (found.length === 0 && dropped.size === 0 && to - ls.persisted < CURSOR_PERSIST_BLOCKS) {
      // Nothing to record: a restart rescans these blocks and finds nothing again (hooks' filters
      // never change and new hooks start after the head), so the cursor is written only now and then.
      ls.cursor = to;
      return;
    }
    const now = Date.now();
    const added = new Map<HookState, number>();
    await this.#db.write((txn) => {
      for (const d of found) {
        // A hook deleted since the batch was read gets nothing.
        if (d.st.deleted) continue;
        const key = deliveryKey(d.st.hook.id, d.height, d.index);
        // Enqueueing is idempotent: the id is the event's, and an existing delivery stays as it is.
        if (this.#pendingTable.get(key) || this.#finishedTable.get(key)) continue;
        const id = `${d.st.hook.id}:${d.height}:${d.index}`;
        const body = JSON.stringify({ id, hookId: d.st.hook.id, app: appId, type: d.type, createdAt: now, data: d.data });
        const record: DeliveryRecord = {
          id,
          hookId: d.st.hook.id,
          type: d.type,
          height: d.height,
          createdAt: now,
          body,
          status: 'pending',
          attempts: 0,
          lastAttemptAt: null,
          lastStatus: null,
          lastError: null,
          nextAttemptAt: now,
          finishedAt: null,
        };
        txn.put(this.#pendingTable, key, encode(record));
        added.set(d.st, (added.get(d.st) ?? 0) + 1);
      }
      for (const [st, n] of dropped) {
        if (st.deleted) continue;
        txn.put(
          this.#hooksTable,
          utf8ToBytes(st.hook.id),
          encode({ ...st.hook, dropped: st.hook.dropped + n, lastDroppedAt: now }),
        );
      }
      txn.put(this.#cursorsTable, utf8ToBytes(appId), encode(to));
      // The counters change with the transaction, which commits when this callback returns.
      for (const [st, n] of added) {
        if (st.pending + n > this.#pendingMax) {
          throw new Error(`webhook ${st.hook.id} would hold ${st.pending + n} pending deliveries, over ${this.#pendingMax}`);
        }
      }
      for (const [st, n] of added) st.pending += n;
      for (const [st, n] of dropped) {
        if (st.deleted) continue;
        st.hook = { ...st.hook, dropped: st.hook.dropped + n, lastDroppedAt: now };
      }
    });
    ls.cursor = to;
    ls.persisted = to;
    for (const [st, n] of dropped) {
      this.#log.warn(
        { hook: st.hook.id, app: appId, dropped: n, pending: st.pending, pendingMax: this.#pendingMax },
        "a webhook's pending queue is full: new events are dropped until its receiver catches up",
      );
    }
    for (const st of added.keys()) this.#pump(st);
  }

  // ---- Delivering: one hook's queue, in order, one request at a time ----

  #firstPending(hookId: string): [Uint8Array, DeliveryRecord] | undefined {
    for (const key of this.#pendingTable.keys(...hookRange(hookId), 1)) {
      const bytes = this.#pendingTable.get(key);
      if (bytes) return [key, decode<DeliveryRecord>(bytes)];
    }
    return undefined;
  }

  /** Sends the hook's next delivery when it is due, unless one is under way or waiting. */
  #pump(st: HookState): void {
    if (this.#closed || st.deleted || st.busy || st.timer || st.pending === 0) return;
    // Hooks of ledgers this node no longer hosts keep their deliveries until it does again.
    if (!this.#ctx.ledgers.has(st.hook.app)) return;
    const next = this.#firstPending(st.hook.id);
    if (!next) {
      this.#log.error({ hook: st.hook.id, counted: st.pending }, 'a webhook counted pending deliveries that are not stored');
      st.pending = 0;
      return;
    }
    const [key, record] = next;
    const wait = (record.nextAttemptAt ?? 0) - Date.now();
    if (wait > 0) {
      st.timer = setTimeout(() => {
        st.timer = undefined;
        this.#pump(st);
      }, wait);
      st.timer.unref();
      return;
    }
    st.busy = true;
    let holdMs = 0;
    this.#track(
      this.#attempt(st, key, record)
        .catch((err) => {
          // The store refused the outcome: waiting before the next try keeps a broken disk from
          // turning into a stream of requests to the receiver.
          holdMs = this.#ctx.config.webhooks.retryMaxMs;
          this.#log.error({ err, hook: st.hook.id, delivery: record.id, holdMs }, 'a webhook delivery could not be recorded');
        })
        .finally(() => {
          st.busy = false;
          if (holdMs === 0 || this.#closed || st.deleted) return this.#pump(st);
          st.timer = setTimeout(() => {
            st.timer = undefined;
            this.#pump(st);
          }, holdMs);
          st.timer.unref();
        }),
    );
  }

  async #acquire(): Promise<void> {
    if (this.#slots > 0) {
      this.#slots--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#slots++;
    if (this.#slots > IN_FLIGHT_MAX) throw new Error(`webhook request slots ${this.#slots} exceed ${IN_FLIGHT_MAX}`);
  }

  async #attempt(st: HookState, key: Uint8Array, record: DeliveryRecord): Promise<void> {
    const { timeoutMs } = this.#ctx.config.webhooks;
    let outcome: Outcome;
    const startedAt = Date.now();
    await this.#acquire();
    try {
      if (this.#closed || st.deleted) return;
      const abort = new AbortController();
      st.abort = abort;
      const timestamp = Date.now();
      try {
        if (!this.#ctx.config.webhooks.allowPrivateTargets) {
          const refused = await privateTarget(st.hook.notifyUrl);
          if (refused) throw new Error(refused);
        }
        const res = await fetch(st.hook.notifyUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'polis-webhooks/1',
            'x-polis-delivery': record.id,
            'x-polis-timestamp': String(timestamp),
            'x-polis-signature': signWebhook(st.hook.secret, timestamp, record.body),
          },
          body: record.body,
          redirect: 'manual',
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
        });
        // The answer's body is not needed; dropping it frees the connection.
        await res.body?.cancel().catch(() => {});
        outcome =
          res.status >= 200 && res.status < 300
            ? { ok: true, status: res.status }
            : { ok: false, status: res.status, error: `the receiver answered HTTP ${res.status}` };
      } catch (err) {
        // Cut short by close() or by deleting the hook: the attempt does not count.
        if (abort.signal.aborted) return;
        outcome = { ok: false, status: null, error: errorText(err, timeoutMs) };
      } finally {
        st.abort = undefined;
      }
    } finally {
      this.#release();
    }
    await this.#record(st, key, record, outcome, startedAt);
  }

  /** Stores the outcome of an attempt: delivered, retried later, or failed for good. */
  async #record(st: HookState, key: Uint8Array, record: DeliveryRecord, outcome: Outcome, at: number): Promise<void> {
    const { retryBaseMs, retryMaxMs, maxAttempts } = this.#ctx.config.webhooks;
    const attempts = record.attempts + 1;
    const now = Date.now();
    const base = { ...record, attempts, lastAttemptAt: at, lastStatus: outcome.status };
    let next: DeliveryRecord;
    if (outcome.ok) {
      next = { ...base, status: 'delivered', lastError: null, nextAttemptAt: null, finishedAt: now };
    } else if (attempts >= maxAttempts) {
      next = { ...base, status: 'failed', lastError: outcome.error, nextAttemptAt: null, finishedAt: now };
    } else {
      next = { ...base, lastError: outcome.error, nextAttemptAt: now + retryDelayMs(attempts, retryBaseMs, retryMaxMs) };
    }
    const finished = next.status !== 'pending';
    await this.#db.write((txn) => {
      if (st.deleted) return;
      if (!finished) {
        txn.put(this.#pendingTable, key, encode(next));
        return;
      }
      txn.remove(this.#pendingTable, key);
      txn.put(this.#finishedTable, key, encode(next));
      const over = st.finished + 1 - FINISHED_PER_HOOK_MAX;
      let removed = 0;
      if (over > 0) {
        for (const old of this.#finishedTable.keys(...hookRange(st.hook.id), over)) {
          if (txn.remove(this.#finishedTable, old)) removed++;
        }
      }
      if (st.finished + 1 - removed > FINISHED_PER_HOOK_MAX) {
        throw new Error(
          `webhook ${st.hook.id} would keep ${st.finished + 1 - removed} finished deliveries, over ${FINISHED_PER_HOOK_MAX}`,
        );
      }
      st.pending--;
      st.finished += 1 - removed;
    });
    const fields = { hook: st.hook.id, delivery: record.id, url: st.origin, attempts, status: outcome.status };
    if (outcome.ok) this.#log.debug(fields, 'webhook delivered');
    else if (finished) this.#log.warn({ ...fields, error: outcome.error }, 'webhook delivery failed for good after its last try');
    else this.#log.debug({ ...fields, error: outcome.error, retryAt: next.nextAttemptAt }, 'webhook delivery failed; will retry');
  }

  // ---- The REST service ----

  #json(st: HookState): WebhookJson {
    const h = st.hook;
    return {
      id: h.id,
      app: h.app,
      notifyUrl: h.notifyUrl,
      events: h.events,
      ...(h.description !== undefined ? { description: h.description } : {}),
      createdAt: h.createdAt,
      fromHeight: h.fromHeight,
      pending: st.pending,
      dropped: h.dropped,
    };
  }

  #own(ledger: GatewayLedger, hookId: string): HookState {
    const st = this.#hooks.get(hookId);
    // Another app's hook is answered exactly like a missing one.
    if (!st || st.deleted || st.hook.app !== ledger.id) {
      throw new RestError(
        404,
        'NOT_FOUND',
        `app "${ledger.id}" has no webhook ${hookId}: list its webhooks with GET /api/v1/apps/${ledger.id}/webhooks`,
      );
    }
    return st;
  }

  /** Creates a hook for the app of `ledger`; the answer holds the secret, which is never shown again. */
  async create(ledger: GatewayLedger, body: CreateWebhookBody): Promise<WebhookJson & { secret: string }> {
    this.#assertOpen();
    const count = this.#byApp.get(ledger.id)?.size ?? 0;
    if (count >= HOOKS_PER_APP_MAX) {
      throw new RestError(
        409,
        'TOO_MANY_WEBHOOKS',
        `app "${ledger.id}" has ${count} webhooks, the most an app may have (${HOOKS_PER_APP_MAX}): delete one with DELETE /api/v1/apps/${ledger.id}/webhooks/{hookId} first`,
      );
    }
    const hook: HookRecord = {
      id: `wh_${randomBytes(16).toString('hex')}`,
      app: ledger.id,
      notifyUrl: body.notifyUrl,
      events: body.events,
      ...(body.description !== undefined ? { description: body.description } : {}),
      secret: randomBytes(32).toString('hex'),
      createdAt: Date.now(),
      fromHeight: 0,
      dropped: 0,
      lastDroppedAt: null,
    };
    const st = await this.#db.write((txn) => {
      // Read in the same synchronous step that makes the hook visible to the scanner: every block
      // after this head is scanned with the hook in place, and none before it matches.
      hook.fromHeight = ledger.chain.head() + 1;
      txn.put(this.#hooksTable, utf8ToBytes(hook.id), encode(hook));
      return this.#addHook(hook);
    });
    this.#log.info({ hook: hook.id, app: hook.app, url: originOf(hook.notifyUrl), type: hook.events.type }, 'webhook created');
    return { ...this.#json(st), secret: hook.secret };
  }

  /** The app's hooks, without secrets. */
  list(ledger: GatewayLedger): WebhookJson[] {
    this.#assertOpen();
    return [...(this.#byApp.get(ledger.id) ?? [])]
      .map((id) => this.#hooks.get(id))
      .filter((s): s is HookState => s !== undefined)
      .sort((a, b) => a.hook.createdAt - b.hook.createdAt)
      .map((s) => this.#json(s));
  }

  /** Deletes an app's hook, its pending and finished deliveries, and cancels its attempt under way. */
  async remove(ledger: GatewayLedger, hookId: string): Promise<void> {
    this.#assertOpen();
    const st = this.#own(ledger, hookId);
    await this.#db.write((txn) => {
      txn.remove(this.#hooksTable, utf8ToBytes(hookId));
      for (const table of [this.#pendingTable, this.#finishedTable]) {
        for (const key of [...table.keys(...hookRange(hookId))]) txn.remove(table, key);
      }
      st.deleted = true;
      this.#hooks.delete(hookId);
      this.#byApp.get(st.hook.app)?.delete(hookId);
    });
    clearTimeout(st.timer);
    st.timer = undefined;
    st.abort?.abort();
    this.#log.info({ hook: hookId, app: st.hook.app }, 'webhook deleted');
  }

  /** An app's hook's pending deliveries and most recent finished ones, newest event first. */
  deliveries(ledger: GatewayLedger, hookId: string, limit: number): DeliveriesJson {
    this.#assertOpen();
    const st = this.#own(ledger, hookId);
    const keys: Array<[string, LedgerTable]> = [];
    for (const table of [this.#pendingTable, this.#finishedTable]) {
      for (const key of table.keys(...hookRange(hookId), this.#pendingMax + FINISHED_PER_HOOK_MAX)) {
        keys.push([bytesToUtf8(key), table]);
      }
    }
    keys.sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0));
    const deliveries: DeliveryJson[] = [];
    for (const [key, table] of keys.slice(0, limit)) {
      const bytes = table.get(utf8ToBytes(key));
      if (bytes) deliveries.push(deliveryJson(decode<DeliveryRecord>(bytes)));
    }
    return {
      hookId,
      pending: st.pending,
      pendingMax: this.#pendingMax,
      dropped: st.hook.dropped,
      lastDroppedAt: st.hook.lastDroppedAt,
      deliveries,
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new RestError(503, 'UNAVAILABLE', 'the gateway is shutting down: try again in a moment');
  }

  /** Stops following the ledgers, cancels attempts under way (they are retried after a restart), saves the cursors and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ls of this.#ledgers.values()) ls.unsubscribe();
    for (const st of this.#hooks.values()) {
      clearTimeout(st.timer);
      st.timer = undefined;
      st.abort?.abort();
    }
    // Hooks waiting for a request slot get one as the aborted attempts release theirs, see
    // `closed` and return without sending.
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    try {
      const moved = [...this.#ledgers.values()].filter((ls) => ls.cursor > ls.persisted);
      if (moved.length > 0) {
        await this.#db.write((txn) => {
          for (const ls of moved) txn.put(this.#cursorsTable, utf8ToBytes(ls.ledger.id), encode(ls.cursor));
        });
      }
    } finally {
      await this.#db.close();
    }
  }
}

/**
 * Addresses a webhook may not reach unless `gateway.webhooks.allowPrivateTargets` is set: the
 * gateway's own host and network (loopback, private, link-local, unique-local, CGNAT and the
 * cloud metadata address), so that an app owner cannot make the gateway call into them.
 */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** Whether `ip` is in the gateway's own networks (IPv4-mapped IPv6 addresses count as IPv4). */
export function isPrivateAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return PRIVATE.check(mapped[1] as string, 'ipv4');
  const family = isIP(ip);
  if (family === 0) return true;
  return PRIVATE.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Why `url` may not be called (its host resolves to a private address), or undefined. The check
 * is made before each attempt; a DNS answer that changes between this lookup and the request's own
 * is not caught (documented in ADR 0005).
 */
export async function privateTarget(url: string): Promise<string | undefined> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch (err) {
    return `cannot resolve ${host}: ${(err as Error).message}`;
  }
  const bad = addresses.find(isPrivateAddress);
  return bad === undefined
    ? undefined
    : `the receiver ${host} resolves to ${bad}, a private address this gateway does not call (gateway.webhooks.allowPrivateTargets)`;
}
