/**
 * Reads through one gateway: `eth_call` of an ERC-20's `balanceOf` and `eth_getBalance`, with
 * `--concurrency` requests in flight for `--seconds`, against `polis dev --nodes 1` (or `--url`).
 * It prints one JSON line per method: requests per second, p50/p99/max latency, errors, and the
 * CPU the load generator itself used (so a saturated client is visible). See bench/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hexToBytes } from '@polis/core';
import { Interface } from 'ethers';
import { percentile, round, startDev, stopDev } from './devnet.js';
import { compileToken, machine, positive, rpcClient, signTx } from './load.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    url: { type: 'string' },
  },
});
const SECONDS = positive(args.seconds, '--seconds');
const CONCURRENCY = positive(args.concurrency, '--concurrency');
const CHAIN_ID = 31337n;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'polis-bench-reads-'));
  const dev = args.url === undefined ? await startDev(dataDir, 1) : undefined;
  try {
    const url = args.url ?? (dev?.ready.apps[0]?.rpcUrl as string);
    const client = rpcClient(url);
    // Setup (not timed): deploy the test token from dev account 0.
    const token = compileToken();
    const iface = new Interface(token.abi as never);
    const owner = hexToBytes(dev?.ready.accounts[0]?.privateKey ?? `0x${'01'.repeat(32)}`);
    const holder = dev?.ready.accounts[0]?.address ?? `0x${'01'.repeat(20)}`;
    const nonce = Number(await client.call('eth_getTransactionCount', [holder, 'pending']));
    const deploy = signTx(CHAIN_ID, owner, {
      nonce,
      data: `${token.bytecode}${iface.encodeDeploy([10n ** 24n]).slice(2)}`,
      gasLimit: 3_000_000n,
    });
    const hash = (await client.call('eth_sendRawTransaction', [deploy])) as string;
    const receipt = await client.receiptOf(hash);
    if (!receipt.contractAddress) throw new Error('the token deployment failed');
    const workloads: Array<[string, unknown[]]> = [
      ['eth_call', [{ to: receipt.contractAddress, data: iface.encodeFunctionData('balanceOf', [holder]) }, 'latest']],
      ['eth_getBalance', [holder, 'latest']],
    ];
    for (const [method, params] of workloads) {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
      const latencies: number[] = [];
      let errors = 0;
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      const end = start + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < end) {
            const t = performance.now();
            try {
              const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
              const answer = (await res.json()) as { result?: unknown };
              if (!res.ok || answer.result === undefined) errors++;
            } catch {
              errors++;
            }
            latencies.push(performance.now() - t);
          }
        }),
      );
      const elapsed = performance.now() - start;
      const cpu = process.cpuUsage(cpu0);
      latencies.sort((a, b) => a - b);
      process.stdout.write(
        `${JSON.stringify({
          bench: 'reads',
          method,
          what: method === 'eth_call' ? 'balanceOf of the test ERC-20' : 'an account balance',
          concurrency: CONCURRENCY,
          requests: latencies.length,
          errors,
          requestsPerSecond: round((latencies.length / elapsed) * 1000),
          latencyMs: {
            p50: round(percentile(latencies, 50), 2),
            p99: round(percentile(latencies, 99), 2),
            max: round(latencies[latencies.length - 1] ?? Number.NaN, 2),
          },
          generatorCpuPercent: round(((cpu.user + cpu.system) / 1000 / elapsed) * 100),
          machine: machine(),
        })}\n`,
      );
    }
  } finally {
    if (dev) await stopDev(dev.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
