/**
 * The gateway's audit log (ADR 0008): an append-only, hash-chained record of who read or changed
 * what through this gateway, kept in its own LMDB environment (`<gateway dataDir>/audit`).
 *
 * Entry `seq` (1, 2, 3 ...) is `{seq, at, actor, scope, app, action, detail, prevHash, hash}`:
 * `actor` is the key id (or the signer of a governance transaction), `scope` the role it acted in
 * (`regulator`, `admin`, `governance`), `action` the route or JSON-RPC method, and
 * `hash = sha256(canonical(entry without hash))` where `prevHash` is the previous entry's hash (32
 * zero bytes for entry 1). `canonical` is the JSON text of the fixed-order array
 * `[1, seq, at, actor, scope, app, action, detail, prevHash]`, so the encoding has one form.
 * Changing any stored entry breaks its own hash; rewriting the whole chain consistently is caught
 * by the digests anchored on the system ledger (`anchorAudit`), every `anchorEvery` entries or
 * `anchorIntervalMs`.
 *
 * What is recorded: every request of a regulator key (REST and JSON-RPC, served or refused), every
 * admin-scope write at the gateway (webhooks, custodial accounts, key-trust sends ...), and every
 * governance transaction of the system ledger's committed blocks. Memory holds only the head and
 * the entries waiting for their durable write (at most `pendingMax`); reads page from disk.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { bytesToHex, bytesToUtf8, PolisError, utf8ToBytes } from '@polis/core';
import {
  type Action,
  decodeGovTx,
  type GovBody,
  type GovReceipt,
  type GovState,
  govTxHash,
  verifyGovTxSignature,
} from '@polis/governance';
import { type ChainStore, type LedgerDatabase, type LedgerTable, openLedgerDatabase } from '@polis/ledger';
import type { Logger } from 'pino';

/** The `prevHash` of entry 1. */
export const AUDIT_ZERO_HASH = `0x${'00'.repeat(32)}`;
/** Entries waiting for their durable write; a record beyond it is refused (`AuditErrorCode.FULL`). */
export const AUDIT_PENDING_MAX = 10_000;
/** Entries written per LMDB transaction. */
export const AUDIT_WRITE_BATCH_MAX = 512;
/** Entries one read of the log returns at most. */
export const AUDIT_PAGE_MAX = 1_000;
/** Characters of `detail` kept; longer details are cut (the entry says so). */
export const AUDIT_DETAIL_CHARS_MAX = 2_000;
/** Default: anchor the head after this many new entries ... */
export const AUDIT_ANCHOR_EVERY_DEFAULT = 1_000;
/** ... or after this long, whichever comes first. */
export const AUDIT_ANCHOR_INTERVAL_MS_DEFAULT = 60_000;
/** Version of the canonical encoding, the first element of the hashed array. */
const ENCODING_VERSION = 1;

/** One entry of the audit log. */
export type AuditEntry = {
  seq: number;
  /** Milliseconds since the epoch (the gateway's clock; the block time for governance entries). */
  at: number;
  /** Who: an API key id, or the address or node key that signed a governance transaction. */
  actor: string;
  /** In which role: `regulator`, `admin` or `governance`. */
  scope: string;
  /** The app concerned; `*` for network-wide governance. */
  app: string;
  /** What: `GET /api/v1/apps/{id}/blocks/latest`, `rpc eth_getBalance`, `gov propose:suspendApp` ... */
  action: string;
  /** The rest, as JSON text: status, parameters, outcome. */
  detail: string;
  prevHash: string;
  hash: string;
};

/** What a caller records; the log adds `seq`, `at`, `prevHash` and `hash`. */
export type AuditRecord = Pick<AuditEntry, 'actor' | 'scope' | 'app' | 'action'> & { detail: unknown; at?: number };

/** Codes of `AuditError`. */
export enum AuditErrorCode {
  /** Too many entries wait for their write: the disk is slower than the requests. */
  FULL = 'AUDIT_ERROR_FULL',
  /** The log is closed. */
  CLOSED = 'AUDIT_ERROR_CLOSED',
}

