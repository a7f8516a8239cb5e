/**
 * Gateway overhead: JSON-RPC requests per second and their latency through the gateway's key
 * check, limits and metering, measured from outside with closed-loop clients.
 *
 * It starts `polis dev --nodes 1` (or uses `--url`), then for `--seconds` keeps `--concurrency`
 * requests of `--method` (eth_blockNumber by default) in flight against the demo app's endpoint
 * (key in the path) and prints one JSON line: requests/s, p50/p99 latency and the statuses seen.
 * `--sandbox` targets the free-plan app instead, to see the 429s its limit gives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, round, startDev, stopDev } from './devnet.js';
import { benchArgs } from './load.js';

const args = benchArgs('gateway', {
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    method: { type: 'string', default: 'eth_blockNumber' },
    /** A running ledger's full JSON-RPC URL (with its key) instead of starting `polis dev`. */
    url: { type: 'string' },
    sandbox: { type: 'boolean', default: false },
  },
});

function positive(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const seconds = positive(args.seconds, '--seconds');
  const concurrency = positive(args.concurrency, '--concurrency');
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-gateway-'));
  const dev = args.url ? undefined : await startDev(dataDir, 1);
  try {
    const app = dev?.ready.apps[args.sandbox ? 1 : 0];
    const url = args.url ?? (app?.rpcUrl as string);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: args.method, params: [] });
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    const end = performance.now() + seconds * 1000;
    const client = async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, client));
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'gateway',
        method: args.method,
        app: args.url ? 'url' : app?.id,
        plan: app?.plan,
        concurrency,
        seconds: round(elapsed, 2),
        requests: latencies.length,
        requestsPerSec: round(latencies.length / elapsed),
        p50Ms: round(percentile(latencies, 50), 2),
        p99Ms: round(percentile(latencies, 99), 2),
        statuses,
        cpus: cpus().length,
        load: loadavg().map((x) => round(x, 2)),
      })}\n`,
    );
  } finally {
    if (dev) await stopDev(dev.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
