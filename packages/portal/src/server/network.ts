/**
 * The portal's view of the network, through the city nodes' gateways like any other client: the
 * system ledger's `gov_*` methods at `/v1/system`, each node's `/healthz`, and app ledgers'
 * JSON-RPC and REST routes. Every decision the network must agree on goes out as a signed
 * governance transaction and comes back as its receipt.
 */
import { bytesToHex, PolisError, privateKeyToAddress } from '@polis/core';
import {
  type AppRecord,
  encodeGovTx,
  type GovBody,
  type GovReceipt,
  type GovTx,
  type NodeRecord,
  signGovTxSecp256k1,
} from '@polis/governance';

/** Codes of `NetworkError`. */
export enum NetworkErrorCode {
  /** No gateway of the network answered. */
  UNREACHABLE = 'NETWORK_UNREACHABLE',
  /** A gateway answered the call with an error. */
  RPC_ERROR = 'NETWORK_RPC_ERROR',
  /** The system ledger included the transaction and refused it. */
  REFUSED = 'NETWORK_REFUSED',
  /** The transaction was not in a block within the wait. */
  TIMEOUT = 'NETWORK_TIMEOUT',
  /** No reachable node hosts the app. */
  NOT_HOSTED = 'NETWORK_NOT_HOSTED',
}

/** The payload of a `NetworkError`. */
export type NetworkErrorType =
  | { code: NetworkErrorCode.UNREACHABLE; urls: string[] }
  | { code: NetworkErrorCode.RPC_ERROR; method: string; rpcCode: number }
  | { code: NetworkErrorCode.REFUSED; reason: string }
  | { code: NetworkErrorCode.TIMEOUT; hash: string }
  | { code: NetworkErrorCode.NOT_HOSTED; appId: string };

/** An error while talking to the network. */
export class NetworkError extends PolisError<NetworkErrorType> {
  override name = 'NetworkError';
}

/** A node as the portal shows it: its record on the system ledger and its health now. */
export type NodeView = NodeRecord & {
  /** The gateway's base URL, when the portal knows it. */
  url?: string;
  health: {
    ok: boolean;
    latencyMs?: number;
    apps?: string[];
    ledgers?: { id: string; height: number; mempool: number; storageBytes?: number }[];
    peers?: number;
  };
};

/** What `/healthz` answers. */
type Health = {
  ok: boolean;
  apps: string[];
  node?: { publicKey: string; name: string };
  peers?: string[];
  ledgers?: { id: string; height: number; mempool: number; storageBytes?: number }[];
};

/** Options of `Network`. */
export type NetworkOptions = {
  /** Base URLs of city nodes' gateways (e.g. http://127.0.0.1:8545); any of them serves the system ledger. */
  gateways: string[];
  /** Time limit of one request. */
  timeoutMs?: number;
  /** How long to wait for a governance transaction's block. */
  receiptWaitMs?: number;
};

const HEALTH_CACHE_MS = 2_000;
/** How many times a call refused with 429 is tried again (after its Retry-After, at most 5 s each). */
export const RATE_LIMIT_RETRIES = 5;

/** A client of the network's gateways. */
export class Network {
  readonly gateways: readonly string[];
  private readonly timeoutMs: number;
  private readonly receiptWaitMs: number;
  /** The gateway that answered last: tried first next time. */
  private preferred = 0;
  private healthCache: { at: number; byUrl: Map<string, { health?: Health; latencyMs?: number }> } | undefined;

