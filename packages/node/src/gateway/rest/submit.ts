/**
 * Submit-and-wait for the REST API. A signed transaction goes to the mempool and the request
 * waits, up to `waitMs`, for the block holding it to be committed (on disk), then answers 200
 * with its receipt; when the wait ends first it answers 202 with the hash (still pending). An
 * `Idempotency-Key` makes a retried request return the first request's outcome instead of sending
 * again (Stripe semantics). `POST /transactions` (client-signed) and the custodial `POST /tx`
 * both go through here, and share one idempotency store and one set of waiters per gateway.
 */
import { createHash } from 'node:crypto';
import { bytesToHex, equalsBytes, type Hex } from '@polis/core';
import { blockHash, type Receipt, TxError, TxErrorCode } from '@polis/ledger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type formatLog, formatReceipt } from '../../rpc/format.js';
import type { GatewayContext, GatewayLedger } from '../context.js';
import type { CommittedEvent } from '../feed.js';
import { RestError } from './route.js';

/** How long a submit waits for its block when the request does not say. */
export const WAIT_MS_DEFAULT = 10_000;
/** The longest a submit may wait for its block. */
export const WAIT_MS_MAX = 60_000;
/** Idempotency records a gateway keeps at most; past it the oldest is forgotten first. */
export const IDEMPOTENCY_RECORDS_MAX = 10_000;
/** How long an idempotency record is kept. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** The longest `Idempotency-Key` accepted. */
export const IDEMPOTENCY_KEY_LENGTH_MAX = 128;
/** What a client is told to wait before retrying a request refused for a transient reason. */
const RETRY_AFTER_SECONDS = 1;

/** Schemas shared by the REST routes: 0x-hex for bytes, JSON numbers for heights and counts, decimal strings for amounts. */
/** How long a submit waits for the transaction's block. */
export const WaitMsSchema = z
  .number()
  .int()
  .min(0)
  .max(WAIT_MS_MAX)
  .default(WAIT_MS_DEFAULT)
  .describe(`How long to wait for the block, in ms (0: do not wait; default ${WAIT_MS_DEFAULT}, at most ${WAIT_MS_MAX})`);

export const HexDataSchema = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, 'must be 0x-prefixed hex with an even number of digits');
export const Hash32Schema = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 32-byte hash: 0x and 64 hex digits');
export const AddressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte address: 0x and 40 hex digits');
/** A non-negative integer of at most 78 digits (2^256 has 78), as a decimal string. */
export const DecimalSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/, 'must be a decimal integer string of at most 78 digits, such as "21000"');

export const LogSchema = z.object({
  address: AddressSchema,
  topics: z.array(Hash32Schema),
  data: HexDataSchema,
  blockNumber: z.number().int(),
  blockHash: Hash32Schema,
  transactionHash: Hash32Schema,
  transactionIndex: z.number().int(),
  logIndex: z.number().int().describe('The index of the log in its block'),
  removed: z.boolean().describe('Always false: committed blocks are final'),
});
export type RestLog = z.infer<typeof LogSchema>;

export const ReceiptSchema = z.object({
  transactionHash: Hash32Schema,
  transactionIndex: z.number().int(),
  blockHash: Hash32Schema,
  blockNumber: z.number().int(),
  from: AddressSchema,
  to: AddressSchema.nullable(),
  cumulativeGasUsed: DecimalSchema,
  gasUsed: DecimalSchema,
  effectiveGasPrice: DecimalSchema.describe('Always "0": fees on Polis are zero'),
  contractAddress: AddressSchema.nullable(),
  logs: z.array(LogSchema),
  logsBloom: HexDataSchema,
  status: z.number().int().describe('1: success, 0: reverted'),
  type: z.number().int(),
});
export type RestReceipt = z.infer<typeof ReceiptSchema>;

/** The answer of a submit: committed with its receipt (200), or still pending at the end of the wait (202). */
export const SubmitAnswerSchema = z.union([
  z.object({ status: z.literal('committed'), hash: Hash32Schema, receipt: ReceiptSchema }),
  z.object({ status: z.literal('pending'), hash: Hash32Schema }),
]);

