/**
 * The usage collector: every interval, for each app the portal knows, it reads the metered usage
 * of every node that serves the app (`GET {gateway}/api/v1/apps/{id}/usage`, counters since that
 * gateway started), turns the counters' increases into deltas and adds them to the hourly buckets
 * of the store (`recordUsage`).
 *
 * What each gateway counts decides how the deltas combine:
 * - requests and transactions are counted by the gateway that took them, so the nodes' deltas add
 *   up;
 * - gas is counted when a block commits, and every node commits every block, so it is read from
 *   one node per app (the first one seen; another one only when that one stops serving the app).
 *
 * A gateway that restarted starts its counters from zero again: its `since` changes (or a counter
 * goes down), and everything it counted since then is the delta. A node seen for the first time
 * counts from its start when it started after the collector did; otherwise what it counted before
 * is unknown to this collector (an earlier portal process may have recorded it), and only
 * increases from then on are counted, so that a portal restart never bills twice.
 *
 * The collector's own read is a request the gateway counts (the reading includes it); it is the
 * portal's, not the app's, so each reading's delta is one request less.
 *
 * Storage is a level, not a counter: the store bills bytes kept per hour, so once per hourly bucket
 * the collector records the ledger's size, the largest that the nodes serving it report in
 * `/healthz` (each node's LMDB data file in use: blocks, state and indexes).
 */
import type { PortalContext } from './http.js';
import { bucketStart, recordUsage } from './store/index.js';

/** The longest a collection waits for one gateway. */
export const USAGE_READ_TIMEOUT_MS = 5_000;
/** Apps one collection round reads at most (`apps.all()` lists at most as many). */
export const USAGE_APPS_MAX = 1_000;

/** Requests of the collector itself that each reading includes: the read of the usage route. */
export const OWN_READS_PER_READING = 1;

/** One gateway's counters for one app, as `GET /api/v1/apps/{id}/usage` answers them (`total`). */
export type GatewayCounters = { since: number; requests: number; txs: number; gasUsed: bigint };

/** What one round adds for one app. */
export type UsageDelta = { requests: number; transactions: number; gas: number };

/** The increase from `before` to `now` of one gateway's counters; a restart (a new `since`, or a counter that went down) counts from zero. */
export function counterDelta(before: GatewayCounters, now: GatewayCounters): { requests: number; txs: number; gas: bigint } {
  const restarted =
    now.since !== before.since || now.requests < before.requests || now.txs < before.txs || now.gasUsed < before.gasUsed;
  if (restarted) return { requests: now.requests, txs: now.txs, gas: now.gasUsed };
  return { requests: now.requests - before.requests, txs: now.txs - before.txs, gas: now.gasUsed - before.gasUsed };
}

/**
 * The collector's memory of one app: the last counters per gateway URL and the node whose gas it
 * counts. Pure: `step` takes the readings of one round and returns the delta.
 */
export class AppCounters {
  private readonly last = new Map<string, GatewayCounters>();
  private gasSource: string | undefined;

  constructor(private readonly startedAt: number) {}

  /** The delta of one round; `readings` has one entry per gateway that answered. */
  step(readings: Map<string, GatewayCounters>): UsageDelta {
    let requests = 0;
    let transactions = 0;
    let gas = 0n;
    if (this.gasSource === undefined || !readings.has(this.gasSource)) {
      // Another node takes over the gas: its last reading (if any) is known, so only its increase counts.
      this.gasSource = readings.keys().next().value;
    }
    for (const [url, now] of readings) {
      const before =
        this.last.get(url) ?? (now.since >= this.startedAt ? { since: now.since, requests: 0, txs: 0, gasUsed: 0n } : now);
      const d = counterDelta(before, now);
      requests += Math.max(0, d.requests - OWN_READS_PER_READING);
      transactions += d.txs;
      if (url === this.gasSource) gas = d.gas;
      this.last.set(url, now);
    }
    // Nodes that stopped serving the app are forgotten; if they come back they start afresh.
    for (const url of [...this.last.keys()]) if (!readings.has(url)) this.last.delete(url);
    return { requests, transactions, gas: Number(gas) };
  }
}