  constructor(options: NetworkOptions) {
    if (options.gateways.length === 0) throw new Error('the portal needs at least one gateway URL (--gateway)');
    this.gateways = options.gateways.map((u) => u.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.receiptWaitMs = options.receiptWaitMs ?? 30_000;
  }

  /** Calls a JSON-RPC method at `url`; an error answer throws `NetworkError` RPC_ERROR with the node's message. */
  async rpc<T>(url: string, method: string, params: unknown[] = [], headers: Record<string, string> = {}): Promise<T> {
    const request = () =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    let res = await request();
    // The portal speaks for many users, so it meets the gateways' per-client limits (429) more
    // than one person would: it waits as told and tries again, a bounded number of times.
    for (let retry = 0; res.status === 429 && retry < RATE_LIMIT_RETRIES; retry++) {
      const after = Number(res.headers.get('retry-after') ?? '1');
      await res.body?.cancel();
      await new Promise((done) => setTimeout(done, Math.min(Number.isFinite(after) && after > 0 ? after : 1, 5) * 1000));
      res = await request();
    }
    const body = (await res.json().catch(() => ({}))) as { result?: T; error?: { code: number; message: string } };
    if (body.error) {
      throw new NetworkError({ code: NetworkErrorCode.RPC_ERROR, method, rpcCode: body.error.code }, body.error.message);
    }
    if (!res.ok)
      throw new NetworkError({ code: NetworkErrorCode.RPC_ERROR, method, rpcCode: res.status }, `${method}: HTTP ${res.status}`);
    return body.result as T;
  }

  /** Calls a `gov_*` method on the first gateway that answers. */
  async gov<T>(method: string, params: unknown[] = []): Promise<T> {
    const n = this.gateways.length;
    for (let i = 0; i < n; i++) {
      const index = (this.preferred + i) % n;
      try {
        const result = await this.rpc<T>(`${this.gateways[index]}/v1/system`, method, params);
        this.preferred = index;
        return result;
      } catch (err) {
        if (err instanceof NetworkError) throw err;
      }
    }
    throw new NetworkError(
      { code: NetworkErrorCode.UNREACHABLE, urls: [...this.gateways] },
      'no city node of the network answered: check that the network is running (npm start) and the portal’s --gateway URLs',
    );
  }

  /** Signs `body` with `privateKey` at its next nonce, sends it and waits for its receipt; a refused transaction throws REFUSED. */
  async submit(body: GovBody, privateKey: Uint8Array): Promise<GovReceipt & { hash: string }> {
    const signer = bytesToHex(privateKeyToAddress(privateKey));
    const [chainId, nonce] = await Promise.all([this.gov<number>('gov_chainId'), this.gov<number>('gov_getNonce', [signer])]);
    return this.submitSigned(signGovTxSecp256k1({ chainId, nonce, body }, privateKey));
  }

  /** Sends a transaction signed elsewhere (an admin's browser) and waits for its receipt. */
  async submitSigned(tx: GovTx | string): Promise<GovReceipt & { hash: string }> {
    const raw = typeof tx === 'string' ? tx : bytesToHex(encodeGovTx(tx));
    const hash = await this.gov<string>('gov_sendTransaction', [raw]);
    const until = Date.now() + this.receiptWaitMs;
    while (Date.now() < until) {
      const receipt = await this.gov<GovReceipt | null>('gov_getReceipt', [hash]);
      if (receipt) {
        if (receipt.status === 'failed') {
          throw new NetworkError(
            { code: NetworkErrorCode.REFUSED, reason: receipt.error?.code ?? 'failed' },
            `the system ledger refused it: ${receipt.error?.message ?? 'no reason given'}`,
          );
        }
        return { ...receipt, hash };
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    throw new NetworkError(
      { code: NetworkErrorCode.TIMEOUT, hash },
      `the transaction ${hash} was not in a block within ${this.receiptWaitMs / 1000} s: look it up again later`,
    );
  }

  /** The app's record, or undefined. */
  async app(appId: string): Promise<AppRecord | undefined> {
    return (await this.gov<AppRecord | null>('gov_getApp', [appId])) ?? undefined;
  }

  private async healthOf(url: string): Promise<{ health?: Health; latencyMs?: number }> {
    const start = performance.now();
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(Math.min(this.timeoutMs, 3_000)) });
      if (!res.ok) return {};
      return { health: (await res.json()) as Health, latencyMs: Math.round(performance.now() - start) };
    } catch {
      return {};
    }
  }

  /** Each known gateway's health, cached for two seconds. */
  async health(): Promise<Map<string, { health?: Health; latencyMs?: number }>> {
    if (this.healthCache && Date.now() - this.healthCache.at < HEALTH_CACHE_MS) return this.healthCache.byUrl;
    const answers = await Promise.all(this.gateways.map(async (u) => [u, await this.healthOf(u)] as const));
    this.healthCache = { at: Date.now(), byUrl: new Map(answers) };
    return this.healthCache.byUrl;
  }

  /** The network's nodes from the system ledger, each with its gateway's health. */
  async nodes(): Promise<NodeView[]> {
    const [records, health] = await Promise.all([this.gov<NodeRecord[]>('gov_listNodes'), this.health()]);
    const byKey = new Map<string, { url: string; health: Health; latencyMs?: number }>();
    for (const [url, h] of health) {
      if (h.health?.node)
        byKey.set(h.health.node.publicKey.toLowerCase(), {
          url,
          health: h.health,
          ...(h.latencyMs !== undefined ? { latencyMs: h.latencyMs } : {}),
        });
    }
    return records.map((r) => {
      const h = byKey.get(r.publicKey.toLowerCase());
      if (!h) return { ...r, health: { ok: false } };
      return {
        ...r,
        url: h.url,
        health: {
          ok: h.health.ok,
          ...(h.latencyMs !== undefined ? { latencyMs: h.latencyMs } : {}),
          apps: h.health.apps,
          ...(h.health.ledgers ? { ledgers: h.health.ledgers } : {}),
          ...(h.health.peers ? { peers: h.health.peers.length } : {}),
        },
      };
    });
  }

  /** The gateways of reachable nodes that serve `appId`, validators first. */
  async gatewaysFor(appId: string): Promise<string[]> {
    const health = await this.health();
    const urls = [...health].filter(([, h]) => h.health?.apps.includes(appId)).map(([u]) => u);
    if (urls.length === 0) {
      throw new NetworkError(
        { code: NetworkErrorCode.NOT_HOSTED, appId },
        `no reachable node serves the app "${appId}" yet: a new app starts within seconds of its approval; try again shortly`,
      );
    }
    return urls;
  }

  /** The bytes the app's ledger holds, as the largest of the nodes that serve it report (`/healthz`); undefined when none does. */
  async storageOf(appId: string): Promise<number | undefined> {
    let most: number | undefined;
    for (const h of (await this.health()).values()) {
      const bytes = h.health?.ledgers?.find((l) => l.id === appId)?.storageBytes;
      if (bytes !== undefined && (most === undefined || bytes > most)) most = bytes;
    }
    return most;
  }

  /** Forgets cached health (after a change the caller knows of). */
  refresh(): void {
    this.healthCache = undefined;
  }
}