/** A JSON-RPC quantity as a JSON number (heights, indexes, counts). */
export function quantityToNumber(q: string): number {
  return Number(BigInt(q));
}

/** A JSON-RPC quantity as a decimal string (wei, gas). */
export function quantityToDecimal(q: string): string {
  return BigInt(q).toString();
}

/** A log as the REST API returns it: the JSON-RPC log with numbers for its positions. */
export function restLog(l: ReturnType<typeof formatLog>): RestLog {
  return {
    ...l,
    blockNumber: quantityToNumber(l.blockNumber),
    transactionIndex: quantityToNumber(l.transactionIndex),
    logIndex: quantityToNumber(l.logIndex),
  };
}

/** A receipt as the REST API returns it: `eth_getTransactionReceipt`'s fields, numbers and decimal strings for quantities. */
export function restReceipt(r: ReturnType<typeof formatReceipt>): RestReceipt {
  return {
    ...r,
    transactionIndex: quantityToNumber(r.transactionIndex),
    blockNumber: quantityToNumber(r.blockNumber),
    cumulativeGasUsed: quantityToDecimal(r.cumulativeGasUsed),
    gasUsed: quantityToDecimal(r.gasUsed),
    effectiveGasPrice: quantityToDecimal(r.effectiveGasPrice),
    logs: r.logs.map(restLog),
    status: quantityToNumber(r.status),
    type: quantityToNumber(r.type),
  };
}

function receiptJson(receipts: Receipt[], index: number, hash: Uint8Array, height: number): RestReceipt | undefined {
  const receipt = receipts[index];
  if (!receipt) return undefined;
  let firstLogIndex = 0;
  for (let i = 0; i < index; i++) firstLogIndex += receipts[i]?.logs.length ?? 0;
  return restReceipt(formatReceipt(receipt, { blockHash: hash, height, index, firstLogIndex }));
}

/** The receipt of a committed transaction, or undefined when it is not in a committed block. */
export function committedReceipt(ledger: GatewayLedger, txHash: Uint8Array): RestReceipt | undefined {
  const loc = ledger.chain.txLocation(txHash);
  if (!loc) return undefined;
  const receipts = ledger.chain.receipts(loc.height);
  const header = ledger.chain.header(loc.height);
  if (!receipts || !header) return undefined;
  return receiptJson(receipts, loc.index, blockHash(header), loc.height);
}

function receiptOfEvent(e: CommittedEvent, index: number): RestReceipt | undefined {
  return receiptJson(e.receipts, index, blockHash(e.block.header), e.height);
}

/** The REST error for a transaction the mempool refused: 400 malformed, 409 conflicts, 422 unacceptable now, 503 full. */
export function restErrorOfTx(err: TxError): RestError {
  switch (err.code) {
    case TxErrorCode.MALFORMED:
    case TxErrorCode.UNSUPPORTED_TYPE:
    case TxErrorCode.INVALID_SIGNATURE:
    case TxErrorCode.INVALID_CHAIN_ID:
    case TxErrorCode.GAS_LIMIT:
      return new RestError(400, err.code, err.message);
    case TxErrorCode.NONCE_TOO_LOW:
    case TxErrorCode.ALREADY_KNOWN:
      return new RestError(409, err.code, err.message);
    case TxErrorCode.NONCE_TOO_HIGH:
    case TxErrorCode.INSUFFICIENT_FUNDS:
    case TxErrorCode.NOT_PERMITTED:
      return new RestError(422, err.code, err.message);
    case TxErrorCode.MEMPOOL_FULL:
      return new RestError(503, err.code, err.message);
  }
}

/** Runs `ledger.submit`, turning a refusal into its REST error. */
export function submitRaw(ledger: GatewayLedger, raw: Uint8Array): Uint8Array {
  try {
    return ledger.submit(raw);
  } catch (err) {
    if (err instanceof TxError) throw restErrorOfTx(err);
    throw err;
  }
}