/** The payload of an `AuditError`. */
export type AuditErrorType = { code: AuditErrorCode.FULL; pending: number } | { code: AuditErrorCode.CLOSED };

/** An entry could not be recorded; the request it describes must not be served. */
export class AuditError extends PolisError<AuditErrorType> {
  override name = 'AuditError';
}

/** The text the hash covers: the entry's fields in a fixed order, without `hash`. */
export function canonicalAuditEntry(e: Omit<AuditEntry, 'hash'>): string {
  return JSON.stringify([ENCODING_VERSION, e.seq, e.at, e.actor, e.scope, e.app, e.action, e.detail, e.prevHash]);
}

/** `sha256(canonical(entry))`, lower-case 0x hex. */
export function auditEntryHash(e: Omit<AuditEntry, 'hash'>): string {
  return `0x${createHash('sha256').update(canonicalAuditEntry(e), 'utf8').digest('hex')}`;
}

/** The outcome of a chain check: the head it reached, or the first seq where the chain breaks. */
export type AuditChainCheck =
  | { ok: true; count: number; head: { seq: number; hash: string } | undefined }
  | { ok: false; seq: number; reason: string };

/**
 * Recomputes the chain over consecutive entries: each hash from the entry's fields, each
 * `prevHash` from the entry before. `from` is the entry before the first one given (its seq and
 * hash); without it the first entry must be entry 1 (prevHash zero) or is taken as given.
 * Pure; reports the first seq where the chain breaks.
 */
export function verifyAuditChain(entries: Iterable<AuditEntry>, from?: { seq: number; hash: string }): AuditChainCheck {
  let prev = from;
  let count = 0;
  for (const e of entries) {
    if (prev !== undefined && e.seq !== prev.seq + 1) {
      return { ok: false, seq: e.seq, reason: `seq ${e.seq} follows seq ${prev.seq}: an entry is missing or out of order` };
    }
    if (prev === undefined && e.seq === 1 && e.prevHash !== AUDIT_ZERO_HASH) {
      return { ok: false, seq: 1, reason: 'entry 1 should have the zero prevHash' };
    }
    if (prev !== undefined && e.prevHash !== prev.hash) {
      return { ok: false, seq: e.seq, reason: `prevHash ${e.prevHash} is not the hash of entry ${prev.seq} (${prev.hash})` };
    }
    const { hash, ...rest } = e;
    const expected = auditEntryHash(rest);
    if (hash !== expected) {
      return { ok: false, seq: e.seq, reason: `the stored hash ${hash} is not the hash of the entry's fields (${expected})` };
    }
    prev = { seq: e.seq, hash };
    count++;
  }
  return { ok: true, count, head: prev };
}

/** Where the log's head is anchored: the system ledger, through the node. */
export type AuditAnchorSink = {
  /** The node's latest anchor on the system ledger, if any. */
  latest(): { seq: number; hash: string } | undefined;
  /** Sends an anchor transaction for entry `seq` with hash `hash`. */
  submit(seq: number, hash: string): Promise<void> | void;
};

/** The system ledger as the audit log follows it (`SystemApp`). */
export type AuditedSystem = {
  readonly chain: ChainStore;
  readonly state: GovState;
  onBlock(fn: (e: { height: number; time: number; state: GovState; receipts: readonly GovReceipt[] }) => void): () => void;
};

/** Options of `AuditLog.open`. */
export type AuditLogOptions = {
  /** The LMDB directory. */
  dir: string;
  logger: Logger;
  now?: () => number;
  anchor?: AuditAnchorSink;
  anchorEvery?: number;
  anchorIntervalMs?: number;
  pendingMax?: number;
};

type Pending = { entry: AuditEntry; systemHeight?: number; done: () => void };

const HEAD_KEY = utf8ToBytes('head');
const SYSTEM_CURSOR_KEY = utf8ToBytes('systemHeight');

function seqKey(seq: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return new Uint8Array(b);
}

function appKey(app: string, seq: number): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(app, 'utf8'), Buffer.of(0), seqKey(seq)]));
}

function encodeJson(value: unknown): Uint8Array {
  return utf8ToBytes(JSON.stringify(value));
}

