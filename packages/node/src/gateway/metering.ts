/**
 * Usage metering per app and per key: requests, transactions, gas used, bytes in and out, and
 * storage growth. The counts are served at `GET /api/v1/apps/{id}/usage` and exported as
 * Prometheus metrics (one registry per gateway, so several nodes in one process never mix).
 *
 * Gas and storage are known when a transaction commits, not when it is sent, so a sent
 * transaction's hash is remembered with the key that sent it (a bounded map) until its block.
 */
import { Counter, Gauge, Registry } from 'prom-client';

/** The counts of one app or one key. */
export type Usage = {
  requests: number;
  txs: number;
  gasUsed: bigint;
  bytesIn: number;
  bytesOut: number;
  /** Bytes this app's committed transactions added to its ledger (raw transactions and their logs). */
  storageBytes: number;
  /** Requests refused for a rate limit. */
  throttled: number;
};

const zero = (): Usage => ({ requests: 0, txs: 0, gasUsed: 0n, bytesIn: 0, bytesOut: 0, storageBytes: 0, throttled: 0 });

/** Keys whose counts are kept; the oldest are dropped beyond it (they stay in Prometheus). */
export const METERED_KEYS_MAX = 100_000;
/** Sent transactions awaiting their block, remembered to attribute gas to their key. */
export const PENDING_ATTRIBUTION_MAX = 100_000;

export class Meter {
  readonly registry = new Registry();
  readonly #apps = new Map<string, Usage>();
  readonly #keys = new Map<string, Usage>();
  readonly #sentBy = new Map<string, { appId: string; keyId: string }>();
  readonly #requests: Counter<'app' | 'key' | 'transport'>;
  readonly #throttled: Counter<'app' | 'key' | 'limit'>;
  readonly #txs: Counter<'app' | 'key'>;
  readonly #gas: Counter<'app' | 'key'>;
  readonly #bytes: Counter<'app' | 'key' | 'direction'>;
  readonly #storage: Counter<'app'>;
  readonly #denied: Counter<'app' | 'status'>;

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'polis_gateway_requests_total',
      help: 'Requests served (a batch counts each of its items)',
      labelNames: ['app', 'key', 'transport'],
      registers,
    });
    this.#throttled = new Counter({
      name: 'polis_gateway_throttled_total',
      help: 'Requests refused with 429',
      labelNames: ['app', 'key', 'limit'],
      registers,
    });
    this.#denied = new Counter({
      name: 'polis_gateway_denied_total',
      help: 'Requests refused with 401 or 403',
      labelNames: ['app', 'status'],
      registers,
    });
    this.#txs = new Counter({
      name: 'polis_gateway_transactions_total',
      help: 'Transactions accepted',
      labelNames: ['app', 'key'],
      registers,
    });
    this.#gas = new Counter({
      name: 'polis_gateway_gas_used_total',
      help: 'Gas used by committed transactions',
      labelNames: ['app', 'key'],
      registers,
    });
    this.#bytes = new Counter({
      name: 'polis_gateway_bytes_total',
      help: 'Bytes of request and response bodies',
      labelNames: ['app', 'key', 'direction'],
      registers,
    });
    this.#storage = new Counter({
      name: 'polis_ledger_storage_growth_bytes_total',
      help: 'Bytes committed transactions added to the ledger',
      labelNames: ['app'],
      registers,
    });
  }

  #usage(map: Map<string, Usage>, id: string, max: number): Usage {
    let u = map.get(id);
    if (!u) {
      if (map.size >= max) {
        const oldest = map.keys().next().value;
        if (oldest !== undefined) map.delete(oldest);
      }
      u = zero();
      map.set(id, u);
    }
    return u;
  }

  #both(appId: string, keyId: string): Usage[] {
    return [this.#usage(this.#apps, appId, Number.MAX_SAFE_INTEGER), this.#usage(this.#keys, keyId, METERED_KEYS_MAX)];
  }

  request(appId: string, keyId: string, n: number, bytesIn: number, transport: 'http' | 'ws' | 'rest'): void {
    for (const u of this.#both(appId, keyId)) {
      u.requests += n;
      u.bytesIn += bytesIn;
    }
    this.#requests.inc({ app: appId, key: keyId, transport }, n);
    this.#bytes.inc({ app: appId, key: keyId, direction: 'in' }, bytesIn);
  }

  bytesOut(appId: string, keyId: string, bytes: number): void {
    for (const u of this.#both(appId, keyId)) u.bytesOut += bytes;
    this.#bytes.inc({ app: appId, key: keyId, direction: 'out' }, bytes);
  }

  throttled(appId: string, keyId: string, limit: string): void {
    for (const u of this.#both(appId, keyId)) u.throttled += 1;
    this.#throttled.inc({ app: appId, key: keyId, limit });
  }

  denied(appId: string, status: number): void {
    this.#denied.inc({ app: appId, status: String(status) });
  }

  /** A transaction was accepted from `keyId`; its gas is attributed when it commits. */
  txSent(appId: string, keyId: string, hash: string): void {
    for (const u of this.#both(appId, keyId)) u.txs += 1;
    this.#txs.inc({ app: appId, key: keyId });
    if (this.#sentBy.size >= PENDING_ATTRIBUTION_MAX) {
      const oldest = this.#sentBy.keys().next().value;
      if (oldest !== undefined) this.#sentBy.delete(oldest);
    }
    this.#sentBy.set(hash.toLowerCase(), { appId, keyId });
  }

  /** A transaction committed: its gas and bytes go to its app, and to its key if this gateway took it. */
  txCommitted(appId: string, hash: string, gasUsed: bigint, bytes: number): void {
    const app = this.#usage(this.#apps, appId, Number.MAX_SAFE_INTEGER);
    app.gasUsed += gasUsed;
    app.storageBytes += bytes;
    this.#storage.inc({ app: appId }, bytes);
    const by = this.#sentBy.get(hash.toLowerCase());
    if (by && by.appId === appId) {
      this.#sentBy.delete(hash.toLowerCase());
      const key = this.#usage(this.#keys, by.keyId, METERED_KEYS_MAX);
      key.gasUsed += gasUsed;
      key.storageBytes += bytes;
      this.#gas.inc({ app: appId, key: by.keyId }, Number(gasUsed));
    } else {
      this.#gas.inc({ app: appId, key: '' }, Number(gasUsed));
    }
  }

  get pendingAttributions(): number {
    return this.#sentBy.size;
  }

  /** The counts of an app and of each of the given keys. */
  usage(appId: string, keyIds: string[]): { app: Usage; keys: Record<string, Usage> } {
    const keys: Record<string, Usage> = {};
    for (const id of keyIds) keys[id] = this.#keys.get(id) ?? zero();
    return { app: this.#apps.get(appId) ?? zero(), keys };
  }

  /** Adds gauges the owner computes at scrape time. */
  gauge(name: string, help: string, labelNames: string[], collect: (g: Gauge<string>) => void): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        collect(this);
      },
    });
  }
}