/** What one idempotent request left behind: what it asked for and what became of it. */
type IdempotencyRecord = {
  fingerprint: string;
  createdAtMs: number;
  /** The transaction hash, or the refusal to replay. Shared by concurrent retries. */
  outcome: Promise<{ ok: true; hash: Uint8Array } | { ok: false; error: RestError }>;
};

/**
 * Idempotency records, by app and key. A record holds a fingerprint of the request and the
 * transaction it sent (or the refusal it got); a retry with the same key gets the same outcome
 * without sending again, and a different request with the same key is refused (409). Refusals
 * that may pass on a retry (5xx, such as a full mempool) are not kept. Records live `ttlMs`, and
 * at most `max` are kept: past that the oldest are forgotten first.
 */
export class IdempotencyStore {
  readonly #records = new Map<string, IdempotencyRecord>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { max?: number; ttlMs?: number; now?: () => number } = {}) {
    this.#max = options.max ?? IDEMPOTENCY_RECORDS_MAX;
    this.#ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#max) || this.#max < 1)
      throw new Error(`the idempotency bound must be a positive integer, got ${this.#max}`);
  }

  /** Records held now (at most the bound). */
  get size(): number {
    return this.#records.size;
  }

  /**
   * Sends once per (app, key): the first call runs `send`, later calls with the same fingerprint
   * get its outcome (`replayed`), and calls with another fingerprint are refused with 409.
   */
  async run(
    appId: string,
    key: string,
    fingerprint: string,
    send: () => Promise<Uint8Array>,
  ): Promise<{ hash: Uint8Array; replayed: boolean }> {
    const id = `${appId}\n${key}`;
    const now = this.#now();
    const known = this.#records.get(id);
    if (known && now - known.createdAtMs < this.#ttlMs) {
      if (known.fingerprint !== fingerprint) {
        throw new RestError(
          409,
          'IDEMPOTENCY_KEY_REUSED',
          `the Idempotency-Key "${key}" was already used with a different request: use a new key for a new request`,
        );
      }
      const outcome = await known.outcome;
      if (!outcome.ok) throw outcome.error;
      return { hash: outcome.hash, replayed: true };
    }
    if (known) this.#records.delete(id);
    this.#evict(now);
    const outcome = send().then(
      (hash) => ({ ok: true as const, hash }),
      (err: unknown) => {
        // Only deterministic refusals are replayed; anything else may pass on a retry.
        if (err instanceof RestError && err.status < 500) return { ok: false as const, error: err };
        this.#records.delete(id);
        throw err;
      },
    );
    this.#records.set(id, { fingerprint, createdAtMs: now, outcome });
    const result = await outcome;
    if (!result.ok) throw result.error;
    return { hash: result.hash, replayed: false };
  }

  #evict(now: number): void {
    // Insertion order is age order, so expired records are at the front.
    for (const [id, r] of this.#records) {
      if (now - r.createdAtMs < this.#ttlMs && this.#records.size < this.#max) break;
      this.#records.delete(id);
    }
  }
}

/**
 * Requests waiting for their transaction's block. Each waits on the ledger's feed (which bounds
 * its listeners); `close` ends every wait at once (they answer "pending"), so that a closing
 * gateway does not hang for up to `WAIT_MS_MAX` on requests that wait.
 */
export class Waiters {
  readonly #stops = new Set<() => void>();
  #closed = false;

  /** Waits in progress. */
  get size(): number {
    return this.#stops.size;
  }