function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(bytesToUtf8(bytes)) as T;
}

function detailText(detail: unknown): string {
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail ?? null);
  return text.length <= AUDIT_DETAIL_CHARS_MAX ? text : `${text.slice(0, AUDIT_DETAIL_CHARS_MAX - 15)}...(truncated)`;
}

/** The gateway's audit log. */
export class AuditLog {
  readonly #db: LedgerDatabase;
  readonly #entries: LedgerTable;
  readonly #byApp: LedgerTable;
  readonly #meta: LedgerTable;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sink: AuditAnchorSink | undefined;
  readonly #anchorEvery: number;
  readonly #anchorIntervalMs: number;
  readonly #pendingMax: number;
  readonly #timer: NodeJS.Timeout | undefined;
  #head: { seq: number; hash: string };
  #pending: Pending[] = [];
  #writing: Promise<void> | undefined;
  #inFlight: { seq: number; at: number } | undefined;
  #lastAnchorAt: number;
  #unfollow: (() => void) | undefined;
  #closed = false;

  private constructor(db: LedgerDatabase, o: AuditLogOptions) {
    this.#db = db;
    this.#entries = db.table('audit.entries');
    this.#byApp = db.table('audit.byApp');
    this.#meta = db.table('audit.meta');
    this.#log = o.logger.child({ module: 'audit' });
    this.#now = o.now ?? Date.now;
    this.#sink = o.anchor;
    this.#anchorEvery = o.anchorEvery ?? AUDIT_ANCHOR_EVERY_DEFAULT;
    this.#anchorIntervalMs = o.anchorIntervalMs ?? AUDIT_ANCHOR_INTERVAL_MS_DEFAULT;
    this.#pendingMax = o.pendingMax ?? AUDIT_PENDING_MAX;
    if (!(Number.isInteger(this.#anchorEvery) && this.#anchorEvery >= 1))
      throw new Error('anchorEvery must be a positive integer');
    if (!(Number.isInteger(this.#pendingMax) && this.#pendingMax >= 1 && this.#pendingMax <= AUDIT_PENDING_MAX)) {
      throw new Error(`pendingMax must be an integer from 1 to ${AUDIT_PENDING_MAX}`);
    }
    const head = this.#meta.get(HEAD_KEY);
    this.#head = head ? decodeJson(head) : { seq: 0, hash: AUDIT_ZERO_HASH };
    this.#lastAnchorAt = this.#now();
    if (this.#sink) {
      this.#timer = setInterval(() => this.#maybeAnchor(true), this.#anchorIntervalMs);
      this.#timer.unref();
    }
  }

  /** Opens (or creates) the log at `options.dir`. */
  static open(options: AuditLogOptions): AuditLog {
    mkdirSync(options.dir, { recursive: true });
    const db = openLedgerDatabase({ path: options.dir, maxTables: 4 });
    try {
      return new AuditLog(db, options);
    } catch (err) {
      void db.close();
      throw err;
    }
  }

  /** The latest entry's seq and hash (seq 0 and the zero hash for an empty log), written or not. */
  head(): { seq: number; hash: string } {
    return { ...this.#head };
  }

  /**
   * Appends an entry; resolves with it once it is durable. Throws `AuditError` (FULL) at once
   * when `pendingMax` entries wait: the caller refuses the request it wanted to record.
   */
  record(r: AuditRecord, systemHeight?: number): Promise<AuditEntry> {
    if (this.#closed) throw new AuditError({ code: AuditErrorCode.CLOSED }, 'the audit log is closed');
    if (this.#pending.length >= this.#pendingMax) {
      throw new AuditError(
        { code: AuditErrorCode.FULL, pending: this.#pending.length },
        `the audit log has ${this.#pending.length} entries waiting for the disk`,
        { hint: 'Retry shortly; if it persists, the node disk is too slow for its request rate' },
      );
    }
    const seq = this.#head.seq + 1;
    const base = {
      seq,
      at: r.at ?? this.#now(),
      actor: r.actor,
      scope: r.scope,
      app: r.app,
      action: r.action,
      detail: detailText(r.detail),
      prevHash: this.#head.hash,
    };
    const entry: AuditEntry = { ...base, hash: auditEntryHash(base) };
    this.#head = { seq, hash: entry.hash };
    return new Promise<AuditEntry>((resolve) => {
      this.#pending.push({ entry, ...(systemHeight !== undefined ? { systemHeight } : {}), done: () => resolve(entry) });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#writing) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
      if (this.#pending.length > 0) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, AUDIT_WRITE_BATCH_MAX);
      const last = batch[batch.length - 1]?.entry as AuditEntry;
      let systemHeight: number | undefined;
      for (const p of batch) if (p.systemHeight !== undefined) systemHeight = p.systemHeight;
      try {
        await this.#db.write((txn) => {
          for (const { entry } of batch) {
            txn.put(this.#entries, seqKey(entry.seq), encodeJson(entry));
            txn.put(this.#byApp, appKey(entry.app, entry.seq), Uint8Array.of(1));
          }
          txn.put(this.#meta, HEAD_KEY, encodeJson({ seq: last.seq, hash: last.hash }));
          if (systemHeight !== undefined) txn.put(this.#meta, SYSTEM_CURSOR_KEY, encodeJson(systemHeight));
        });
      } catch (err) {
        // The chain in memory has moved past entries that are not on disk: nothing after them can
        // be written consistently, so the log stops taking entries (requests that need one are refused).
        this.#log.error({ err, seq: batch[0]?.entry.seq }, 'the audit log could not be written; it is closed');
        this.#closed = true;
        throw err;
      }
      for (const p of batch) p.done();
      this.#maybeAnchor(false);
    }
  }

  /** Entries after `after` in order, at most `limit` (at most AUDIT_PAGE_MAX). */
  entries(after = 0, limit = AUDIT_PAGE_MAX): AuditEntry[] {
    const out: AuditEntry[] = [];
    const n = Math.min(limit, AUDIT_PAGE_MAX);
    for (const key of this.#entries.keys(seqKey(after + 1), seqKey(Number.MAX_SAFE_INTEGER), n)) {
      const bytes = this.#entries.get(key);
      if (bytes) out.push(decodeJson<AuditEntry>(bytes));
    }
    return out;
  }

  /** Entries concerning `app` after `after`, in order, at most `limit` (at most AUDIT_PAGE_MAX). */
  entriesOf(app: string, after = 0, limit = AUDIT_PAGE_MAX): AuditEntry[] {
    const out: AuditEntry[] = [];
    const n = Math.min(limit, AUDIT_PAGE_MAX);
    const prefix = Buffer.byteLength(app, 'utf8') + 1;
    for (const key of this.#byApp.keys(appKey(app, after + 1), appKey(app, Number.MAX_SAFE_INTEGER), n)) {
      const seq = Number(Buffer.from(key.subarray(prefix)).readBigUInt64BE());
      const bytes = this.#entries.get(seqKey(seq));
      if (bytes) out.push(decodeJson<AuditEntry>(bytes));
    }
    return out;
  }

  /** Recomputes the chain of the whole stored log, a page at a time. */
  verify(): AuditChainCheck {
    return this.#verifyUpTo(Number.MAX_SAFE_INTEGER);
  }

  #verifyUpTo(last: number): AuditChainCheck {
    let from: { seq: number; hash: string } | undefined;
    let count = 0;
    for (;;) {
      const page = this.entries(from?.seq ?? 0, AUDIT_PAGE_MAX).filter((e) => e.seq <= last);
      if (page.length === 0) return { ok: true, count, head: from };
      if (from === undefined && page[0]?.seq !== 1) return { ok: false, seq: 1, reason: 'entry 1 is missing' };
      const check = verifyAuditChain(page, from);
      if (!check.ok) return check;
      count += check.count;
      from = check.head;
    }
  }

  /**
   * Checks the stored log against an anchor: the chain up to `anchor.seq` recomputes, and entry
   * `anchor.seq` has the anchored hash. A log rewritten consistently after the anchor was taken
   * passes the chain check but not this one.
   */
  checkAnchor(anchor: { seq: number; hash: string }): { ok: true } | { ok: false; seq: number; reason: string } {
    const chain = this.#verifyUpTo(anchor.seq);
    if (!chain.ok) return chain;
    if (chain.head?.seq !== anchor.seq) {
      return { ok: false, seq: anchor.seq, reason: `the log ends at seq ${chain.head?.seq ?? 0}, before the anchored seq` };
    }
    if (chain.head.hash !== anchor.hash) {
      return {
        ok: false,
        seq: anchor.seq,
        reason: `entry ${anchor.seq} hashes to ${chain.head.hash}, but the system ledger anchored ${anchor.hash}`,
      };
    }
    return { ok: true };
  }

  /** Anchors the durable head now if it moved since the last anchor (and none is on its way). */
  anchorNow(): Promise<void> {
    return this.#anchor(true);
  }

  #maybeAnchor(timer: boolean): void {
    if (!this.#sink) return;
    const anchored = this.#sink.latest()?.seq ?? 0;
    const due = timer
      ? this.#now() - this.#lastAnchorAt >= this.#anchorIntervalMs
      : this.#durableSeq() - anchored >= this.#anchorEvery;
    if (due) void this.#anchor(false);
  }

  /** The seq of the last entry on disk. */
  #durableSeq(): number {
    return this.#pending.length > 0 ? (this.#pending[0]?.entry.seq as number) - 1 : this.#head.seq;
  }

  async #anchor(force: boolean): Promise<void> {
    const sink = this.#sink;
    if (!sink || this.#closed) return;
    const anchored = sink.latest()?.seq ?? 0;
    // One anchor transaction at a time: the node's nonce allows no other until it is included.
    // A lost one (a failed receipt, a dropped transaction) is retried after the interval.
    if (this.#inFlight && this.#inFlight.seq > anchored && this.#now() - this.#inFlight.at < this.#anchorIntervalMs && !force) {
      return;
    }
    const seq = this.#durableSeq();
    if (seq <= anchored) return;
    const bytes = this.#entries.get(seqKey(seq));
    if (!bytes) return;
    const hash = decodeJson<AuditEntry>(bytes).hash;
    this.#inFlight = { seq, at: this.#now() };
    this.#lastAnchorAt = this.#now();
    try {
      await sink.submit(seq, hash);
      this.#log.debug({ seq, hash }, 'audit log head sent for anchoring');
    } catch (err) {
      this.#inFlight = undefined;
      this.#log.warn({ err: err instanceof Error ? err.message : String(err), seq }, 'the audit log head could not be anchored');
    }
  }

  /**
   * Records every governance transaction of the system ledger's committed blocks: the blocks
   * committed since the last one recorded (the first time: from the current head), then each
   * new one.
   */
  followSystem(system: AuditedSystem): void {
    if (this.#unfollow) throw new Error('the audit log already follows the system ledger');
    const stored = this.#meta.get(SYSTEM_CURSOR_KEY);
    let cursor = stored ? decodeJson<number>(stored) : system.chain.head();
    const upTo = (height: number, state: GovState) => {
      for (let h = cursor + 1; h <= height; h++) this.#recordSystemBlock(system, h, state);
      cursor = Math.max(cursor, height);
    };
    upTo(system.chain.head(), system.state);
    this.#unfollow = system.onBlock((e) => {
      try {
        upTo(e.height, e.state);
      } catch (err) {
        this.#log.error({ err, height: e.height }, 'governance actions could not be recorded');
      }
    });
  }

  #recordSystemBlock(system: AuditedSystem, height: number, state: GovState): void {
    const raws = system.chain.txs(height);
    const header = system.chain.header(height);
    if (!raws || !header || raws.length === 0) return;
    raws.forEach((raw, index) => {
      const tx = decodeGovTx(raw);
      const signer = verifyGovTxSignature(tx);
      const txHash = bytesToHex(govTxHash(raw));
      const apps = appsOfBody(tx.body, state);
      const what = tx.body.type === 'propose' ? `propose:${tx.body.action.type}` : tx.body.type;
      for (const app of apps) {
        this.record(
          {
            at: header.time,
            actor: signer.id,
            scope: 'governance',
            app,
            action: `gov ${what}`,
            detail: { height, index, txHash, body: bodySummary(tx.body) },
          },
          height,
        ).catch(() => undefined);
      }
    });
  }

  /** Stops following and anchoring, writes what waits, and closes the store. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#unfollow?.();
    this.#unfollow = undefined;
    while (this.#writing) await this.#writing.catch(() => undefined);
    this.#closed = true;
    await this.#db.close();
  }
}

function appsOfAction(a: Action, state: GovState): string[] {
  switch (a.type) {
    case 'approveApp':
    case 'suspendApp':
    case 'resumeApp':
    case 'archiveApp':
    case 'setAppValidators':
      return [a.appId];
    case 'grantRegulator':
      return a.apps === 'all' ? ['*'] : [...a.apps];
    case 'revokeRegulator': {
      const grant = state.regulators.get(a.address);
      return grant && grant.apps !== 'all' ? [...grant.apps] : ['*'];
    }
    default:
      return ['*'];
  }
}

/** The apps a governance transaction concerns; `*` for network-wide ones. */
function appsOfBody(body: GovBody, state: GovState): string[] {
  switch (body.type) {
    case 'propose':
      return appsOfAction(body.action, state);
    case 'approve': {
      const p = state.proposals.get(body.proposalId);
      return p ? appsOfAction(p.action, state) : ['*'];
    }
    case 'requestApp':
      return [body.id];
    case 'putParticipant':
    case 'removeParticipant':
    case 'putApiKey':
    case 'revokeApiKey':
      return [body.appId];
    default:
      return ['*'];
  }
}

/** The body without secrets or bulk: key records keep their id and scopes only. */
export function bodySummary(body: GovBody): unknown {
  if (body.type === 'putApiKey') return { type: body.type, appId: body.appId, keyId: body.key.id, scopes: body.key.scopes };
  return body;
}

/** Whether a key acts as a regulator: such a key only ever reads, and every request is recorded. */
export function isRegulatorKey(key: { scopes: readonly string[] }): boolean {
  return key.scopes.includes('regulator');
}

/** The JSON-RPC method names of a request or batch (at most `max`), and how many there are. */
export function rpcMethodsOf(payload: unknown, max = 20): { methods: string[]; count: number } {
  const calls = Array.isArray(payload) ? payload : [payload];
  const methods: string[] = [];
  for (const c of calls.slice(0, max)) {
    const m = c !== null && typeof c === 'object' ? (c as { method?: unknown }).method : undefined;
    methods.push(typeof m === 'string' ? m.slice(0, 64) : '?');
  }
  return { methods, count: calls.length };
}

/** What `auditRpc` decided about a JSON-RPC request. */
export type RpcAuditOutcome = { ok: true } | { ok: false; status: 403 | 503; message: string };

/**
 * Records a regulator key's JSON-RPC request before it is served, and refuses it whole (403) when
 * it holds a write: a regulator only ever reads. The refusal is recorded too. Other keys pass
 * untouched. When the entry cannot be recorded the request is refused (503): an unrecorded
 * regulator read must not happen.
 */
export async function auditRpc(
  audit: AuditLog | undefined,
  key: { id: string; scopes: readonly string[] },
  appId: string,
  payload: unknown,
  transport: 'http' | 'ws',
  writeMethods: ReadonlySet<string>,
): Promise<RpcAuditOutcome> {
  if (!isRegulatorKey(key)) return { ok: true };
  const { methods, count } = rpcMethodsOf(payload);
  const writes = methods.filter((m) => writeMethods.has(m));
  const refused =
    writes.length > 0
      ? `the API key ${key.id} is a regulator key: it may read and never write, so ${writes.join(', ')} is refused`
      : undefined;
  if (audit) {
    try {
      await audit.record({
        actor: key.id,
        scope: 'regulator',
        app: appId,
        action: `rpc ${methods.join(',')}`,
        detail: { transport, count, outcome: refused ? 'refused' : 'served' },
      });
    } catch (err) {
      return { ok: false, status: 503, message: `the request could not be recorded in the audit log: ${(err as Error).message}` };
    }
  }
  return refused ? { ok: false, status: 403, message: refused } : { ok: true };
}