type UsageAnswer = { since: number; total: { requests: number; txs: number; gasUsed: string } };

async function readCounters(url: string, appId: string, key: string): Promise<GatewayCounters> {
  const res = await fetch(`${url}/api/v1/apps/${encodeURIComponent(appId)}/usage`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(USAGE_READ_TIMEOUT_MS),
  });
  const body = (await res.json().catch(() => ({}))) as Partial<UsageAnswer> & { error?: { message: string } };
  if (!res.ok || !body.total || typeof body.since !== 'number') {
    throw new Error(`GET ${url}/api/v1/apps/${appId}/usage answered ${res.status}: ${body.error?.message ?? 'no usage'}`);
  }
  return { since: body.since, requests: body.total.requests, txs: body.total.txs, gasUsed: BigInt(body.total.gasUsed) };
}

/** Options of `startUsageCollector`. */
export type UsageCollectorOptions = {
  intervalMs: number;
  /** Told of each app a round could not read (a node down, a key without the admin scope); default: ignored. */
  onError?: (appId: string, err: unknown) => void;
};

/** A running collector. */
export type UsageCollector = {
  /** Runs one round now, after the round under way if any (tests, and an operator's "refresh"). */
  collect(): Promise<void>;
  /** Stops the rounds and waits for the one under way. */
  stop(): Promise<void>;
};

/** Starts collecting the usage of every app the portal knows every `intervalMs`. */
export function startUsageCollector(ctx: PortalContext, options: UsageCollectorOptions): UsageCollector {
  const startedAt = ctx.now();
  const apps = new Map<string, AppCounters>();
  /** The hourly bucket each app's storage was last recorded in. */
  const storageRecorded = new Map<string, number>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  const report = options.onError ?? (() => undefined);

  const collectApp = async (appId: string) => {
    const [urls, key] = await Promise.all([ctx.network.gatewaysFor(appId), ctx.apps.portalKey(appId)]);
    const readings = new Map<string, GatewayCounters>();
    await Promise.all(
      urls.map(async (url) => {
        try {
          readings.set(url, await readCounters(url, appId, key));
        } catch (err) {
          report(appId, err);
        }
      }),
    );
    if (readings.size === 0) return;
    // Keep the gateways' order (validators first) so that the gas source is stable.
    const ordered = new Map(urls.filter((u) => readings.has(u)).map((u) => [u, readings.get(u) as GatewayCounters]));
    let counters = apps.get(appId);
    if (!counters) {
      counters = new AppCounters(startedAt);
      apps.set(appId, counters);
    }
    const d = counters.step(ordered);
    const at = ctx.now();
    let storageBytes = 0;
    if (storageRecorded.get(appId) !== bucketStart(at)) {
      const size = await ctx.network.storageOf(appId);
      if (size !== undefined) {
        storageBytes = size;
        storageRecorded.set(appId, bucketStart(at));
      }
    }
    if (d.requests === 0 && d.transactions === 0 && d.gas === 0 && storageBytes === 0) return;
    await recordUsage(ctx.db, {
      appId,
      at,
      requests: d.requests,
      transactions: d.transactions,
      gas: d.gas,
      storageBytes,
    });
  };

  const collect = async () => {
    const known = (await ctx.apps.all()).slice(0, USAGE_APPS_MAX);
    const ids = new Set(known.map((a) => a.appId));
    for (const id of [...apps.keys()]) if (!ids.has(id)) apps.delete(id);
    for (const id of [...storageRecorded.keys()]) if (!ids.has(id)) storageRecorded.delete(id);
    for (const app of known) {
      if (stopped) return;
      try {
        await collectApp(app.appId);
      } catch (err) {
        report(app.appId, err);
      }
    }
  };

  // Rounds never overlap: each one starts after the previous one ended.
  const run = (): Promise<void> => {
    round = round.then(() => (stopped ? undefined : collect().catch((err: unknown) => report('*', err))));
    return round;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void run().finally(schedule), options.intervalMs);
  };
  schedule();

  return {
    collect: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