  /**
   * The receipt of `txHash` once its block is committed, or undefined when `waitMs` passes,
   * `signal` aborts or the waiters close first. Throws 503 when the feed has no room for a waiter.
   */
  wait(ledger: GatewayLedger, txHash: Uint8Array, waitMs: number, signal?: AbortSignal): Promise<RestReceipt | undefined> {
    const now = committedReceipt(ledger, txHash);
    if (now || waitMs <= 0 || this.#closed || signal?.aborted) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      let done = false;
      let unsubscribe: () => void = () => {};
      let timer: NodeJS.Timeout | undefined;
      const finish = (receipt: RestReceipt | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        this.#stops.delete(stop);
        signal?.removeEventListener('abort', stop);
        resolve(receipt);
      };
      const stop = () => finish(undefined);
      try {
        unsubscribe = ledger.feed.onBlock((e) => {
          const index = e.txHashes.findIndex((h) => equalsBytes(h, txHash));
          if (index >= 0) finish(receiptOfEvent(e, index));
        });
      } catch (err) {
        reject(
          new RestError(
            503,
            'TOO_MANY_WAITERS',
            `this node cannot hold another waiting request (${err instanceof Error ? err.message : String(err)}); the transaction was sent: poll GET /transactions/${bytesToHex(txHash)} or retry with waitMs 0`,
          ),
        );
        return;
      }
      this.#stops.add(stop);
      timer = setTimeout(stop, waitMs);
      signal?.addEventListener('abort', stop, { once: true });
      // The block may have been committed between the first look and the subscription.
      const committed = committedReceipt(ledger, txHash);
      if (committed) finish(committed);
    });
  }

  /** Ends every wait (as pending) and every later one at once. */
  close(): void {
    this.#closed = true;
    for (const stop of [...this.#stops]) stop();
  }
}

/** The submit state one gateway shares between its routes. */
export type SubmitSupport = { idempotency: IdempotencyStore; waiters: Waiters };

const supportOf = new WeakMap<GatewayContext, SubmitSupport>();

/**
 * The gateway's idempotency store and waiters: one per gateway context, shared by the chain
 * routes and the custodial routes (an idempotency key names one request across both).
 */
export function submitSupport(ctx: GatewayContext): SubmitSupport {
  let s = supportOf.get(ctx);
  if (!s) {
    s = { idempotency: new IdempotencyStore(), waiters: new Waiters() };
    supportOf.set(ctx, s);
  }
  return s;
}

/** The request's `Idempotency-Key`, checked; undefined when there is none. */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (typeof key !== 'string' || key.length === 0 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX || !/^[\x21-\x7e]+$/.test(key)) {
    throw new RestError(
      400,
      'INVALID_REQUEST',
      `the Idempotency-Key header must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters without spaces, such as a UUID`,
      [`header.idempotency-key: must be 1..${IDEMPOTENCY_KEY_LENGTH_MAX} printable characters`],
    );
  }
  return key;
}

/** A fingerprint of the parts of a request that decide what it sends. */
export function fingerprintOf(route: string, parts: unknown): string {
  return createHash('sha256').update(route).update('\n').update(JSON.stringify(parts)).digest('hex');
}

/** An abort signal that fires when the client goes away before its answer is sent. */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}

/** Options of `submitAndWait`. */
export type SubmitAndWaitOptions = {
  ctx: GatewayContext;
  ledger: GatewayLedger;
  req: FastifyRequest;
  reply: FastifyReply;
  waitMs: number;
  /** Names the route and what the request sends; compared when an idempotency key is replayed. */
  fingerprint: string;
  /** Sends the transaction (once per idempotency key) and returns its hash; throws `RestError` when refused. */
  send: () => Promise<Uint8Array>;
};

/**
 * Sends (or replays, with an `Idempotency-Key`) and waits: answers 200 with the receipt once the
 * block is committed, or 202 with the hash when the wait ends first. A 503 gets `Retry-After`.
 */
export async function submitAndWait(o: SubmitAndWaitOptions): Promise<FastifyReply> {
  const { ctx, ledger, req, reply } = o;
  const support = submitSupport(ctx);
  try {
    const key = idempotencyKeyOf(req);
    let hash: Uint8Array;
    if (key === undefined) hash = await o.send();
    else {
      const r = await support.idempotency.run(ledger.id, key, o.fingerprint, o.send);
      hash = r.hash;
      if (r.replayed) reply.header('idempotent-replayed', 'true');
    }
    const receipt = await support.waiters.wait(ledger, hash, o.waitMs, abortOnClose(reply));
    const hex: Hex = bytesToHex(hash);
    if (receipt) return reply.code(200).send({ status: 'committed', hash: hex, receipt });
    return reply.code(202).send({ status: 'pending', hash: hex });
  } catch (err) {
    if (err instanceof RestError && err.status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    throw err;
  }
}
